import CofferCrypto
import CofferErrors

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
public struct RestoredCredential: Sendable, Equatable, CarriesMetadata {
    /// Its id, organization, app key, slug, label, kind, type, category and owner.
    public var metadata: CredentialMetadata
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
        _ metadata: CredentialMetadata, state: CredentialState, isDefault: Bool, changes: [RestoredChange],
        fields: FieldValues
    ) {
        self.metadata = metadata
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
public struct RestoredAPIKey: Sendable, Equatable, CarriesMetadata {
    /// The key's id, organization, creator, name, hash and preview.
    public var metadata: APIKeyMetadata
    /// Its creation.
    public var created: ChangeStamp
    /// Its revocation; `nil` while it is active.
    public var revoked: ChangeStamp?

    /// Creates the body of a restore operation.
    public init(_ metadata: APIKeyMetadata, created: ChangeStamp, revoked: ChangeStamp?) {
        self.metadata = metadata
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

extension OperationBodySink {
    /// OPS-ENC-METADATA: `id || organization id || string app key || string slug || string
    /// label || u8 kind || u8 type || u8 category || u8 scope || 16-byte scope owner`.
    mutating func write(_ metadata: CredentialMetadata) {
        write(metadata.id)
        write(metadata.organization)
        writeString(metadata.appKey)
        writeString(metadata.slug)
        writeString(metadata.label)
        write(metadata.kind)
        write(metadata.type)
        write(metadata.category)
        write(metadata.owner.scope)
        writeRaw(metadata.owner.ownerBytes)
    }
}

extension OperationBodySink {
    /// OPS-ENC-APIKEY: `id || organization id || creator id || string name || 32-byte hash ||
    /// string preview`.
    mutating func write(_ metadata: APIKeyMetadata) {
        precondition(metadata.hash.count == APIKeyFormat.hashByteCount, "API key hash must be 32 bytes")
        write(metadata.id)
        write(metadata.organization)
        write(metadata.creator)
        writeString(metadata.name)
        writeRaw(metadata.hash)
        writeString(metadata.preview)
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

    /// OPS-ENC-METADATA.
    mutating func readCredentialMetadata() throws(CofferError) -> CredentialMetadata {
        let id: CredentialID = try readID("the id")
        let organization: OrganizationID = try readID("the organization")
        let appKey = try readString("the app key")
        let slug = try readString("the slug")
        let label = try readString("the label")
        let kind = try readWord(CredentialKind.self, "the kind")
        let type = try readWord(CredentialType.self, "the type")
        let category = try readWord(CredentialCategory.self, "the category")
        let scope = try readWord(CredentialScope.self, "the scope")
        let ownerBytes = try readRaw(16, "the scope owner")
        guard let owner = ScopeOwner(scope: scope, ownerBytes: ownerBytes) else {
            throw malformed("the scope owner is invalid")
        }
        return CredentialMetadata(
            id: id, organization: organization, appKey: appKey, slug: slug, label: label, kind: kind, type: type,
            category: category, owner: owner)
    }

    /// OPS-ENC-APIKEY.
    mutating func readAPIKeyMetadata() throws(CofferError) -> APIKeyMetadata {
        APIKeyMetadata(
            id: try readID("the id"), organization: try readID("the organization"), creator: try readID("the creator"),
            name: try readString("the name"), hash: try readRaw(APIKeyFormat.hashByteCount, "the hash"),
            preview: try readString("the preview"))
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
