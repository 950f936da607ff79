import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

@testable import Coffer

/// Index checkpoints at the engine level (F-CHECKPOINT): an open resumes from one and replays
/// only what follows, with the same answers as a full replay; a checkpoint that is damaged,
/// stale, of another copy or another generation is ignored with a reason, never trusted;
/// verify compares it with the index the log gives.
extension CompactionTests {
    var checkpointPath: String { path + ".checkpoint" }

    func open(_ disk: SimulatedDisk, usesCheckpoint: Bool = true, readOnly: Bool = false) throws -> Vault {
        var options = Vault.Options(storage: disk, readOnly: readOnly)
        options.usesCheckpoint = usesCheckpoint
        return try Vault.open(path: path, unlock: .keyFile(key), options: options)
    }

    func testAnOpenResumesFromTheCheckpointAndAnswersAsAFullReplay() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        let covered = try vault.checkpoint()
        XCTAssertEqual(covered, vault.head.sequence)
        // Records after the checkpoint: a rotation of the data key and more transactions.
        _ = try vault.rotateDataKey()
        for index in 0..<5 {
            try vault.mutate(actor: "alice") {
                try $0.createCredential(in: "acme", VaultTests.token("after", "s\(index)", "value-\(index)"))
            }
        }
        let expected = try fingerprint(vault)
        let head = vault.head
        vault.close()

        let resumed = try open(disk)
        XCTAssertEqual(resumed.recovery.checkpoint, .resumed(sequence: covered))
        XCTAssertEqual(resumed.head, head)
        assertSameState(try fingerprint(resumed), expected, "resumed from the checkpoint")
        // The resumed vault goes on committing, and a full replay agrees with it afterwards.
        try resumed.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("later", "x", "later-value"))
        }
        let afterMore = try fingerprint(resumed)
        resumed.close()
        let replayed = try open(disk, usesCheckpoint: false)
        XCTAssertEqual(replayed.recovery.checkpoint, .none)
        assertSameState(try fingerprint(replayed), afterMore, "full replay")
        replayed.close()
        let report = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
        XCTAssertTrue(report.isClean, "\(report.problems)")
        XCTAssertEqual(report.checkpointSequence, covered)
    }

    func testACheckpointThatCannotBeUsedIsIgnoredWithAReasonAndNothingOfItIsTrusted() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        try vault.checkpoint()
        let expected = try fingerprint(vault)
        vault.close()
        let good = try disk.readScratchFile(checkpointPath).get()

        func expectIgnored(_ bytes: [UInt8], _ reason: String, _ context: String) throws {
            try disk.overwriteScratchFile(checkpointPath, with: bytes).get()
            let reopened = try open(disk, readOnly: true)
            defer { reopened.close() }
            guard case .ignored(let why) = reopened.recovery.checkpoint else {
                return XCTFail("\(context): the checkpoint was \(reopened.recovery.checkpoint)")
            }
            XCTAssertTrue(why.contains(reason), "\(context): \(why)")
            assertSameState(try fingerprint(reopened), expected, context)
            let report = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
            XCTAssertEqual(report.problems.map(\.kind), [.checkpoint], context)
        }

        for position in [0, 9, 30, 50, 60, 90, Checkpoint.headerBytes + 3, good.count / 2, good.count - 1] {
            var flipped = good
            flipped[position] ^= 0x20
            let reason =
                position < 8
                ? "malformed"
                : position < 24
                    ? "another vault"
                    : position < 28
                        ? "generation"
                        : position >= 32 && position < 88
                            ? "authenticate" : position < 96 ? "malformed" : "authenticate"
            try expectIgnored(flipped, reason, "byte \(position) flipped")
        }
        try expectIgnored(Array(good.prefix(good.count - 1)), "malformed", "cut short")
        try expectIgnored([], "malformed", "empty")
    }

    func testACheckpointOfAnotherCopyOrFromBeforeACompactionIsIgnored() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        try vault.checkpoint()
        let early = try disk.readScratchFile(checkpointPath).get()
        let vaultBytes = try disk.readScratchFile(path).get()
        // Branch B: one more credential, checkpointed.
        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("branch", "b", "value-b"))
        }
        try vault.checkpoint()
        vault.close()
        let checkpointB = try disk.readScratchFile(checkpointPath).get()
        // Branch A: the vault as it was, put back, and another credential: a log of the same
        // vault, generation and length that went another way.
        try disk.overwriteScratchFile(path, with: vaultBytes).get()
        let branchA = try open(disk, usesCheckpoint: false)
        try branchA.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("branch", "a", "value-a"))
        }
        let expectedA = try fingerprint(branchA)
        branchA.close()
        try disk.overwriteScratchFile(checkpointPath, with: checkpointB).get()
        let mixed = try open(disk, readOnly: true)
        guard case .ignored(let why) = mixed.recovery.checkpoint else {
            return XCTFail("a checkpoint of another branch was \(mixed.recovery.checkpoint)")
        }
        XCTAssertTrue(why.contains("not the one it follows") || why.contains("no record"), why)
        assertSameState(try fingerprint(mixed), expectedA, "beside another branch's checkpoint")
        mixed.close()

        // After a compaction the old generation's checkpoint is not used; the compaction
        // wrote a new one, and an open resumes from it.
        try disk.overwriteScratchFile(checkpointPath, with: early).get()
        let compacting = try open(disk)
        _ = try compacting.compact()
        let compacted = try fingerprint(compacting)
        compacting.close()
        let afterCompaction = try open(disk, readOnly: true)
        XCTAssertEqual(afterCompaction.recovery.checkpoint, .resumed(sequence: afterCompaction.head.sequence))
        assertSameState(try fingerprint(afterCompaction), compacted, "after compaction")
        afterCompaction.close()
        try disk.overwriteScratchFile(checkpointPath, with: early).get()
        let stale = try open(disk, readOnly: true)
        guard case .ignored(let reason) = stale.recovery.checkpoint else {
            return XCTFail("a checkpoint of the log before the compaction was \(stale.recovery.checkpoint)")
        }
        XCTAssertTrue(reason.contains("generation"), reason)
        stale.close()
    }

    /// What a checkpoint covers is not read again on open (F-CHECKPOINT-USE): damage there is
    /// met by the reveal that reads it, as corruption, never a wrong plaintext, and by verify.
    func testDamageBeforeTheCheckpointIsFoundByTheRevealThatReadsItAndByVerify() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        let (id, location) = try XCTUnwrap(
            vault.read { index -> (CredentialID, RecordLocation)? in
                guard let organization = index.organization("acme"),
                    let credential = index.credentials(matching: CredentialFilter(organization: organization.id)).first,
                    let location = index.location(of: credential.id)
                else { return nil }
                return (credential.id, location)
            })
        try vault.checkpoint()
        vault.close()
        var bytes = try disk.readScratchFile(path).get()
        bytes[Int(location.offset) + FormatConstants.frameHeaderBytes + 40] ^= 0x01
        disk.write(path: path, bytes: bytes, durable: true)

        let reopened = try open(disk, readOnly: true)
        guard case .resumed = reopened.recovery.checkpoint else {
            return XCTFail("the open did not resume: \(reopened.recovery.checkpoint)")
        }
        XCTAssertThrowsError(try reopened.reveal(id)) { XCTAssertEqual(($0 as? CofferError)?.code, .corrupted) }
        reopened.close()
        let report = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
        XCTAssertFalse(report.isClean)
        XCTAssertEqual(report.problems.first?.offset, location.offset, "\(report.problems)")
        XCTAssertEqual(report.problems.map(\.kind), [.checksum, .checkpoint], "\(report.problems)")
        // Without the checkpoint the open itself refuses the log (F-RECOVER).
        XCTAssertThrowsError(try open(disk, usesCheckpoint: false)) {
            XCTAssertEqual(($0 as? CofferError)?.code, .corrupted)
        }
    }

    /// A checkpoint sealed under the vault's key whose index is not what the log gives is
    /// never trusted over the log: an index naming records it does not cover is refused
    /// before the open uses it, and one the records after it disagree with makes the open
    /// replay everything, with the reason in ``Vault/recovery``.
    func testACheckpointWhoseIndexTheLogDisagreesWithIsIgnored() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        let before = vault.read { $0.checkpointEncoding() }
        let id = try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("late", "x", "value-x"))
        }[0]
        // The index from before record S, sealed as the checkpoint after S.
        let state = try XCTUnwrap(vault.store.checkpointState(through: vault.head))
        try vault.store.writeCheckpoint(state, index: before)
        // A record after S changes what that index lacks.
        try vault.mutate(actor: "alice") { try $0.revokeCredential(id.description, in: "acme") }
        let expected = try fingerprint(vault)
        vault.close()
        let reopened = try open(disk, readOnly: true)
        guard case .ignored(let why) = reopened.recovery.checkpoint else {
            return XCTFail("a checkpoint the log disagrees with was \(reopened.recovery.checkpoint)")
        }
        XCTAssertTrue(why.contains("disagree"), why)
        assertSameState(try fingerprint(reopened), expected, "after ignoring the checkpoint")
        let logEnd = Int(reopened.store.logEnd)
        reopened.close()
        // A writer's open that cut a torn tail before the replay failed reports the cut, though
        // the open that replays everything finds the file already cut (free space with it).
        let logBytes = Array(try disk.readScratchFile(path).get().prefix(logEnd))
        disk.write(path: path, bytes: logBytes + [UInt8](repeating: 0x5A, count: 40), durable: true)
        let repairing = try open(disk)
        XCTAssertEqual(repairing.recovery.checkpoint, reopened.recovery.checkpoint)
        XCTAssertNotNil(repairing.recovery.tornTail, "the cut torn tail went unreported")
        XCTAssertTrue(repairing.recovery.truncated)
        repairing.close()
        XCTAssertEqual(try disk.readScratchFile(path).get(), logBytes)
        let report = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
        XCTAssertEqual(report.problems.map(\.kind), [.checkpoint], "\(report.problems)")

        // The index after a later record, sealed as the checkpoint after an earlier one: its
        // history names a record the checkpoint does not cover.
        let writer = try open(disk)
        let earlier = try XCTUnwrap(writer.store.checkpointState(through: writer.head))
        try writer.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("later", "y", "value-y"))
        }
        try writer.store.writeCheckpoint(earlier, index: writer.read { $0.checkpointEncoding() })
        let latest = try fingerprint(writer)
        writer.close()
        let again = try open(disk, readOnly: true)
        XCTAssertEqual(again.recovery.checkpoint, .ignored("its index is malformed"))
        assertSameState(try fingerprint(again), latest, "beside an index from after its record")
        again.close()
    }

    func testARefusedCheckpointIsNotWritten() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        vault.close()
        let reader = try open(disk, readOnly: true)
        XCTAssertThrowsError(try reader.checkpoint()) { XCTAssertEqual(($0 as? CofferError)?.code, .invalidInput) }
        reader.close()
        XCTAssertFalse(disk.paths().contains(checkpointPath))
    }

    /// A churned vault with a checkpoint and a commit after it: ready for a new checkpoint.
    /// Returns the vault and the record the old checkpoint covers.
    func prepareForACheckpoint(on disk: SimulatedDisk) throws -> (Vault, UInt64) {
        let vault = try makeChurnedVault(on: disk)
        let old = try vault.checkpoint()
        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", VaultTests.token("after", "one", "value-after"))
        }
        return (vault, old)
    }

    /// The calls of the disk (by operation, their call numbers) that writing the new
    /// checkpoint makes on a vault ``prepareForACheckpoint(on:)`` made, and the record it covers.
    func checkpointWriteCalls() throws -> (calls: [SimulatedDisk.Operation: Range<Int>], covered: UInt64) {
        let probe = SimulatedDisk()
        let (vault, _) = try prepareForACheckpoint(on: probe)
        let start = probe.callCounts()
        let covered = try vault.checkpoint()
        let end = probe.callCounts()
        vault.close()
        var calls: [SimulatedDisk.Operation: Range<Int>] = [:]
        for operation in [SimulatedDisk.Operation.open, .write, .sync, .rename, .syncDirectory] {
            calls[operation] = (start[operation] ?? 0)..<(end[operation] ?? 0)
        }
        return (calls, covered)
    }

    /// A writer reopens the vault with the `expected` state, from the checkpoint covering `old`
    /// or the one covering `new`; no temporary file is left; verification is clean.
    func assertReopensFromTheOldOrTheNewCheckpoint(
        _ disk: SimulatedDisk, old: UInt64, new: UInt64, _ expected: [String], _ context: String
    ) throws {
        let reopened = try open(disk)
        XCTAssertTrue(
            [.resumed(sequence: old), .resumed(sequence: new)].contains(reopened.recovery.checkpoint),
            "\(context): \(reopened.recovery.checkpoint)")
        assertSameState(try fingerprint(reopened), expected, context)
        XCTAssertEqual(disk.paths().filter { $0.contains(".partial-") }, [], context)
        reopened.close()
        let report = try Vault.verify(path: path, unlock: .keyFile(key), storage: disk)
        XCTAssertTrue(report.isClean, "\(context): \(report.problems)")
    }

    /// A crash after every write, sync, rename and directory sync of writing a checkpoint, in
    /// every crash mode: the vault opens with the same state, from the old checkpoint or the
    /// new one, never from a half-written one; a writer's open removes the temporary file;
    /// verification is clean.
    func testACrashAtEveryCallOfWritingACheckpointLeavesTheOldOrTheNew() throws {
        let (calls, new) = try checkpointWriteCalls()
        var states = 0
        for operation in [SimulatedDisk.Operation.open, .write, .sync, .rename, .syncDirectory] {
            for call in calls[operation] ?? 0..<0 {
                for mode in CrashMode.allCases {
                    var random = SeededGenerator(seed: UInt64(call) &* 31 &+ UInt64(states))
                    let disk = SimulatedDisk()
                    let (crashing, old) = try prepareForACheckpoint(on: disk)
                    let expected = try fingerprint(crashing)
                    disk.armCrash(after: operation, atCall: call)
                    _ = try? crashing.checkpoint()
                    crashing.close()
                    disk.crash(mode: mode, using: &random)
                    let context =
                        "seed \(UInt64(call) &* 31 &+ UInt64(states)): crash after \(operation) #\(call) of a checkpoint, \(mode)"
                    try assertReopensFromTheOldOrTheNewCheckpoint(disk, old: old, new: new, expected, context)
                    states += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(states, 8)
        print("checkpoint crash states tried: \(states)")
    }

    /// Each call of writing a checkpoint failing in turn: the checkpoint fails with `.io`, the
    /// vault goes on committing, and it reopens with every commit, from the old checkpoint
    /// or the new one; verification is clean.
    func testAFailedCallWhileWritingACheckpointLeavesAWorkingVault() throws {
        let (calls, new) = try checkpointWriteCalls()
        var failures = 0
        for operation in [SimulatedDisk.Operation.open, .write, .sync, .rename, .syncDirectory] {
            for call in calls[operation] ?? 0..<0 {
                let context = "\(operation) #\(call) of a checkpoint fails"
                let disk = SimulatedDisk()
                let (failing, old) = try prepareForACheckpoint(on: disk)
                disk.faultPlan = FaultPlan([
                    .fail(operation: operation, atCall: call, error: .ioError)
                ])
                XCTAssertThrowsError(try failing.checkpoint(), context) {
                    XCTAssertEqual(($0 as? CofferError)?.code.isIO, true, "\(context): \($0)")
                }
                disk.faultPlan = FaultPlan()
                try failing.mutate(actor: "alice") {
                    try $0.createCredential(in: "acme", VaultTests.token("after", "two", "value-two"))
                }
                let expected = try fingerprint(failing)
                failing.close()
                try assertReopensFromTheOldOrTheNewCheckpoint(disk, old: old, new: new, expected, context)
                failures += 1
            }
        }
        XCTAssertGreaterThanOrEqual(failures, 4)
        print("checkpoint calls failed in turn: \(failures)")
    }
}
