import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferTestSupport
import Synchronization
import XCTest

@testable import CofferStorage

/// A shared log kept in memory: what PostgreSQL keeps, with the same conditional writes.
final class MemorySharedLog: SharedLogBackend, @unchecked Sendable {
    private let lock = Lock()
    private var row: SharedLogState?
    private var frames: [UInt64: [SharedFrame]] = [:]
    /// Log generation → the checkpoint kept for it and the record it covers.
    private var checkpoints: [UInt64: (sequence: UInt64, bytes: [UInt8])] = [:]
    /// Calls made, to check what a read costs.
    private(set) var frameQueries = 0
    /// Whether an instance holds the writer turn.
    private var turnHeld = false
    /// Turns taken, to check that writers take them.
    private(set) var turnsTaken = 0
    /// Which of the frames after the asked sequence ``extent(logGeneration:after:)`` returns
    /// with it: none unless a test says.
    var extentFrames: @Sendable ([SharedFrame]) -> [SharedFrame] = { _ in [] }

    var displayName: String { "memory" }

    func state() throws(CofferError) -> SharedLogState? { lock.withLock { row } }

    func beginWriterTurn() throws(CofferError) {
        while !lock.withLock({ () -> Bool in
            guard !turnHeld else { return false }
            turnHeld = true
            turnsTaken += 1
            return true
        }) {
            usleep(50)
        }
    }

    func endWriterTurn() { lock.withLock { turnHeld = false } }

    func follow(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> any SharedLogFollower {
        throw CofferError(.invalidInput, "the memory log tells no one of changes")
    }

    func extent(logGeneration: UInt64, after sequence: UInt64) throws(CofferError) -> SharedLogExtent {
        lock.lock()
        let current = row
        let later = (frames[logGeneration] ?? []).filter { $0.sequence > sequence }
        lock.unlock()
        guard let row = current else { throw CofferError(.notFound, "no vault") }
        return SharedLogExtent(
            logGeneration: row.logGeneration, headerGeneration: row.headerGeneration,
            frameBytes: UInt64(later.reduce(0) { $0 + $1.bytes.count }), frames: extentFrames(later))
    }

    func create(vaultID: [UInt8], header: [UInt8], frames first: [SharedFrame]) throws(CofferError) -> Bool {
        lock.withLock {
            guard row == nil else { return false }
            row = SharedLogState(vaultID: vaultID, header: header, headerGeneration: 1, logGeneration: 1)
            frames[1] = first
            return true
        }
    }

    /// Whether the row is a copy staged and not yet published: this model keeps one vault,
    /// which every instance reads, so only ``dropStaged()`` tells a staged row apart.
    private(set) var isStaged = false

    func createStaged(vaultID: [UInt8], header: [UInt8], frames first: [SharedFrame]) throws(CofferError) -> Bool {
        lock.withLock {
            if isStaged { (row, frames, isStaged) = (nil, [:], false) }
            guard row == nil else { return false }
            row = SharedLogState(vaultID: vaultID, header: header, headerGeneration: 1, logGeneration: 1)
            frames[1] = first
            isStaged = true
            return true
        }
    }

    func publishStaged() throws(CofferError) -> Bool {
        lock.withLock { isStaged = false }
        return true
    }

    func dropStaged() throws(CofferError) {
        lock.withLock {
            guard isStaged else { return }
            (row, frames, checkpoints, isStaged) = (nil, [:], [:], false)
        }
    }

    func frames(logGeneration: UInt64, after sequence: UInt64, limit: Int) throws(CofferError) -> [SharedFrame] {
        lock.withLock {
            frameQueries += 1
            return Array((frames[logGeneration] ?? []).filter { $0.sequence > sequence }.prefix(limit))
        }
    }

    private func continues(_ new: [SharedFrame], in generation: UInt64) -> Bool {
        new.first?.sequence == UInt64((frames[generation] ?? []).count) + 1
    }

    func append(logGeneration: UInt64, frames new: [SharedFrame]) throws(CofferError) -> Bool {
        lock.withLock {
            guard row?.logGeneration == logGeneration, continues(new, in: logGeneration) else { return false }
            frames[logGeneration, default: []] += new
            return true
        }
    }

    func stage(logGeneration: UInt64, frames new: [SharedFrame]) throws(CofferError) -> Bool {
        lock.withLock {
            guard let row, logGeneration > row.logGeneration, continues(new, in: logGeneration) else { return false }
            frames[logGeneration, default: []] += new
            return true
        }
    }

    func replaceHeader(expectedGeneration: UInt64, header: [UInt8]) throws(CofferError) -> Bool {
        lock.withLock {
            guard let current = row, current.headerGeneration == expectedGeneration else { return false }
            row = SharedLogState(
                vaultID: current.vaultID, header: header, headerGeneration: expectedGeneration + 1,
                logGeneration: current.logGeneration)
            return true
        }
    }

    func switchLog(
        from: UInt64, lastSequence: UInt64, to: UInt64, header: [UInt8], expectedHeaderGeneration: UInt64
    ) throws(CofferError) -> Bool {
        lock.withLock {
            guard let current = row, current.logGeneration == from,
                current.headerGeneration == expectedHeaderGeneration,
                UInt64((frames[from] ?? []).count) == lastSequence
            else { return false }
            row = SharedLogState(
                vaultID: current.vaultID, header: header, headerGeneration: expectedHeaderGeneration + 1,
                logGeneration: to)
            frames = frames.filter { $0.key == to }
            checkpoints = checkpoints.filter { $0.key == to }
            return true
        }
    }

    func discard(logGeneration: UInt64) throws(CofferError) {
        lock.withLock {
            frames[logGeneration] = nil
            checkpoints[logGeneration] = nil
        }
    }

    func checkpoint(logGeneration: UInt64) throws(CofferError) -> [UInt8]? {
        lock.withLock { checkpoints[logGeneration]?.bytes }
    }

    func writeCheckpoint(_ bytes: [UInt8], logGeneration: UInt64, sequence: UInt64) throws(CofferError) -> Bool {
        lock.withLock {
            guard row?.logGeneration == logGeneration, (checkpoints[logGeneration]?.sequence ?? 0) < sequence else {
                return false
            }
            checkpoints[logGeneration] = (sequence, bytes)
            return true
        }
    }

    /// The vault's bytes as a file would hold them.
    var fileBytes: [UInt8] {
        lock.withLock { (row?.header ?? []) + (frames[row?.logGeneration ?? 0] ?? []).flatMap(\.bytes) }
    }
}

/// The log device over a shared log (FORMAT.md §13): reads at any offset, appends that
/// conflict, header compare-and-swap, a compaction's switch, and a handle left on a replaced log.
final class SharedLogStorageTests: XCTestCase {
    let path = "memory://vault"

    func makeStore(_ backend: MemorySharedLog) throws -> VaultStore {
        try VaultStore.create(
            path: path, secret: Fixture.secret, cost: .interactive,
            options: .init(storage: SharedLogStorage(backend: backend, path: path)))
    }

    func open(_ backend: MemorySharedLog, readOnly: Bool = false) throws -> VaultStore {
        try VaultStore.open(
            path: path, secret: Fixture.secret,
            options: .init(storage: SharedLogStorage(backend: backend, path: path), readOnly: readOnly))
    }

    func testReadsAtAnyOffsetSeeTheFileTheLogWouldBe() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        let backend = MemorySharedLog()
        let store = try makeStore(backend)
        for number in 0..<200 {
            let size = Int(generator.next() % 3000)
            _ = try store.append([SecureBytes(copying: [UInt8](repeating: UInt8(number % 251), count: size))])
        }
        let expected = backend.fileBytes
        XCTAssertEqual(UInt64(expected.count), store.logEnd, "seed \(seed)")
        let reader = try open(backend, readOnly: true)
        XCTAssertEqual(reader.head, store.head, "seed \(seed)")
        let log = try XCTUnwrap(try SharedLogStorage(backend: backend, path: path).openLog(path, readOnly: true).get())
        for _ in 0..<300 {
            let offset = generator.next() % UInt64(expected.count + 100)
            let count = Int(generator.next() % 9000)
            let read = try log.read(count: count, at: offset).get()
            let start = Int(min(offset, UInt64(expected.count)))
            XCTAssertEqual(
                read, Array(expected[start..<min(start + count, expected.count)]),
                "offset \(offset) count \(count) seed \(seed)")
        }
    }

    /// F-SHARED-CHECKPOINT at the storage level: the checkpoint is kept for the log generation
    /// the store reads, the next open resumes from it and scans only what follows, and one
    /// covering less than the one kept is not kept.
    func testACheckpointIsKeptForTheGenerationAndTheNextOpenResumesFromIt() throws {
        let backend = MemorySharedLog()
        let first = try makeStore(backend)
        defer { first.close() }
        let behind = try open(backend)
        defer { behind.close() }
        for number in 0..<300 { _ = try first.append([Fixture.payload("before \(number)")]) }
        let state = try XCTUnwrap(first.checkpointState(through: first.head))
        try first.writeCheckpoint(state, index: [1, 2, 3])
        let kept = try XCTUnwrap(try backend.checkpoint(logGeneration: 1))
        // A store that has not caught up covers less: its checkpoint is not kept.
        try behind.writeCheckpoint(try XCTUnwrap(behind.checkpointState(through: behind.head)), index: [4])
        XCTAssertEqual(try backend.checkpoint(logGeneration: 1), kept)
        _ = try first.append([Fixture.payload("after")])

        var options = VaultStore.Options(storage: SharedLogStorage(backend: backend, path: path))
        let restored = Mutex<[UInt8]>([])
        options.restoreIndex = { index, arrival, _ in
            guard arrival.complete() else { return false }
            restored.withLock { $0 = Array(index) }
            return true
        }
        var scanned: [String] = []
        let queries = backend.frameQueries
        let reopened = try VaultStore.open(path: path, secret: Fixture.secret, options: options) { record in
            scanned.append(String(decoding: record.payload!.withUnsafeBytes { Array($0) }, as: UTF8.self))
        }
        defer { reopened.close() }
        XCTAssertEqual(reopened.recovery.checkpoint, .resumed(sequence: state.sequence))
        XCTAssertEqual(restored.withLock { $0 }, [1, 2, 3])
        XCTAssertEqual(scanned, ["after"])
        // The frames before the record it follows come in a few large fetches, not four at a time.
        XCTAssertLessThanOrEqual(backend.frameQueries - queries, 3)
        XCTAssertEqual(reopened.head, first.head)
    }

    func testASecondWriterConflictsAndCatchesUp() throws {
        let backend = MemorySharedLog()
        let first = try makeStore(backend)
        let second = try open(backend)
        _ = try first.append([Fixture.payload("one")])
        XCTAssertThrowsCode(.conflict, try second.append([Fixture.payload("two")]))
        // Nothing of the refused append landed, and the writer is not stopped.
        XCTAssertEqual(backend.fileBytes.count, Int(first.logEnd))
        var seen: [String] = []
        XCTAssertEqual(
            try second.catchUp {
                seen.append(String(decoding: $0.payload!.withUnsafeBytes { Array($0) }, as: UTF8.self))
            }, 1)
        XCTAssertEqual(seen, ["one"])
        XCTAssertEqual(second.head, first.head)
        _ = try second.append([Fixture.payload("two")])
        XCTAssertEqual(try first.catchUp { _ in }, 1)
        XCTAssertEqual(first.head, second.head)
    }

    /// A backend that returns frames with the extent (PostgreSQL does when they are few) saves
    /// the catch-up a second read; frames that do not follow the known ones are an error, not
    /// a trap.
    func testFramesReadWithTheExtentServeTheCatchUp() throws {
        let backend = MemorySharedLog()
        let first = try makeStore(backend)
        let second = try open(backend)
        _ = try first.append([Fixture.payload("one")])
        _ = try first.append([Fixture.payload("two")])
        backend.extentFrames = { $0 }
        let queries = backend.frameQueries
        XCTAssertEqual(try second.catchUp { _ in }, 2)
        XCTAssertEqual(second.head, first.head)
        XCTAssertEqual(backend.frameQueries, queries, "the catch-up read the frames again")

        _ = try first.append([Fixture.payload("three")])
        _ = try first.append([Fixture.payload("four")])
        backend.extentFrames = { Array($0.dropFirst()) }
        let head = second.head
        // The backend's error keeps its code through the storage layer: a gap is corruption,
        // not an I/O error.
        XCTAssertThrowsCode(.corrupted, try second.catchUp { _ in })
        XCTAssertEqual(second.head, head)
    }

    /// A file system's EAGAIN is an I/O error, never a shared log's conflict (which is an
    /// outcome, ``LogWriteOutcome/conflict``, not an error); a replaced log and a backend's
    /// errors are no errno.
    func testAnErrnoIsNeverASharedLogOutcome() {
        XCTAssertEqual(SystemError(EAGAIN).cofferError("Writing").code, .io(errno: EAGAIN))
        XCTAssertNotEqual(SystemError(ESTALE), .superseded)
        XCTAssertEqual(SystemError.superseded.cofferError("Reading").code, .conflict)
        let gap = SystemError(CofferError(.corrupted, "a gap", sequence: 7)).cofferError("Reading")
        XCTAssertEqual(gap.code, .corrupted)
        XCTAssertEqual(gap.sequence, 7)
        XCTAssertEqual(SystemError(CofferError(.io(errno: ECONNRESET), "lost")).number, ECONNRESET)
    }

    func testKeyslotChangesFromTwoWritersBothLand() throws {
        let backend = MemorySharedLog()
        let first = try makeStore(backend)
        let second = try open(backend)
        try first.addKeyslot(.keyFile(Fixture.otherKeyFile), cost: .interactive)
        // The second's header is behind: the compare-and-swap fails, it reads the header in
        // force and makes its change on it.
        try second.addKeyslot(.passphrase(Fixture.payload("passphrase")), cost: .interactive)
        XCTAssertEqual(second.keyslots.count, 3)
        let reopened = try VaultStore.open(
            path: path, secret: .keyFile(Fixture.otherKeyFile),
            options: .init(storage: SharedLogStorage(backend: backend, path: path)))
        XCTAssertEqual(reopened.keyslots.map(\.id), [1, 2, 3])
    }

    /// A secret is tried on the slots before a writer's turn is taken
    /// (`refuseSecretASlotHolds`), and the change tries only what that check did not: a slot
    /// another instance added in between, or every slot when the check was of another secret.
    func testAKeyslotCheckMadeBeforeTheChangeMissesNoSlot() throws {
        let backend = MemorySharedLog()
        let first = try makeStore(backend)
        let second = try open(backend)
        let passphrase = Keyslot.Secret.passphrase(Fixture.payload("passphrase"))
        let checked = try first.refuseSecretASlotHolds(passphrase)
        try second.addKeyslot(passphrase, cost: .minimum)
        XCTAssertThrowsCode(.invalidInput, try first.addKeyslot(passphrase, cost: .minimum, checked: checked))
        XCTAssertThrowsCode(.invalidInput, try first.refuseSecretASlotHolds(passphrase))
        let another = try first.refuseSecretASlotHolds(.passphrase(Fixture.payload("another")))
        XCTAssertThrowsCode(.invalidInput, try first.addKeyslot(passphrase, cost: .minimum, checked: another))
        XCTAssertThrowsCode(.invalidInput, try first.replaceKeyslot(id: 1, with: passphrase, checked: another))
        XCTAssertThrowsCode(.notFound, try first.refuseSecretASlotHolds(passphrase, besides: 9))
        XCTAssertEqual(first.keyslots.map(\.id), [1, 2])
    }

    func testACompactionSwitchesOnlyIfTheOldLogIsWhereItWasCopied() throws {
        let backend = MemorySharedLog()
        let store = try makeStore(backend)
        let other = try open(backend)
        _ = try store.append([Fixture.payload("one")])
        let (copiedHead, copiedEnd) = (store.head, store.logEnd)
        let target = try store.beginCompaction(reencrypt: true, newMasterKey: false)
        _ = try target.appendTransaction(Fixture.payload("one, compacted"))
        // Another instance appends after the copy: the switch is refused, the target kept.
        try other.catchUp { _ in }
        _ = try other.append([Fixture.payload("two")])
        XCTAssertThrowsCode(.conflict, try store.completeCompaction(target))
        // Caught up and copied, it switches.
        try store.catchUp { _ in }
        var carried = 0
        _ = try store.copyAcknowledged(after: copiedHead, endingAt: copiedEnd, into: target) { _, _, _ in carried += 1 }
        XCTAssertEqual(carried, 1)
        let compacted = try store.completeCompaction(target)
        XCTAssertEqual(compacted.head.sequence, target.outcome.head.sequence)
        // The other instance's handle reads a replaced log: it must reopen.
        XCTAssertThrowsCode(.conflict, try other.catchUp { _ in })
        let reopened = try other.reopen(options: other.options)
        XCTAssertEqual(reopened.head, compacted.head)
        XCTAssertEqual(backend.fileBytes.count, Int(compacted.logEnd))
    }

    /// A checkpoint taken from a log generation that another instance's compaction replaced
    /// is kept for no generation, even once this process knows the new one (a reopen on the
    /// same storage): never under the new generation's row, where readers would refuse it and
    /// it would hold off the right one.
    func testACheckpointOfAReplacedGenerationIsKeptForNone() throws {
        let backend = MemorySharedLog()
        let store = try makeStore(backend)
        let other = try open(backend)
        for number in 0..<3 { _ = try store.append([Fixture.payload("record \(number)")]) }
        try other.catchUp { _ in }
        let taken = try XCTUnwrap(other.checkpointState(through: other.head))
        let target = try store.beginCompaction(reencrypt: false, newMasterKey: false)
        _ = try store.completeCompaction(target)
        let current = try XCTUnwrap(try backend.state()).logGeneration
        let reopened = try other.reopen(options: other.options)
        defer { reopened.close() }
        try other.writeCheckpoint(taken, index: [1])
        XCTAssertNil(try backend.checkpoint(logGeneration: current))
        XCTAssertNil(try backend.checkpoint(logGeneration: 1))
        // The reopened store's own checkpoint is kept for the new generation.
        try reopened.writeCheckpoint(try XCTUnwrap(reopened.checkpointState(through: reopened.head)), index: [2])
        XCTAssertNotNil(try backend.checkpoint(logGeneration: current))
    }

    /// A record read from a log that another instance's compaction replaced, and deleted, is
    /// missing there: that is the log replaced (reopen, `.conflict`), not a corrupted one.
    func testAFrameMissingFromAReplacedLogIsAConflictNotCorruption() throws {
        let backend = MemorySharedLog()
        let store = try makeStore(backend)
        let other = try open(backend)
        for number in 0..<5 { _ = try store.append([Fixture.payload("record \(number)")]) }
        XCTAssertEqual(try other.catchUp { _ in }, 5)
        let target = try store.beginCompaction(reencrypt: false, newMasterKey: false)
        _ = try target.appendTransaction(Fixture.payload("record 4"))
        _ = try store.completeCompaction(target)
        // The first key epoch is no longer among the frames the other instance read last.
        XCTAssertThrowsCode(.conflict, try other.readRecord(sequence: 1, offset: FormatConstants.logStartOffset))
        XCTAssertThrowsCode(.conflict, try other.catchUp { _ in })
    }

    /// A vault larger than one piece of a copy (4 MiB) reaches a shared log as its creation
    /// and then appends, and comes back to a file byte for byte.
    func testACopyInSeveralPiecesToASharedLogAndBackIsByteIdentical() throws {
        let disk = SimulatedDisk()
        let source = try VaultStore.create(
            path: "/d/v", secret: Fixture.secret, cost: .interactive, options: .init(storage: disk))
        for number in 0..<120 {
            _ = try source.append([SecureBytes(copying: [UInt8](repeating: UInt8(number), count: 50_000))])
        }
        let head = source.head
        let logEnd = Int(source.logEnd)
        source.close()
        // The log, without the free space after it (F-FREE), which is not copied.
        let original = Array(try disk.readScratchFile("/d/v").get().prefix(logEnd))
        XCTAssertGreaterThan(original.count, 4 << 20, "the copy takes more than one piece")
        let backend = MemorySharedLog()
        let shared = SharedLogStorage(backend: backend, path: path)
        XCTAssertEqual(try VaultStore.copy(from: "/d/v", on: disk, to: path, on: shared).head, head)
        XCTAssertEqual(backend.fileBytes, original)
        XCTAssertEqual(try VaultStore.copy(from: path, on: shared, to: "/d/back", on: disk).head, head)
        let back = try disk.readScratchFile("/d/back").get()
        XCTAssertEqual(Array(back.prefix(logEnd)), original)
        XCTAssertTrue(back.dropFirst(logEnd).allSatisfy { $0 == 0 }, "only free space after the log")
        XCTAssertThrowsCode(.alreadyExists, try VaultStore.copy(from: "/d/v", on: disk, to: path, on: shared))
    }

    func testACompactionDoesNotUndoAnotherInstancesKeyslotChange() throws {
        let backend = MemorySharedLog()
        let store = try makeStore(backend)
        let other = try open(backend)
        let target = try store.beginCompaction(reencrypt: false, newMasterKey: false)
        try other.addKeyslot(.keyFile(Fixture.otherKeyFile), cost: .interactive)
        try store.catchUp { _ in }
        XCTAssertThrowsCode(.conflict, try store.completeCompaction(target))
        XCTAssertTrue(target.isAbandoned)
        let reopened = try VaultStore.open(
            path: path, secret: .keyFile(Fixture.otherKeyFile),
            options: .init(storage: SharedLogStorage(backend: backend, path: path)))
        XCTAssertEqual(reopened.keyslots.count, 2)
    }
}
