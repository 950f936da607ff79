import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferTestSupport
import XCTest

@testable import CofferStorage

/// F-CREATE: a new vault, a copy and a salvage output appear under their names whole or not
/// at all, whatever call a crash follows and whatever the crash keeps of what was not synced.
final class StagedFileTests: XCTestCase {
    private let source = "/d/v"

    /// A vault with a few records on a simulated disk, everything synced.
    private func makeSource(_ disk: SimulatedDisk) throws {
        let store = try VaultStore.create(
            path: source, secret: Fixture.secret, cost: .interactive, options: .init(storage: disk))
        for number in 0..<3 { _ = try store.append([Fixture.payload(String(repeating: "r\(number)", count: 300))]) }
        store.close()
    }

    /// Runs `make` on a disk `prepare` set up, with a crash after every call of every kind
    /// `make` makes, under every crash mode, and hands each crashed disk to `check` with a
    /// description of the crash (its seed included).
    private func forEachCrash(
        prepare: (SimulatedDisk) throws -> Void, _ make: (SimulatedDisk) throws -> Void, seed: UInt64,
        minimumCrashes: Int, file: StaticString = #filePath, line: UInt = #line,
        check: (SimulatedDisk, String) throws -> Void
    ) throws {
        let counting = SimulatedDisk()
        try prepare(counting)
        let before = counting.callCounts()
        try make(counting)
        let calls = counting.callCounts()
        var generator = SeededGenerator(seed: seed)
        var crashes = 0
        for operation in SimulatedDisk.Operation.allCases where operation != .read && operation != .lock {
            // Calls are numbered from 0: those of `prepare` first, then those of `make`.
            for call in before[operation, default: 0]..<calls[operation, default: 0] {
                for mode in CrashMode.allCases {
                    let disk = SimulatedDisk()
                    try prepare(disk)
                    disk.armCrash(after: operation, atCall: call)
                    try? make(disk)
                    guard disk.isCrashPending else { continue }
                    crashes += 1
                    disk.crash(mode: mode, using: &generator)
                    try check(disk, "crash after \(operation) #\(call), \(mode), seed \(seed)")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(
            crashes, minimumCrashes, "the crashes never fired: the test tested nothing", file: file, line: line)
    }

    /// Runs `make` with a crash after every call it makes and checks `target` afterwards:
    /// absent, or a vault that opens (with the source's head, for a copy of it).
    private func assertWholeOrAbsent(
        _ target: String, copiesSource: Bool, seed: UInt64 = 7, _ make: (SimulatedDisk) throws -> Void,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        try forEachCrash(prepare: makeSource, make, seed: seed, minimumCrashes: 11, file: file, line: line) {
            disk, context in
            guard disk.exists(target) else { return }
            do {
                let opened = try VaultStore.open(
                    path: target, secret: Fixture.secret, options: .init(storage: disk, readOnly: true))
                defer { opened.close() }
                if copiesSource {
                    let original = try VaultStore.open(
                        path: source, secret: Fixture.secret, options: .init(storage: disk, readOnly: true))
                    defer { original.close() }
                    XCTAssertEqual(opened.head, original.head, context, file: file, line: line)
                }
            } catch {
                XCTFail("\(context): \(target) is there but does not open: \(error)", file: file, line: line)
            }
            XCTAssertFalse(
                disk.paths().contains { $0.hasPrefix(target) && $0 != target && !$0.contains(".partial-") },
                "\(context): \(disk.paths())", file: file, line: line)
        }
    }

    func testANewVaultIsWholeOrAbsent() throws {
        try assertWholeOrAbsent("/d/new", copiesSource: false) { disk in
            let store = try VaultStore.create(
                path: "/d/new", secret: Fixture.secret, cost: .interactive, options: .init(storage: disk))
            store.close()
        }
    }

    func testACopyIsWholeOrAbsent() throws {
        try assertWholeOrAbsent("/d/copy", copiesSource: true) { disk in
            _ = try VaultStore.copy(from: self.source, on: disk, to: "/d/copy", on: disk)
        }
    }

    func testASalvageOutputIsWholeOrAbsent() throws {
        try assertWholeOrAbsent("/d/saved", copiesSource: true) { disk in
            _ = try VaultStore.salvage(path: self.source, secret: Fixture.secret, output: "/d/saved", storage: disk)
        }
    }

    /// The name is never taken over: a file that appears under it meanwhile stays, and the
    /// creation fails with `.alreadyExists` leaving no temporary file.
    func testAStagedFileNeverReplacesWhatAppearedUnderItsName() throws {
        let disk = SimulatedDisk()
        let staged = try StagedFile.create("/d/x", on: disk).get()
        disk.write(path: "/d/x", bytes: [1, 2, 3], durable: true)
        XCTAssertThrowsCode(.alreadyExists, try staged.publish("x", taken: CofferError(.alreadyExists, "taken")))
        XCTAssertEqual(disk.contents(of: "/d/x"), [1, 2, 3])
        XCTAssertEqual(disk.paths(), ["/d/x"])
    }

    /// A whole-file write (exports, key files, head files): a new file is absent or whole, and
    /// a replacement leaves the old bytes or the new ones, whatever call a crash follows.
    func testAWholeFileWriteLeavesTheOldBytesOrTheNewOnes() throws {
        let (old, new): ([UInt8], [UInt8]) = (Array(repeating: 1, count: 700), Array(repeating: 2, count: 1300))
        for replacing in [false, true] {
            let write = { (disk: SimulatedDisk) throws in
                try StagedFile.write(new, to: "/d/out", on: disk, "the file /d/out", replacing: replacing)
            }
            let prepare = { (disk: SimulatedDisk) throws in
                if replacing { try StagedFile.write(old, to: "/d/out", on: disk, "the file /d/out", replacing: false) }
            }
            let uncrashed = SimulatedDisk()
            try prepare(uncrashed)
            try write(uncrashed)
            XCTAssertEqual(uncrashed.contents(of: "/d/out"), new)
            try forEachCrash(prepare: prepare, write, seed: 11, minimumCrashes: 6) { disk, context in
                let allowed: [[UInt8]?] = replacing ? [old, new] : [nil, new]
                XCTAssertTrue(allowed.contains(disk.contents(of: "/d/out")), "replacing \(replacing), \(context)")
            }
        }
    }

    /// On the real disk: the move gives the file its new name, and refuses a taken one,
    /// leaving both files as they were.
    func testMoveWithoutReplacingOnTheRealDisk() throws {
        let directory = TemporaryDirectory()
        let (source, target) = (directory.file("a"), directory.file("b"))
        Fixture.writeFile(source, [1])
        XCTAssertNoThrow(try PosixStorage().moveWithoutReplacing(source, to: target).get())
        XCTAssertEqual(Fixture.readFile(target), [1])
        XCTAssertFalse(PosixStorage().identity(of: source).isSuccess)
        Fixture.writeFile(source, [2])
        XCTAssertEqual(PosixStorage().moveWithoutReplacing(source, to: target).failure, .fileExists)
        XCTAssertEqual(Fixture.readFile(source), [2])
        XCTAssertEqual(Fixture.readFile(target), [1])
    }
}

extension Result {
    fileprivate var isSuccess: Bool { if case .success = self { true } else { false } }
    fileprivate var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}
