import CofferErrors

/// A closed set of values stored as one byte on disk and written as a word in text.
public protocol ModelWord: RawRepresentable<UInt8>, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The word used in text (CLI, messages, documentation).
    var word: String { get }
}

extension ModelWord {
    /// Parses a word, e.g. `Role(word: "admin")`.
    public init?(word: String) {
        guard let match = Self.allCases.first(where: { $0.word == word }) else { return nil }
        self = match
    }

    /// The ``word``.
    public var description: String { word }

    /// The accepted words, for error messages.
    static var wordList: String { allCases.map(\.word).joined(separator: ", ") }
}

/// A member's role in an organization. API keys act with their creator's role.
public enum Role: UInt8, ModelWord {
    /// Manages everything, including other owners.
    case owner = 1
    /// Manages everything in the organization.
    case admin = 2
    /// Builds agents and workflows; sees only its own API keys.
    case builder = 3

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .owner: "owner"
        case .admin: "admin"
        case .builder: "builder"
        }
    }

    /// Owners and admins see and revoke every API key of the organization.
    public var managesAllAPIKeys: Bool { self != .builder }
}

/// The scope a credential instance is available at.
public enum CredentialScope: UInt8, ModelWord {
    /// Shared by the whole organization.
    case organization = 1
    /// One project of the organization.
    case project = 2
    /// One user, in one organization; resolved only when pinned and the run acts as that user.
    case user = 3

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .organization: "organization"
        case .project: "project"
        case .user: "user"
        }
    }

    /// Parses a scope word of a selector or a flag: `org` and `organization` both mean
    /// organization scope.
    public init?(selectorWord: String) {
        if selectorWord == "org" { self = .organization } else { self.init(word: selectorWord) }
    }
}

/// The scope of a credential together with the entity that owns it.
public enum ScopeOwner: Sendable, Hashable, CustomStringConvertible {
    /// The organization itself.
    case organization(OrganizationID)
    /// A project of the organization.
    case project(ProjectID)
    /// A user who is a member of the organization.
    case user(UserID)

    /// The scope without its owner.
    public var scope: CredentialScope {
        switch self {
        case .organization: .organization
        case .project: .project
        case .user: .user
        }
    }

    /// The owner's 16 identifier bytes, as written on disk.
    public var ownerBytes: [UInt8] {
        switch self {
        case .organization(let id): id.bytes
        case .project(let id): id.bytes
        case .user(let id): id.bytes
        }
    }

    /// Builds an owner from a scope and the owner's identifier bytes.
    public init?(scope: CredentialScope, ownerBytes: [UInt8]) {
        guard let owner = ownerBytes.withUnsafeBytes({ Self(scope: scope, ownerBytes: $0) }) else { return nil }
        self = owner
    }

    /// Builds an owner from a scope and the owner's identifier bytes, read where they lie.
    public init?(scope: CredentialScope, ownerBytes: UnsafeRawBufferPointer) {
        switch scope {
        case .organization:
            guard let id = OrganizationID(bytes: ownerBytes) else { return nil }
            self = .organization(id)
        case .project:
            guard let id = ProjectID(bytes: ownerBytes) else { return nil }
            self = .project(id)
        case .user:
            guard let id = UserID(bytes: ownerBytes) else { return nil }
            self = .user(id)
        }
    }

    /// The scope word and the owner's id, e.g. `project prj_…`.
    public var description: String {
        switch self {
        case .organization(let id): "organization \(id)"
        case .project(let id): "project \(id)"
        case .user(let id): "user \(id)"
        }
    }
}

/// How a credential is connected at runtime.
public enum CredentialKind: UInt8, ModelWord {
    /// A static secret entered by a person.
    case apiKey = 1
    /// A native OAuth connection whose tokens the platform manages.
    case oauthManaged = 2
    /// A hosted catalog app routed through the platform.
    case keystroke = 3

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .apiKey: "api_key"
        case .oauthManaged: "oauth_managed"
        case .keystroke: "keystroke"
        }
    }
}

/// How a credential is grouped for people. It has no effect on resolution.
public enum CredentialCategory: UInt8, ModelWord {
    /// A model provider.
    case llmProvider = 1
    /// A Model Context Protocol service.
    case mcpService = 2
    /// A runtime or sandbox.
    case runtime = 3
    /// Chat and mail.
    case communication = 4
    /// Anything else.
    case custom = 5

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .llmProvider: "llm_provider"
        case .mcpService: "mcp_service"
        case .runtime: "runtime"
        case .communication: "communication"
        case .custom: "custom"
        }
    }
}

/// Whether a credential or API key can still be used.
public enum CredentialState: UInt8, ModelWord {
    /// Resolves (credential) or authenticates (API key).
    case active = 1
    /// Listed but never resolves or authenticates again.
    case revoked = 2

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .active: "active"
        case .revoked: "revoked"
        }
    }
}

/// The kind of consumer an assignment binds.
public enum TargetKind: UInt8, ModelWord {
    /// A workflow; its consumers are step ids.
    case workflow = 1
    /// An agent; its consumers are tool slugs.
    case agent = 2
    /// A poll; its consumers are action slugs.
    case poll = 3

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .workflow: "workflow"
        case .agent: "agent"
        case .poll: "poll"
        }
    }
}

/// One consumer of credentials: a step, tool or action of a workflow, agent or poll.
public struct AssignmentTarget: Sendable, Hashable, CustomStringConvertible {
    /// The wildcard consumer: every consumer of the target.
    public static let everyConsumer = "*"

    /// Workflow, agent or poll.
    public var kind: TargetKind
    /// The workflow's, agent's or poll's slug.
    public var slug: String
    /// The step, tool or action id, or `*` for every consumer of the target.
    public var consumer: String

    /// Creates a target; `consumer` defaults to every consumer.
    public init(kind: TargetKind, slug: String, consumer: String = AssignmentTarget.everyConsumer) {
        self.kind = kind
        self.slug = slug
        self.consumer = consumer
    }

    /// Whether this target names every consumer.
    public var isWildcard: Bool { consumer == Self.everyConsumer }

    /// Throws unless the slug and consumer follow the rules an assignment's do (OPS-TEXT-SLUG,
    /// OPS-TEXT-CONSUMER). A resolution refuses such a target itself once no assignment has
    /// it (OPS-RESOLVE-2); this check lets a caller refuse it before opening a vault.
    ///
    /// - Throws: `.invalidInput` saying which rule.
    public func check() throws(CofferError) {
        try Names.checkSlug(slug, what: "target slug")
        try Names.checkConsumer(consumer)
    }

    /// E.g. `agent helper consumer search`.
    public var description: String { "\(kind.word) \(slug) consumer \(consumer)" }
}
