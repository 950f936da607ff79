import CofferCrypto
import CofferErrors
import CofferFormat

/// The storage layer's file operations over a ``SharedLogBackend`` (FORMAT.md §13): a vault
/// whose header and frames live in a database that many processes share.
///
/// The vault reads as the file it would be: the two header copies, then the frames of the
/// current log generation one after another, at the offsets they would have in a file. So
/// the scanner, the writer, recovery, verification and compaction run unchanged:
/// - a write of frames at the end of the log and the sync after it are one append; when
///   another instance appended first, the sync fails with ``SystemError/conflict`` and
///   nothing is written (the writer catches up and tries again);
/// - a header copy written and synced is one compare-and-swap of the header bytes;
/// - a compaction's temporary file is a new log generation, and its rename over the vault
///   (``replace(_:with:targetEndingAt:)``) switches to it in one transaction, provided the
///   old log still ends where the compaction copied it to;
/// - a handle on a log that another instance's compaction replaced fails with
///   ``SystemError/superseded``.
///
/// No lock is exclusive: many writers share the log. They take turns through the store
/// (``beginWriterTurn()``) before they catch up, plan and append, and a conditional append
/// orders them still when a turn was lost.
public final class SharedLogStorage: StorageSystem, @unchecked Sendable {
    /// The path the vault is opened at (its URL, without credentials); a compaction's
    /// temporary files are named after it.
    public let path: String
    let backend: any SharedLogBackend
    private let lock = Lock()
    /// What is known of each log generation, shared by this storage's handles.
    private var views: [UInt64: SharedLogView] = [:]
    /// Compactions' temporary logs by path.
    private var staging: [String: SharedLogFile] = [:]

    public init(backend: any SharedLogBackend, path: String) {
        self.backend = backend
        self.path = path
    }

    /// Waits for the vault's writer turn (``SharedLogBackend/beginWriterTurn()``).
    public func beginWriterTurn() throws(CofferError) { try backend.beginWriterTurn() }

    /// Ends the writer turn.
    public func endWriterTurn() { backend.endWriterTurn() }

    /// Calls `onChange` soon after other instances commit (``SharedLogBackend/follow(interval:_:)``).
    public func follow(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> any SharedLogFollower {
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

    public func open(_ path: String, mode: OpenMode) -> Result<any StorageFile, SystemError> {
        let state: SharedLogState?
        do throws(CofferError) { state = try backend.state() } catch { return .failure(SystemError(error)) }
        if path == self.path {
            switch (mode, state) {
            case (.createNew, .some): return .failure(.fileExists)
            case (.createNew, .none): return .success(SharedLogFile(storage: self, creating: ()))
            case (_, .none): return .failure(.noSuchFileOrDirectory)
            case (_, .some(let state)):
                let view = view(of: state.logGeneration, headerGeneration: state.headerGeneration)
                view.lock.withLock { view.adoptHeader(state.header, generation: state.headerGeneration) }
                return .success(SharedLogFile(storage: self, view: view))
            }
        }
        guard mode == .createNew, path.hasPrefix(self.path + "."), let state else {
            return .failure(.noSuchFileOrDirectory)
        }
        // A generation no other compaction picks: two racing ones would otherwise both
        // stage frames into the same rows.
        let generation = state.logGeneration + 1 + UInt64(RandomBytes.make(3).reduce(0) { $0 << 8 | UInt32($1) })
        let file = SharedLogFile(
            storage: self, staging: SharedLogView(generation: generation, headerGeneration: 0), base: state.logGeneration)
        lock.withLock { staging[path] = file }
        return .success(file)
    }

    /// Plain renames do not exist in a shared log: a compaction's switch needs to know where
    /// the old log ended (``replace(_:with:targetEndingAt:)``).
    public func rename(_ source: String, to target: String) -> Result<Void, SystemError> {
        .failure(.invalidArgument)
    }

    public func replace(_ target: String, with source: String, targetEndingAt end: UInt64) -> Result<Void, SystemError> {
        guard target == path, let file = lock.withLock({ staging[source] }), let base = file.stagingBase else {
            return .failure(.noSuchFileOrDirectory)
        }
        let old = lock.withLock { views[base] }
        guard let old, let lastSequence = old.lock.withLock({ old.sequence(endingAt: end) }) else {
            return .failure(.invalidArgument)
        }
        let expectedHeaderGeneration = old.lock.withLock { old.headerGeneration }
        switch file.switchOver(from: base, lastSequence: lastSequence, expectedHeaderGeneration: expectedHeaderGeneration) {
        case .failure(let error): return .failure(error)
        case .success(let view):
            lock.withLock {
                staging[source] = nil
                views = views.filter { $0.key > view.generation }
                views[view.generation] = view
            }
            return .success(())
        }
    }

    /// A shared vault has one name: nothing to move.
    public func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError> {
        .failure(.invalidArgument)
    }

    /// Creating a shared vault is one transaction: it needs no staging.
    public var stagesNewFiles: Bool { false }

    public func remove(_ path: String) -> Result<Void, SystemError> {
        guard let file = lock.withLock({ staging.removeValue(forKey: path) }) else {
            // The vault itself is dropped with the database's tools, never by the engine.
            return .failure(path == self.path ? .permissionDenied : .noSuchFileOrDirectory)
        }
        return file.discardStaged()
    }

    public func syncDirectory(containing path: String) -> Result<Void, SystemError> { .success(()) }

    public func identity(of path: String) -> Result<FileIdentity, SystemError> {
        guard path == self.path else { return .failure(.noSuchFileOrDirectory) }
        do throws(CofferError) {
            guard let state = try backend.state() else { return .failure(.noSuchFileOrDirectory) }
            return .success(FileIdentity(device: 0, inode: state.logGeneration))
        } catch {
            return .failure(SystemError(error))
        }
    }

    /// A compaction's leftovers are other log generations; the next switch deletes them, and
    /// no instance may remove one that another instance is still writing.
    public func siblings(of path: String) -> Result<[String], SystemError> { .success([]) }
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

    /// The sequence number of the frame that ends at `offset` (0 at the log start).
    func sequence(endingAt offset: UInt64) -> UInt64? {
        if offset == FormatConstants.logStartOffset { return 0 }
        if offset == end { return lastSequence }
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low < starts.count && starts[low] == offset ? UInt64(low) : nil
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
                let fetched = try backend.frames(
                    logGeneration: generation, after: lastSequence, limit: Self.fetchLimit(buffer.count - written))
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
            starts[Int(sequence) - 1] + UInt64(frame.bytes.count) == (sequence < lastSequence ? starts[Int(sequence)] : end)
        else { throw Self.gap(after: sequence - 1) }
        cached = fetched.prefix { $0.sequence <= lastSequence }
        return frame.bytes
    }

    /// Frames to fetch for `bytes` more bytes: records are a few hundred bytes.
    private static func fetchLimit(_ bytes: Int) -> Int { min(max(bytes / 256, 4), 4096) }

    private static func gap(after sequence: UInt64) -> CofferError {
        CofferError(.corrupted, "The shared log's frames changed or have a gap after sequence \(sequence).", sequence: sequence + 1)
    }
}

/// A handle on a shared vault: its log as the storage layer's file, or a compaction's new
/// log (staging), or a vault being created.
final class SharedLogFile: StorageFile, @unchecked Sendable {
    private enum Kind {
        case creating
        case log
        case staging(base: UInt64)
    }

    private let storage: SharedLogStorage
    private let lock = Lock()
    private var kind: Kind
    private var view: SharedLogView
    private var closed = false
    /// Header bytes written and not synced yet (a staging log keeps them until its switch).
    private var pendingHeader: [UInt8]?
    /// Frames written and not synced yet, and bytes of a frame not complete yet.
    private var pendingFrames: [SharedFrame] = []
    private var pendingBytes = 0
    private var partialFrame: [UInt8] = []

    /// Staging sends its frames in pieces this large: a compaction's memory stays bounded.
    private static let stageBytes = 4 << 20

    init(storage: SharedLogStorage, view: SharedLogView) {
        self.storage = storage
        self.view = view
        self.kind = .log
    }

    init(storage: SharedLogStorage, creating: Void) {
        self.storage = storage
        self.view = SharedLogView(generation: 1, headerGeneration: 0)
        self.kind = .creating
    }

    init(storage: SharedLogStorage, staging view: SharedLogView, base: UInt64) {
        self.storage = storage
        self.view = view
        self.kind = .staging(base: base)
    }

    var stagingBase: UInt64? {
        lock.withLock {
            if case .staging(let base) = kind { return base }
            return nil
        }
    }

    private var backend: any SharedLogBackend { storage.backend }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        lock.withLock { () -> Result<Int, SystemError> in
            guard !closed else { return .failure(.badFileDescriptor) }
            let view = self.view
            return view.lock.withLock { () -> Result<Int, SystemError> in
                do throws(CofferError) {
                    var written = 0
                    if offset < FormatConstants.logStartOffset {
                        let header = try currentHeader(view)
                        let count = min(buffer.count, header.count - Int(offset))
                        header.withUnsafeBytes { source in
                            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(offset)..<Int(offset) + count]))
                        }
                        written = count
                    }
                    if written < buffer.count {
                        written += try view.read(
                            into: UnsafeMutableRawBufferPointer(rebasing: buffer[written...]),
                            at: offset + UInt64(written), from: backend)
                    }
                    return .success(written)
                } catch {
                    return .failure(SystemError(error))
                }
            }
        }
    }

    /// The header bytes this handle reads: its own before a switch, else the vault's.
    private func currentHeader(_ view: SharedLogView) throws(CofferError) -> [UInt8] {
        if case .log = kind {
            if let header = view.header { return header }
            guard let state = try backend.state() else { throw CofferError(.notFound, "The shared vault no longer exists.") }
            guard state.logGeneration == view.generation else {
                throw SystemError.superseded.cofferError("Reading the shared vault's header")
            }
            view.adoptHeader(state.header, generation: state.headerGeneration)
            return state.header
        }
        return pendingHeader ?? [UInt8](repeating: 0, count: Int(FormatConstants.logStartOffset))
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SystemError> {
        lock.withLock { () -> Result<Void, SystemError> in
            guard !closed else { return .failure(.badFileDescriptor) }
            var remaining = bytes[...]
            var position = offset
            if position < FormatConstants.logStartOffset {
                let count = min(remaining.count, Int(FormatConstants.logStartOffset - position))
                var header: [UInt8]
                if let pending = pendingHeader {
                    header = pending
                } else if case .log = kind {
                    switch view.lock.withLock({ () -> Result<[UInt8], CofferError> in
                        Result { () throws(CofferError) in try currentHeader(view) }
                    }) {
                    case .failure(let error): return .failure(SystemError(error))
                    case .success(let current): header = current
                    }
                } else {
                    header = [UInt8](repeating: 0, count: Int(FormatConstants.logStartOffset))
                }
                header.replaceSubrange(Int(position)..<Int(position) + count, with: remaining.prefix(count))
                pendingHeader = header
                remaining = remaining.dropFirst(count)
                position += UInt64(count)
            }
            guard !remaining.isEmpty else { return .success(()) }
            // Frames only ever go at the end of the log.
            let expected = view.lock.withLock { view.end } + UInt64(pendingBytes + partialFrame.count)
            guard position == expected else { return .failure(position < expected ? .conflict : .invalidArgument) }
            partialFrame += remaining
            while partialFrame.count >= FormatConstants.frameHeaderBytes {
                guard case .success(let header) = partialFrame.withUnsafeBytes({ FrameHeader.decode($0) }) else {
                    return .failure(.invalidArgument)
                }
                guard partialFrame.count >= header.frameBytes else { break }
                pendingFrames.append(SharedFrame(sequence: header.sequence, bytes: Array(partialFrame[..<header.frameBytes])))
                pendingBytes += header.frameBytes
                partialFrame.removeFirst(header.frameBytes)
            }
            if case .staging = kind, pendingBytes >= Self.stageBytes { return stagePending() }
            return .success(())
        }
    }

    /// Sends a staging log's pending frames. Holds `lock`.
    private func stagePending() -> Result<Void, SystemError> {
        guard !pendingFrames.isEmpty else { return .success(()) }
        let frames = pendingFrames
        pendingFrames = []
        pendingBytes = 0
        do throws(CofferError) {
            guard try backend.stage(logGeneration: view.generation, frames: frames) else { return .failure(.conflict) }
        } catch {
            return .failure(SystemError(error))
        }
        view.lock.withLock { view.extend(with: frames) }
        return .success(())
    }

    func size() -> Result<UInt64, SystemError> {
        lock.withLock { () -> Result<UInt64, SystemError> in
            guard !closed else { return .failure(.badFileDescriptor) }
            guard case .log = kind else {
                return .success(view.lock.withLock { view.end } + UInt64(pendingBytes + partialFrame.count))
            }
            return view.lock.withLock { () -> Result<UInt64, SystemError> in
                do throws(CofferError) {
                    let extent = try backend.extent(logGeneration: view.generation, after: view.lastSequence)
                    guard extent.logGeneration == view.generation else { return .failure(.superseded) }
                    if extent.headerGeneration != view.headerGeneration { view.header = nil }
                    let size = view.end + extent.frameBytes
                    try view.adopt(extent.frames)
                    guard view.end <= size else {
                        throw CofferError(.corrupted, "The shared log's frames are longer than its extent says.")
                    }
                    return .success(size)
                } catch {
                    return .failure(SystemError(error))
                }
            }
        }
    }

    func truncate(to size: UInt64) -> Result<Void, SystemError> {
        // Rows are written whole: a shared log has no torn tail to cut.
        lock.withLock { size == view.lock.withLock({ view.end }) && pendingFrames.isEmpty ? .success(()) : .failure(.invalidArgument) }
    }

    func sync() -> Result<Void, SystemError> {
        lock.withLock { () -> Result<Void, SystemError> in
            guard !closed else { return .failure(.badFileDescriptor) }
            guard partialFrame.isEmpty else { return .failure(.invalidArgument) }
            switch kind {
            case .creating: return syncCreation()
            case .staging: return stagePending()
            case .log: break
            }
            if let header = pendingHeader {
                pendingHeader = nil
                let expected = view.lock.withLock { view.headerGeneration }
                do throws(CofferError) {
                    guard try backend.replaceHeader(expectedGeneration: expected, header: header) else {
                        view.lock.withLock { view.header = nil }
                        return .failure(.conflict)
                    }
                } catch {
                    view.lock.withLock { view.header = nil }
                    return .failure(SystemError(error))
                }
                view.lock.withLock {
                    view.header = header
                    view.headerGeneration = expected + 1
                }
            }
            guard !pendingFrames.isEmpty else { return .success(()) }
            let frames = pendingFrames
            pendingFrames = []
            pendingBytes = 0
            do throws(CofferError) {
                guard try backend.append(logGeneration: view.generation, frames: frames) else { return .failure(.conflict) }
            } catch {
                return .failure(SystemError(error))
            }
            return view.lock.withLock { () -> Result<Void, SystemError> in
                // Another handle of this process may have read past the old end meanwhile;
                // the frames it found are these.
                if view.lastSequence < frames.last!.sequence {
                    guard view.lastSequence + 1 == frames.first!.sequence else { return .failure(.conflict) }
                    view.extend(with: frames)
                }
                return .success(())
            }
        }
    }

    /// Creates the vault from what `VaultStore.create` wrote: the header copies and the first
    /// frames. Holds `lock`.
    private func syncCreation() -> Result<Void, SystemError> {
        guard let header = pendingHeader,
            case .success(let decoded) = header.withUnsafeBytes({
                FileHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<FormatConstants.headerCopyBytes]))
            })
        else { return .failure(.invalidArgument) }
        let frames = pendingFrames
        do throws(CofferError) {
            guard try backend.create(vaultID: decoded.vaultID, header: header, frames: frames) else {
                return .failure(.fileExists)
            }
        } catch {
            return .failure(SystemError(error))
        }
        pendingHeader = nil
        pendingFrames = []
        pendingBytes = 0
        let created = storage.view(of: 1, headerGeneration: 1)
        created.lock.withLock {
            created.adoptHeader(header, generation: 1)
            if created.lastSequence == 0 { created.extend(with: frames) }
        }
        view = created
        kind = .log
        return .success(())
    }

    /// Switches the vault to this staging log: it becomes the vault's log.
    func switchOver(from base: UInt64, lastSequence: UInt64, expectedHeaderGeneration: UInt64) -> Result<SharedLogView, SystemError> {
        lock.withLock { () -> Result<SharedLogView, SystemError> in
            guard case .staging = kind, let header = pendingHeader, partialFrame.isEmpty else { return .failure(.invalidArgument) }
            if case .failure(let error) = stagePending() { return .failure(error) }
            do throws(CofferError) {
                guard
                    try backend.switchLog(
                        from: base, lastSequence: lastSequence, to: view.generation, header: header,
                        expectedHeaderGeneration: expectedHeaderGeneration)
                else { return .failure(.conflict) }
            } catch {
                return .failure(SystemError(error))
            }
            pendingHeader = nil
            view.lock.withLock {
                view.header = header
                view.headerGeneration = expectedHeaderGeneration + 1
            }
            kind = .log
            return .success(view)
        }
    }

    /// Deletes a staging log's frames (an abandoned compaction).
    func discardStaged() -> Result<Void, SystemError> {
        lock.withLock { () -> Result<Void, SystemError> in
            guard case .staging = kind else { return .failure(.invalidArgument) }
            closed = true
            pendingFrames = []
            do throws(CofferError) { try backend.discard(logGeneration: view.generation) } catch { return .failure(SystemError(error)) }
            return .success(())
        }
    }

    func tryLockExclusive() -> Result<Bool, SystemError> { .success(true) }

    func identity() -> Result<FileIdentity, SystemError> {
        lock.withLock { .success(FileIdentity(device: 0, inode: view.generation)) }
    }

    func close() {
        lock.withLock {
            closed = true
            pendingFrames = []
            pendingHeader = nil
        }
    }
}
