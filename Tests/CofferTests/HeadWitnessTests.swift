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

    func witnessed(_ disk: SimulatedDisk) throws(CofferError) -> WitnessedHead? {
        try HeadWitnessFile(path: witnessPath, storage: disk).read()
    }

    func addOrganization(_ vault: Vault, _ slug: String) throws {
        try vault.mutate(actor: "test") { try $0.createOrganization(slug: slug, name: slug) }
    }

    /// A device reads as empty and a writer would replace it with a file: it is refused, as a
    /// directory is. (Read only: were the refusal lost, nothing is written to the device.)
    func testAWitnessThatIsNotARegularFileIsRefused() throws {
        let directory = TemporaryDirectory()
        for path in ["/dev/null", directory.path] {
            XCTAssertThrowsCode(.invalidInput, try HeadWitnessFile(path: path).read())
        }
        XCTAssertNil(try HeadWitnessFile(path: directory.file("none")).read())
    }

    func testEveryChangeLeavesItsHeadAndARollbackIsRefusedToReadersAndWriters() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        XCTAssertEqual(try witnessed(disk)?.head, vault.head)
        try addOrganization(vault, "acme")
        XCTAssertEqual(try witnessed(disk)?.head, vault.head)
        let older = disk.contents(of: path)!
        try addOrganization(vault, "beta")
        _ = try vault.rotateDataKey()
        XCTAssertEqual(try witnessed(disk)?.head, vault.head)
        vault.close()

        disk.write(path: path, bytes: older, durable: true)
        for readOnly in [true, false] {
            assertThrowsCoffer(.headMismatch) {
                try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: readOnly))
            }
        }
        // Without the witness the older copy opens: the witness is what refuses it.
        XCTAssertNoThrow(
            try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true)).close())
    }

    func testACompactionLeavesItsHeadAndAnOlderWitnessStillOpens() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        for slug in ["acme", "beta", "gamma"] { try addOrganization(vault, slug) }
        let beforeCompaction = try XCTUnwrap(try witnessed(disk))
        let report = try vault.compact(CompactionOptions(reencrypt: true))
        XCTAssertEqual(try witnessed(disk)?.head, report.head)
        XCTAssertEqual(report.head.generation, 1)
        vault.close()
        XCTAssertNoThrow(
            try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true)).close())
        // A crash that lost the witness update after the switch leaves the head from before it.
        try HeadWitnessFile(path: witnessPath, storage: disk).record(beforeCompaction)
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: options(disk)).close())
        XCTAssertEqual(try witnessed(disk)?.head, report.head, "an open for writing leaves the head at once")
    }

    /// The attack a head alone cannot stop: a former holder of a revoked unlock key rebuilds the
    /// vault from an old copy (its header opens under the operator's key too) and compacts it
    /// past the witnessed head's generation and sequence. The witness names the unlock key,
    /// so the rebuilt vault is refused; another vault's witness is refused too.
    func testACopyRebuiltUnderARevokedUnlockKeyAndAnotherVaultAreRefused() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        for slug in ["acme", "beta"] { try addOrganization(vault, slug) }
        let beforeRevocation = disk.contents(of: path)!
        _ = try vault.compact(CompactionOptions(newUnlockKey: true))
        try addOrganization(vault, "after-revocation")
        vault.close()
        let current = disk.contents(of: path)!

        // The fork: the old copy, written on and compacted twice by whoever still holds its unlock key.
        disk.write(path: path, bytes: beforeRevocation, durable: true)
        let fork = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        for index in 0..<6 { try addOrganization(fork, "fork\(index)") }
        _ = try fork.compact(CompactionOptions())
        for index in 0..<6 { try addOrganization(fork, "later\(index)") }
        _ = try fork.compact(CompactionOptions())
        fork.close()
        let forked = disk.contents(of: path)!
        for readOnly in [true, false] {
            let error = assertThrowsCoffer(.headMismatch) {
                try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: readOnly))
            }
            XCTAssertTrue(error?.message.contains("unlock key") ?? false, "\(String(describing: error))")
        }
        let report = try Vault.verify(
            path: path, unlock: .keyFile(key), headWitness: HeadWitnessFile(path: witnessPath, storage: disk),
            storage: disk)
        XCTAssertEqual(report.problems.map(\.kind), [.headMismatch])
        XCTAssertEqual(disk.contents(of: path), forked, "a refused writer changes nothing")

        disk.write(path: path, bytes: current, durable: true)
        XCTAssertNoThrow(
            try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true)).close())
        let other = "/vault/other.coffer"
        try Vault.create(path: other, unlock: .keyFile(key), options: .init(storage: disk)).close()
        let error = assertThrowsCoffer(.headMismatch) {
            try Vault.open(path: other, unlock: .keyFile(key), options: options(disk))
        }
        XCTAssertTrue(error?.message.contains("another vault") ?? false, "\(String(describing: error))")
    }

    /// A writer reads the witness only once it holds the writer lock: a head read while it
    /// waited could be older than one a writer left meanwhile, which a rolled-back copy put
    /// in place would then pass.
    func testAWriterReadsTheWitnessHoldingTheLock() throws {
        let disk = SimulatedDisk()
        try Vault.create(path: path, unlock: .keyFile(key), options: options(disk)).close()
        let probe = LockProbe(disk: disk, vaultPath: path, witness: HeadWitnessFile(path: witnessPath, storage: disk))
        let vault = try Vault.open(
            path: path, unlock: .keyFile(key), options: Vault.Options(storage: disk, headWitness: probe))
        vault.close()
        XCTAssertEqual(probe.lockHeldAtRead.withLock { $0 }, [true])
    }

    /// A head file that is a symbolic link to nothing is refused, not read as missing (which
    /// would check nothing) nor replaced by a file beside the vault.
    func testADanglingLinkIsRefused() throws {
        let directory = TemporaryDirectory()
        let link = directory.file("head")
        XCTAssertEqual(symlink(directory.file("unmounted/head"), link), 0)
        let witness = HeadWitnessFile(path: link)
        assertThrowsCoffer(.invalidInput) { try witness.read() }
        let head = WitnessedHead(
            head: ChainHead(sequence: 1, digest: Array(repeating: 1, count: 32)),
            vaultID: Array(repeating: 2, count: 16),
            unlockKeyTag: Array(repeating: 3, count: 16))
        assertThrowsCoffer(.invalidInput) { try witness.record(head) }
        var information = stat()
        XCTAssertEqual(lstat(link, &information), 0)
        XCTAssertEqual(information.st_mode & S_IFMT, S_IFLNK, "the link is still a link")
    }

    /// A writer refused by the witness neither cuts a torn tail nor repairs a header copy.
    func testARefusedWriterLeavesTheFileAsItWas() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options(disk))
        try addOrganization(vault, "acme")
        let older = disk.contents(of: path)!
        try addOrganization(vault, "beta")
        vault.close()
        let rolledBackWithTornTail = older + [0x43, 0x46, 0x52, 0x31, 0x28, 0x01]
        disk.write(path: path, bytes: rolledBackWithTornTail, durable: true)
        assertThrowsCoffer(.headMismatch) { try Vault.open(path: path, unlock: .keyFile(key), options: options(disk)) }
        XCTAssertEqual(disk.contents(of: path), rolledBackWithTornTail)
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
                    } catch  where error.code == .notAVault || error.code == .notFound {
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
        XCTAssertNoThrow(
            try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true)).close())

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
        disk.write(
            path: witnessPath, bytes: Array("\(ChainHead(sequence: 1, digest: Array(repeating: 0, count: 32)))\n".utf8),
            durable: true)
        try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk)).close()
        assertThrowsCoffer(.invalidInput) {
            try Vault.open(path: path, unlock: .keyFile(key), options: options(disk, readOnly: true))
        }
    }
}

/// A head witness that notes, at each read, whether the vault's writer lock was held.
private final class LockProbe: HeadWitness, @unchecked Sendable {
    let disk: SimulatedDisk
    let vaultPath: String
    let witness: HeadWitnessFile
    let lockHeldAtRead = Locked<[Bool]>([])

    init(disk: SimulatedDisk, vaultPath: String, witness: HeadWitnessFile) {
        self.disk = disk
        self.vaultPath = vaultPath
        self.witness = witness
    }

    func read() throws(CofferError) -> WitnessedHead? {
        if case .success(let file) = disk.open(vaultPath, mode: .readOnly) {
            let held = (try? file.tryLockExclusive().get()) == false
            file.close()
            lockHeldAtRead.withLock { $0.append(held) }
        }
        return try witness.read()
    }

    func record(_ witnessed: WitnessedHead) throws(CofferError) { try witness.record(witnessed) }
}
