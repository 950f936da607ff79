import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

/// A resolved credential and the values of the version resolution picked: what
/// `resolveAndReveal(_:)` returns.
public struct RevealedCredential: Sendable {
    /// The instance, its version and how it was chosen.
    public var credential: ResolvedCredential
    /// Its type: what ``fields`` holds, and what ``typed`` reads them as.
    public var type: CredentialType
    /// The values of that version, in protected memory.
    public var fields: FieldValues
}

extension Vault {
    /// Resolves which credential instance an action must use; see ``VaultIndex/resolve(_:)``
    /// for the order. Returns the outcome with its explain trace, never throws for a refusal.
    public func resolution(_ request: ResolutionRequest) -> Resolution {
        state.read { (current: borrowing State) in current.index.resolve(request) }
    }

    /// Resolves, throwing the refusal: `.credentialMissing`, `.ambiguous` (with candidates),
    /// `.noUserActor`, `.credentialRevoked`, `.notVisible`, `.wrongApp`, `.notFound`, or
    /// `.closed` once the vault is closed. The same answer as ``resolution(_:)`` without
    /// building its explain trace.
    public func resolve(_ request: ResolutionRequest) throws(CofferError) -> ResolvedCredential {
        if isClosed.load(ordering: .relaxed) { throw CofferError(.closed, "The vault was closed.") }
        let resolved = try state.read { (current: borrowing State) throws(CofferError) in
            try current.index.resolveCredential(request)
        }
        diagnostics.resolutions.increment()
        return resolved
    }

    /// Reveals the secret fields of a credential (its current version, or `version`), by
    /// reading and opening the record that holds them. The values live in `SecureBytes`.
    ///
    /// - Throws: `.notFound` for an unknown credential or a version no longer retained,
    ///   `.corrupted` if the record no longer authenticates.
    public func reveal(_ credential: CredentialID, version: UInt32? = nil) throws(CofferError) -> FieldValues {
        // The location and the file it is in, taken together (a compaction swaps both).
        let (found, store) = state.read { (current: borrowing State) in
            (current.index.location(of: credential, version: version), current.store)
        }
        guard let location = found else {
            // Why not, worded from the index: no such credential, no such version, or one dropped.
            let current = state.read { $0.index.credential(id: credential)?.version }
            guard let current, let version else { throw CofferError(.notFound, "No credential has that id.") }
            guard (1...current).contains(version) else {
                throw CofferError(
                    .notFound, "The credential has versions 1 to \(current); there is no version \(version).")
            }
            throw CofferError(.notFound, "Version \(version) of the credential is no longer retained.")
        }
        let fields = try Self.fields(of: credential, version: version, at: location, in: store)
        diagnostics.reveals.increment()
        return fields
    }

    /// Resolves and reveals in one step, under one read of the index: the values are those of
    /// the very version resolution picked, from the file that version is in, even while
    /// other threads rotate, revoke or compact.
    ///
    /// - Throws: what ``resolve(_:)`` throws, and what `reveal(_:version:)` throws.
    public func resolveAndReveal(_ request: ResolutionRequest) throws(CofferError) -> RevealedCredential {
        let (resolved, type, store) = try state.read { (current: borrowing State) throws(CofferError) in
            let resolved = try current.index.resolveCredential(request)
            guard let type = current.index.typeAndState(of: resolved.id)?.type else {
                preconditionFailure("a resolved credential is in the index")
            }
            return (resolved, type, current.store)
        }
        diagnostics.resolutions.increment()
        let fields = try Self.fields(of: resolved.id, version: resolved.version, at: resolved.location, in: store)
        diagnostics.reveals.increment()
        return RevealedCredential(credential: resolved, type: type, fields: fields)
    }

    /// Reveals the version a resolution picked, if it still may be used: the credential must
    /// not have been revoked or deleted since, the version must still be retained, and the
    /// request it was resolved for must still resolve to this credential (a credential
    /// resolved for one run is not revealed for another, even by a caller who changed the
    /// answer's id).
    ///
    /// - Throws: `.credentialRevoked` when it was revoked since, `.notFound` when it was
    ///   deleted or the version let go (or never was), `.invalidInput` for an answer that
    ///   carries no request (it did not come from a resolution), `.conflict` when its request now resolves to another
    ///   credential (resolve again), and what `reveal(_:version:)` throws.
    public func reveal(_ resolved: ResolvedCredential) throws(CofferError) -> FieldValues {
        guard let request = resolved.request else {
            throw CofferError(.invalidInput, "This answer did not come from a resolution; resolve the request first.")
        }
        let (location, store) = try state.read { (current: borrowing State) throws(CofferError) in
            let index = current.index
            guard let state = index.typeAndState(of: resolved.id)?.state else {
                throw CofferError(.notFound, "The credential resolved was deleted since.")
            }
            guard state == .active else {
                throw CofferError(.credentialRevoked, "The credential resolved was revoked since; resolve again.")
            }
            guard try index.resolveCredential(request).id == resolved.id else {
                throw CofferError(.conflict, "The request now resolves to another credential; resolve again.")
            }
            guard let location = index.location(of: resolved.id, version: resolved.version) else {
                throw CofferError(
                    .notFound, "Version \(resolved.version) of the credential resolved is no longer retained.")
            }
            return (location, current.store)
        }
        let fields = try Self.fields(of: resolved.id, version: resolved.version, at: location, in: store)
        diagnostics.reveals.increment()
        return fields
    }

    /// The field values of `version` of `credential` (any version when nil: the location is
    /// the current one's), from the operation at `location` in `store`, checked to be that.
    static func fields(of credential: CredentialID, version: UInt32?, at location: RecordLocation, in store: VaultStore)
        throws(CofferError) -> FieldValues
    {
        // The operation is decoded where it lies in the decrypted record, which goes when the
        // fields are out: no record, payload or operation is built around it.
        var decoded: StoredCredentialFields?
        try store.withRecordPayload(sequence: location.sequence, offset: location.offset) {
            payload throws(CofferError) in
            guard let place = TransactionPayload.operationPlace(at: Int(location.operationIndex), in: payload) else {
                throw CofferError(
                    .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                    sequence: location.sequence)
            }
            switch ModelOperation.decodeCredentialFields(
                code: place.code, body: UnsafeRawBufferPointer(rebasing: payload[place.body]))
            {
            case .failure(let error):
                throw CofferError(
                    .corrupted, "The credential's fields do not decode: \(error.message)", offset: location.offset,
                    sequence: location.sequence)
            case .success(let stored): decoded = stored
            }
        }
        guard let stored = decoded else { preconditionFailure("a payload read is decoded or throws") }
        guard stored.credential == credential, version.map({ stored.version == $0 }) ?? true else {
            throw CofferError(
                .corrupted, "The record does not hold that version of the credential.", offset: location.offset,
                sequence: location.sequence)
        }
        return stored.fields
    }

    /// Reads, authenticates and decrypts the operation at `location`: what a reveal, and a
    /// planner merging a partial edit (``OperationReader``), need.
    public func readOperation(at location: RecordLocation) throws(CofferError) -> Operation {
        try Self.readOperation(at: location, in: store)
    }

    /// Reads operations for a walk over many locations (compaction, statistics), keeping the
    /// records it opened most recently: a compacted or bulk record holds hundreds of
    /// credentials, and a credential's retained versions are often in other records than its
    /// current one (a batch of creates, then a batch of rotations), so a walk in credential
    /// order goes back and forth between a few records. Opening a record once per credential
    /// would make the walk quadratic; keeping the last one only would still open the same
    /// records over and over. The decrypted operations stay in secure memory and go when the
    /// walk ends.
    final class RecordCache {
        /// The most decrypted payload bytes kept.
        static let bytesMax = 64 << 20
        /// The most records kept.
        static let recordsMax = 64

        private let store: VaultStore
        private struct Entry {
            let operations: [Operation]
            let epoch: UInt32
            let bytes: Int
            var lastUse: UInt64
        }
        private var entries: [UInt64: Entry] = [:]
        private var bytes = 0
        private var clock: UInt64 = 0
        /// The epoch of the record the last operation came from.
        private(set) var epoch: UInt32 = 0
        /// How many records the walk decrypted, for tests.
        private(set) var recordsRead = 0

        init(store: VaultStore) { self.store = store }

        func operation(at location: RecordLocation) throws(CofferError) -> Operation {
            clock += 1
            let entry: Entry
            if var known = entries[location.sequence] {
                known.lastUse = clock
                entries[location.sequence] = known
                entry = known
            } else {
                let record = try store.readRecord(sequence: location.sequence, offset: location.offset)
                recordsRead += 1
                guard let payload = record.payload.flatMap(TransactionPayload.decode) else {
                    throw CofferError(
                        .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                        sequence: location.sequence)
                }
                entry = Entry(
                    operations: payload.operations, epoch: record.epoch, bytes: record.payload?.count ?? 0,
                    lastUse: clock)
                evict(making: entry.bytes)
                entries[location.sequence] = entry
                bytes += entry.bytes
            }
            epoch = entry.epoch
            guard Int(location.operationIndex) < entry.operations.count else {
                throw CofferError(
                    .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                    sequence: location.sequence)
            }
            return entry.operations[Int(location.operationIndex)]
        }

        /// Drops the least recently used records until one of `incoming` bytes fits.
        private func evict(making incoming: Int) {
            while !entries.isEmpty && (entries.count >= Self.recordsMax || bytes + incoming > Self.bytesMax) {
                let oldest = entries.min { $0.value.lastUse < $1.value.lastUse }!
                bytes -= oldest.value.bytes
                entries[oldest.key] = nil
            }
        }
    }

    /// The operation at `location`, copied out of its record.
    static func readOperation(at location: RecordLocation, in store: VaultStore) throws(CofferError) -> Operation {
        guard location.offset >= FormatConstants.logStartOffset, location.sequence <= store.queuedHead.sequence else {
            throw CofferError(
                .invalidInput,
                "That location is not in the vault's log (a step of Planner.steps reads earlier steps through PlanSteps.reader(over:))."
            )
        }
        let record = try store.readRecord(sequence: location.sequence, offset: location.offset)
        guard let payload = record.payload,
            let operation = TransactionPayload.operation(at: Int(location.operationIndex), in: payload)
        else {
            throw CofferError(
                .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                sequence: location.sequence)
        }
        return operation
    }

    /// Checks a presented platform API key in constant time over its keyed hash.
    public func checkAPIKey(_ presented: SecureBytes) throws(CofferError) -> APIKeyCheck {
        return try state.read { (current: borrowing State) throws(CofferError) in
            try current.index.checkAPIKey(presented, hashKey: current.store.apiKeyHashKey)
        }
    }
}
