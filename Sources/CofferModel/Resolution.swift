import CofferCrypto
import CofferErrors

/// Who a run is: its organization, and its project and user actor when it has them.
public struct RunContext: Sendable, Hashable {
    /// The organization the run belongs to.
    public var organization: OrganizationID
    /// The project the run belongs to, if any.
    public var project: ProjectID?
    /// The user the run acts as, if any (most cron and webhook runs have none).
    public var user: UserID?

    /// Creates a run context.
    public init(organization: OrganizationID, project: ProjectID? = nil, user: UserID? = nil) {
        self.organization = organization
        self.project = project
        self.user = user
    }
}

/// One credential requirement of a run, to resolve to an instance.
///
/// ```swift
/// let request = ResolutionRequest(
///     appKey: "linear", context: RunContext(organization: org, project: web),
///     consumer: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch-issues"))
/// ```
public struct ResolutionRequest: Sendable, Hashable {
    /// The app key the action declares, e.g. `exa`.
    public var appKey: String
    /// The run.
    public var context: RunContext
    /// An instance the platform selected for this run; it wins when valid.
    public var selection: CredentialID?
    /// A scope the action pins; only that scope is tried.
    public var pinnedScope: CredentialScope?
    /// The consumer asking, whose assignments are looked up.
    public var consumer: AssignmentTarget?

    /// Creates a request.
    public init(
        appKey: String, context: RunContext, selection: CredentialID? = nil, pinnedScope: CredentialScope? = nil,
        consumer: AssignmentTarget? = nil
    ) {
        self.appKey = appKey
        self.context = context
        self.selection = selection
        self.pinnedScope = pinnedScope
        self.consumer = consumer
    }
}

/// The steps of resolution, in the order they are tried (FORMAT.md, OPS-RESOLVE).
public enum ResolutionStage: UInt8, ModelWord {
    /// 1. The instance selected for this run.
    case explicitSelection = 1
    /// 2a. The assignment for this exact consumer.
    case exactAssignment = 2
    /// 2b. The assignment for every consumer of the target (`*`).
    case wildcardAssignment = 3
    /// 3. The pinned scope, alone.
    case pinnedScope = 4
    /// 4. The run's project.
    case projectScope = 5
    /// 5. The run's organization.
    case organizationScope = 6

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .explicitSelection: "explicit_selection"
        case .exactAssignment: "exact_assignment"
        case .wildcardAssignment: "wildcard_assignment"
        case .pinnedScope: "pinned_scope"
        case .projectScope: "project_scope"
        case .organizationScope: "organization_scope"
        }
    }
}

/// One step of an explain trace.
public struct ResolutionStep: Sendable, Hashable, CustomStringConvertible {
    /// What happened at a step.
    public enum Outcome: Sendable, Hashable {
        /// The step chose the instance.
        case won
        /// The step did not apply or found nothing; resolution went on.
        case skipped
        /// The step stopped resolution with an error.
        case failed
    }

    /// The step.
    public var stage: ResolutionStage
    /// The scope tried, for scope steps.
    public var scope: CredentialScope?
    /// The instances the step looked at (active and revoked).
    public var candidates: [CredentialID]
    /// What happened.
    public var outcome: Outcome
    /// Why, in words.
    public var reason: String

    /// One line: stage, scope, outcome and reason.
    public var description: String {
        let scopeText = scope.map { " (\($0.word))" } ?? ""
        return "\(stage.word)\(scopeText): \(outcome) — \(reason)"
    }
}

/// The instance a request resolved to.
public struct ResolvedCredential: Sendable, Hashable {
    /// The instance.
    public var id: CredentialID
    /// Its app key.
    public var appKey: String
    /// Its scope and scope owner.
    public var owner: ScopeOwner
    /// Its current version.
    public var version: UInt32
    /// Where the current version's values are: the engine reads this operation to reveal.
    public var location: RecordLocation
    /// The step that chose it.
    public var stage: ResolutionStage
    /// The request it was resolved for: a reveal of this answer checks the request still
    /// resolves to it, so an answer is revealed only for the run it was resolved for. Not part
    /// of equality: two requests that resolve to one instance give equal answers.
    package var request: ResolutionRequest?

    public static func == (lhs: ResolvedCredential, rhs: ResolvedCredential) -> Bool {
        lhs.id == rhs.id && lhs.appKey == rhs.appKey && lhs.owner == rhs.owner && lhs.version == rhs.version
            && lhs.location == rhs.location && lhs.stage == rhs.stage
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(version)
        hasher.combine(location)
    }
}

/// The outcome of resolution with its explain trace.
public enum Resolution: Sendable {
    /// An instance was chosen.
    case resolved(ResolvedCredential, trace: [ResolutionStep])
    /// Resolution failed; the error's code says why (`.credentialMissing`, `.ambiguous`,
    /// `.noUserActor`, `.credentialRevoked`, `.notVisible`, `.wrongApp`, `.notFound`).
    case failed(CofferError, trace: [ResolutionStep])

    /// Every step tried, in order.
    public var trace: [ResolutionStep] {
        switch self {
        case .resolved(_, let trace), .failed(_, let trace): trace
        }
    }

    /// The instance, or the error.
    public func get() throws(CofferError) -> ResolvedCredential {
        switch self {
        case .resolved(let credential, _): return credential
        case .failed(let error, _): throw error
        }
    }
}
