import CofferCrypto

/// One change of a credential's history as a restore operation carries it: everything the
/// index keeps of a change but its location (FORMAT.md §9.15, OPS-ENC-CHANGE).
public struct RestoredChange: Sendable, Hashable {
    /// What kind of change.
    public var kind: ChangeKind
    /// The credential's version after the change.
    public var version: UInt32
    /// Bit `i` set: field `i` of the credential type's schema (§9.7 order) changed, or for
    /// a creation, was present. Zero for changes that make no version.
    public var changedFieldMask: UInt8
    /// When and by whom the change was made.
    public var stamp: ChangeStamp

    /// Creates a change.
    public init(kind: ChangeKind, version: UInt32, changedFieldMask: UInt8, stamp: ChangeStamp) {
        self.kind = kind
        self.version = version
        self.changedFieldMask = changedFieldMask
        self.stamp = stamp
    }
}

/// The body of ``ModelOperation/restoreCredential(_:)``: a credential as the index knows it,
/// with the newest part of its history and the values of its current version.
public struct RestoredCredential: Sendable, Equatable {
    /// Its identifier.
    public var id: CredentialID
    /// The organization it lives in.
    public var organization: OrganizationID
    /// The app key code looks it up by.
    public var appKey: String
    /// Its instance slug.
    public var slug: String
    /// Its label.
    public var label: String
    /// How it connects at runtime.
    public var kind: CredentialKind
    /// Its field schema.
    public var type: CredentialType
    /// Its grouping for people.
    public var category: CredentialCategory
    /// Its scope and scope owner.
    public var owner: ScopeOwner
    /// Active or revoked.
    public var state: CredentialState
    /// Whether it is the default of its candidate group.
    public var isDefault: Bool
    /// The newest changes of its history, oldest first: from at least the change that made
    /// the current version to the latest change. Older changes follow in
    /// ``ModelOperation/restoreCredentialHistory(id:changes:)`` operations.
    public var changes: [RestoredChange]
    /// The complete field values of the current version.
    public var fields: FieldValues

    /// Creates the body of a restore operation.
    public init(
        id: CredentialID, organization: OrganizationID, appKey: String, slug: String, label: String,
        kind: CredentialKind, type: CredentialType, category: CredentialCategory, owner: ScopeOwner,
        state: CredentialState, isDefault: Bool, changes: [RestoredChange], fields: FieldValues
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
        self.state = state
        self.isDefault = isDefault
        self.changes = changes
        self.fields = fields
    }

    /// The current version: the version after the latest change (0 without changes, which
    /// apply refuses).
    public var version: UInt32 { changes.last?.version ?? 0 }
}

/// The body of ``ModelOperation/restoreAPIKey(_:)``: a platform API key's record, never the key.
public struct RestoredAPIKey: Sendable, Equatable {
    /// The key's identifier.
    public var id: APIKeyID
    /// The organization it authenticates to.
    public var organization: OrganizationID
    /// The member who created it (a revoked key may outlive its creator).
    public var creator: UserID
    /// The name people gave it.
    public var name: String
    /// The keyed BLAKE2b-256 hash of the key.
    public var hash: [UInt8]
    /// The non-secret preview.
    public var preview: String
    /// Its creation.
    public var created: ChangeStamp
    /// Its revocation; `nil` while it is active.
    public var revoked: ChangeStamp?

    /// Creates the body of a restore operation.
    public init(
        id: APIKeyID, organization: OrganizationID, creator: UserID, name: String, hash: [UInt8], preview: String,
        created: ChangeStamp, revoked: ChangeStamp?
    ) {
        self.id = id
        self.organization = organization
        self.creator = creator
        self.name = name
        self.hash = hash
        self.preview = preview
        self.created = created
        self.revoked = revoked
    }
}

// MARK: - Encoding (FORMAT.md §9.15)

extension OperationBodySink {
    /// OPS-ENC-STAMP: `u64 time || string actor`.
    mutating func write(_ stamp: ChangeStamp) {
        write(stamp.timeMilliseconds)
        writeString(stamp.actor)
    }

    /// OPS-ENC-CHANGE: `u8 kind || u8 changed-field mask || u32 version || stamp`.
    mutating func write(_ change: RestoredChange) {
        write(change.kind)
        write(change.changedFieldMask)
        write(change.version)
        write(change.stamp)
    }

    /// OPS-ENC-CHANGES: `u32 count || count × change`, count from 1.
    mutating func write(_ changes: [RestoredChange]) {
        precondition(changes.count <= Int(UInt32.max), "too many changes to encode")
        write(UInt32(changes.count))
        for change in changes { write(change) }
    }
}

extension RestoredChange {
    /// Bytes of the change's encoding (OPS-ENC-CHANGE): 16 plus the actor's UTF-8 bytes.
    public var encodedByteCount: Int {
        var counter = OperationBodyCounter()
        counter.write(self)
        return counter.count
    }

    /// The smallest encoding of a change, an empty actor's: kind 1 + mask 1 + version 4 +
    /// time 8 + actor length 2. A decoder bounds a hostile change count with it.
    static let encodedBytesMin = 1 + 1 + 4 + 8 + 2  // 16
}

extension ModelOperation {
    /// Writes the body of a restore operation.
    func writeRestoreBody(into body: inout some OperationBodySink) {
        switch self {
        case .restoreOrganization(let id, let slug, let name, let created):
            body.write(id)
            body.writeString(slug)
            body.writeString(name)
            body.write(created)
        case .restoreProject(let id, let organization, let slug, let name, let created):
            body.write(id)
            body.write(organization)
            body.writeString(slug)
            body.writeString(name)
            body.write(created)
        case .restoreUser(let id, let handle, let displayName, let created):
            body.write(id)
            body.writeString(handle)
            body.writeString(displayName)
            body.write(created)
        case .restoreCredential(let restored):
            body.write(restored.id)
            body.write(restored.organization)
            body.writeString(restored.appKey)
            body.writeString(restored.slug)
            body.writeString(restored.label)
            body.write(restored.kind)
            body.write(restored.type)
            body.write(restored.category)
            body.write(restored.owner.scope)
            body.writeRaw(restored.owner.ownerBytes)
            body.write(restored.state)
            body.write(UInt8(restored.isDefault ? 1 : 0))
            body.write(restored.changes)
            body.write(restored.fields)
        case .restoreCredentialHistory(let id, let changes):
            body.write(id)
            body.write(changes)
        case .restoreVersion(let id, let version, let fields):
            body.write(id)
            body.write(version)
            body.write(fields)
        case .restoreAssignment(let organization, let target, let appKey, let credential):
            Self.writeAssignmentKey(&body, organization, target, appKey)
            body.write(credential)
        case .restoreAPIKey(let restored):
            precondition(restored.hash.count == APIKeyFormat.hashByteCount, "API key hash must be 32 bytes")
            body.write(restored.id)
            body.write(restored.organization)
            body.write(restored.creator)
            body.writeString(restored.name)
            body.writeRaw(restored.hash)
            body.writeString(restored.preview)
            body.write(restored.created)
            if let revoked = restored.revoked {
                body.write(CredentialState.revoked)
                body.write(revoked)
            } else {
                body.write(CredentialState.active)
            }
        default:
            preconditionFailure("operation \(code) routed to the restore encodings")
        }
    }

    /// Decodes the body of a restore operation.
    static func decodeRestoreBody(_ code: OperationCode, _ body: inout OperationBodyReader) throws(CofferError)
        -> ModelOperation
    {
        switch code {
        case .restoreOrganization:
            return .restoreOrganization(
                id: try body.readID("the id"), slug: try body.readString("the slug"),
                name: try body.readString("the name"), created: try body.readStamp("the creation stamp"))
        case .restoreProject:
            return .restoreProject(
                id: try body.readID("the id"), organization: try body.readID("the organization"),
                slug: try body.readString("the slug"), name: try body.readString("the name"),
                created: try body.readStamp("the creation stamp"))
        case .restoreUser:
            return .restoreUser(
                id: try body.readID("the id"), handle: try body.readString("the handle"),
                displayName: try body.readString("the display name"),
                created: try body.readStamp("the creation stamp"))
        case .restoreCredential:
            let id: CredentialID = try body.readID("the id")
            let organization: OrganizationID = try body.readID("the organization")
            let appKey = try body.readString("the app key")
            let slug = try body.readString("the slug")
            let label = try body.readString("the label")
            let kind = try body.readWord(CredentialKind.self, "the kind")
            let type = try body.readWord(CredentialType.self, "the type")
            let category = try body.readWord(CredentialCategory.self, "the category")
            let scope = try body.readWord(CredentialScope.self, "the scope")
            let ownerBytes = try body.readRaw(16, "the scope owner")
            guard let owner = ScopeOwner(scope: scope, ownerBytes: ownerBytes) else {
                throw body.malformed("the scope owner is invalid")
            }
            let state = try body.readWord(CredentialState.self, "the state")
            let isDefault = try body.readFlag("the default flag")
            let changes = try body.readChanges()
            let fields = try body.readFields()
            return .restoreCredential(
                RestoredCredential(
                    id: id, organization: organization, appKey: appKey, slug: slug, label: label, kind: kind,
                    type: type, category: category, owner: owner, state: state, isDefault: isDefault,
                    changes: changes, fields: fields))
        case .restoreCredentialHistory:
            return .restoreCredentialHistory(id: try body.readID("the id"), changes: try body.readChanges())
        case .restoreVersion:
            return .restoreVersion(
                id: try body.readID("the id"), version: try body.read(UInt32.self, "the version"),
                fields: try body.readFields())
        case .restoreAssignment:
            let (organization, target, appKey) = try readAssignmentKey(&body)
            return .restoreAssignment(
                organization: organization, target: target, appKey: appKey,
                credential: try body.readID("the credential"))
        case .restoreAPIKey:
            let id: APIKeyID = try body.readID("the id")
            let organization: OrganizationID = try body.readID("the organization")
            let creator: UserID = try body.readID("the creator")
            let name = try body.readString("the name")
            let hash = try body.readRaw(APIKeyFormat.hashByteCount, "the hash")
            let preview = try body.readString("the preview")
            let created = try body.readStamp("the creation stamp")
            // The revocation stamp is present exactly when the state says revoked, so each
            // key has one encoding.
            let revoked: ChangeStamp?
            switch try body.readWord(CredentialState.self, "the state") {
            case .active: revoked = nil
            case .revoked: revoked = try body.readStamp("the revocation stamp")
            }
            return .restoreAPIKey(
                RestoredAPIKey(
                    id: id, organization: organization, creator: creator, name: name, hash: hash, preview: preview,
                    created: created, revoked: revoked))
        default:
            preconditionFailure("operation \(code) routed to the restore decodings")
        }
    }
}

extension OperationBodyReader {
    /// OPS-ENC-STAMP.
    mutating func readStamp(_ what: String) throws(CofferError) -> ChangeStamp {
        let time = try read(UInt64.self, "\(what)'s time")
        return ChangeStamp(timeMilliseconds: time, actor: try readString("\(what)'s actor"))
    }

    /// A `u8` that is 0 (false) or 1 (true); any other value is malformed.
    mutating func readFlag(_ what: String) throws(CofferError) -> Bool {
        switch try read(UInt8.self, what) {
        case 0: return false
        case 1: return true
        case let other: throw malformed("\(what) has the value \(other), not 0 or 1")
        }
    }

    /// OPS-ENC-CHANGES, with the decoder's checks: at least one change, and no more than the
    /// remaining bytes can hold, checked before allocating.
    mutating func readChanges() throws(CofferError) -> [RestoredChange] {
        let count = try read(UInt32.self, "the change count")
        guard count >= 1 else { throw malformed("it lists no change") }
        guard Int(count) <= remaining / RestoredChange.encodedBytesMin else {
            throw malformed("it lists \(count) changes, more than its bytes can hold")
        }
        var changes: [RestoredChange] = []
        changes.reserveCapacity(Int(count))
        for _ in 0..<count {
            let kind = try readWord(ChangeKind.self, "a change kind")
            let mask = try read(UInt8.self, "a changed-field mask")
            let version = try read(UInt32.self, "a change version")
            changes.append(
                RestoredChange(kind: kind, version: version, changedFieldMask: mask, stamp: try readStamp("a change")))
        }
        return changes
    }
}
