/// A key that a credential record carries, by which a ``SlotTable`` finds one slot per key.
protocol RecordKey: Equatable, Sendable {
    init(of record: CredentialRecord)
    /// The key's hash for a ``HandleTable``: mixed, and seeded once per process.
    var tableHash: Int { get }
    /// The journal record of making `current` (`nil`: none) the slot of `key` in the table at
    /// `path`, in place of `previous` (``SlotTable/restore(_:from:to:)`` undoes it).
    static func undoing(
        _ path: WritableKeyPath<IndexTables, SlotTable<Self>>, _ key: Self, current: Handle?, previous: Handle?
    ) -> IndexUndo
}

/// One credential slot per key, the key read from the slot's own record: the head of each
/// lookup list (candidate groups, slug lists) and the default of each candidate group.
///
/// A ``HandleTable``, where a dictionary from key to slot kept a copy of every key (16 bytes
/// for a candidate group) beside its slot in a bucket array of twice to four times as many
/// entries, and hashed each lookup with SipHash: at a million credentials these tables were
/// among the index's largest, and their hashing a tenth of an open from the checkpoint.
///
/// Every slot in the table carries its key in its record whenever the table is searched by
/// key; a change that gives a record another key (a slug change) takes the slot out of the
/// table first. Undoing a change finds the slot it put in by the slot, not by its key,
/// because the record may already carry its old key again.
struct SlotTable<Key: RecordKey>: Sendable {
    private var table = HandleTable()

    init(capacity: Int = 0) {
        table = HandleTable(capacity: capacity)
    }

    /// A table of the slots `listing` adds (at most `count`), each with its key's
    /// ``RecordKey/tableHash`` and carrying its key in `credentials`, built at once
    /// (``HandleTable/init(bulk:sameKey:listing:)``); `nil` when `listing` answers false or
    /// two slots carry one key.
    init?(
        bulk count: Int, in credentials: [CredentialRecord], listing: (_ add: (Handle, Int) -> Void) -> Bool
    ) {
        guard
            let table = HandleTable(
                bulk: count, sameKey: { Key(of: credentials[Int($0)]) == Key(of: credentials[Int($1)]) },
                listing: listing)
        else { return nil }
        self.table = table
    }

    /// Keys in the table.
    var count: Int { table.count }

    /// Every slot in the table, in no particular order; each one's key is its record's.
    var slots: some Sequence<Handle> { table.handles }

    /// The bytes of its buckets.
    var allocatedBytes: Int { table.allocatedBytes }

    /// The slot of `key`, whose record in `credentials` carries it.
    func slot(for key: Key, in credentials: [CredentialRecord]) -> Handle? {
        table.find(hash: key.tableHash) { Key(of: credentials[Int($0)]) == key }
    }

    /// Makes `slot` (`nil`: none) the slot of `key`; returns the slot that was. `slot`'s record
    /// need not carry `key` yet (a slug change sets the list head before the slug), but every
    /// slot already in the table must carry its own.
    mutating func set(_ key: Key, to slot: Handle?, in credentials: [CredentialRecord]) -> Handle? {
        // A local function, not a closure kept in a constant, which would be allocated.
        func matches(_ candidate: Handle) -> Bool { Key(of: credentials[Int(candidate)]) == key }
        guard let slot else { return table.remove(hash: key.tableHash, matches: matches) }
        return table.update(slot, hash: key.tableHash, matches: matches)
    }

    /// Undoes ``set(_:to:in:)``, which made `current` (`nil`: none) the slot of `key` in place
    /// of `previous`: finds `current` by itself, not by its record, which may no longer carry
    /// `key`.
    mutating func restore(_ key: Key, from current: Handle?, to previous: Handle?) {
        if let current {
            let found =
                if let previous {
                    table.update(previous, hash: key.tableHash) { $0 == current }
                } else {
                    table.remove(hash: key.tableHash) { $0 == current }
                }
            precondition(found == current, "an undone slot is not where it was put")
        } else if let previous {
            // Nothing is in the table under `key`: `previous` goes back in a free bucket.
            _ = table.update(previous, hash: key.tableHash) { _ in false }
        }
    }

    /// Whether every slot in the table names a record of `credentials` that is live and is
    /// found by its key, so that no two slots share one (verify's check of the table).
    func isConsistent(with credentials: [CredentialRecord]) -> Bool {
        // Every slot in range before any search, which reads the records of the others in its run.
        slots.allSatisfy { Int($0) < credentials.count }
            && slots.allSatisfy { slot in
                credentials[Int(slot)].organization != IndexTables.freeSlotMarker
                    && self.slot(for: Key(of: credentials[Int(slot)]), in: credentials) == slot
            }
    }
}

extension CandidateKey: RecordKey {
    init(of record: CredentialRecord) {
        self.init(organization: record.organization, app: record.app, owner: record.owner, scope: record.scope)
    }

    var tableHash: Int {
        let first = (UInt64(organization) << 32 | UInt64(app)) ^ TextHash.seed
        let second = UInt64(owner) << 8 | UInt64(scope.rawValue)
        let mixed = (first ^ (second &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 31))
    }
}

extension SlugKey: RecordKey {
    init(of record: CredentialRecord) {
        self.init(organization: record.organization, slug: record.slug)
    }

    var tableHash: Int {
        let mixed = ((UInt64(organization) << 32 | UInt64(slug)) ^ TextHash.seed) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 31))
    }
}
