import CofferCrypto

/// One change to the vault's model, as carried by a transaction record (FORMAT.md,
/// "Operations"). Cascades are explicit: removing a project is a list of operations that
/// unassigns, clears defaults and deletes its credentials before removing the project, so the
/// log says exactly what happened and replay needs no rules of its own.
///
/// Cases that carry secrets hold them in ``SecureBytes``; ``description`` prints field names
/// only.
public enum ModelOperation: Sendable, Equatable, CustomStringConvertible {
    /// Sets how many versions of each credential keep their secret values readable.
    case setVersionRetention(count: UInt16)

    /// Creates an organization.
    case createOrganization(id: OrganizationID, slug: String, name: String)
    /// Gives an organization a new slug and name (either may stay the same).
    case renameOrganization(id: OrganizationID, slug: String, name: String)
    /// Removes an empty organization.
    case removeOrganization(id: OrganizationID)

    /// Creates a project in an organization.
    case createProject(id: ProjectID, organization: OrganizationID, slug: String, name: String)
    /// Gives a project a new slug and name.
    case renameProject(id: ProjectID, slug: String, name: String)
    /// Removes a project that no credential is scoped to.
    case removeProject(id: ProjectID)

    /// Creates a user.
    case createUser(id: UserID, handle: String, displayName: String)
    /// Gives a user a new handle and display name.
    case renameUser(id: UserID, handle: String, displayName: String)
    /// Removes a user who is a member of no organization.
    case removeUser(id: UserID)

    /// Makes a user a member of an organization.
    case addMembership(user: UserID, organization: OrganizationID, role: Role)
    /// Changes a member's role.
    case changeMembershipRole(user: UserID, organization: OrganizationID, role: Role)
    /// Ends a membership; the user must own no credentials and no active API key there.
    case removeMembership(user: UserID, organization: OrganizationID)

    /// Creates a credential instance: version 1, active.
    case createCredential(NewCredential)
    /// Changes a credential's label.
    case relabelCredential(id: CredentialID, label: String)
    /// Stores a new version: the complete field set after the change, and the names of the
    /// fields that changed.
    case setCredentialFields(CredentialFieldsChange)
    /// Revokes a credential: it stays listed and never resolves again unless reinstated.
    case revokeCredential(id: CredentialID)
    /// Makes a revoked credential active again: it resolves as before its revocation, with
    /// its assignments; its default mark is not given back.
    case reinstateCredential(id: CredentialID)
    /// Changes a credential's instance slug, the `SLUG` of `APP/SLUG`.
    case changeCredentialSlug(id: CredentialID, slug: String)
    /// Deletes a credential that is neither a default nor assigned.
    case deleteCredential(id: CredentialID)
    /// Marks a credential as the default for its app, scope and scope owner.
    case setDefault(id: CredentialID)
    /// Clears a credential's default mark.
    case clearDefault(id: CredentialID)

    /// Pins a credential to a consumer for one app key.
    case assign(organization: OrganizationID, target: AssignmentTarget, appKey: String, credential: CredentialID)
    /// Removes the assignment of a consumer for one app key.
    case unassign(organization: OrganizationID, target: AssignmentTarget, appKey: String)

    /// Records a platform API key: its keyed hash and preview, never the key.
    case createAPIKey(NewAPIKey)
    /// Revokes a platform API key.
    case revokeAPIKey(id: APIKeyID)
    /// Deletes a platform API key record (used when its organization is removed).
    case deleteAPIKey(id: APIKeyID)

    // Restore operations: written only by compaction (FORMAT.md §9.15). Each recreates an
    // entity with the stamps and state the index had, which the operations above, stamped
    // with their transaction's time and actor, cannot express.

    /// Recreates an organization with its original creation stamp.
    case restoreOrganization(id: OrganizationID, slug: String, name: String, created: ChangeStamp)
    /// Recreates a project with its original creation stamp.
    case restoreProject(id: ProjectID, organization: OrganizationID, slug: String, name: String, created: ChangeStamp)
    /// Recreates a user with its original creation stamp.
    case restoreUser(id: UserID, handle: String, displayName: String, created: ChangeStamp)
    /// Recreates a credential: its metadata and state, the newest part of its history, and
    /// the values of its current version.
    case restoreCredential(RestoredCredential)
    /// Puts older changes in front of a restored credential's history.
    case restoreCredentialHistory(id: CredentialID, changes: [RestoredChange])
    /// Makes an older version of a restored credential readable again, with its values.
    case restoreVersion(id: CredentialID, version: UInt32, fields: FieldValues)
    /// Recreates an assignment; unlike ``assign(organization:target:appKey:credential:)`` its
    /// credential may be revoked, since revoking keeps assignments.
    case restoreAssignment(
        organization: OrganizationID, target: AssignmentTarget, appKey: String, credential: CredentialID)
    /// Recreates a platform API key, active or revoked, with its stamps.
    case restoreAPIKey(RestoredAPIKey)

    /// The case and its identifiers and names; field values never print.
    public var description: String {
        switch self {
        case .setVersionRetention(let count): "setVersionRetention(\(count))"
        case .createOrganization(let id, let slug, _): "createOrganization(\(id), \(slug))"
        case .renameOrganization(let id, let slug, _): "renameOrganization(\(id), \(slug))"
        case .removeOrganization(let id): "removeOrganization(\(id))"
        case .createProject(let id, let organization, let slug, _): "createProject(\(id), \(organization), \(slug))"
        case .renameProject(let id, let slug, _): "renameProject(\(id), \(slug))"
        case .removeProject(let id): "removeProject(\(id))"
        case .createUser(let id, let handle, _): "createUser(\(id), \(handle))"
        case .renameUser(let id, let handle, _): "renameUser(\(id), \(handle))"
        case .removeUser(let id): "removeUser(\(id))"
        case .addMembership(let user, let organization, let role): "addMembership(\(user), \(organization), \(role))"
        case .changeMembershipRole(let user, let organization, let role):
            "changeMembershipRole(\(user), \(organization), \(role))"
        case .removeMembership(let user, let organization): "removeMembership(\(user), \(organization))"
        case .createCredential(let new):
            "createCredential(\(new.id), \(new.appKey)/\(new.slug), \(new.owner), \(new.type), \(new.fields))"
        case .relabelCredential(let id, _): "relabelCredential(\(id))"
        case .setCredentialFields(let change):
            "setCredentialFields(\(change.id), \(change.reason) to version \(change.version), changed \(change.changedFields))"
        case .revokeCredential(let id): "revokeCredential(\(id))"
        case .reinstateCredential(let id): "reinstateCredential(\(id))"
        case .changeCredentialSlug(let id, let slug): "changeCredentialSlug(\(id), \(slug))"
        case .deleteCredential(let id): "deleteCredential(\(id))"
        case .setDefault(let id): "setDefault(\(id))"
        case .clearDefault(let id): "clearDefault(\(id))"
        case .assign(let organization, let target, let appKey, let credential):
            "assign(\(organization), \(target), \(appKey) → \(credential))"
        case .unassign(let organization, let target, let appKey): "unassign(\(organization), \(target), \(appKey))"
        case .createAPIKey(let new): "createAPIKey(\(new.id), \(new.organization), by \(new.creator), \(new.preview))"
        case .revokeAPIKey(let id): "revokeAPIKey(\(id))"
        case .deleteAPIKey(let id): "deleteAPIKey(\(id))"
        case .restoreOrganization(let id, let slug, _, _): "restoreOrganization(\(id), \(slug))"
        case .restoreProject(let id, let organization, let slug, _, _):
            "restoreProject(\(id), \(organization), \(slug))"
        case .restoreUser(let id, let handle, _, _): "restoreUser(\(id), \(handle))"
        case .restoreCredential(let restored):
            "restoreCredential(\(restored.id), \(restored.appKey)/\(restored.slug), \(restored.owner), \(restored.type), \(restored.state), version \(restored.version), \(restored.changes.count) changes, \(restored.fields))"
        case .restoreCredentialHistory(let id, let changes): "restoreCredentialHistory(\(id), \(changes.count) changes)"
        case .restoreVersion(let id, let version, let fields): "restoreVersion(\(id), version \(version), \(fields))"
        case .restoreAssignment(let organization, let target, let appKey, let credential):
            "restoreAssignment(\(organization), \(target), \(appKey) → \(credential))"
        case .restoreAPIKey(let restored):
            "restoreAPIKey(\(restored.id), \(restored.organization), by \(restored.creator), \(restored.preview), \(restored.revoked == nil ? "active" : "revoked"))"
        }
    }
}

/// What a credential is, apart from its values, state and history: what its creation
/// (``NewCredential``), its restoration (``RestoredCredential``), the index's answers
/// (``CredentialInfo``) and an export all carry, with one encoding (OPS-ENC-METADATA).
public struct CredentialMetadata: Sendable, Hashable {
    /// Its identifier.
    public var id: CredentialID
    /// The organization it lives in.
    public var organization: OrganizationID
    /// The app key code looks it up by, e.g. `exa`.
    public var appKey: String
    /// The instance slug, e.g. `work`.
    public var slug: String
    /// The label people see, e.g. "Production Slack".
    public var label: String
    /// How it connects at runtime.
    public var kind: CredentialKind
    /// Its field schema.
    public var type: CredentialType
    /// Its grouping for people.
    public var category: CredentialCategory
    /// Its scope and scope owner.
    public var owner: ScopeOwner

    /// Creates a credential's metadata.
    public init(
        id: CredentialID, organization: OrganizationID, appKey: String, slug: String, label: String,
        kind: CredentialKind, type: CredentialType, category: CredentialCategory, owner: ScopeOwner
    ) {
        self.id = id
        self.organization = organization
        self.appKey = appKey
        self.slug = slug
        self.label = label
        self.kind = kind
        self.type = type
        self.category = category
        self.owner = owner
    }

    /// Its scope: organization, project or user.
    public var scope: CredentialScope { owner.scope }
}

/// A type that carries metadata shared with others (``CredentialMetadata``,
/// ``APIKeyMetadata``) and reads its members as its own (`new.appKey` is
/// `new.metadata.appKey`).
@dynamicMemberLookup
public protocol CarriesMetadata {
    associatedtype Metadata
    var metadata: Metadata { get set }
}

extension CarriesMetadata {
    /// A member of the metadata.
    public subscript<Value>(dynamicMember member: WritableKeyPath<Metadata, Value>) -> Value {
        get { metadata[keyPath: member] }
        set { metadata[keyPath: member] = newValue }
    }

    /// A computed member of the metadata (``CredentialMetadata/scope``).
    public subscript<Value>(dynamicMember member: KeyPath<Metadata, Value>) -> Value {
        metadata[keyPath: member]
    }
}

/// The body of ``ModelOperation/createCredential(_:)``.
public struct NewCredential: Sendable, Equatable, CarriesMetadata {
    /// The new instance: its id, organization, app key, slug, label, kind, type, category and owner.
    public var metadata: CredentialMetadata
    /// The field values of version 1.
    public var fields: FieldValues

    /// Creates the body of a create operation.
    public init(_ metadata: CredentialMetadata, fields: FieldValues) {
        self.metadata = metadata
        self.fields = fields
    }
}

/// Why a credential got a new version.
public enum VersionReason: UInt8, ModelWord {
    /// Fields were edited.
    case update = 1
    /// The secret was rotated.
    case rotate = 2

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .update: "update"
        case .rotate: "rotate"
        }
    }
}

/// The body of ``ModelOperation/setCredentialFields(_:)``: a new version.
public struct CredentialFieldsChange: Sendable, Equatable {
    /// The credential.
    public var id: CredentialID
    /// Edit or rotation.
    public var reason: VersionReason
    /// The new version number: the current one plus one.
    public var version: UInt32
    /// Names of the fields that changed (added, replaced or cleared), for history.
    public var changedFields: [String]
    /// The complete field set of the new version, so one record reveals one version.
    public var fields: FieldValues

    /// Creates the body of a new version.
    public init(id: CredentialID, reason: VersionReason, version: UInt32, changedFields: [String], fields: FieldValues)
    {
        self.id = id
        self.reason = reason
        self.version = version
        self.changedFields = changedFields
        self.fields = fields
    }
}

/// What a platform API key's record is, never the key: what its creation (``NewAPIKey``)
/// and its restoration (``RestoredAPIKey``) both carry, with one encoding (OPS-ENC-APIKEY).
public struct APIKeyMetadata: Sendable, Equatable {
    /// The key's identifier.
    public var id: APIKeyID
    /// The organization it authenticates to.
    public var organization: OrganizationID
    /// The member who created it; the key acts as this user, with this user's role (a revoked
    /// key may outlive its creator).
    public var creator: UserID
    /// The name people gave it.
    public var name: String
    /// The keyed BLAKE2b-256 hash of the key (``APIKeyFormat/hash(of:hashKey:)``).
    public var hash: [UInt8]
    /// The non-secret preview, e.g. `ck_live_••••w2xq`.
    public var preview: String

    /// Creates an API key's metadata.
    public init(
        id: APIKeyID, organization: OrganizationID, creator: UserID, name: String, hash: [UInt8], preview: String
    ) {
        self.id = id
        self.organization = organization
        self.creator = creator
        self.name = name
        self.hash = hash
        self.preview = preview
    }
}

/// The body of ``ModelOperation/createAPIKey(_:)``.
public struct NewAPIKey: Sendable, Equatable, CarriesMetadata {
    /// The key's id, organization, creator, name, hash and preview.
    public var metadata: APIKeyMetadata

    /// Creates the body of a create operation.
    public init(_ metadata: APIKeyMetadata) {
        self.metadata = metadata
    }
}
