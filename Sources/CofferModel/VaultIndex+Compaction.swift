import CofferCrypto
import CofferErrors
import CofferFormat

/// One transaction of a compacted log: when and by whom it is recorded, and its operations
/// (FORMAT.md F-COMPACT, §9.15).
public struct CompactedTransaction: Sendable {
    /// The transaction's time: the newest time of the compacted index. No change takes its
    /// stamp from it; restore operations carry their own.
    public var timeMilliseconds: UInt64
    /// The transaction's actor, ``VaultIndex/compactionActor``.
    public var actor: String
    /// The operations, in the order they must be applied.
    public var operations: [ModelOperation]

    /// Creates a transaction.
    public init(timeMilliseconds: UInt64, actor: String, operations: [ModelOperation]) {
        self.timeMilliseconds = timeMilliseconds
        self.actor = actor
        self.operations = operations
    }
}

/// What a compaction would keep, counted by the index as it goes; O(1) to read.
///
/// The engine compares it with what the file holds: the operations it replayed and appended
/// since the file was written, minus `liveOperations`, is about what a compaction drops.
public struct CompactionEstimate: Sendable, Hashable {
    /// Operations a compaction writes, at least: the retention setting, one per organization,
    /// project, user, membership, assignment and API key, and one per retained version of a
    /// live credential (its current version in the restore credential operation, each older
    /// one in a restore version operation). A history too long for one operation adds a few.
    public var liveOperations: Int
    /// Retained versions of live credentials: each is one set of secret field values a
    /// compaction copies, usually most of its bytes.
    public var liveVersions: Int
    /// Changes in the histories of live credentials, all kept by compaction, about
    /// 16 bytes and the actor's each (OPS-ENC-CHANGE).
    public var liveHistoryEntries: Int
}

extension VaultIndex {
    /// The actor of compacted transactions.
    public static let compactionActor = "compaction"
    /// The payload size compacted transactions aim at: large enough that an open decrypts few
    /// records, small enough to stream, and exactly what fills the 64 KiB bucket with the
    /// plaintext header (F-PAD): a payload of 65,536 bytes needs 16 more and would be padded
    /// to the 128 KiB bucket, doubling every compacted record.
    public static let compactionTransactionBytesTarget = 65536 - FormatConstants.plaintextHeaderBytes

    /// How many credentials created together (OP-COMPACT-CREATED) a compaction writes as
    /// `create credential` operations under their own stamp. Each saves the 22 bytes and the
    /// actor's that a restore credential operation adds (state, default flag, a change list of
    /// one change), at least 90 KB for the run; the run cuts short the compacted transaction
    /// before it and ends with one of its own, whose padding (F-PAD) costs less than 64 KiB.
    public static let compactionCreatedTogetherMin = 4096
    /// The payload size the transactions of a run created together aim at: the largest record
    /// (F-PAD), so that a run takes as few records as the import that made it, and the
    /// compacted vault is no larger than the log it came from.
    public static let compactionCreatedTogetherBytesTarget = FormatConstants.payloadBytesMax

    /// What a compaction would keep: counts apply keeps current, so this is O(1).
    public var compactionEstimate: CompactionEstimate {
        let principals = tables.organizations.count + tables.projects.count + tables.users.count
        let links = tables.memberships.count + tables.assignments.count + tables.apiKeys.count
        return CompactionEstimate(
            liveOperations: 1 + principals + links + tables.retainedVersionCount,
            liveVersions: tables.retainedVersionCount, liveHistoryEntries: tables.liveHistoryCount)
    }

    /// Streams the transactions of a compacted log: replayed in order into an empty index,
    /// they rebuild this index's live state exactly. Every query answers the same except for
    /// record locations, every retained version reveals the same values, and nothing deleted
    /// or let go leaves a trace (FORMAT.md F-COMPACT, §9.15).
    ///
    /// The walk goes in dependency order: the retention, organizations, projects, users,
    /// memberships, then each credential in creation order (so candidate groups keep their
    /// order) with its history and retained versions, then assignments and API keys. Each
    /// operation refers only to what earlier ones created.
    ///
    /// Memory stays bounded by the index, not by the log: the walk holds sorted handle
    /// lists, one credential's history stretch, and one transaction in the making; it reads
    /// the values of one version at a time and hands each transaction over as soon as it is
    /// full.
    ///
    /// ```swift
    /// var rebuilt = VaultIndex()
    /// try snapshot.compactionTransactions(reader: { try vault.readOperation(at: $0) }) { transaction in
    ///     let payload = TransactionPayload(
    ///         timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor,
    ///         operations: transaction.operations.map { $0.encode() }).encode()!
    ///     let placed = try target.appendTransaction(payload)
    ///     try rebuilt.apply(transaction.operations, context: TransactionContext(
    ///         sequence: placed.sequence, offset: placed.offset,
    ///         timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor))
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - reader: reads the operation at a location of the log this index was built from;
    ///     called once per retained version, newest first within a credential.
    ///   - transactionBytesTarget: the most bytes of an encoded transaction payload
    ///     (F-REC-TXN). Only a transaction of one operation larger than that exceeds it.
    ///   - createdTogetherMin: how many credentials, consecutive in creation order, created
    ///     together and unchanged since, are written as the `create credential` operations that
    ///     made them rather than restored one by one (OP-COMPACT-CREATED).
    ///   - visit: receives each transaction in order.
    /// - Throws: what `reader` or `visit` throws; `.corrupted` when the operation at a
    ///   version's location does not hold that version of that credential.
    public func compactionTransactions(
        reader: OperationReader, transactionBytesTarget: Int = VaultIndex.compactionTransactionBytesTarget,
        createdTogetherMin: Int = VaultIndex.compactionCreatedTogetherMin,
        createdTogetherBytesTarget: Int = VaultIndex.compactionCreatedTogetherBytesTarget,
        _ visit: (CompactedTransaction) throws(CofferError) -> Void
    ) throws(CofferError) {
        try compactionTransactions(
            reader: reader, transactionBytesTarget: transactionBytesTarget,
            operationsPerTransactionMax: Self.operationsPerTransactionMax, createdTogetherMin: createdTogetherMin,
            createdTogetherBytesTarget: createdTogetherBytesTarget, visit)
    }

    /// ``compactionTransactions(reader:transactionBytesTarget:createdTogetherMin:createdTogetherBytesTarget:_:)``
    /// with a smaller cap on operations per transaction, for tests.
    func compactionTransactions(
        reader: OperationReader, transactionBytesTarget: Int, operationsPerTransactionMax: Int,
        createdTogetherMin: Int = VaultIndex.compactionCreatedTogetherMin,
        createdTogetherBytesTarget: Int = VaultIndex.compactionCreatedTogetherBytesTarget,
        _ visit: (CompactedTransaction) throws(CofferError) -> Void
    ) throws(CofferError) {
        precondition(transactionBytesTarget > 0, "the transaction size target must be positive")
        precondition(createdTogetherBytesTarget > 0, "the created-together size target must be positive")
        precondition(createdTogetherMin > 0, "the run of credentials created together must be positive")
        precondition(
            operationsPerTransactionMax > 0 && operationsPerTransactionMax <= Self.operationsPerTransactionMax,
            "operations per transaction out of range")
        var batch = CompactionBatch(
            time: tables.newestTransactionTime, actor: Self.compactionActor, bytesTarget: transactionBytesTarget,
            operationsMax: operationsPerTransactionMax)

        try batch.add(.setVersionRetention(count: tables.versionRetention), visit)
        for (id, handle) in tables.organizationIDs.sortedByID {
            let record = tables.organization(handle)
            try batch.add(
                .restoreOrganization(
                    id: id, slug: record.slug, name: record.name,
                    created: tables.stamp(time: record.createdTime, actor: record.createdBy)), visit)
        }
        for (id, handle) in tables.projectIDs.sortedByID {
            let record = tables.project(handle)
            try batch.add(
                .restoreProject(
                    id: id, organization: tables.organization(record.organization).id, slug: record.slug,
                    name: record.name, created: tables.stamp(time: record.createdTime, actor: record.createdBy)),
                visit)
        }
        for (id, handle) in tables.userIDs.sortedByID {
            let record = tables.user(handle)
            try batch.add(
                .restoreUser(
                    id: id, handle: record.handle, displayName: record.displayName,
                    created: tables.stamp(time: record.createdTime, actor: record.createdBy)), visit)
        }
        // A membership has no stamp: the ordinary operation restores it exactly.
        let memberships = tables.memberships.map {
            (
                user: tables.user($0.key.user).id, organization: tables.organization($0.key.organization).id,
                role: $0.value
            )
        }.sorted { ($0.user, $0.organization) < ($1.user, $1.organization) }
        for membership in memberships {
            try batch.add(
                .addMembership(user: membership.user, organization: membership.organization, role: membership.role),
                visit)
        }
        // Creation order is the order of the creation entries in the history table; replaying
        // it gives every candidate group its order, which resolution traces show.
        let slots = tables.liveSlots.sorted(by: {
            tables.credential($0).createdEntry < tables.credential($1).createdEntry
        })
        var next = 0
        while next < slots.count {
            let run = createdTogether(in: slots, from: next)
            if run.count >= createdTogetherMin {
                try batch.flush(visit)
                try addCreatedTogether(
                    slots[run], bytesTarget: createdTogetherBytesTarget, operationsMax: operationsPerTransactionMax,
                    reader: reader, visit)
                next = run.upperBound
            } else {
                try addCredential(slots[next], to: &batch, reader: reader, visit)
                next += 1
            }
        }
        let assignments = tables.assignments.map { assignmentInfo($0.key, $0.value) }.sorted {
            $0.organization != $1.organization ? $0.organization < $1.organization : Self.assignmentOrder($0, $1)
        }
        for assignment in assignments {
            try batch.add(
                .restoreAssignment(
                    organization: assignment.organization, target: assignment.target, appKey: assignment.appKey,
                    credential: assignment.credential), visit)
        }
        for (id, record) in tables.apiKeys.sorted(by: { $0.key < $1.key }) {
            try batch.add(
                .restoreAPIKey(
                    RestoredAPIKey(
                        APIKeyMetadata(
                            id: id, organization: tables.organization(record.organization).id, creator: record.creator,
                            name: record.name, hash: record.hash, preview: record.preview),
                        created: tables.stamp(time: record.createdTime, actor: record.createdBy),
                        revoked: record.state == .revoked
                            ? tables.stamp(time: record.revokedTime, actor: record.revokedBy) : nil)), visit)
        }
        try batch.flush(visit)
    }

    /// The credentials from `start` on, in creation order, that were created together and never
    /// changed since (OP-COMPACT-CREATED): each active, not a default, its history one `created`
    /// change of version 1, all with the same stamp, no newer than the index's newest time (so
    /// the compacted index keeps that time). Empty when `start` itself is not such a credential.
    private func createdTogether(in slots: [Handle], from start: Int) -> Range<Int> {
        func createdStamp(_ slot: Handle) -> (time: UInt64, actor: Handle)? {
            let record = tables.credential(slot)
            guard record.state == .active, !record.isDefault, record.lastEntry == record.createdEntry else {
                return nil
            }
            let entry = tables.history[Int(record.createdEntry)]
            guard entry.kind == .created, entry.version == 1, entry.time <= tables.newestTransactionTime else {
                return nil
            }
            return (entry.time, entry.actor)
        }
        guard let first = createdStamp(slots[start]) else { return start..<start }
        var end = start + 1
        while end < slots.count, let stamp = createdStamp(slots[end]), stamp == first { end += 1 }
        return start..<end
    }

    /// Credentials created together and unchanged since, written as the `create credential`
    /// operations that made them, in transactions stamped as theirs was (OP-COMPACT-CREATED):
    /// the history each gets is the one `created` change it had, and the stamp is written once
    /// a transaction rather than once a credential.
    private func addCreatedTogether(
        _ slots: ArraySlice<Handle>, bytesTarget: Int, operationsMax: Int, reader: OperationReader,
        _ visit: (CompactedTransaction) throws(CofferError) -> Void
    ) throws(CofferError) {
        let created = tables.history[Int(tables.credential(slots[slots.startIndex]).createdEntry)]
        var batch = CompactionBatch(
            time: created.time, actor: tables.string(created.actor), bytesTarget: bytesTarget,
            operationsMax: operationsMax)
        for slot in slots {
            let record = tables.credential(slot)
            let fields = try storedFields(of: record, at: tables.history[Int(record.createdEntry)], reader: reader)
            try batch.add(
                .createCredential(
                    NewCredential(tables.metadata(of: record), fields: fields)),
                visit)
        }
        try batch.flush(visit)
    }

    /// One credential: a restore credential operation with the newest stretch of its history
    /// (back to at least its current version) and the current values, then older stretches
    /// newest first, each followed by restore version operations for the retained versions it
    /// holds, newest first, as OP-RESTORE-VERSION-1 wants them.
    private func addCredential(
        _ slot: Handle, to batch: inout CompactionBatch, reader: OperationReader,
        _ visit: (CompactedTransaction) throws(CofferError) -> Void
    ) throws(CofferError) {
        let record = tables.credential(slot)
        let budget = batch.operationBodyBytesBudget
        var cursor = record.lastEntry
        var stretch: [HistoryEntry] = []  // newest first
        // The changes from the latest back to the current version's must all be there.
        while true {
            let handle = cursor
            let entry = tables.history[Int(handle)]
            stretch.append(entry)
            cursor = entry.previous
            if handle == record.currentVersionEntry { break }
            precondition(cursor != noHandle, "the current version is missing from the history")
        }
        let current = tables.history[Int(record.currentVersionEntry)]
        var restored = RestoredCredential(
            tables.metadata(of: record), state: record.state, isDefault: record.isDefault,
            changes: stretch.reversed().map(restoredChange),
            fields: try storedFields(of: record, at: current, reader: reader))
        var bytes = ModelOperation.restoreCredential(restored).encodedBodyByteCount
        let (older, next) = takeStretch(from: cursor, bytes: &bytes, budget: budget, atLeastOne: false)
        cursor = next
        if !older.isEmpty {
            stretch += older
            restored.changes = stretch.reversed().map(restoredChange)
        }
        try batch.add(.restoreCredential(restored), visit)
        try addRetainedVersions(in: stretch, of: record, skipping: current.version, to: &batch, reader: reader, visit)
        while cursor != noHandle {
            var bytes = ModelOperation.restoreCredentialHistory(id: record.id, changes: []).encodedBodyByteCount
            (stretch, cursor) = takeStretch(from: cursor, bytes: &bytes, budget: budget, atLeastOne: true)
            try batch.add(
                .restoreCredentialHistory(id: record.id, changes: stretch.reversed().map(restoredChange)), visit)
            try addRetainedVersions(in: stretch, of: record, skipping: nil, to: &batch, reader: reader, visit)
        }
    }

    /// History entries from `cursor` towards the oldest while their encodings fit in
    /// `budget` (and one at least when `atLeastOne`), newest first, and where to go on.
    private func takeStretch(from start: Handle, bytes: inout Int, budget: Int, atLeastOne: Bool) -> (
        [HistoryEntry], Handle
    ) {
        var stretch: [HistoryEntry] = []
        var cursor = start
        while cursor != noHandle {
            let entry = tables.history[Int(cursor)]
            let size = restoredChange(entry).encodedByteCount
            guard bytes + size <= budget || (atLeastOne && stretch.isEmpty) else { break }
            bytes += size
            stretch.append(entry)
            cursor = entry.previous
        }
        return (stretch, cursor)
    }

    /// Restore version operations for the retained versions among `entries` (newest first).
    private func addRetainedVersions(
        in entries: [HistoryEntry], of record: CredentialRecord, skipping skipped: UInt32?,
        to batch: inout CompactionBatch, reader: OperationReader,
        _ visit: (CompactedTransaction) throws(CofferError) -> Void
    ) throws(CofferError) {
        for entry in entries where entry.kind.makesVersion && entry.isRetained && entry.version != skipped {
            let fields = try storedFields(of: record, at: entry, reader: reader)
            try batch.add(.restoreVersion(id: record.id, version: entry.version, fields: fields), visit)
        }
    }

    private func restoredChange(_ entry: HistoryEntry) -> RestoredChange {
        RestoredChange(
            kind: entry.kind, version: entry.version, changedFieldMask: entry.changedMask,
            stamp: tables.stamp(time: entry.time, actor: entry.actor))
    }

    /// The values of the version at `entry`, read through `reader` and checked to be that
    /// version of that credential.
    private func storedFields(of record: CredentialRecord, at entry: HistoryEntry, reader: OperationReader)
        throws(CofferError) -> FieldValues
    {
        let location = entry.location
        let stored: StoredCredentialFields
        switch ModelOperation.decodeCredentialFields(from: try reader(location)) {
        case .success(let decoded): stored = decoded
        case .failure(let error):
            throw CofferError(
                .corrupted,
                "The operation at \(location) holding a version of \(record.id) does not decode: \(error.message)",
                offset: location.offset, sequence: location.sequence)
        }
        guard stored.credential == record.id, stored.version == entry.version else {
            throw CofferError(
                .corrupted, "The operation at \(location) does not hold version \(entry.version) of \(record.id).",
                offset: location.offset, sequence: location.sequence)
        }
        return stored.fields
    }
}

/// A compacted transaction in the making: operations are added until the next one would take
/// the encoded payload past the target, then the transaction goes to the visitor.
private struct CompactionBatch {
    let time: UInt64
    let actor: String
    let bytesTarget: Int
    let operationsMax: Int
    /// F-REC-TXN: `u64 time || string actor || u32 count`.
    let headerBytes: Int
    /// F-REC-TXN: each operation is `u16 code || u32 length || body`.
    static let operationHeaderBytes = 2 + 4
    private var operations: [ModelOperation] = []
    private var payloadBytes: Int

    init(time: UInt64, actor: String, bytesTarget: Int, operationsMax: Int) {
        self.time = time
        self.actor = actor
        self.bytesTarget = bytesTarget
        self.operationsMax = operationsMax
        headerBytes = 8 + 2 + actor.utf8.count + 4
        payloadBytes = headerBytes
    }

    /// The largest operation body that fits in a transaction of its own within the target.
    var operationBodyBytesBudget: Int { bytesTarget - headerBytes - Self.operationHeaderBytes }

    mutating func add(_ operation: ModelOperation, _ visit: (CompactedTransaction) throws(CofferError) -> Void)
        throws(CofferError)
    {
        let bytes = Self.operationHeaderBytes + operation.encodedBodyByteCount
        if !operations.isEmpty, payloadBytes + bytes > bytesTarget || operations.count == operationsMax {
            try flush(visit)
        }
        operations.append(operation)
        payloadBytes += bytes
    }

    mutating func flush(_ visit: (CompactedTransaction) throws(CofferError) -> Void) throws(CofferError) {
        guard !operations.isEmpty else { return }
        let transaction = CompactedTransaction(timeMilliseconds: time, actor: actor, operations: operations)
        operations = []
        payloadBytes = headerBytes
        try visit(transaction)
    }
}
