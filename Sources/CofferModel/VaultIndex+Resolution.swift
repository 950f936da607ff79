import CofferCrypto
import CofferErrors

/// Credential resolution (FORMAT.md, OPS-RESOLVE): which instance a run uses for an app key.
extension VaultIndex {
    /// Resolves a request, recording each step tried.
    ///
    /// Order: (1) the explicit selection; (2) the consumer's assignment, exact consumer before
    /// `*`; (3) a pinned scope, alone, with no fallback; (4) the run's project; (5) the
    /// organization; (6) a missing-credential error. Within a scope, the one active instance
    /// wins, or the default among several; several without a default is an ambiguity and does
    /// not fall through. User scope is tried only when pinned, and only for the run's user.
    /// A selected or assigned instance must be visible to the run, of the app, and active,
    /// or resolution fails saying why: never a silent substitute.
    ///
    /// This form records the explain trace; ``resolveCredential(_:)`` gives the same answer
    /// and the same error without building it.
    public func resolve(_ request: ResolutionRequest) -> Resolution {
        // Its trace would tell of steps that never had a chance.
        if request.appKey.isEmpty { return .failed(Self.noAppKey, trace: []) }
        let trace = ExplainTrace()
        switch Result(catching: { () throws(CofferError) in
            let resolver = try Resolver(tables: tables, request: request, trace: trace)
            let (slot, stage) = try resolver.resolve(request, in: tables)
            return resolver.answer(slot, stage: stage, request: request, in: tables)
        }) {
        case .success(let answer):
            return .resolved(answer, trace: trace.steps)
        case .failure(let error):
            return .failed(error, trace: trace.steps)
        }
    }

    /// Resolves a request and returns the instance, without an explain trace: what a service
    /// calls before every action.
    /// - Throws: the resolution error; see ``resolve(_:)``.
    public func resolveCredential(_ request: ResolutionRequest) throws(CofferError) -> ResolvedCredential {
        do throws(CofferError) {
            let resolver = try Resolver(tables: tables, request: request, trace: nil)
            let (slot, stage) = try resolver.resolve(request, in: tables)
            return resolver.answer(slot, stage: stage, request: request, in: tables)
        } catch {
            throw Self.refusal(error, of: request)
        }
    }

    /// The error a failed resolution of `request` reports: `error`, unless the request names
    /// no app key, which no credential has — the caller's mistake, not a missing credential.
    /// Asked only once resolution failed (it always does without an app key), so that a
    /// resolution that succeeds pays nothing for it.
    private static func refusal(_ error: CofferError, of request: ResolutionRequest) -> CofferError {
        request.appKey.isEmpty ? noAppKey : error
    }

    private static var noAppKey: CofferError {
        CofferError(.invalidInput, "The request names no app key; give the app whose credential to use.")
    }
}

/// The fields of a credential that resolution checks, read one by one: plain values, so
/// reading them retains none of the record's strings.
private struct Candidate {
    let id: CredentialID
    let organization: Handle
    let scope: CredentialScope
    let owner: Handle
    let app: Handle
    let state: CredentialState

    init(_ slot: Handle, in tables: borrowing IndexTables) {
        let index = Int(slot)
        id = tables.credentials[index].id
        organization = tables.credentials[index].organization
        scope = tables.credentials[index].scope
        owner = tables.credentials[index].owner
        app = tables.credentials[index].app
        state = tables.credentials[index].state
    }
}

/// The steps of one resolution, when they are asked for.
private final class ExplainTrace {
    var steps: [ResolutionStep] = []
}

/// One resolution in progress: what the run can see, the app key and the consumer's kind for
/// messages, and the trace if one is recorded. Without a trace no step's text is built: the
/// reasons are rendered only for it. The tables and the request are passed to each step, not
/// held: a copy of the tables would retain every table, and a copy of the request (its
/// strings and optional parts) was a twentieth of a resolution.
private struct Resolver {
    let trace: ExplainTrace?
    private let appKey: String
    private let consumerKind: TargetKind?
    private let organization: Handle
    private let project: Handle?
    private let user: Handle?
    private let app: Handle?

    /// Reads the run's context: its organization, project and user must exist.
    init(tables: borrowing IndexTables, request: ResolutionRequest, trace: ExplainTrace?) throws(CofferError) {
        self.trace = trace
        appKey = request.appKey
        consumerKind = request.consumer?.kind
        guard let organization = tables.organizationHandle(request.context.organization) else {
            throw CofferError(.notFound, "The run's organization \(request.context.organization) does not exist.")
        }
        self.organization = organization
        if let projectID = request.context.project {
            guard let project = tables.projectIDs.find(projectID) else {
                throw CofferError(.notFound, "The run's project \(projectID) does not exist.")
            }
            guard project.organization == organization else {
                throw CofferError(.invalidInput, "The run's project \(projectID) belongs to another organization.")
            }
            self.project = project.handle
        } else {
            self.project = nil
        }
        if let userID = request.context.user {
            guard let user = tables.userHandle(userID) else {
                throw CofferError(.notFound, "The run's user \(userID) does not exist.")
            }
            // A run acts for a member: someone outside the organization resolves nothing in it.
            guard tables.memberships[MembershipKey(user: user, organization: organization)] != nil else {
                throw CofferError(
                    .invalidInput,
                    "The run's user \(tables.user(user).handle) is not a member of the organization. Add the membership first."
                )
            }
            self.user = user
        } else {
            self.user = nil
        }
        app = tables.stringHandle(request.appKey)
    }

    /// The answer for the winning slot. Its scope owner is nearly always the run's own
    /// organization, project or user, whose ids the request has: looked up only otherwise.
    func answer(_ slot: Handle, stage: ResolutionStage, request: ResolutionRequest, in tables: IndexTables)
        -> ResolvedCredential
    {
        let chosen = Candidate(slot, in: tables)
        let runs: ScopeOwner? =
            switch chosen.scope {
            case .organization: chosen.owner == organization ? .organization(request.context.organization) : nil
            case .project: chosen.owner == project ? request.context.project.map { .project($0) } : nil
            case .user: chosen.owner == user ? request.context.user.map { .user($0) } : nil
            }
        let current = tables.credentials[Int(slot)].currentVersionEntry
        return ResolvedCredential(
            id: chosen.id, appKey: request.appKey, owner: runs ?? tables.scopeOwner(chosen.scope, chosen.owner),
            version: tables.credentials[Int(slot)].version,
            location: tables.history[Int(current)].location, stage: stage, request: request)
    }

    /// Who needs the credential, for messages: "This agent", "This workflow", "This poll"
    /// when the request names a consumer, "The run" otherwise.
    private var needer: String { consumerKind.map { "This \($0.word)" } ?? "The run" }

    private var key: String { "`\(appKey)`" }

    /// The winning slot and the stage that chose it.
    func resolve(_ request: ResolutionRequest, in tables: IndexTables) throws(CofferError)
        -> (Handle, ResolutionStage)
    {
        // OPS-RESOLVE-1: explicit selection.
        if let selection = request.selection {
            guard let slot = tables.credentialSlot(selection) else {
                let error = CofferError(
                    .notFound, "No credential has the id \(selection). Select an existing credential.")
                record(.explicitSelection, [selection], .failed, "the selected instance does not exist")
                throw error
            }
            return try accept(slot, stage: .explicitSelection, source: "selected for this run", in: tables)
        }
        record(.explicitSelection, [], .skipped, "no instance was selected for this run")
        // OPS-RESOLVE-2: assignments, the exact consumer before the wildcard.
        if let consumer = request.consumer {
            if !consumer.isWildcard {
                if let slot = assignment(consumer, in: tables) {
                    return try accept(slot, stage: .exactAssignment, source: "assigned to \(consumer)", in: tables)
                }
                record(.exactAssignment, [], .skipped, "no assignment for \(consumer)")
            }
            // A target no assignment can name is the caller's mistake: refused, never passed to
            // the scopes as though it had no assignment. Checked only here, past the exact
            // lookup: an assignment found names a target that follows the rules.
            do throws(CofferError) { try consumer.check() } catch {
                record(.wildcardAssignment, [], .failed, "the target is not one an assignment can name")
                throw error
            }
            var wildcard = consumer
            wildcard.consumer = AssignmentTarget.everyConsumer
            if let slot = assignment(wildcard, in: tables) {
                return try accept(slot, stage: .wildcardAssignment, source: "assigned to \(wildcard)", in: tables)
            }
            record(.wildcardAssignment, [], .skipped, "no assignment for \(wildcard)")
        } else {
            record(.exactAssignment, [], .skipped, "the request names no consumer")
        }
        // OPS-RESOLVE-3: a pinned scope is tried alone.
        if let pinned = request.pinnedScope {
            let owner: Handle
            switch pinned {
            case .organization:
                owner = organization
            case .project:
                guard let project else {
                    record(.pinnedScope, [], .failed, "the run has no project", scope: .project)
                    throw CofferError(
                        .credentialMissing,
                        "\(needer) needs the \(key) credential at the pinned project scope, but the run has no project. Run it in a project, or check the pinned scope."
                    )
                }
                owner = project
            case .user:
                guard let user else {
                    record(.pinnedScope, [], .failed, "the run has no user actor", scope: .user)
                    throw CofferError(
                        .noUserActor,
                        "\(needer) pins the \(key) credential to user scope, but the run has no user actor. Give the run context a user, or pin organization or project scope."
                    )
                }
                owner = user
            }
            if let slot = try attempt(.pinnedScope, scope: pinned, owner: owner, in: tables) {
                return (slot, .pinnedScope)
            }
            throw CofferError(
                .credentialMissing,
                "\(needer) needs the \(key) credential, but none is connected at the pinned scope (\(tables.ownerName(pinned, owner))), and a pinned scope does not fall back. Connect the credential at that scope, or check the pinned scope."
            )
        }
        // OPS-RESOLVE-4 and -5: the project, then the organization; never the user.
        if let project {
            if let slot = try attempt(.projectScope, scope: .project, owner: project, in: tables) {
                return (slot, .projectScope)
            }
        } else {
            record(.projectScope, [], .skipped, "the run has no project", scope: .project)
        }
        if let slot = try attempt(.organizationScope, scope: .organization, owner: organization, in: tables) {
            return (slot, .organizationScope)
        }
        // OPS-RESOLVE-6: the owners tried, the project's before the organization's.
        let tried =
            (project.map { [tables.ownerName(.project, $0)] } ?? []) + [tables.ownerName(.organization, organization)]
        throw CofferError(
            .credentialMissing,
            "\(needer) needs the \(key) credential, but none is connected for \(tried.joined(separator: " or ")). Connect a credential for `\(appKey)` there, or check the pinned scope."
        )
    }

    private func assignment(_ target: AssignmentTarget, in tables: IndexTables) -> Handle? {
        app.flatMap { tables.assignmentKey(organization: organization, target: target, app: $0) }.flatMap {
            tables.assignments[$0]
        }
    }

    /// OPS-RESOLVE-PICKED: a selected or assigned instance is used only when the run can see
    /// it, it is of the requested app, and it is active.
    private func accept(
        _ slot: Handle, stage: ResolutionStage, source: @autoclosure () -> String, in tables: IndexTables
    ) throws(CofferError)
        -> (Handle, ResolutionStage)
    {
        let chosen = Candidate(slot, in: tables)
        // Another organization's credential is answered as one that does not exist: the
        // answer must not confirm that an id exists elsewhere, nor name its app.
        guard chosen.organization == organization else {
            record(stage, [chosen.id], .failed, "the selected instance does not exist")
            throw CofferError(.notFound, "No credential has the id \(chosen.id). Select an existing credential.")
        }
        var refusal: (code: CofferError.Code, advice: () -> String)?
        if chosen.scope == .project, chosen.owner != project {
            refusal = (
                .notVisible,
                {
                    let runProject = project.map { "project \(tables.project($0).slug)" } ?? "no project"
                    return
                        "belongs to \(tables.ownerName(chosen.scope, chosen.owner)), and the run is in \(runProject). Select or assign a credential this run can see."
                }
            )
        } else if chosen.scope == .user, user == nil {
            refusal = (
                .noUserActor,
                {
                    "is a user credential, but the run has no user actor. Give the run context a user, or select a shared credential."
                }
            )
        } else if chosen.scope == .user, chosen.owner != user {
            refusal = (.notVisible, { "belongs to another user. Select or assign a credential of the run's user." })
        } else if chosen.app != app {
            let message =
                "The credential \(chosen.id) \(source()) is for `\(tables.string(chosen.app))`, not \(key). Select a \(key) credential."
            record(stage, [chosen.id], .failed, "\(chosen.id) cannot be used: \(CofferError.Code.wrongApp)")
            throw CofferError(.wrongApp, message)
        } else if chosen.state != .active {
            refusal = (.credentialRevoked, { "is revoked. Select or assign an active credential." })
        }
        if let refusal {
            record(stage, [chosen.id], .failed, "\(chosen.id) cannot be used: \(refusal.code)")
            throw CofferError(refusal.code, "The \(key) credential \(chosen.id) \(source()) \(refusal.advice())")
        }
        record(stage, [chosen.id], .won, "\(chosen.id) \(source())")
        return (slot, stage)
    }

    /// OPS-RESOLVE-SCOPE: tries one scope owner. Returns the winner, `nil` when it has no
    /// active instance, and throws `.ambiguous` when several are active and none is the
    /// default. The group is walked in place: the common answer, one active instance, costs
    /// no allocation. Without a trace to count them for, the walk ends at the second active
    /// instance: the answer is then the default or a refusal, however many more the group
    /// holds.
    private func attempt(
        _ stage: ResolutionStage, scope: CredentialScope, owner: Handle, in tables: IndexTables
    ) throws(CofferError)
        -> Handle?
    {
        let candidateKey = app.map { CandidateKey(organization: organization, app: $0, owner: owner, scope: scope) }
        var members = 0
        var activeCount = 0
        var firstActive = noHandle
        var cursor = candidateKey.flatMap { tables.groupHead($0) } ?? noHandle
        while cursor != noHandle {
            members += 1
            if tables.credentials[Int(cursor)].state == .active {
                activeCount += 1
                if firstActive == noHandle { firstActive = cursor }
                if activeCount == 2 && trace == nil { break }
            }
            cursor = tables.credentials[Int(cursor)].nextInGroup
        }
        let ids = { candidateKey.map { tables.group($0).map { tables.credentials[Int($0)].id } } ?? [] }
        if activeCount == 1 {
            record(
                stage, ids(),
                .won,
                "\(tables.credentials[Int(firstActive)].id) is the only active instance for \(tables.ownerName(scope, owner))",
                scope: scope)
            return firstActive
        }
        if activeCount == 0 {
            record(
                stage, ids(), .skipped,
                "no active instance for \(tables.ownerName(scope, owner))"
                    + (members > 0 ? " (\(members) revoked)" : ""),
                scope: scope)
            return nil
        }
        if let candidateKey, let slot = tables.defaultSlot(candidateKey) {
            record(
                stage, ids(), .won,
                "\(tables.credentials[Int(slot)].id) is the default among \(activeCount) active instances for \(tables.ownerName(scope, owner))",
                scope: scope)
            return slot
        }
        record(
            stage, ids(), .failed,
            "\(activeCount) active instances for \(tables.ownerName(scope, owner)) and none is the default",
            scope: scope)
        let active = (candidateKey.map { tables.group($0) } ?? []).filter {
            tables.credentials[Int($0)].state == .active
        }
        throw CofferError(
            .ambiguous,
            "Multiple \(key) credentials are available for \(tables.ownerName(scope, owner)). Pick one: mark one default, or pass an explicit selection.",
            candidates: active.sorted { tables.credentials[Int($0)].id < tables.credentials[Int($1)].id }.map(
                tables.candidateName))
    }

    /// Adds a step to the trace, when one is recorded; the candidates and the reason are
    /// built only then.
    // Inlined, so that without a trace the call's closures are never formed (forming them
    // copied the resolver into their context on every step).
    @inline(__always)
    private func record(
        _ stage: ResolutionStage, _ candidates: @autoclosure () -> [CredentialID], _ outcome: ResolutionStep.Outcome,
        _ reason: @autoclosure () -> String, scope: CredentialScope? = nil
    ) {
        guard let trace else { return }
        trace.steps.append(
            ResolutionStep(stage: stage, scope: scope, candidates: candidates(), outcome: outcome, reason: reason()))
    }
}
