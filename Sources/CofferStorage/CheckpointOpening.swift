import CofferCrypto
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// A checkpoint's sealed contents opened in place on a second thread, piece by piece, while
/// the opening thread decodes the pieces already opened (F-CHECKPOINT-USE): an open then
/// takes about as long as the longer of the two, not both, and the second core does the
/// cipher's work.
///
/// Nothing read before ``complete()`` answers true is trusted: the decoders of the contents
/// and the index hold to any bytes (fuzzed without a key), and what they made is discarded
/// when the tag fails or the checkpoint disagrees with the log. The thread adds each piece
/// to the tag's computation before it decrypts it, as libsodium's one-call open does.
///
/// ```swift
/// let opening = CheckpointOpening(bytes, parts: parts, key: key)
/// let contents = Checkpoint.Contents.decode(opening.contents, at: position, arrival: opening)
/// // … decode the index with a ByteReader given `opening` as its arrival …
/// guard opening.complete() else { /* replay the whole log */ }
/// ```
final class CheckpointOpening: ByteArrival, @unchecked Sendable {
    /// Bytes opened at a time: small enough that the decoder starts soon after the thread,
    /// large enough that handing each over costs nothing next to opening it.
    static let pieceBytes = 64 * 1024

    /// The checkpoint file. Never mutated through Swift: the thread writes the plaintext over
    /// the ciphertext through `base`, and a reader reads a piece only after the lock has
    /// handed it over (`arrivedEnd`).
    private let bytes: [UInt8]
    private let base: UnsafeMutableRawPointer
    private let parts: Checkpoint.SealedParts
    /// Touched by the thread only, until it is joined.
    private var decryption: XChaCha20Poly1305.PiecewiseOpen?
    private var thread: pthread_t?

    // Guarded by `lock`.
    private let lock = Lock()
    private var arrivedEnd: Int
    private var isDone = false
    private var isCancelled = false
    private var isAuthentic = false

    /// The checks against the log that follow authentication (set before ``complete()``).
    var checks: (() -> Result<KeyEpochs, CheckpointProblem>)?
    /// What ``complete()`` found, once it has run.
    private(set) var outcome: Result<KeyEpochs, CheckpointProblem>?

    /// Starts opening the sealed contents `parts` locates in `bytes`, on a second thread when
    /// one can be had (on this one, before returning, when not).
    init(_ bytes: consuming [UInt8], parts: Checkpoint.SealedParts, key: SecureBytes) {
        var owned = consume bytes
        // The storage of an array held by a constant and never mutated stays where it is.
        base = owned.withUnsafeMutableBytes { $0.baseAddress! }
        self.bytes = owned
        self.parts = parts
        arrivedEnd = parts.ciphertext.lowerBound
        decryption = XChaCha20Poly1305.PiecewiseOpen(
            key: key, nonce: parts.nonce, associatedData: parts.associatedData, ciphertextCount: parts.ciphertext.count)
        // Unretained: this object outlives the thread, whose join `finish()` or deinit waits for.
        let box = Unmanaged.passUnretained(self).toOpaque()
        var created = pthread_t()
        let status = pthread_create(
            &created, nil,
            { argument in
                Unmanaged<CheckpointOpening>.fromOpaque(argument!).takeUnretainedValue().openPieces()
                return nil
            }, box)
        if status == 0 { thread = created } else { openPieces() }
    }

    deinit {
        lock.withLock { isCancelled = true }
        if let thread { pthread_join(thread, nil) }
    }

    /// The sealed contents, opened or still opening: read them with this object as the
    /// reader's ``ByteArrival``.
    var contents: ArraySlice<UInt8> { bytes[parts.ciphertext] }

    private func openPieces() {
        var start = parts.ciphertext.lowerBound
        while start < parts.ciphertext.upperBound {
            if lock.withLock({ isCancelled }) { break }
            let end = min(parts.ciphertext.upperBound, start + Self.pieceBytes)
            decryption!.open(UnsafeMutableRawBufferPointer(start: base + start, count: end - start))
            lock.withLock {
                arrivedEnd = end
                lock.broadcast()
            }
            start = end
        }
        let complete = start == parts.ciphertext.upperBound
        let tag = UnsafeRawBufferPointer(start: base + parts.tag.lowerBound, count: parts.tag.count)
        let authentic = complete && decryption.take()!.verify(tag: tag)
        decryption = nil
        lock.withLock {
            isAuthentic = authentic
            isDone = true
            lock.broadcast()
        }
    }

    func arrived(through end: UnsafeRawPointer) -> UnsafeRawPointer {
        let wanted = end - UnsafeRawPointer(base)
        let arrived = lock.withLock {
            while arrivedEnd < wanted && !isDone { lock.wait() }
            return arrivedEnd
        }
        return UnsafeRawPointer(base) + arrived
    }

    /// Waits for the whole contents; whether they authenticate. When they do not, the bytes
    /// opened are zeroed (as libsodium zeroes a failed open's output).
    func finish() -> Bool {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        let authentic = lock.withLock { isAuthentic }
        if !authentic {
            (base + parts.ciphertext.lowerBound).initializeMemory(
                as: UInt8.self, repeating: 0, count: parts.ciphertext.count)
        }
        return authentic
    }

    /// Waits for the whole contents, authenticates them and runs ``checks`` against the log:
    /// whether what was read of them can be trusted. The first answer is kept in ``outcome``.
    func complete() -> Bool {
        if outcome == nil {
            if !finish() {
                outcome = .failure(CheckpointProblem("\(Checkpoint.Problem.authentication)"))
            } else {
                outcome = checks?() ?? .failure(CheckpointProblem("it was not checked against the log"))
            }
        }
        if case .success = outcome { return true }
        return false
    }
}
