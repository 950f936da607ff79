/// The chain hash before every record, in sequence order: 32 bytes per record in one
/// contiguous buffer. A single record can only be opened at random with its previous chain
/// hash (its AAD binds it), so the store keeps them all.
final class ChainTable: @unchecked Sendable {
    private let lock = Lock()
    private var digests = ContiguousArray<UInt8>()
    /// The offset of the last record's frame, which a checkpoint names (F-CHECKPOINT).
    private var lastOffset: UInt64 = 0

    /// Appends the previous chain hash of the next sequence number, whose frame is at `offset`.
    func append(_ digest: [UInt8], offset: UInt64) {
        precondition(digest.count == 32)
        lock.withLock {
            digests.append(contentsOf: digest)
            lastOffset = offset
        }
    }

    /// Appends the previous chain hashes of records 1 through `digests.count / 32`, the last
    /// of them at `lastOffset`: what a checkpoint holds, into an empty table.
    func restore(_ restored: UnsafeRawBufferPointer, lastOffset: UInt64) {
        precondition(restored.count % 32 == 0)
        lock.withLock {
            precondition(digests.isEmpty, "a checkpoint restores into an empty chain table")
            digests.append(contentsOf: restored)
            self.lastOffset = lastOffset
        }
    }

    /// The previous chain hashes of records 1 through `sequence` and the offset of the last
    /// record's frame, for a checkpoint; `nil` unless the table holds exactly that many.
    func snapshot(through sequence: UInt64) -> (digests: [UInt8], lastOffset: UInt64)? {
        lock.withLock {
            guard UInt64(digests.count / 32) == sequence else { return nil }
            return (Array(digests), lastOffset)
        }
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
