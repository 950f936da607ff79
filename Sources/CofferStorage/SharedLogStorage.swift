import CofferCrypto
import CofferErrors
import CofferFormat

/// Vault logs kept in a ``SharedLogBackend`` (FORMAT.md §13): a vault whose header and frames
/// live in a database that many processes share, as a ``LogMedium``.
///
/// The log reads as the file it would be: the two header copies, then the frames of the
/// current log generation one after another, at the offsets they would have in a file. So
/// the scanner, the writer, recovery, verification and compaction run unchanged over its
/// ``LogDevice``:
/// - an append is one conditional insert of the frames after the last one; when another
///   instance appended first it is a ``LogWriteOutcome/conflict`` and nothing is written
///   (the writer catches up and tries again);
/// - a header copy replaced is one compare-and-swap of the header bytes on its generation;
/// - a compaction's new log is a new log generation (``SuccessorLog``), and its switch makes
///   it the vault's in one transaction, provided the old log still ends where the compaction
///   copied it to;
/// - a device on a log that another instance's compaction replaced fails with
///   ``SystemError/superseded``.
///
/// No lock is exclusive: many writers share the log. They take turns through the store
/// (``beginWriterTurn()``) before they catch up, plan and append, and a conditional append
/// orders them still when a turn was lost.
public final class SharedLogStorage: LogMedium, @unchecked Sendable {
    /// The path the vault is opened at (its URL, without credentials).
    public let path: String
    let backend: any SharedLogBackend
    private let lock = Lock()
    /// What is known of each log generation, shared by this storage's devices.
    private var views: [UInt64: SharedLogView] = [:]

    public init(backend: any SharedLogBackend, path: String) {
        self.backend = backend
        self.path = path
    }

    public var isShared: Bool { true }

    /// A shared vault has one name and no links.
    public func resolve(_ path: String) -> Result<String, SystemError> { .success(path) }

    public func beginWriterTurn() throws(CofferError) { try backend.beginWriterTurn() }

    public func endWriterTurn() { backend.endWriterTurn() }

    public func follow(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> (any SharedLogFollower)? {
        try backend.follow(interval: interval, onChange)
    }

    func view(of generation: UInt64, headerGeneration: UInt64) -> SharedLogView {
        lock.withLock {
            if let known = views[generation] { return known }
            // Older generations were deleted by the switch that made this one current.
            views = views.filter { $0.key > generation }
            let made = SharedLogView(generation: generation, headerGeneration: headerGeneration)
            views[generation] = made
            return made
        }
    }

    /// Makes `view` the vault's current log generation in this process (after a switch).
    func adopt(switched view: SharedLogView) {
        lock.withLock {
            views = views.filter { $0.key > view.generation }
            views[view.generation] = view
        }
    }

    func knownView(of generation: UInt64) -> SharedLogView? { lock.withLock { views[generation] } }

    private func state() -> Result<SharedLogState?, SystemError> {
        do throws(CofferError) { return .success(try backend.state()) } catch { return .failure(SystemError(error)) }
    }

    /// No lock to take: every device may write, and conflicts order the writers.
    public func openLog(_ path: String, readOnly: Bool) -> Result<(any LogDevice)?, SystemError> {
        guard path == self.path else { return .failure(.noSuchFileOrDirectory) }
        return state().flatMap { state in
            guard let state else { return .failure(.noSuchFileOrDirectory) }
            let view = view(of: state.logGeneration, headerGeneration: state.headerGeneration)
            view.lock.withLock { view.adoptHeader(state.header, generation: state.headerGeneration) }
            return .success(SharedLogDevice(storage: self, view: view))
        }
    }

    /// Creates the vault in one transaction: it exists, under its name, once this returns —
    /// or, when more frames follow (a copy), under no name until it is published
    /// (F-SHARED-COPY), so that a copy cut short is never taken for the vault.
    public func createLog(
        _ path: String, vaultID: [UInt8], header: [UInt8], frames: FrameBatch, _ what: String, taken: CofferError,
        framesFollow: Bool
    ) throws(CofferError) -> any NewLog {
        guard path == self.path else {
            throw CofferError(.invalidInput, "A shared vault is created at its own location.")
        }
        let rows = SharedFrame.rows(of: frames)
        // A shared store refuses a second vault with the same UUID, under any name.
        let made =
            framesFollow
            ? try backend.createStaged(vaultID: vaultID, header: header, frames: rows)
            : try backend.create(vaultID: vaultID, header: header, frames: rows)
        guard made else { throw taken }
        let created = view(of: 1, headerGeneration: 1)
        created.lock.withLock {
            created.adoptHeader(header, generation: 1)
            if created.lastSequence == 0 { created.extend(with: rows) }
        }
        return CreatedSharedLog(
            device: SharedLogDevice(storage: self, view: created), backend: framesFollow ? backend : nil)
    }

    public func beginSuccessor(of path: String) throws(CofferError) -> any SuccessorLog {
        guard path == self.path, let state = try backend.state() else {
            throw CofferError(.notFound, "The shared vault no longer exists.")
        }
        // A generation no other compaction picks: two racing ones would otherwise both
        // stage frames into the same rows.
        let generation = state.logGeneration + 1 + UInt64(RandomBytes.make(3).reduce(0) { $0 << 8 | UInt32($1) })
        return SharedSuccessor(
            storage: self, view: SharedLogView(generation: generation, headerGeneration: 0), base: state.logGeneration)
    }

    /// A compaction's leftovers are other log generations; the next switch deletes them, and
    /// no instance may remove one that another instance is still writing.
    public func removeLeftoverSuccessors(of path: String) -> [String] { [] }

    /// The log generation `log` reads: a device of this store, or none.
    private func generation(of log: any LogDevice, path: String) -> UInt64? {
        guard path == self.path, let device = log as? SharedLogDevice else { return nil }
        return device.generation
    }

    /// The checkpoint kept for the log generation `log` reads (F-SHARED-CHECKPOINT).
    public func readCheckpoint(of path: String, for log: any LogDevice) -> Result<[UInt8]?, SystemError> {
        guard let generation = generation(of: log, path: path) else { return .success(nil) }
        do throws(CofferError) {
            return .success(try backend.checkpoint(logGeneration: generation))
        } catch {
            return .failure(SystemError(error))
        }
    }

    /// Nothing to remove before a compaction's switch: the switch deletes the checkpoints of
    /// the generations it deletes, in its own transaction.
    public func removeCheckpoint(of path: String) throws(CofferError) {}

    /// Keeps `bytes` as the checkpoint of the log generation `log` reads, the one it was taken
    /// from. When that generation is no longer the vault's log (another instance compacted it),
    /// or another instance kept a checkpoint covering as much or more, nothing is written: the
    /// next open finds that one, or none, and is right either way.
    public func writeCheckpoint(_ bytes: [UInt8], of path: String, for log: any LogDevice) throws(CofferError) {
        guard let generation = generation(of: log, path: path) else {
            throw CofferError(.notFound, "The shared vault was not opened at \(path).")
        }
        guard case .success(let position) = Checkpoint.position(of: bytes) else {
            preconditionFailure("a checkpoint this process sealed has no position")
        }
        _ = try backend.writeCheckpoint(bytes, logGeneration: generation, sequence: position.sequence)
    }
}

extension SharedFrame {
    /// The rows a shared log stores for `batch`: one per frame.
    static func rows(of batch: FrameBatch) -> [SharedFrame] {
        var rows: [SharedFrame] = []
        rows.reserveCapacity(batch.frames.count)
        batch.forEachFrame { sequence, bytes in rows.append(SharedFrame(sequence: sequence, bytes: Array(bytes))) }
        return rows
    }
}

/// What this process knows of one log generation: where each frame starts, the header bytes,
/// and the last frames fetched. Guarded by `lock`.
final class SharedLogView: @unchecked Sendable {
    let generation: UInt64
    let lock = Lock()
    /// `starts[s - 1]` is the offset of the frame with sequence number `s`.
    private(set) var starts: [UInt64] = []
    /// Offset just past the last known frame.
    private(set) var end = FormatConstants.logStartOffset
    /// Both header copies, or `nil` when they changed and must be read again.
    var header: [UInt8]?
    var headerGeneration: UInt64
    /// The frames fetched last, consecutive: reading one record takes two reads of it.
    private var cached: [SharedFrame] = []

    init(generation: UInt64, headerGeneration: UInt64) {
        self.generation = generation
        self.headerGeneration = headerGeneration
    }

    var lastSequence: UInt64 { UInt64(starts.count) }

    func adoptHeader(_ bytes: [UInt8], generation: UInt64) {
        guard generation >= headerGeneration || header == nil else { return }
        header = bytes
        headerGeneration = generation
    }

    /// Records frames that follow the last known one.
    func extend(with frames: [SharedFrame]) {
        for frame in frames {
            precondition(frame.sequence == lastSequence + 1, "frames are added in order")
            starts.append(end)
            end += UInt64(frame.bytes.count)
        }
    }

    /// Records frames read from the backend that follow the last known one, and keeps them
    /// for the reads that follow.
    func adopt(_ fetched: [SharedFrame]) throws(CofferError) {
        guard let first = fetched.first else { return }
        guard first.sequence == lastSequence + 1 else { throw Self.gap(after: lastSequence) }
        for (index, frame) in fetched.enumerated().dropFirst() where frame.sequence != first.sequence + UInt64(index) {
            throw Self.gap(after: frame.sequence - 1)
        }
        extend(with: fetched)
        cached = fetched
    }

    /// Reads the bytes at `offset` from the frames, fetching what is not known yet.
    func read(
        into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64, from backend: any SharedLogBackend
    ) throws(CofferError) -> Int {
        var written = 0
        var position = offset
        while written < buffer.count {
            if position >= end {
                // A read far past the known frames (where an index checkpoint says a record
                // is) fetches everything up to it in as few round trips as a scan would.
                let (gap, rest) = (position - end, UInt64(buffer.count - written))
                let wanted = Int(clamping: gap > UInt64.max - rest ? UInt64.max : gap + rest)
                let fetched = try backend.frames(
                    logGeneration: generation, after: lastSequence, limit: Self.fetchLimit(wanted))
                guard !fetched.isEmpty else { break }
                try adopt(fetched)
                continue
            }
            let sequence = frameContaining(position)
            let frame = try frameBytes(sequence, wanting: buffer.count - written, from: backend)
            let inFrame = Int(position - starts[Int(sequence) - 1])
            let count = min(frame.count - inFrame, buffer.count - written)
            frame.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[written..<written + count])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[inFrame..<inFrame + count]))
            }
            written += count
            position += UInt64(count)
        }
        return written
    }

    private func frameContaining(_ offset: UInt64) -> UInt64 {
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= offset { low = middle + 1 } else { high = middle }
        }
        return UInt64(low)
    }

    private func frameBytes(
        _ sequence: UInt64, wanting bytes: Int, from backend: any SharedLogBackend
    ) throws(CofferError) -> [UInt8] {
        if let first = cached.first?.sequence, sequence >= first, sequence < first + UInt64(cached.count) {
            return cached[Int(sequence - first)].bytes
        }
        let fetched = try backend.frames(logGeneration: generation, after: sequence - 1, limit: Self.fetchLimit(bytes))
        guard let frame = fetched.first, frame.sequence == sequence,
            starts[Int(sequence) - 1] + UInt64(frame.bytes.count)
                == (sequence < lastSequence ? starts[Int(sequence)] : end)
        else { throw Self.gap(after: sequence - 1) }
        cached = fetched.prefix { $0.sequence <= lastSequence }
        return frame.bytes
    }

    /// Frames to fetch for `bytes` more bytes: records are a few hundred bytes.
    private static func fetchLimit(_ bytes: Int) -> Int { min(max(bytes / 256, 4), 4096) }

    private static func gap(after sequence: UInt64) -> CofferError {
        CofferError(
            .corrupted, "The shared log's frames changed or have a gap after sequence \(sequence).",
            sequence: sequence + 1)
    }
}

/// The vault's current log generation, as a ``LogDevice``.
final class SharedLogDevice: LogDevice, @unchecked Sendable {
    private let storage: SharedLogStorage
    private let view: SharedLogView
    private let lock = Lock()
    private var closed = false

    /// The log generation this device reads.
    var generation: UInt64 { view.generation }

    init(storage: SharedLogStorage, view: SharedLogView) {
        self.storage = storage
        self.view = view
    }

    private var backend: any SharedLogBackend { storage.backend }

    private var isClosed: Bool { lock.withLock { closed } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        guard !isClosed else { return .failure(.badFileDescriptor) }
        return view.lock.withLock { () -> Result<Int, SystemError> in
            var written = 0
            if offset < FormatConstants.logStartOffset {
                switch currentHeader() {
                case .failure(let error): return .failure(error)
                case .success(let header):
                    let count = min(buffer.count, header.count - Int(offset))
                    header.withUnsafeBytes { source in
                        UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                            .copyMemory(
                                from: UnsafeRawBufferPointer(rebasing: source[Int(offset)..<Int(offset) + count]))
                    }
                    written = count
                }
            }
            guard written < buffer.count else { return .success(written) }
            do throws(CofferError) {
                written += try view.read(
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[written...]),
                    at: offset + UInt64(written), from: backend)
                return .success(written)
            } catch {
                return .failure(replacedOr(error))
            }
        }
    }

    /// `error`, unless the log is no longer the vault's: then frames missing from it were
    /// deleted by another instance's switch, and that is what to report (reopen), not a gap.
    /// Holds `view.lock`.
    private func replacedOr(_ error: CofferError) -> SystemError {
        guard error.code == .corrupted,
            case .success(let state?) = Result(catching: { () throws(CofferError) in try backend.state() }),
            state.logGeneration != view.generation
        else { return SystemError(error) }
        return .superseded
    }

    /// The header bytes, read again when they changed. Holds `view.lock`.
    private func currentHeader() -> Result<[UInt8], SystemError> {
        if let header = view.header { return .success(header) }
        let state: SharedLogState?
        do throws(CofferError) { state = try backend.state() } catch { return .failure(SystemError(error)) }
        guard let state else { return .failure(.noSuchFileOrDirectory) }
        guard state.logGeneration == view.generation else { return .failure(.superseded) }
        view.adoptHeader(state.header, generation: state.headerGeneration)
        return .success(state.header)
    }

    func end() -> Result<UInt64, SystemError> {
        guard !isClosed else { return .failure(.badFileDescriptor) }
        return view.lock.withLock { () -> Result<UInt64, SystemError> in
            do throws(CofferError) {
                let extent = try backend.extent(logGeneration: view.generation, after: view.lastSequence)
                guard extent.logGeneration == view.generation else { return .failure(.superseded) }
                if extent.headerGeneration != view.headerGeneration { view.header = nil }
                let end = view.end + extent.frameBytes
                try view.adopt(extent.frames)
                guard view.end <= end else {
                    throw CofferError(.corrupted, "The shared log's frames are longer than its extent says.")
                }
                return .success(end)
            } catch {
                return .failure(SystemError(error))
            }
        }
    }

    func append(_ frames: FrameBatch, at offset: UInt64) -> Result<LogWriteOutcome, SystemError> {
        guard !isClosed else { return .failure(.badFileDescriptor) }
        let known = view.lock.withLock { view.end }
        // Another instance's frames this process has read already took the place.
        guard offset == known else { return offset < known ? .success(.conflict) : .failure(.invalidArgument) }
        let rows = SharedFrame.rows(of: frames)
        do throws(CofferError) {
            guard try backend.append(logGeneration: view.generation, frames: rows) else { return .success(.conflict) }
        } catch {
            return .failure(SystemError(error))
        }
        return view.lock.withLock { () -> Result<LogWriteOutcome, SystemError> in
            // Another device of this process may have read past the old end meanwhile; the
            // frames it found are these.
            if view.lastSequence < rows.last!.sequence {
                guard view.lastSequence + 1 == rows.first!.sequence else { return .success(.conflict) }
                view.extend(with: rows)
            }
            return .success(.written)
        }
    }

    /// Appends are durable when they return: the server committed them.
    func sync() -> Result<Void, SystemError> { isClosed ? .failure(.badFileDescriptor) : .success(()) }

    func replaceHeaderCopy(_ index: Int, with bytes: [UInt8]) -> Result<LogWriteOutcome, SystemError> {
        guard !isClosed else { return .failure(.badFileDescriptor) }
        return view.lock.withLock { () -> Result<LogWriteOutcome, SystemError> in
            var header: [UInt8]
            switch currentHeader() {
            case .failure(let error): return .failure(error)
            case .success(let current): header = current
            }
            do throws(CofferError) {
                let start = index * FormatConstants.headerCopyBytes
                header.replaceSubrange(start..<start + bytes.count, with: bytes)
                let expected = view.headerGeneration
                guard try backend.replaceHeader(expectedGeneration: expected, header: header) else {
                    view.header = nil
                    return .success(.conflict)
                }
                view.header = header
                view.headerGeneration = expected + 1
                return .success(.written)
            } catch {
                view.header = nil
                return .failure(SystemError(error))
            }
        }
    }

    /// Rows are written whole: a shared log has no torn tail to cut.
    func cutTornTail(at end: UInt64) -> Result<Void, SystemError> {
        view.lock.withLock { end == view.end ? .success(()) : .failure(.invalidArgument) }
    }

    func close() { lock.withLock { closed = true } }
}

/// A shared vault just created: under its name already, or staged under none until published.
private final class CreatedSharedLog: NewLog {
    let device: any LogDevice
    /// The backend that staged it; `nil` when it was created under its name.
    private let staging: (any SharedLogBackend)?

    init(device: any LogDevice, backend staging: (any SharedLogBackend)?) {
        self.device = device
        self.staging = staging
    }

    func publish(_ what: String, taken: CofferError) throws(CofferError) {
        guard let staging else { return }
        let published: Bool
        do {
            published = try staging.publishStaged()
        } catch {
            // The rename may or may not have landed (a connection lost at commit): dropping
            // what is still under the staging name is right either way.
            discard()
            throw error
        }
        guard published else {
            discard()
            throw taken
        }
    }

    /// A staged vault is dropped, with its frames; one under its name has nothing to undo.
    /// A failure to drop it leaves it staged, under no name: the next copy of the same vault
    /// drops it first.
    func discard() {
        if let staging { try? staging.dropStaged() }
        device.close()
    }
}

/// A compaction's new log generation: frames staged into it, then one switch.
private final class SharedSuccessor: SuccessorLog {
    private let storage: SharedLogStorage
    private let view: SharedLogView
    /// The generation it replaces.
    private let base: UInt64
    private var header: [UInt8]?

    init(storage: SharedLogStorage, view: SharedLogView, base: UInt64) {
        self.storage = storage
        self.view = view
        self.base = base
    }

    var name: String { "\(storage.path) log generation \(view.generation)" }

    func writeHeader(_ bytes: [UInt8]) throws(CofferError) { header = bytes }

    func append(_ frames: FrameBatch) throws(CofferError) {
        let rows = SharedFrame.rows(of: frames)
        guard try storage.backend.stage(logGeneration: view.generation, frames: rows) else {
            throw CofferError(.conflict, "Another compaction staged the same log generation; run it again.")
        }
        view.lock.withLock { view.extend(with: rows) }
    }

    func switchOver(replacingLogEndingAt end: UInt64, lastSequence: UInt64) throws(CofferError) -> LogWriteOutcome {
        guard let header else { preconditionFailure("a successor's header is written before its switch") }
        guard let old = storage.knownView(of: base) else { return .conflict }
        let expectedHeaderGeneration = old.lock.withLock { old.headerGeneration }
        guard
            try storage.backend.switchLog(
                from: base, lastSequence: lastSequence, to: view.generation, header: header,
                expectedHeaderGeneration: expectedHeaderGeneration)
        else { return .conflict }
        view.lock.withLock {
            view.header = header
            view.headerGeneration = expectedHeaderGeneration + 1
        }
        storage.adopt(switched: view)
        return .written
    }

    /// The switch was one committed transaction.
    func makeSwitchDurable() throws(CofferError) {}

    var device: any LogDevice { SharedLogDevice(storage: storage, view: view) }

    func abandon() { try? storage.backend.discard(logGeneration: view.generation) }
}
