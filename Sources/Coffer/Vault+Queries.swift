import CofferCrypto
import CofferFormat
import CofferModel
import CofferStorage

extension Vault {
    /// Resolves which credential instance an action must use; see ``VaultIndex/resolve(_:)``
    /// for the order. Returns the outcome with its explain trace, never throws for a refusal.
    public func resolution(_ request: ResolutionRequest) -> Resolution {
        state.read { $0.index.resolve(request) }
    }

    /// Resolves, throwing the refusal: `.credentialMissing`, `.ambiguous` (with candidates),
    /// `.noUserActor`, `.credentialRevoked`, `.notVisible`, `.wrongApp`, `.notFound`. The same
    /// answer as ``resolution(_:)`` without building its explain trace.
    public func resolve(_ request: ResolutionRequest) throws(CofferError) -> ResolvedCredential {
        try state.read { (current: borrowing State) throws(CofferError) in try current.index.resolveCredential(request) }
    }

    /// Reveals the secret fields of a credential (its current version, or `version`), by
    /// reading and opening the record that holds them. The values live in `SecureBytes`.
    ///
    /// - Throws: `.notFound` for an unknown credential or a version no longer retained,
    ///   `.corrupted` if the record no longer authenticates.
    public func reveal(_ credential: CredentialID, version: UInt32? = nil) throws(CofferError) -> FieldValues {
        // The location and the file it is in, taken together (a compaction swaps both).
        let (found, store) = state.read { ($0.index.location(of: credential, version: version), $0.store) }
        guard let location = found else {
            throw CofferError(
                .notFound,
                version.map { "Version \($0) of the credential is not retained." } ?? "No credential has that id.")
        }
        switch ModelOperation.decodeCredentialFields(from: try Self.readOperation(at: location, in: store)) {
        case .failure(let error):
            throw CofferError(.corrupted, "The credential's fields do not decode: \(error.message)", offset: location.offset, sequence: location.sequence)
        case .success(let stored):
            guard stored.credential == credential else {
                throw CofferError(.corrupted, "The record does not hold that credential.", offset: location.offset, sequence: location.sequence)
            }
            return stored.fields
        }
    }

    /// Reads, authenticates and decrypts the operation at `location`: what a reveal, and a
    /// planner merging a partial edit (``OperationReader``), need.
    public func readOperation(at location: RecordLocation) throws(CofferError) -> Operation {
        try Self.readOperation(at: location, in: store)
    }

    /// Reads operations for a walk over many locations (compaction, statistics), keeping the
    /// last record it opened: a compacted record holds hundreds of credentials, and opening
    /// it once per credential would make the walk quadratic.
    final class RecordCache {
        private let store: VaultStore
        private var sequence: UInt64 = 0
        private var operations: [Operation] = []
        private(set) var epoch: UInt32 = 0

        init(store: VaultStore) { self.store = store }

        func operation(at location: RecordLocation) throws(CofferError) -> Operation {
            if location.sequence != sequence || operations.isEmpty {
                let record = try store.readRecord(sequence: location.sequence, offset: location.offset)
                guard let payload = record.payload.flatMap(TransactionPayload.decode) else {
                    throw CofferError(
                        .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                        sequence: location.sequence)
                }
                sequence = location.sequence
                operations = payload.operations
                epoch = record.epoch
            }
            guard Int(location.operationIndex) < operations.count else {
                throw CofferError(
                    .corrupted, "The record holding the credential is malformed.", offset: location.offset,
                    sequence: location.sequence)
            }
            return operations[Int(location.operationIndex)]
        }
    }

    static func readOperation(at location: RecordLocation, in store: VaultStore) throws(CofferError) -> Operation {
        let record = try store.readRecord(sequence: location.sequence, offset: location.offset)
        guard let payload = record.payload.flatMap(TransactionPayload.decode),
            Int(location.operationIndex) < payload.operations.count
        else {
            throw CofferError(.corrupted, "The record holding the credential is malformed.", offset: location.offset, sequence: location.sequence)
        }
        return payload.operations[Int(location.operationIndex)]
    }

    /// Checks a presented platform API key in constant time over its keyed hash.
    public func checkAPIKey(_ presented: SecureBytes) throws(CofferError) -> APIKeyCheck {
        return try state.read { (current: borrowing State) throws(CofferError) in
            try current.index.checkAPIKey(presented, hashKey: current.store.apiKeyHashKey)
        }
    }
}
