/// An organization as the index knows it.
public struct OrganizationInfo: Sendable, Hashable {
    /// Its identifier.
    public var id: OrganizationID
    /// Its unique slug.
    public var slug: String
    /// Its display name.
    public var name: String
    /// When and by whom it was created.
    public var created: ChangeStamp

    public init(id: OrganizationID, slug: String, name: String, created: ChangeStamp) {
        self.id = id
        self.slug = slug
        self.name = name
        self.created = created
    }
}

/// A project as the index knows it.
public struct ProjectInfo: Sendable, Hashable {
    /// Its identifier.
    public var id: ProjectID
    /// The organization it belongs to.
    public var organization: OrganizationID
    /// Its slug, unique within the organization.
    public var slug: String
    /// Its display name.
    public var name: String
    /// When and by whom it was created.
    public var created: ChangeStamp

    public init(id: ProjectID, organization: OrganizationID, slug: String, name: String, created: ChangeStamp) {
        self.id = id
        self.organization = organization
        self.slug = slug
        self.name = name
        self.created = created
    }
}

/// A user as the index knows it.
public struct UserInfo: Sendable, Hashable {
    /// Its identifier.
    public var id: UserID
    /// Its unique handle (a slug).
    public var handle: String
    /// Its display name.
    public var displayName: String
    /// When and by whom it was created.
    public var created: ChangeStamp

    public init(id: UserID, handle: String, displayName: String, created: ChangeStamp) {
        self.id = id
        self.handle = handle
        self.displayName = displayName
        self.created = created
    }
}

/// A user's membership in an organization.
public struct MembershipInfo: Sendable, Hashable {
    /// The member.
    public var user: UserID
    /// The organization.
    public var organization: OrganizationID
    /// The member's role there.
    public var role: Role

    public init(user: UserID, organization: OrganizationID, role: Role) {
        self.user = user
        self.organization = organization
        self.role = role
    }
}

/// What is shown of one field: a masked preview for secret fields, the value for others.
public struct FieldDisplay: Sendable, Hashable {
    /// The field name.
    public var name: String
    /// Whether the field is secret, so that ``text`` is a preview.
    public var isSecret: Bool
    /// The preview (`••••a1b2`) or the value.
    public var text: String
}

/// A credential instance as the index shows it: everything but its secret values.
public struct CredentialInfo: Sendable, Hashable, CarriesMetadata {
    /// Its id, organization, app key, slug, label, kind, type, category and owner
    /// (`info.appKey` reads `info.metadata.appKey`).
    public var metadata: CredentialMetadata
    /// Active or revoked.
    public var state: CredentialState
    /// The current version, from 1.
    public var version: UInt32
    /// Whether it is the default for its app, scope and owner.
    public var isDefault: Bool
    /// Creation.
    public var created: ChangeStamp
    /// The latest change of any kind.
    public var updated: ChangeStamp
    /// The latest rotation, if any.
    public var rotated: ChangeStamp?
    /// The fields present in the current version, in schema order.
    public var fields: [FieldDisplay]
    /// Where the current version's values are, for reveal.
    public var currentLocation: RecordLocation
}

/// The kinds of change history records.
public enum ChangeKind: UInt8, ModelWord {
    /// Created, as version 1.
    case created = 1
    /// Fields edited: a new version.
    case fieldsUpdated = 2
    /// Secret rotated: a new version.
    case rotated = 3
    /// Label changed.
    case relabeled = 4
    /// Marked default.
    case defaultSet = 5
    /// Default mark cleared.
    case defaultCleared = 6
    /// Revoked.
    case revoked = 7
    /// Revoked no more: active again.
    case reinstated = 8
    /// Instance slug changed.
    case slugChanged = 9

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .created: "created"
        case .fieldsUpdated: "fields_updated"
        case .rotated: "rotated"
        case .relabeled: "relabeled"
        case .defaultSet: "default_set"
        case .defaultCleared: "default_cleared"
        case .revoked: "revoked"
        case .reinstated: "reinstated"
        case .slugChanged: "slug_changed"
        }
    }

    /// Whether this change made a new version.
    public var makesVersion: Bool { self == .created || self == .fieldsUpdated || self == .rotated }
}

/// One change in a credential's history. It names what changed, never values.
public struct CredentialChange: Sendable, Hashable {
    /// What kind of change.
    public var kind: ChangeKind
    /// The version after the change.
    public var version: UInt32
    /// The fields that changed: field names for versions, `label`, `default` or `state`
    /// otherwise.
    public var changedFields: [String]
    /// When and by whom.
    public var stamp: ChangeStamp
    /// The operation that made the change.
    public var location: RecordLocation
}

/// A version whose secret values are still readable.
public struct CredentialVersion: Sendable, Hashable {
    /// The version number.
    public var version: UInt32
    /// Edit, rotation or creation.
    public var kind: ChangeKind
    /// When and by whom.
    public var stamp: ChangeStamp
    /// Where the values are: read this operation and pass it to
    /// ``ModelOperation/decodeCredentialFields(from:)``.
    public var location: RecordLocation
}

/// An assignment: one consumer of a target uses one exact credential for one app key.
public struct AssignmentInfo: Sendable, Hashable {
    /// The organization it lives in.
    public var organization: OrganizationID
    /// The consumer.
    public var target: AssignmentTarget
    /// The app key.
    public var appKey: String
    /// The pinned credential instance.
    public var credential: CredentialID

    public init(organization: OrganizationID, target: AssignmentTarget, appKey: String, credential: CredentialID) {
        self.organization = organization
        self.target = target
        self.appKey = appKey
        self.credential = credential
    }
}

/// A platform API key's metadata; never the key.
public struct APIKeyInfo: Sendable, Hashable {
    /// Its identifier.
    public var id: APIKeyID
    /// The organization it authenticates to.
    public var organization: OrganizationID
    /// The user it acts as.
    public var creator: UserID
    /// Its name.
    public var name: String
    /// Its preview, e.g. `ck_live_••••w2xq`.
    public var preview: String
    /// Active or revoked.
    public var state: CredentialState
    /// Creation.
    public var created: ChangeStamp
    /// Revocation, if revoked.
    public var revoked: ChangeStamp?

    public init(
        id: APIKeyID, organization: OrganizationID, creator: UserID, name: String, preview: String,
        state: CredentialState, created: ChangeStamp, revoked: ChangeStamp?
    ) {
        self.id = id
        self.organization = organization
        self.creator = creator
        self.name = name
        self.preview = preview
        self.state = state
        self.created = created
        self.revoked = revoked
    }
}

/// The result of checking a presented API key: who it acts as.
public struct APIKeyCheck: Sendable, Hashable {
    /// The key.
    public var apiKey: APIKeyID
    /// The organization it authenticates to.
    public var organization: OrganizationID
    /// The user it acts as.
    public var user: UserID
    /// That user's current role in the organization.
    public var role: Role
}

/// Which credentials to list. Every set condition must hold.
public struct CredentialFilter: Sendable, Hashable {
    /// The organization (required).
    public var organization: OrganizationID
    /// Only this app key.
    public var appKey: String?
    /// Only this scope.
    public var scope: CredentialScope?
    /// Only credentials owned by this project.
    public var project: ProjectID?
    /// Only credentials owned by this user.
    public var user: UserID?
    /// Whether revoked credentials are listed.
    public var includesRevoked: Bool

    /// Creates a filter; by default it lists every credential of the organization.
    public init(
        organization: OrganizationID, appKey: String? = nil, scope: CredentialScope? = nil, project: ProjectID? = nil,
        user: UserID? = nil, includesRevoked: Bool = true
    ) {
        self.organization = organization
        self.appKey = appKey
        self.scope = scope
        self.project = project
        self.user = user
        self.includesRevoked = includesRevoked
    }
}

/// Counts over the whole vault.
public struct VaultStatistics: Sendable, Hashable {
    /// Organizations.
    public var organizations = 0
    /// Projects.
    public var projects = 0
    /// Users.
    public var users = 0
    /// Memberships.
    public var memberships = 0
    /// Credential instances, active and revoked.
    public var credentials = 0
    /// Revoked credential instances.
    public var revokedCredentials = 0
    /// Credential instances by type.
    public var credentialsByType: [CredentialType: Int] = [:]
    /// Credential instances by scope.
    public var credentialsByScope: [CredentialScope: Int] = [:]
    /// Default marks.
    public var defaults = 0
    /// Assignments.
    public var assignments = 0
    /// Retained versions across all credentials.
    public var retainedVersions = 0
    /// API keys, active and revoked.
    public var apiKeys = 0
    /// Active API keys.
    public var activeAPIKeys = 0
}

/// What a removal or deletion takes with it. Planning returns it before anything changes;
/// the operations of the plan remove exactly this.
public struct Impact: Sendable, Hashable {
    /// Assignments removed (the consumers that lose their pinned credential).
    public var removedAssignments: [AssignmentInfo] = []
    /// Credentials whose default mark is cleared.
    public var clearedDefaults: [CredentialID] = []
    /// Credentials deleted.
    public var deletedCredentials: [CredentialID] = []
    /// API keys revoked.
    public var revokedAPIKeys: [APIKeyID] = []
    /// API key records deleted.
    public var deletedAPIKeys: [APIKeyID] = []
    /// Memberships ended.
    public var removedMemberships: [MembershipInfo] = []
    /// Projects removed.
    public var removedProjects: [ProjectID] = []

    /// Creates an empty impact.
    public init() {}

    /// Whether nothing else is affected.
    public var isEmpty: Bool {
        removedAssignments.isEmpty && clearedDefaults.isEmpty && deletedCredentials.isEmpty && revokedAPIKeys.isEmpty
            && deletedAPIKeys.isEmpty && removedMemberships.isEmpty && removedProjects.isEmpty
    }
}
