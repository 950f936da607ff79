import CofferCrypto

/// A small integer naming an organization, project, user, interned string or credential slot
/// inside the index. Handles never leave the index; identifiers do.
typealias Handle = UInt32

/// "No handle", the end of an intrusive list.
let noHandle: Handle = .max

struct OrganizationRecord: Sendable {
    var id: OrganizationID
    var slug: String
    var name: String
    var createdTime: UInt64
    var createdBy: Handle
}

struct ProjectRecord: Sendable {
    var id: ProjectID
    var organization: Handle
    var slug: String
    var name: String
    var createdTime: UInt64
    var createdBy: Handle
}

struct UserRecord: Sendable {
    var id: UserID
    var handle: String
    var displayName: String
    var createdTime: UInt64
    var createdBy: Handle
}

// The keys of the index's hash tables hash their handles packed in 64-bit words: one
// `combine` per word instead of one per field (a replay and a checkpoint's decoder look them
// up hundreds of thousands of times).

struct MembershipKey: Sendable, Hashable {
    var user: Handle
    var organization: Handle

    func hash(into hasher: inout Hasher) { hasher.combine(UInt64(user) << 32 | UInt64(organization)) }
}

struct ProjectSlugKey: Sendable, Hashable {
    var organization: Handle
    var slug: String
}

/// The resolution unit: one app in one scope of one owner, within an organization. Its
/// credentials are found through ``SlotTable``s, which hash it with `tableHash`.
struct CandidateKey: Sendable, Equatable {
    var organization: Handle
    var app: Handle
    var owner: Handle
    var scope: CredentialScope
}

/// The credentials of one slug in an organization (at any scope), found as ``CandidateKey``'s are.
struct SlugKey: Sendable, Equatable {
    var organization: Handle
    var slug: Handle
}

struct AssignmentKey: Sendable, Hashable {
    var organization: Handle
    var targetSlug: Handle
    var consumer: Handle
    var app: Handle
    var kind: TargetKind
}

/// The per-instance record of a credential, kept compact: strings that repeat (app keys,
/// slugs) are interned handles, the label and display texts are in the index's text arena,
/// owners are handles, times and actors live in the history entries the record points at, and
/// the two lookup groups it belongs to are intrusive lists threaded through the records.
/// `VaultIndexTests.testPerInstanceMemory` pins its stride.
///
///     id 16 + label and display texts 8                               = 24
///     organization, app, slug, owner, nextInGroup, nextWithSlug,
///     version, createdEntry, lastEntry, rotatedEntry,
///     currentVersionEntry: 11 × 4                                     = 44
///     kind, type, category: 3 × 1; scope, state, isDefault in 1       =  4
///                                                                size 72, stride 72
struct CredentialRecord: Sendable {
    var id: CredentialID
    /// The label and the display text, in ``IndexTables/texts``. The display text is the text of
    /// each schema field in order, joined by U+001F (empty when absent): the preview of a
    /// secret field, the value of a non-secret one. No display text contains U+001F.
    var texts: TextReference
    var organization: Handle
    var app: Handle
    var slug: Handle
    var owner: Handle
    /// Next record with the same `CandidateKey`, or `noHandle`.
    var nextInGroup: Handle
    /// Next record with the same `SlugKey`, or `noHandle`.
    var nextWithSlug: Handle
    var version: UInt32
    var createdEntry: Handle
    var lastEntry: Handle
    var rotatedEntry: Handle
    var currentVersionEntry: Handle
    var kind: CredentialKind
    var type: CredentialType
    var category: CredentialCategory
    /// The scope's raw value in bits 0–1, the state's in bits 2–3, `isDefault` in bit 4: a
    /// byte apiece made the record 82 bytes, and its stride 88.
    private var scopeStateDefault: UInt8

    init(
        id: CredentialID, texts: TextReference, organization: Handle, app: Handle,
        slug: Handle, owner: Handle, nextInGroup: Handle, nextWithSlug: Handle, version: UInt32, createdEntry: Handle,
        lastEntry: Handle, rotatedEntry: Handle, currentVersionEntry: Handle, kind: CredentialKind,
        type: CredentialType, category: CredentialCategory, scope: CredentialScope, state: CredentialState,
        isDefault: Bool
    ) {
        precondition(scope.rawValue < 4 && state.rawValue < 4, "a scope or state past two bits")
        self.id = id
        self.texts = texts
        self.organization = organization
        self.app = app
        self.slug = slug
        self.owner = owner
        self.nextInGroup = nextInGroup
        self.nextWithSlug = nextWithSlug
        self.version = version
        self.createdEntry = createdEntry
        self.lastEntry = lastEntry
        self.rotatedEntry = rotatedEntry
        self.currentVersionEntry = currentVersionEntry
        self.kind = kind
        self.type = type
        self.category = category
        self.scopeStateDefault = scope.rawValue | state.rawValue << 2 | (isDefault ? 0x10 : 0)
    }

    var scope: CredentialScope {
        // Only init stores it, from a CredentialScope.
        CredentialScope(rawValue: scopeStateDefault & 0x3)!
    }

    var state: CredentialState {
        // Only init and the setter store it, from a CredentialState.
        get { CredentialState(rawValue: scopeStateDefault >> 2 & 0x3)! }
        set { scopeStateDefault = scopeStateDefault & ~0x0C | newValue.rawValue << 2 }
    }

    var isDefault: Bool {
        get { scopeStateDefault & 0x10 != 0 }
        set { scopeStateDefault = scopeStateDefault & ~0x10 | (newValue ? 0x10 : 0) }
    }

    var candidateKey: CandidateKey { CandidateKey(of: self) }

    var slugKey: SlugKey { SlugKey(of: self) }

    static let displaySeparator: Character = "\u{1F}"
}

/// One change of one credential. Entries of a credential are linked newest to oldest through
/// `previous`; a version entry's location is where its secret values are, and stays readable
/// while `isRetained`.
///
///     time 8 (two halves) + sequence and offset 12 (48 bits each) + previous 4 + version 4
///     + actor 4 + operationIndex 2 + kind and isRetained 1 + changedMask 1 = 36, stride 36
///
/// Every field is four bytes or less, so the entry is 4-byte aligned: three `UInt64`s made it
/// 40 bytes. A sequence number or offset reaches 2⁴⁸ only in a log of petabytes: apply refuses
/// a transaction context past ``locationMax``, and the checkpoint reader an entry past it.
struct HistoryEntry: Sendable {
    private var timeLow: UInt32
    private var timeHigh: UInt32
    private var sequenceLow: UInt32
    private var offsetLow: UInt32
    /// Bits 32–47 of the sequence number in the low half, of the offset in the high half.
    private var locationHigh: UInt32
    var previous: Handle
    var version: UInt32
    var actor: Handle
    var operationIndex: UInt16
    /// The kind's raw value in the low 7 bits, `isRetained` in the high one: a byte apiece
    /// made the entry 41 bytes, and its stride 48.
    private var kindAndRetained: UInt8
    /// Bit `i` set: field `i` of the type's schema changed (versions only).
    var changedMask: UInt8

    /// The largest sequence number or offset an entry holds.
    static let locationMax: UInt64 = 1 << 48 - 1

    init(
        time: UInt64, sequence: UInt64, offset: UInt64, previous: Handle, version: UInt32, actor: Handle,
        operationIndex: UInt16, kind: ChangeKind, changedMask: UInt8, isRetained: Bool
    ) {
        precondition(kind.rawValue < 0x80, "a change kind past seven bits")
        timeLow = 0
        timeHigh = 0
        sequenceLow = 0
        offsetLow = 0
        locationHigh = 0
        self.previous = previous
        self.version = version
        self.actor = actor
        self.operationIndex = operationIndex
        self.kindAndRetained = kind.rawValue | (isRetained ? 0x80 : 0)
        self.changedMask = changedMask
        self.time = time
        self.sequence = sequence
        self.offset = offset
    }

    var time: UInt64 {
        get { UInt64(timeHigh) << 32 | UInt64(timeLow) }
        set {
            timeLow = UInt32(truncatingIfNeeded: newValue)
            timeHigh = UInt32(truncatingIfNeeded: newValue >> 32)
        }
    }

    var sequence: UInt64 {
        get { UInt64(locationHigh & 0xFFFF) << 32 | UInt64(sequenceLow) }
        set {
            precondition(newValue <= Self.locationMax, "a sequence number past 48 bits")
            sequenceLow = UInt32(truncatingIfNeeded: newValue)
            locationHigh = locationHigh & 0xFFFF_0000 | UInt32(truncatingIfNeeded: newValue >> 32)
        }
    }

    var offset: UInt64 {
        get { UInt64(locationHigh >> 16) << 32 | UInt64(offsetLow) }
        set {
            precondition(newValue <= Self.locationMax, "an offset past 48 bits")
            offsetLow = UInt32(truncatingIfNeeded: newValue)
            locationHigh = locationHigh & 0xFFFF | UInt32(truncatingIfNeeded: newValue >> 32) << 16
        }
    }

    var kind: ChangeKind {
        // Only init and the setter store it, from a ChangeKind.
        ChangeKind(rawValue: kindAndRetained & 0x7F)!
    }

    var isRetained: Bool {
        get { kindAndRetained & 0x80 != 0 }
        set { kindAndRetained = kindAndRetained & 0x7F | (newValue ? 0x80 : 0) }
    }

    var location: RecordLocation {
        RecordLocation(sequence: sequence, offset: offset, operationIndex: operationIndex)
    }
}

struct APIKeyRecord: Sendable {
    var id: APIKeyID
    var organization: Handle
    /// An identifier, not a handle: a revoked key outlives its creator.
    var creator: UserID
    var name: String
    var preview: String
    var hash: [UInt8]
    var createdTime: UInt64
    var createdBy: Handle
    var state: CredentialState
    var revokedTime: UInt64
    var revokedBy: Handle
}

/// Every table of the index. All are plain values, so the index is `Sendable` and a copy is
/// a snapshot; mutation goes through ``IndexMutation`` so that a failed transaction can be
/// undone.
struct IndexTables: Sendable {
    var nextPrincipal: Handle = 0
    var versionRetention: UInt16 = VaultIndex.versionRetentionDefault

    var strings: [String] = []
    /// Handles of ``strings`` by their string.
    var stringHandles = HandleTable()

    var organizations: [Handle: OrganizationRecord] = [:]
    var organizationIDs = IDTable<OrganizationIDKind>()
    var organizationBySlug: [String: Handle] = [:]

    var projects: [Handle: ProjectRecord] = [:]
    /// Projects by id, each with its organization.
    var projectIDs = IDTable<ProjectIDKind>()
    var projectBySlug: [ProjectSlugKey: Handle] = [:]

    var users: [Handle: UserRecord] = [:]
    var userIDs = IDTable<UserIDKind>()
    var userByHandle: [String: Handle] = [:]

    var memberships: [MembershipKey: Role] = [:]

    /// Credential slots; a free slot has `freeSlotMarker` as its organization.
    var credentials: [CredentialRecord] = []
    /// The credentials' labels and display texts.
    var texts = TextArena()
    var freeSlots: [Handle] = []
    /// Live credential slots by their record's id.
    var credentialSlots = HandleTable()
    /// The newest credential of each candidate group, the head of its list (`nextInGroup`).
    var candidateHeads = SlotTable<CandidateKey>()
    /// The newest credential of each slug of an organization, the head of its list (`nextWithSlug`).
    var slugHeads = SlotTable<SlugKey>()
    /// The default credential of each candidate group that has one.
    var defaults = SlotTable<CandidateKey>()
    var liveCredentialCount = 0

    var assignments: [AssignmentKey: Handle] = [:]
    var assignmentsByCredential: [Handle: Set<AssignmentKey>] = [:]

    /// Every change of every credential, append-only so that appending and undoing are O(1).
    /// Entries of a deleted credential are no longer reachable but stay until the index is
    /// rebuilt from a log compacted without them.
    var history: [HistoryEntry] = []
    /// History entries of live credentials, and how many of them are retained versions. Apply
    /// keeps both current so that ``VaultIndex/compactionEstimate`` costs O(1); `verify`
    /// recounts them (INV-LOOKUP).
    var liveHistoryCount = 0
    var retainedVersionCount = 0
    /// The newest transaction time applied: compacted transactions carry it, so the compacted
    /// log reads as the state as of that time.
    var newestTransactionTime: UInt64 = 0

    var apiKeys: [APIKeyID: APIKeyRecord] = [:]
    var apiKeyByTag: [UInt64: APIKeyID] = [:]

    static let freeSlotMarker: Handle = noHandle

    func string(_ handle: Handle) -> String { strings[Int(handle)] }

    /// The handle of `string` when it was interned. Interned strings are equal when their
    /// UTF-8 bytes are (slugs, app keys and consumers are ASCII; actors are kept as spelled).
    func stringHandle(_ string: String) -> Handle? {
        stringHandles.find(hash: TextHash.hash(string)) { TextHash.sameBytes(strings[Int($0)], string) }
    }

    /// Adds the last string of ``strings`` to ``stringHandles``; false, and nothing added,
    /// when an earlier string is the same.
    @discardableResult
    mutating func indexLastString() -> Bool {
        let strings = self.strings
        let handle = Handle(strings.count - 1)
        let string = strings[Int(handle)]
        return stringHandles.insertIfAbsent(handle, hash: TextHash.hash(string)) {
            TextHash.sameBytes(strings[Int($0)], string)
        }
    }

    /// Removes the last string of ``strings`` from ``stringHandles`` (an undo).
    mutating func unindexLastString() {
        let handle = Handle(strings.count - 1)
        _ = stringHandles.remove(hash: TextHash.hash(strings[Int(handle)])) { $0 == handle }
    }

    /// The live credential slot whose record has `id`.
    func credentialSlot(_ id: CredentialID) -> Handle? {
        credentialSlots.find(hash: id.tableHash) { credentials[Int($0)].id == id }
    }

    /// Adds live slot `slot`, whose record is in place, to ``credentialSlots``; false, and
    /// nothing added, when another slot has its id.
    @discardableResult
    mutating func indexCredentialSlot(_ slot: Handle) -> Bool {
        let credentials = self.credentials
        let id = credentials[Int(slot)].id
        return credentialSlots.insertIfAbsent(slot, hash: id.tableHash) { credentials[Int($0)].id == id }
    }

    /// Removes slot `slot`, whose record is still in place, from ``credentialSlots``.
    mutating func unindexCredentialSlot(_ slot: Handle) {
        _ = credentialSlots.remove(hash: credentials[Int(slot)].id.tableHash) { $0 == slot }
    }

    func credential(_ slot: Handle) -> CredentialRecord { credentials[Int(slot)] }

    /// The newest slot of a candidate group.
    func groupHead(_ key: CandidateKey) -> Handle? { candidateHeads.slot(for: key, in: credentials) }

    /// The newest slot with a slug.
    func slugHead(_ key: SlugKey) -> Handle? { slugHeads.slot(for: key, in: credentials) }

    /// The default slot of a candidate group.
    func defaultSlot(_ key: CandidateKey) -> Handle? { defaults.slot(for: key, in: credentials) }

    /// The slots of a candidate group, newest first.
    func group(_ key: CandidateKey) -> [Handle] {
        walk(from: groupHead(key)) { credential($0).nextInGroup }
    }

    /// The credential of candidate group `key` that has the slug `slug`, of which there is at
    /// most one (OP-CRED-CREATE-2). It is in the candidate group and in the slug's group both,
    /// so the two lists are walked side by side and the walk ends with the shorter one: a
    /// credential created in a group of a million costs what the few others with its slug
    /// cost, and neither list is copied out.
    func groupMember(_ key: CandidateKey, slug: Handle) -> Handle? {
        var inGroup = groupHead(key) ?? noHandle
        var withSlug = slugHead(SlugKey(organization: key.organization, slug: slug)) ?? noHandle
        while inGroup != noHandle && withSlug != noHandle {
            let member = credentials[Int(inGroup)]
            if member.slug == slug { return inGroup }
            let holder = credentials[Int(withSlug)]
            if holder.candidateKey == key { return withSlug }
            inGroup = member.nextInGroup
            withSlug = holder.nextWithSlug
        }
        return nil
    }

    /// The slots of a slug group, newest first.
    func slugGroup(_ key: SlugKey) -> [Handle] {
        walk(from: slugHead(key)) { credential($0).nextWithSlug }
    }

    private func walk(from head: Handle?, next: (Handle) -> Handle) -> [Handle] {
        var slots: [Handle] = []
        var cursor = head ?? noHandle
        while cursor != noHandle {
            slots.append(cursor)
            cursor = next(cursor)
        }
        return slots
    }

    /// Slots of every live credential, in slot order.
    var liveSlots: [Handle] {
        credentials.indices.compactMap { credentials[$0].organization == Self.freeSlotMarker ? nil : Handle($0) }
    }

    /// The history of a credential, newest first.
    func historyEntries(of record: CredentialRecord) -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        var cursor = record.lastEntry
        while cursor != noHandle {
            let entry = history[Int(cursor)]
            entries.append(entry)
            cursor = entry.previous
        }
        return entries
    }
}

extension IndexTables {
    /// Copies the texts in use to a new arena once the waste outweighs them: O(texts in use),
    /// after a transaction has applied, when no undo can refer to the old offsets.
    mutating func reclaimTextWaste() {
        guard texts.isWasteful else { return }
        var arena = TextArena()
        for slot in credentials.indices {
            // Free slots hold no text; live ones keep theirs.
            credentials[slot].texts = arena.add(credentials[slot].texts, from: texts)
        }
        texts = arena
    }
}
