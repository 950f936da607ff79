import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

@testable import Coffer

/// A head witness (FORMAT.md F-HEAD): every open checks the vault still holds the head a writer
/// last left there, readers included, so a vault put back to an older copy or cut short is
/// refused; every acknowledged change, data-key rotation and compaction leaves its head; a crash
/// between a commit and its witness update leaves an older head that still opens; a witness that
/// cannot be written fails an open for writing, or stops the writer after a change.
final class HeadWitnessTests: XCTestCase {
    let path = "/vault/witnessed.coffer"
    let witnessPath = "/elsewhere/head"
    let key = SecureBytes(copying: (0..<32).map { UInt8(91 &+ $0) })

    func options(_ disk: SimulatedDisk, readOnly: Bool = false) -> Vault.Options {
        Vault.Options(storage: disk, readOnly: readOnly, headWitness: HeadWitnessFile(path: witnessPath, storage: disk))
    }

    func witnessed(_ disk: SimulatedDisk) throws(CofferError) -> ChainHead? {
        try HeadWitnessFile(path: witnessPath, storage: disk).read()
    }

    func addOrganization(_ vault: Vault, _ slug: String) throws {
        try vault.mutate(actor: "test") { try $0.createOrganization(slug: slug, name: slug) }
    }

    func testEveryChangeLeavesItsHeadAndARollbackIsRefusedToReadersAndWriters() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        XCTAssertEqual(try witnessed(disk), vault.head)
        try addOrganization(vault, "acme")
        XCTAssertEqual(try witnessed(disk), vault.head)
        let older = disk.contents(of: path)!
        try addOrganization(vault, "beta")
        _ = try vault.rotateDataKey()
        XCTAssertEqual(try witnessed(disk), vault.head)
        vault.close()

        disk.write(path: path, bytes: older, durable: true)
        for readOnly in [true, false] {
            assertThrowsCoffer(.headMismatch) {
                try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: readOnly))
            }
        }
        // Without the witness the older copy opens: the witness is what refuses it.
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true)).close())
    }

    func testACompactionLeavesItsHeadAndAnOlderWitnessStillOpens() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        for slug in ["acme", "beta", "gamma"] { try addOrganization(vault, slug) }
        let beforeCompaction = try XCTUnwrap(try witnessed(disk))
        let report = try vault.compact(CompactionOptions(reencrypt: true))
        XCTAssertEqual(try witnessed(disk), report.head)
        XCTAssertEqual(report.head.generation, 1)
        vault.close()
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true)).close())
        // A crash that lost the witness update after the switch leaves the head from before it.
        try HeadWitnessFile(path: witnessPath, storage: disk).record(beforeCompaction)
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: options(disk)).close())
        XCTAssertEqual(try witnessed(disk), report.head, "an open for writing leaves the head at once")
    }

    /// A crash at every call of a change (and of its witness update): what is left opens with
    /// the witness, which names a head no later than the vault's.
    func testACrashAtAnyCallOfAChangeLeavesAWitnessTheVaultHolds() throws {
        let probe = SimulatedDisk()
        try workload(on: probe)
        let counts = probe.callCounts()
        var random = SeededGenerator(seed: 0x5EED_4EAD)
        var witnessedOpens = 0
        for operation in [SimulatedDisk.Operation.write, .sync, .rename] {
            for call in 0..<(counts[operation] ?? 0) {
                for mode in CrashMode.allCases {
                    let disk = SimulatedDisk()
                    disk.armCrash(after: operation, atCall: call)
                    try? workload(on: disk)
                    disk.crash(mode: mode, using: &random)
                    guard disk.exists(path) else { continue }
                    do {
                        let hadWitness = try witnessed(disk) != nil
                        try Vault.open(path: path, unlock: .keyFile(key), options: options(disk)).close()
                        if hadWitness { witnessedOpens += 1 }
                    } catch where error.code == .notAVault || error.code == .notFound {
                        // The crash came before the vault's creation was durable.
                    } catch {
                        XCTFail("crash after \(operation) #\(call), \(mode) (seed 0x5EED4EAD): \(error)")
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(witnessedOpens, 10, "crash states that left a witness and opened")
    }

    private func workload(on disk: SimulatedDisk) throws {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        defer { vault.close() }
        try addOrganization(vault, "acme")
        try addOrganization(vault, "beta")
    }

    func testAWitnessThatCannotBeWrittenFailsTheOpenOrStopsTheWriter() throws {
        let disk = SimulatedDisk()
        try Vault.create(path: path, unlock: .keyFile(key), options: options(disk)).close()
        let renames = disk.callCounts()[.rename] ?? 0
        disk.faultPlan = FaultPlan([.fail(operation: .rename, atCall: renames, error: .ioError)])
        assertThrowsIO { try Vault.open(path: path, unlock: .keyFile(key), options: options(disk)) }
        // Readers never write the witness.
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true)).close())

        let vault = try Vault.open(path: path, unlock: .keyFile(key), options: options(disk))
        defer { vault.close() }
        let next = disk.callCounts()[.rename] ?? 0
        disk.faultPlan = FaultPlan([.fail(operation: .rename, atCall: next, error: .ioError)])
        try addOrganization(vault, "acme")
        XCTAssertEqual(vault.read { $0.organizations().count }, 1, "the change is acknowledged")
        assertThrowsCoffer(.writerStopped) { try self.addOrganization(vault, "beta") }
        XCTAssertFalse(disk.paths().contains { $0.hasPrefix(witnessPath + ".tmp") }, "\(disk.paths())")
    }

    func testAWitnessNeedsSynchronousDurabilityAndAHead() throws {
        let disk = SimulatedDisk()
        var unsafe = options(disk)
        unsafe.durability = .unsafeNoSync
        assertThrowsCoffer(.invalidInput) { try Vault.create(path: path, unlock: .keyFile(key), options: unsafe) }
        XCTAssertFalse(disk.exists(path), "nothing is created")
        disk.write(path: witnessPath, bytes: Array("not a head\n".utf8), durable: true)
        try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk)).close()
        assertThrowsCoffer(.invalidInput) {
            try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true))
        }
    }
}
