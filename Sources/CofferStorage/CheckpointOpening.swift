import CofferCrypto
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// A checkpoint's sealed contents opened in place on a second thread, chunk by chunk
/// (F-CHECKPOINT-CHUNKS: each chunk of 64 KiB is sealed on its own), while the opening thread
/// decodes the chunks already opened (F-CHECKPOINT-USE): an open then takes about as long as
/// the longer of the two, not both, and the second core does the cipher's work.
///
/// A chunk is handed over only once its tag verifies, so the decoders never read a byte that
/// did not authenticate; the first chunk that does not stops the thread, and a read of it or
/// past it fails. What was decoded is still trusted only once ``complete()`` answers true:
/// every chunk authenticated and the checkpoint agrees with the log (``checks``).
///
/// ```swift
/// let opening = CheckpointOpening(bytes, parts: parts, key: key)
/// let contents = Checkpoint.Contents.decode(opening.contents, at: position, arrival: opening)
/// // … decode the index with a ByteReader given `opening` as its arrival …
/// guard opening.complete() else { /* replay the whole log */ }
/// ```
final class CheckpointOpening: ByteArrival, @unchecked Sendable {
    /// The checkpoint file. Never mutated through Swift: the thread writes each chunk's
    /// plaintext over its ciphertext through `base` (the storage of an array held by a
    /// constant stays where it is), and a reader reads a chunk only after the lock has handed
    /// it over (`arrivedEnd`).
    private let bytes: [UInt8]
    private let base: UnsafeMutableRawPointer
    private let parts: Checkpoint.SealedParts
    private let key: SecureBytes

    // Guarded by `completion`: finishing and completing may be asked from any thread.
    private let completion = Lock()
    private var thread: pthread_t?
    private var completed: Result<KeyEpochs, CheckpointProblem>?

    // Guarded by `lock`.
    private let lock = Lock()
    private var arrivedEnd: Int
    private var isDone = false
    private var isAuthentic = false

    /// The checks against the log that follow authentication (set before ``complete()``).
    var checks: (() -> Result<KeyEpochs, CheckpointProblem>)?
    /// What ``complete()`` found, once it has run.
    var outcome: Result<KeyEpochs, CheckpointProblem>? { completion.withLock { completed } }

    /// Starts opening the sealed contents `parts` locates in `bytes`, on a second thread when
    /// one can be had (on this one, before returning, when not).
    init(_ bytes: consuming [UInt8], parts: Checkpoint.SealedParts, key: SecureBytes) {
        var owned = consume bytes
        base = owned.withUnsafeMutableBytes { $0.baseAddress! }
        self.bytes = owned
        self.parts = parts
        self.key = key
        arrivedEnd = parts.contents.lowerBound
        // Retained by the thread until it ends; `finish()` joins it before this is released.
        let box = Unmanaged.passRetained(self).toOpaque()
        var created = pthread_t()
        let status = pthread_create(
            &created, nil,
            { argument in
                Unmanaged<CheckpointOpening>.fromOpaque(argument!).takeRetainedValue().openChunks()
                return nil
            }, box)
        if status == 0 {
            thread = created
        } else {
            Unmanaged<CheckpointOpening>.fromOpaque(box).release()
            openChunks()
        }
    }

    deinit {
        precondition(thread == nil, "a checkpoint opening was dropped without finish()")
    }

    /// The sealed contents, opened or still opening: read them with this object as the
    /// reader's ``ByteArrival``.
    var contents: ArraySlice<UInt8> { bytes[parts.contents] }

    private func openChunks() {
        let whole = UnsafeMutableRawBufferPointer(start: base, count: bytes.count)
        var authentic = true
        for index in 0..<parts.chunkCount {
            let chunk = parts.chunk(index)
            guard parts.open(chunk, in: whole, key: key) else {
                authentic = false
                break
            }
            lock.withLock {
                arrivedEnd = chunk.range.upperBound
                lock.broadcast()
            }
        }
        lock.withLock {
            isAuthentic = authentic
            isDone = true
            lock.broadcast()
        }
    }

    func arrived(through end: UnsafeRawPointer) -> UnsafeRawPointer {
        // Past the contents, nothing more arrives than all of them.
        let wanted = min(end - UnsafeRawPointer(base), parts.contents.upperBound)
        let arrived = lock.withLock {
            while arrivedEnd < wanted && !isDone { lock.wait() }
            return arrivedEnd
        }
        return UnsafeRawPointer(base) + arrived
    }

    /// Waits for the thread to end; whether every chunk authenticated. When one did not, the
    /// contents are zeroed.
    func finish() -> Bool {
        completion.withLock { finishLocked() }
    }

    private func finishLocked() -> Bool {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        let authentic = lock.withLock { isAuthentic }
        if !authentic {
            (base + parts.contents.lowerBound).initializeMemory(
                as: UInt8.self, repeating: 0, count: parts.contents.count)
        }
        return authentic
    }

    /// Waits for the whole contents, and runs ``checks`` against the log once they all
    /// authenticate: whether what was read of them can be trusted. The first answer is kept
    /// in ``outcome``.
    func complete() -> Bool {
        completion.withLock {
            if completed == nil {
                completed =
                    finishLocked()
                    ? checks?() ?? .failure(CheckpointProblem("it was not checked against the log"))
                    : .failure(CheckpointProblem("\(Checkpoint.Problem.authentication)"))
            }
            if case .success = completed { return true }
            return false
        }
    }

    /// Why the checkpoint cannot be used, once ``complete()`` has answered false.
    var problem: CheckpointProblem? {
        if case .failure(let problem)? = outcome { return problem }
        return nil
    }
}
