import CofferSimulation
import CofferStorage
import XCTest

final class SimulatedDiskTests: XCTestCase {
    private let seeds: Range<UInt64> = 0..<40

    // MARK: - Generator

    func testSeededGeneratorMatchesSplitMix64() {
        // Reference outputs of SplitMix64 for seed 0.
        var generator = SeededGenerator(seed: 0)
        XCTAssertEqual(generator.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(generator.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(generator.next(), 0x06C4_5D18_8009_454F)

        var first = SeededGenerator(seed: 7)
        var second = SeededGenerator(seed: 7)
        XCTAssertEqual((0..<100).map { _ in first.next() }, (0..<100).map { _ in second.next() })
    }

    // MARK: - File data and crashes

    func testSyncedBytesSurviveEveryCrashMode() throws {
        let synced = pattern(1000, from: 1)
        let unsynced = pattern(1500, from: 100)
        for mode in CrashMode.allCases {
            for seed in seeds {
                let disk = SimulatedDisk()
                let file = try disk.open("vault/log", mode: .createNew).get()
                try file.write(synced, at: 0).get()
                try file.sync().get()
                try disk.syncDirectory(containing: "vault/log").get()
                try file.write(unsynced, at: 1000).get()

                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                let after = try XCTUnwrap(disk.contents(of: "vault/log"), "mode \(mode) seed \(seed)")
                XCTAssertEqual(Array(after.prefix(1000)), synced, "mode \(mode) seed \(seed)")
                XCTAssertLessThanOrEqual(after.count, 2500, "mode \(mode) seed \(seed)")
                XCTAssertEqual(disk.durableContents(of: "vault/log"), after, "mode \(mode) seed \(seed)")
            }
        }
    }

    func testUnsyncedBytesVanishWhenAllUnsyncedIsLost() throws {
        let disk = SimulatedDisk()
        disk.write(path: "log", bytes: pattern(600, from: 1), durable: true)
        let file = try disk.open("log", mode: .readWrite).get()
        try file.write(pattern(100, from: 9), at: 0).get()
        try file.write(pattern(900, from: 3), at: 600).get()
        try file.truncate(to: 1200).get()
        XCTAssertEqual(disk.contents(of: "log")?.count, 1200)

        var generator = SeededGenerator(seed: 1)
        disk.crash(mode: .loseAllUnsynced, using: &generator)

        XCTAssertEqual(disk.contents(of: "log"), pattern(600, from: 1))
    }

    func testPrefixModeKeepsAPrefixOfWrites() throws {
        let chunks = (0..<4).map { pattern(100, from: UInt8(10 * $0 + 1)) }
        var keptCounts: Set<Int> = []
        for seed in seeds {
            let disk = SimulatedDisk()
            disk.write(path: "log", bytes: [], durable: true)
            let file = try disk.open("log", mode: .readWrite).get()
            for (index, chunk) in chunks.enumerated() { try file.write(chunk, at: UInt64(100 * index)).get() }

            var generator = SeededGenerator(seed: seed)
            disk.crash(mode: .keepRandomPrefixOfWrites, using: &generator)

            let after = try XCTUnwrap(disk.contents(of: "log"))
            let kept = after.count / 100
            XCTAssertEqual(after, Array(chunks.prefix(kept).joined()), "seed \(seed)")
            keptCounts.insert(kept)
        }
        XCTAssertEqual(keptCounts, [0, 1, 2, 3, 4])
    }

    func testSectorModesChangeOnlyBytesOfPendingWrites() throws {
        let synced = pattern(1024, from: 1)
        let rewrite = pattern(512, from: 77)
        let append = pattern(1024, from: 150)
        var sawGarbage = false
        for mode in [CrashMode.keepRandomSectors, .garbleUnsyncedSectors] {
            for seed in seeds {
                let disk = SimulatedDisk()
                disk.write(path: "log", bytes: synced, durable: true)
                let file = try disk.open("log", mode: .readWrite).get()
                try file.write(rewrite, at: 512).get()
                try file.write(append, at: 1024).get()

                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                let after = try XCTUnwrap(disk.contents(of: "log"))
                XCTAssertEqual(Array(after[0..<512]), Array(synced[0..<512]), "mode \(mode) seed \(seed)")
                XCTAssertTrue([1024, 1536, 2048].contains(after.count), "mode \(mode) seed \(seed)")
                let rewritten = Array(after[512..<1024])
                let isOldOrNew = rewritten == Array(synced[512..<1024]) || rewritten == rewrite
                if mode == .keepRandomSectors {
                    XCTAssertTrue(isOldOrNew, "seed \(seed)")
                    if after.count == 2048 {
                        // A later sector may survive without an earlier one: a hole of zeros.
                        let middle = Array(after[1024..<1536])
                        XCTAssertTrue(middle == Array(append[0..<512]) || middle == [UInt8](repeating: 0, count: 512))
                    }
                } else if !isOldOrNew {
                    sawGarbage = true
                }
            }
        }
        XCTAssertTrue(sawGarbage, "no seed garbled the rewritten sector")
    }

    // MARK: - Directory entries

    func testCreatedFileWithoutDirectorySyncCanVanish() throws {
        var outcomes: Set<Bool> = []
        for mode in CrashMode.allCases {
            for seed in seeds {
                let disk = SimulatedDisk()
                let file = try disk.open("vault/new", mode: .createNew).get()
                try file.write([1, 2, 3], at: 0).get()
                try file.sync().get()

                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                let exists = disk.exists("vault/new")
                if mode == .loseAllUnsynced { XCTAssertFalse(exists, "seed \(seed)") }
                if exists { XCTAssertEqual(disk.contents(of: "vault/new"), [1, 2, 3]) }
                outcomes.insert(exists)
            }
        }
        XCTAssertEqual(outcomes, [true, false])
    }

    func testCreatedFileWithDirectorySyncSurvives() throws {
        for mode in CrashMode.allCases {
            for seed in seeds {
                let disk = SimulatedDisk()
                let file = try disk.open("vault/new", mode: .createNew).get()
                try file.write([1, 2, 3], at: 0).get()
                try file.sync().get()
                try disk.syncDirectory(containing: "vault/new").get()

                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                XCTAssertEqual(disk.contents(of: "vault/new"), [1, 2, 3], "mode \(mode) seed \(seed)")
                XCTAssertEqual(disk.paths(), ["vault/new"])
            }
        }
    }

    func testRenameWithoutDirectorySyncMayBeUndone() throws {
        var outcomes: Set<[UInt8]> = []
        for mode in CrashMode.allCases {
            for seed in seeds {
                let disk = try diskWithRenamedReplacement(syncingDirectory: false)
                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                let header = try XCTUnwrap(disk.contents(of: "d/header"), "mode \(mode) seed \(seed)")
                if mode == .loseAllUnsynced { XCTAssertEqual(header, [1]) }
                // The rename is atomic: either the old file and the temporary both remain, or only the new one.
                XCTAssertEqual(disk.exists("d/header.tmp"), header == [1], "mode \(mode) seed \(seed)")
                outcomes.insert(header)
            }
        }
        XCTAssertEqual(outcomes, [[1], [2]])
    }

    func testRenameWithDirectorySyncSurvives() throws {
        for mode in CrashMode.allCases {
            for seed in seeds {
                let disk = try diskWithRenamedReplacement(syncingDirectory: true)
                var generator = SeededGenerator(seed: seed)
                disk.crash(mode: mode, using: &generator)

                XCTAssertEqual(disk.paths(), ["d/header"], "mode \(mode) seed \(seed)")
                XCTAssertEqual(disk.contents(of: "d/header"), [2], "mode \(mode) seed \(seed)")
            }
        }
    }

    func testRemoveWithoutDirectorySyncIsLostByACrash() throws {
        let disk = SimulatedDisk()
        disk.write(path: "old", bytes: [9], durable: true)
        try disk.remove("old").get()
        XCTAssertFalse(disk.exists("old"))
        XCTAssertEqual(disk.remove("old").failureValue, .noSuchFileOrDirectory)

        var generator = SeededGenerator(seed: 3)
        disk.crash(mode: .loseAllUnsynced, using: &generator)
        XCTAssertEqual(disk.contents(of: "old"), [9])
    }

    // MARK: - Handles

    func testOpenModes() throws {
        let disk = SimulatedDisk()
        XCTAssertEqual(disk.open("missing", mode: .readOnly).failureValue, .noSuchFileOrDirectory)
        XCTAssertEqual(disk.open("missing", mode: .readWrite).failureValue, .noSuchFileOrDirectory)
        _ = try disk.open("a", mode: .createNew).get()
        XCTAssertEqual(disk.open("a", mode: .createNew).failureValue, .fileExists)

        let reader = try disk.open("a", mode: .readOnly).get()
        XCTAssertEqual(reader.write([1], at: 0).failureValue, .badFileDescriptor)
        XCTAssertEqual(try reader.size().get(), 0)
    }

    func testReadsStopAtTheEndAndWritesPastItZeroFill() throws {
        let disk = SimulatedDisk()
        let file = try disk.open("a", mode: .createNew).get()
        try file.write([1, 2, 3], at: 5).get()
        XCTAssertEqual(try file.size().get(), 8)
        XCTAssertEqual(try file.read(count: 100, at: 0).get(), [0, 0, 0, 0, 0, 1, 2, 3])
        XCTAssertEqual(try file.read(count: 2, at: 6).get(), [2, 3])
        XCTAssertEqual(try file.read(count: 4, at: 50).get(), [])
        try file.truncate(to: 6).get()
        XCTAssertEqual(disk.contents(of: "a"), [0, 0, 0, 0, 0, 1])
        XCTAssertEqual(file.write([1], at: UInt64.max - 1).failureValue?.number, EFBIG)
    }

    func testHandleKeepsItsFileAfterRenameOverAndRemove() throws {
        let disk = SimulatedDisk()
        disk.write(path: "a", bytes: [1], durable: false)
        disk.write(path: "b", bytes: [2], durable: false)
        let old = try disk.open("a", mode: .readWrite).get()
        let oldIdentity = try old.identity().get()
        XCTAssertEqual(try disk.identity(of: "a").get(), oldIdentity)

        try disk.rename("b", to: "a").get()
        XCTAssertEqual(try old.read(count: 1, at: 0).get(), [1])
        XCTAssertNotEqual(try disk.identity(of: "a").get(), oldIdentity)
        XCTAssertEqual(try disk.siblings(of: "a").get(), ["a"])

        try disk.remove("a").get()
        try old.write([3], at: 1).get()
        XCTAssertEqual(try old.read(count: 2, at: 0).get(), [1, 3])
        XCTAssertEqual(disk.identity(of: "a").failureValue, .noSuchFileOrDirectory)
    }

    func testSiblingsListTheNamesInTheDirectory() throws {
        let disk = SimulatedDisk()
        for path in ["d/b", "d/a", "e/c", "top"] { disk.write(path: path, bytes: [], durable: false) }
        XCTAssertEqual(try disk.siblings(of: "d/anything").get(), ["a", "b"])
        XCTAssertEqual(try disk.siblings(of: "top").get(), ["top"])
        XCTAssertEqual(try disk.siblings(of: "none/x").get(), [])
        XCTAssertEqual(try disk.identity(of: "d/a").get().device, 1)
    }

    func testLocksAreExclusivePerHandle() throws {
        let disk = SimulatedDisk()
        disk.write(path: "vault", bytes: [], durable: true)
        let first = try XCTUnwrap(try disk.open("vault", mode: .readWrite).get() as? SimulatedFile)
        let second = try disk.open("vault", mode: .readWrite).get()
        XCTAssertTrue(try first.tryLockExclusive().get())
        XCTAssertTrue(try first.tryLockExclusive().get())
        XCTAssertFalse(try second.tryLockExclusive().get())

        first.close()
        XCTAssertEqual(first.tryLockExclusive().failureValue, .badFileDescriptor)
        XCTAssertTrue(try second.tryLockExclusive().get())
    }

    func testLockIsReleasedWhenTheHandleIsReleased() throws {
        let disk = SimulatedDisk()
        disk.write(path: "vault", bytes: [], durable: true)
        do {
            let holder = try disk.open("vault", mode: .readWrite).get()
            XCTAssertTrue(try holder.tryLockExclusive().get())
            XCTAssertFalse(try disk.open("vault", mode: .readOnly).get().tryLockExclusive().get())
        }
        XCTAssertTrue(try disk.open("vault", mode: .readOnly).get().tryLockExclusive().get())
    }

    func testCrashReleasesLocksAndInvalidatesHandles() throws {
        let disk = SimulatedDisk()
        disk.write(path: "vault", bytes: [1, 2], durable: true)
        let file = try disk.open("vault", mode: .readWrite).get()
        XCTAssertTrue(try file.tryLockExclusive().get())

        var generator = SeededGenerator(seed: 5)
        disk.crash(mode: .keepRandomSectors, using: &generator)

        XCTAssertEqual(file.read(count: 1, at: 0).failureValue, .badFileDescriptor)
        XCTAssertEqual(file.write([1], at: 0).failureValue, .badFileDescriptor)
        XCTAssertEqual(file.size().failureValue, .badFileDescriptor)
        XCTAssertEqual(file.truncate(to: 0).failureValue, .badFileDescriptor)
        XCTAssertEqual(file.sync().failureValue, .badFileDescriptor)
        XCTAssertEqual(file.tryLockExclusive().failureValue, .badFileDescriptor)
        XCTAssertEqual(file.identity().failureValue, .badFileDescriptor)

        let reopened = try disk.open("vault", mode: .readWrite).get()
        XCTAssertTrue(try reopened.tryLockExclusive().get())
        XCTAssertEqual(try reopened.read(count: 2, at: 0).get(), [1, 2])
    }

    func testConcurrentWritersThroughSeparateHandles() throws {
        let disk = SimulatedDisk()
        disk.write(path: "log", bytes: [], durable: true)
        let writers = 4
        let writesPerWriter = 200
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            guard let file = try? disk.open("log", mode: .readWrite).get() else { return }
            for index in 0..<writesPerWriter {
                _ = file.write([UInt8(writer + 1)], at: UInt64(index * writers + writer))
                _ = file.tryLockExclusive()
            }
        }
        let expected = (0..<writesPerWriter * writers).map { UInt8($0 % writers + 1) }
        XCTAssertEqual(disk.contents(of: "log"), expected)
        XCTAssertEqual(disk.callCounts()[.write], writers * writesPerWriter)
    }

    // MARK: - Faults

    func testFaultPlanFailsExactlyTheNthCallOfAKind() throws {
        let disk = SimulatedDisk(faultPlan: FaultPlan([.fail(operation: .sync, atCall: 2, error: .ioError)]))
        let file = try disk.open("log", mode: .createNew).get()
        var results: [SystemError?] = []
        for index in 0..<4 {
            try file.write([UInt8(index)], at: UInt64(index)).get()
            results.append(file.sync().failureValue)
        }
        XCTAssertEqual(results, [nil, nil, .ioError, nil])
        XCTAssertEqual(disk.callCounts(), [.open: 1, .write: 4, .sync: 4])

        disk.faultPlan = FaultPlan([.fail(operation: .open, atCall: 1, error: .permissionDenied)])
        XCTAssertEqual(disk.open("other", mode: .createNew).failureValue, .permissionDenied)
        XCTAssertFalse(disk.exists("other"))
        XCTAssertNoThrow(try disk.open("other", mode: .createNew).get())
    }

    func testReplayingAWorkloadFailsEachSyncInTurn() throws {
        func workload(_ disk: SimulatedDisk) -> Result<Void, SystemError> {
            Result {
                let file = try disk.open("log", mode: .createNew).get()
                for index in 0..<3 {
                    try file.write([UInt8(index)], at: UInt64(index)).get()
                    try file.sync().get()
                }
            }.mapError { $0 as? SystemError ?? .ioError }
        }
        let counting = SimulatedDisk()
        XCTAssertNoThrow(try workload(counting).get())
        let syncCount = try XCTUnwrap(counting.callCounts()[.sync])
        XCTAssertEqual(syncCount, 3)

        for index in 0..<syncCount {
            let disk = SimulatedDisk(faultPlan: FaultPlan([.fail(operation: .sync, atCall: index, error: .ioError)]))
            XCTAssertEqual(workload(disk).failureValue, .ioError)
            XCTAssertNil(disk.durableContents(of: "log"), "the entry was never made durable")
            XCTAssertEqual(disk.contents(of: "log")?.count, index + 1)
        }
    }

    func testShortWriteLeavesAPrefix() throws {
        let disk = SimulatedDisk(faultPlan: FaultPlan([.shortWrite(atCall: 1, keepBytes: 3, error: .noSpace)]))
        let file = try disk.open("log", mode: .createNew).get()
        try file.write([1, 2], at: 0).get()
        XCTAssertEqual(file.write([3, 4, 5, 6, 7], at: 2).failureValue, .noSpace)
        XCTAssertEqual(disk.contents(of: "log"), [1, 2, 3, 4, 5])
        try file.write([8], at: 5).get()
        XCTAssertEqual(disk.contents(of: "log"), [1, 2, 3, 4, 5, 8])
    }

    func testOnCallReportsEachCountedCall() throws {
        let seen = Locked<[String]>([])
        let disk = SimulatedDisk()
        disk.onCall = { operation, index in seen.withLock { $0.append("\(operation)#\(index)") } }
        let file = try disk.open("log", mode: .createNew).get()
        try file.write([1], at: 0).get()
        _ = try file.size().get()
        try file.sync().get()
        try file.sync().get()
        XCTAssertEqual(seen.withLock { $0 }, ["open#0", "write#0", "sync#0", "sync#1"])
    }

    // MARK: - Armed crashes

    func testArmedCrashMakesLaterCallsFailWithIOError() throws {
        let disk = SimulatedDisk()
        disk.armCrash(after: .sync, atCall: 1)
        let file = try disk.open("vault/log", mode: .createNew).get()
        try disk.syncDirectory(containing: "vault/log").get()
        try file.write([1], at: 0).get()
        try file.sync().get()
        try file.write([2], at: 1).get()
        XCTAssertNoThrow(try file.sync().get(), "the call the crash follows completes")
        XCTAssertTrue(disk.isCrashPending)

        XCTAssertEqual(file.write([3], at: 2).failureValue, .ioError)
        XCTAssertEqual(file.read(count: 1, at: 0).failureValue, .ioError)
        XCTAssertEqual(disk.open("vault/other", mode: .createNew).failureValue, .ioError)
        XCTAssertEqual(disk.rename("vault/log", to: "vault/moved").failureValue, .ioError)
        XCTAssertEqual(disk.callCounts()[.write], 2, "refused calls are not counted")
        XCTAssertEqual(disk.contents(of: "vault/log"), [1, 2])

        var generator = SeededGenerator(seed: 11)
        disk.crash(mode: .garbleUnsyncedSectors, using: &generator)
        XCTAssertFalse(disk.isCrashPending)
        XCTAssertEqual(disk.contents(of: "vault/log"), [1, 2])
        XCTAssertEqual(file.read(count: 1, at: 0).failureValue, .badFileDescriptor)
        XCTAssertNoThrow(try disk.open("vault/other", mode: .createNew).get())
    }

    // MARK: - Helpers

    /// A disk where `d/header` held `[1]` durably and a synced `d/header.tmp` holding `[2]`
    /// was renamed over it, with or without a final directory sync.
    private func diskWithRenamedReplacement(syncingDirectory: Bool) throws -> SimulatedDisk {
        let disk = SimulatedDisk()
        disk.write(path: "d/header", bytes: [1], durable: true)
        let temporary = try disk.open("d/header.tmp", mode: .createNew).get()
        try temporary.write([2], at: 0).get()
        try temporary.sync().get()
        try disk.syncDirectory(containing: "d/header.tmp").get()
        try disk.rename("d/header.tmp", to: "d/header").get()
        if syncingDirectory { try disk.syncDirectory(containing: "d/header").get() }
        return disk
    }

    /// `count` bytes counting up from `start`, wrapping.
    private func pattern(_ count: Int, from start: UInt8) -> [UInt8] {
        (0..<count).map { start &+ UInt8(truncatingIfNeeded: $0) }
    }
}

extension Result {
    /// The error, or `nil` on success.
    fileprivate var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
