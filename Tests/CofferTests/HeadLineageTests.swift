import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

@testable import Coffer

/// F-LINEAGE: a head kept from before a compaction still verifies after it (plain, re-encrypting,
/// with a new master key, with a new unlock key, and after several), while a rollback to before
/// it, a log cut before the compaction's switch, another vault's head and an old header over
/// the new log are all refused.
final class HeadLineageTests: XCTestCase {
    let path = "/vault/lineage.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8(77 &+ $0) })

    func addProject(_ vault: Vault, _ slug: String) throws {
        try vault.mutate(actor: "test") { try $0.createProject(in: "acme", slug: slug, name: slug) }
    }

    /// A vault with a few records; returns it with a head from the middle and the head at the end.
    func makeVault(on disk: SimulatedDisk) throws -> (Vault, middle: ChainHead, last: ChainHead) {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        try vault.mutate(actor: "test") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for index in 0..<3 { try addProject(vault, "early\(index)") }
        let middle = vault.head
        for index in 0..<3 { try addProject(vault, "late\(index)") }
        try vault.mutate(actor: "test") { try $0.removeProject("early0", in: "acme") }
        return (vault, middle, vault.head)
    }

    func open(_ disk: SimulatedDisk, expecting head: ChainHead) throws -> Vault {
        try Vault.open(
            path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true, expectedHead: head))
    }

    func testHeadsFromBeforeACompactionStillVerifyAfterIt() throws {
        for options in [
            CompactionOptions(), CompactionOptions(reencrypt: true), CompactionOptions(newMasterKey: true),
            CompactionOptions(newUnlockKey: true),
        ] {
            let context =
                "reencrypt \(options.reencrypt), master \(options.newMasterKey), unlock \(options.newUnlockKey)"
            let disk = SimulatedDisk()
            let (vault, middle, last) = try makeVault(on: disk)
            XCTAssertEqual(last.generation, 0)
            let report = try vault.compact(options)
            XCTAssertFalse(report.skipped, context)
            XCTAssertEqual(report.head.generation, 1, context)
            XCTAssertEqual(vault.head, report.head, context)
            try addProject(vault, "after")
            let after = vault.head
            XCTAssertEqual(after.generation, 1, context)
            XCTAssertEqual(ChainHead(parsing: after.description), after, context)
            vault.close()
            for head in [middle, last, report.head, after] {
                XCTAssertNoThrow(try open(disk, expecting: head).close(), "\(context): \(head)")
                let report = try Vault.verify(path: path, unlock: .keyFile(key), expectedHead: head, storage: disk)
                XCTAssertTrue(report.isClean, "\(context): \(head): \(report.problems)")
            }
        }
    }

    func testAHeadFromTwoCompactionsAgoStillVerifies() throws {
        let disk = SimulatedDisk()
        let (vault, middle, _) = try makeVault(on: disk)
        _ = try vault.compact(CompactionOptions(reencrypt: true))
        try addProject(vault, "between")
        let between = vault.head
        _ = try vault.compact(CompactionOptions(reencrypt: true))
        XCTAssertEqual(vault.head.generation, 2)
        vault.close()
        for head in [middle, between] { XCTAssertNoThrow(try open(disk, expecting: head).close(), "\(head)") }
    }

    func testRollbacksAndOtherVaultsAreStillRefused() throws {
        let disk = SimulatedDisk()
        let (vault, _, last) = try makeVault(on: disk)
        let beforeCompaction = disk.contents(of: path)!
        let report = try vault.compact(CompactionOptions(reencrypt: true))
        try addProject(vault, "after")
        let after = vault.head
        vault.close()
        let compacted = disk.contents(of: path)!

        // The whole file put back as it was before the compaction: older than the head seen since.
        disk.write(path: path, bytes: beforeCompaction, durable: true)
        let rolledBack = assertThrowsCoffer(.headMismatch) { try self.open(disk, expecting: after) }
        XCTAssertTrue(rolledBack?.message.contains("older than the expected head") ?? false, rolledBack?.message ?? "")

        // The compacted log cut before its switch: it no longer holds what the old log held.
        var frames: [(offset: UInt64, bytes: Int)] = []
        disk.write(path: path, bytes: compacted, durable: true)
        let reader = try open(disk, expecting: report.head)
        try reader.store.forEachRecord { frames.append(($0.offset, $0.frameBytes)) }
        reader.close()
        XCTAssertGreaterThan(frames.count, 2)
        disk.write(path: path, bytes: Array(compacted[0..<Int(frames[1].offset)]), durable: true)
        let cut = assertThrowsCoffer(.headMismatch) { try self.open(disk, expecting: last) }
        XCTAssertTrue(cut?.message.contains("does not reach the compaction's switch") ?? false, cut?.message ?? "")

        // A head of the old log past where it ended, or equal in sequence but not in digest.
        disk.write(path: path, bytes: compacted, durable: true)
        for other in [
            ChainHead(sequence: last.sequence + 1, digest: last.digest, generation: 0),
            ChainHead(sequence: last.sequence, digest: [UInt8](repeating: 7, count: 32), generation: 0),
            ChainHead(sequence: 1, digest: after.digest, generation: 2),
        ] {
            XCTAssertThrowsError(try open(disk, expecting: other), "\(other)")
        }

        // The old header over the new log: its chain starts from another genesis.
        var spliced = compacted
        spliced.replaceSubrange(
            0..<Int(FormatConstants.logStartOffset), with: beforeCompaction[0..<Int(FormatConstants.logStartOffset)])
        disk.write(path: path, bytes: spliced, durable: true)
        XCTAssertThrowsError(
            try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true)))
    }

    func testACrashAtEveryCallOfTheSwitchKeepsHeadsVerifiable() throws {
        let probe = SimulatedDisk()
        let (vault, _, _) = try makeVault(on: probe)
        let start = probe.callCounts()
        _ = try vault.compact(CompactionOptions(reencrypt: true))
        let end = probe.callCounts()
        vault.close()
        var states = 0
        for operation in [SimulatedDisk.Operation.write, .sync, .rename, .syncDirectory] {
            for call in 0..<((end[operation] ?? 0) - (start[operation] ?? 0)) {
                for mode in CrashMode.allCases {
                    var random = SeededGenerator(seed: UInt64(states) &* 977 &+ 13)
                    let disk = SimulatedDisk()
                    let (crashing, middle, last) = try makeVault(on: disk)
                    disk.armCrash(after: operation, atCall: (start[operation] ?? 0) + call)
                    _ = try? crashing.compact(CompactionOptions(reencrypt: true))
                    crashing.close()
                    disk.crash(mode: mode, using: &random)
                    for head in [middle, last] {
                        XCTAssertNoThrow(
                            try open(disk, expecting: head).close(),
                            "crash after \(operation) #\(call), \(mode): \(head)")
                    }
                    states += 1
                }
            }
        }
        XCTAssertGreaterThan(states, 8)
    }
}
