import CofferFormat

/// The sealed bytes of frames read lately, by offset, so that revealing a credential read
/// recently costs no system call. Only sealed frames are kept — what the file holds, whose
/// bodies are ciphertext — never a plaintext; each reveal still checks and opens its frame.
///
/// A log's frames never change where they are once durable (a torn tail is cut before any
/// is read, and a compaction writes another log, with a store and a cache of its own), so an
/// entry is never stale. The cache keeps at most `capacity` bytes of frames and forgets the
/// oldest entry first.
///
/// An entry keeps what the read that opened the frame checked beside its bytes — the decoded
/// header and the chain hash its AAD binds — so that a reveal served from here neither decodes
/// the header again nor looks the chain up: the tag still authenticates every byte and the
/// position on each open.
final class SealedFrameCache: @unchecked Sendable {
    private let capacity: Int
    private let lock = Lock()
    /// A frame as a read checked it.
    struct Entry {
        /// The whole frame, header and body.
        let bytes: [UInt8]
        /// Its header, decoded and checked.
        let header: FrameHeader
        /// The chain hash after the record before it, which its AAD binds.
        let previousChain: [UInt8]

        /// The bytes it counts against the capacity: the frame, the chain hash, and the
        /// header's size again for the decoded copy.
        var cost: Int { bytes.count + previousChain.count + FormatConstants.frameHeaderBytes }
    }
    private var frames: [UInt64: Entry] = [:]
    /// Offsets in the order they were added, the oldest from `oldest`.
    private var order: [UInt64] = []
    private var oldest = 0
    private var bytes = 0

    /// A cache of at most `capacity` bytes of frames (and what each entry keeps beside its
    /// frame, ``Entry/cost``); 0 keeps none.
    init(capacity: Int) {
        self.capacity = max(capacity, 0)
    }

    /// The frame at `offset`, when kept.
    func frame(at offset: UInt64) -> Entry? {
        guard capacity > 0 else { return nil }
        return lock.withLock { frames[offset] }
    }

    /// Keeps `frame`, read at `offset` and checked, forgetting the oldest frames beyond the
    /// capacity. A frame larger than the whole capacity is not kept.
    func keep(_ frame: Entry, at offset: UInt64) {
        guard frame.cost <= capacity else { return }
        lock.withLock {
            guard frames[offset] == nil else { return }
            frames[offset] = frame
            order.append(offset)
            bytes += frame.cost
            while bytes > capacity, oldest < order.count {
                if let forgotten = frames.removeValue(forKey: order[oldest]) { bytes -= forgotten.cost }
                oldest += 1
            }
            // The forgotten offsets' slots are given back once they are most of the queue.
            if oldest > 1024 && oldest * 2 > order.count {
                order.removeFirst(oldest)
                oldest = 0
            }
        }
    }
}
