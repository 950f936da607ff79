import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferTestSupport
import XCTest

@testable import CofferStorage

/// The checkpoint beside a log at the storage level (F-CHECKPOINT): verify compares every
/// part of it with what the log gives, a checkpoint newer than a reader's view of the log is
/// not a problem, a file of another kind under its name is never replaced, and one written
/// under `.unsafeNoSync` covers only records on disk.
final class CheckpointStoreTests: XCTestCase {
    private let path = "/d/v"
    /// The index bytes the checkpoints here carry: opaque to the store.
    private let index: [UInt8] = [1, 2, 3]

    /// A store with two key epochs and transactions under both, everything synced.
    private func makeStore(
        on disk: SimulatedDisk, durability: Durability = .synchronous
    ) throws -> VaultStore {
        let store = try VaultStore.create(
            path: path, secret: Fixture.secret, cost: .interactive,
            options: .init(storage: disk, durability: durability))
        for number in 0..<3 { _ = try store.append([Fixture.payload("first epoch \(number)")]) }
        _ = try store.rotateDataKey()
        for number in 0..<2 { _ = try store.append([Fixture.payload("second epoch \(number)")]) }
        return store
    }

    private func verify(_ disk: SimulatedDisk) throws -> VerificationReport {
        try VaultStore.verify(path: path, secret: Fixture.secret, storage: disk, indexEncoding: { self.index })
    }

    func testVerifyComparesEveryPartOfTheCheckpointWithTheLog() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk)
        defer { store.close() }
        let state = try XCTUnwrap(store.checkpointState(through: store.head))
        try store.writeCheckpoint(state, index: index)
        let clean = try verify(disk)
        XCTAssertTrue(clean.isClean, "\(clean.problems)")
        XCTAssertEqual(clean.checkpointSequence, state.sequence)

        func expectDifference(_ part: String, _ alter: (inout Checkpoint.Contents) -> Void) throws {
            var contents = state.contents
            alter(&contents)
            try store.writeCheckpoint(CheckpointState(position: state.position, contents: contents), index: index)
            let report = try verify(disk)
            XCTAssertEqual(report.problems.map(\.kind), [.checkpoint], part)
            XCTAssertTrue(report.problems.first?.detail.contains(part) ?? false, "\(part): \(report.problems)")
        }
        // Each part altered alone; the checkpoint still passes the checks an open makes.
        try expectDifference("the record counts") { $0.recordsByType[.transaction]! += 1 }
        try expectDifference("the record counts") { $0.bytesByType[.keyEpoch]! -= 1 }
        try expectDifference("the transactions by epoch") { $0.transactionsByEpoch[1]! -= 1 }
        try expectDifference("the key-epoch records") { $0.epochs.removeFirst() }
        try expectDifference("the chain hash before record 2") { $0.chains[32] ^= 1 }
        try store.writeCheckpoint(state, index: index)
        let report = try VaultStore.verify(path: path, secret: Fixture.secret, storage: disk, indexEncoding: { [9] })
        XCTAssertEqual(report.problems.map(\.kind), [.checkpoint])
        XCTAssertTrue(report.problems.first?.detail.contains("the index") ?? false, "\(report.problems)")
    }

    /// A reader that read where the log ends before a writer appended and wrote a checkpoint
    /// finds one past its view: newer, not wrong. One past where the log ends now is wrong.
    func testACheckpointPastTheReadersViewOfTheLogIsNewerNotWrong() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk)
        defer { store.close() }
        let before = store.logEnd
        _ = try store.append([Fixture.payload("after the reader looked")])
        try store.writeCheckpoint(try XCTUnwrap(store.checkpointState(through: store.head)), index: index)
        func load(fileSize: UInt64) -> Result<CheckpointResumption, CheckpointProblem>? {
            VaultStore.loadCheckpoint(
                path: path, storage: disk, log: store.log, header: store.headerState.header, masterKey: store.masterKey,
                fileSize: fileSize)
        }
        guard case .failure(let newer)? = load(fileSize: before) else {
            return XCTFail("a checkpoint past the view was used")
        }
        XCTAssertTrue(newer.isNewer, newer.reason)
        guard case .success? = load(fileSize: store.logEnd) else { return XCTFail("the checkpoint did not load") }

        let logEnd = Int(store.logEnd)
        store.close()
        // The last record cut short, and the free space after it (F-FREE) with it.
        let bytes = Array(try disk.readScratchFile(path).get().prefix(logEnd - 10))
        disk.write(path: path, bytes: bytes, durable: true)
        let reopened = try VaultStore.open(
            path: path, secret: Fixture.secret, options: .init(storage: disk, readOnly: true))
        defer { reopened.close() }
        // The file as cut, and as long as free space after the cut would make it (F-FREE):
        // long enough, but the record the checkpoint follows is not in it.
        let alignment = FormatConstants.freeSpaceAlignment
        for fileSize in [bytes.count, (bytes.count / alignment + 1) * alignment] {
            guard
                case .failure(let past)? = VaultStore.loadCheckpoint(
                    path: path, storage: disk, log: reopened.log, header: reopened.headerState.header,
                    masterKey: reopened.masterKey, fileSize: UInt64(fileSize))
            else { return XCTFail("a checkpoint past the log's end was used (a file of \(fileSize) bytes)") }
            XCTAssertFalse(past.isNewer, past.reason)
        }
    }

    /// `<vault>.checkpoint` naming a file Coffer did not write: never replaced nor removed.
    func testAFileOfAnotherKindUnderTheCheckpointsNameIsLeftAlone() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk)
        defer { store.close() }
        let checkpointPath = path + ".checkpoint"
        let foreign = Array("notes an operator keeps\n".utf8)
        try disk.overwriteScratchFile(checkpointPath, with: foreign).get()
        let state = try XCTUnwrap(store.checkpointState(through: store.head))
        XCTAssertThrowsError(try store.writeCheckpoint(state, index: index)) { error in
            XCTAssertEqual((error as? CofferError)?.code, .alreadyExists)
            XCTAssertTrue((error as? CofferError)?.message.contains("is not an index checkpoint") ?? false, "\(error)")
        }
        try disk.removeCheckpoint(of: path)
        XCTAssertEqual(try disk.readScratchFile(checkpointPath).get(), foreign)
        // An empty file holds nothing to lose; a checkpoint is replaced as before.
        try disk.overwriteScratchFile(checkpointPath, with: []).get()
        try store.writeCheckpoint(state, index: index)
        try store.writeCheckpoint(state, index: index)
        try disk.removeCheckpoint(of: path)
        XCTAssertFalse(disk.paths().contains(checkpointPath))
    }

    /// Under `.unsafeNoSync` the records a checkpoint covers are synced before it is written:
    /// a crash that loses everything unsynced leaves a log the checkpoint is valid for.
    func testACheckpointUnderUnsafeNoSyncCoversOnlyRecordsOnDisk() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk, durability: .unsafeNoSync)
        let state = try XCTUnwrap(store.checkpointState(through: store.head))
        try store.writeCheckpoint(state, index: index)
        var generator = SeededGenerator(seed: 11)
        disk.crash(mode: .loseAllUnsynced, using: &generator)
        var options = VaultStore.Options(storage: disk, readOnly: true)
        options.restoreIndex = { _, arrival, _ in arrival.complete() }
        let reopened = try VaultStore.open(path: path, secret: Fixture.secret, options: options) { _ in }
        defer { reopened.close() }
        XCTAssertEqual(reopened.recovery.checkpoint, .resumed(sequence: state.sequence), "seed 11")
    }

    /// The index of a checkpoint many chunks long, read with the opening as its reader's
    /// arrival while the second thread opens it: every byte is the one written, read in reads
    /// of every size across the chunks' ends. With a byte changed in its third chunk, the
    /// reader reads the index up to that chunk, never a byte of it, and the checkpoint is
    /// ignored as one that does not authenticate.
    func testAnIndexManyChunksLongIsReadAsItsChunksAuthenticate() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk)
        defer { store.close() }
        let state = try XCTUnwrap(store.checkpointState(through: store.head))
        var generator = SeededGenerator(seed: 41)
        let large = (0..<(Checkpoint.chunkBytes * 5 + 1234)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try store.writeCheckpoint(state, index: large)

        func open() throws -> (VaultStore, read: [UInt8], completed: Bool) {
            let read = Locked<([UInt8], Bool)>(([], false))
            var options = VaultStore.Options(storage: disk, readOnly: true)
            options.restoreIndex = { bytes, arrival, _ in
                var generator = SeededGenerator(seed: 42)
                let bytesRead = bytes.withUnsafeBytes { raw -> [UInt8] in
                    var reader = ByteReader(raw, arrival: arrival)
                    var bytesRead: [UInt8] = []
                    while reader.remaining > 0 {
                        let count = min(reader.remaining, Int.random(in: 0...9_000, using: &generator))
                        guard let piece = reader.readBytes(count) else { return bytesRead }
                        bytesRead += piece
                    }
                    XCTAssertNil(reader.readBytes(1), "seed 42: a read past the end")
                    return bytesRead
                }
                let completed = arrival.complete()
                read.withLock { $0 = (bytesRead, completed) }
                return completed
            }
            let reopened = try VaultStore.open(path: path, secret: Fixture.secret, options: options) { _ in }
            let (bytesRead, completed) = read.withLock { $0 }
            return (reopened, bytesRead, completed)
        }

        let (reopened, bytesRead, completed) = try open()
        XCTAssertTrue(completed)
        XCTAssertTrue(bytesRead == large, "seeds 41 and 42: the index read as it arrived is not the one written")
        XCTAssertEqual(reopened.recovery.checkpoint, .resumed(sequence: state.sequence))
        reopened.close()

        var damaged = try XCTUnwrap(disk.contents(of: path + ".checkpoint"))
        let chunksStart = Checkpoint.headerBytes + 24
        damaged[chunksStart + 2 * Checkpoint.chunkBytes + 100] ^= 0x01
        disk.write(path: path + ".checkpoint", bytes: damaged, durable: true)
        let (refused, damagedRead, damagedCompleted) = try open()
        defer { refused.close() }
        XCTAssertFalse(damagedCompleted)
        XCTAssertLessThan(damagedRead.count, 2 * Checkpoint.chunkBytes, "a byte of the damaged chunk was read")
        XCTAssertGreaterThan(damagedRead.count, Checkpoint.chunkBytes, "the chunks before it were not read")
        XCTAssertTrue(damagedRead == Array(large.prefix(damagedRead.count)), "seed 42: what was read is not the index")
        XCTAssertEqual(refused.recovery.checkpoint, .ignored("\(Checkpoint.Problem.authentication)"))
    }

    /// A restoreIndex that keeps an index without asking whether the checkpoint completed, or
    /// after it answered false (a damaged second chunk), fails the open with `.invalidInput`
    /// instead of resuming from it.
    func testAnIndexKeptBeforeTheCheckpointCompletedFailsTheOpen() throws {
        let disk = SimulatedDisk()
        let store = try makeStore(on: disk)
        defer { store.close() }
        // Two chunks, so that the front decodes and the damage below is in the second.
        let large = [UInt8](repeating: 7, count: Checkpoint.chunkBytes + 100)
        try store.writeCheckpoint(try XCTUnwrap(store.checkpointState(through: store.head)), index: large)
        var options = VaultStore.Options(storage: disk, readOnly: true)
        options.restoreIndex = { _, _, _ in true }
        assertThrowsCoffer(.invalidInput) {
            _ = try VaultStore.open(path: path, secret: Fixture.secret, options: options) { _ in }
        }

        var damaged = try XCTUnwrap(disk.contents(of: path + ".checkpoint"))
        damaged[damaged.count - 1] ^= 1
        disk.write(path: path + ".checkpoint", bytes: damaged, durable: true)
        options.restoreIndex = { _, arrival, _ in
            _ = arrival.complete()
            return true
        }
        assertThrowsCoffer(.invalidInput) {
            _ = try VaultStore.open(path: path, secret: Fixture.secret, options: options) { _ in }
        }
    }
}
