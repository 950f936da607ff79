/// The chain hash before every record, in sequence order: 32 bytes per record in one
/// contiguous buffer. A single record can only be opened at random with its previous chain
/// hash (its AAD binds it), so the store keeps them all.
final class ChainTable: @unchecked Sendable {
    private let lock = Lock()
    private var digests = ContiguousArray<UInt8>()

    /// Appends the previous chain hash of the next sequence number.
    func append(_ digest: [UInt8]) {
        precondition(digest.count == 32)
        lock.withLock { digests.append(contentsOf: digest) }
    }

    /// The chain hash before record `sequence`, or `nil` if it is not in the log.
    func previous(for sequence: UInt64) -> [UInt8]? {
        lock.withLock {
            guard sequence >= 1, sequence <= UInt64(digests.count / 32) else { return nil }
            let start = Int(sequence - 1) * 32
            guard start + 32 <= digests.count else { return nil }
            return Array(digests[start..<start + 32])
        }
    }

    /// Bytes held, for memory accounting.
    var byteCount: Int { lock.withLock { digests.count } }
}
