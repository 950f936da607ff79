import CofferCrypto
import CofferErrors
import CofferFormat
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

final class VaultStoreTests: XCTestCase {
    func testCreateAppendReopenReturnsRecordsInOrder() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("vault.coffer")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        let first = try store.append([Fixture.payload("one"), Fixture.payload("two")])
        XCTAssertEqual(first.records.map(\.sequence), [2, 3])
        let second = try store.append([Fixture.payload("three")])
        XCTAssertEqual(store.head, second.head)
        let head = store.head
        store.close()
        XCTAssertThrowsCode(.closed, try store.append([Fixture.payload("four")]))

        let (reopened, payloads) = try Fixture.transactions(path: path)
        XCTAssertEqual(payloads.map { String(decoding: $0, as: UTF8.self) }, ["one", "two", "three"])
        XCTAssertEqual(reopened.head, head)
        XCTAssertNil(reopened.recovery.tornTail)
    }

    func testCreatedFileHasMode0600AndRefusesExistingPath() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("vault.coffer")
        _ = try VaultStore.create(path: path, secret: Fixture.secret)
        var information = stat()
        XCTAssertEqual(stat(path, &information), 0)
        XCTAssertEqual(information.st_mode & 0o777, 0o600)
        XCTAssertThrowsCode(.alreadyExists, try VaultStore.create(path: path, secret: Fixture.secret))
    }

    func testWrongKeyFileAndWrongPassphraseAreDistinctAndModifyNothing() throws {
        let directory = TemporaryDirectory()
        let keyPath = directory.file("key.coffer")
        let passPath = directory.file("pass.coffer")
        _ = try VaultStore.create(path: keyPath, secret: Fixture.secret).append([Fixture.payload("x")])
        _ = try VaultStore.create(
            path: passPath, secret: .passphrase(Fixture.payload("right horse")), cost: .minimum)
        let keyBytes = Fixture.readFile(keyPath)
        let passBytes = Fixture.readFile(passPath)

        XCTAssertThrowsCode(.wrongKey, try VaultStore.open(path: keyPath, secret: .keyFile(Fixture.otherKeyFile)))
        XCTAssertThrowsCode(.wrongKey, try VaultStore.open(path: keyPath, secret: .passphrase(Fixture.payload("x"))))
        XCTAssertThrowsCode(
            .wrongKey, try VaultStore.open(path: passPath, secret: .passphrase(Fixture.payload("wrong horse"))))
        XCTAssertEqual(Fixture.readFile(keyPath), keyBytes)
        XCTAssertEqual(Fixture.readFile(passPath), passBytes)
        XCTAssertNoThrow(try VaultStore.open(path: passPath, secret: .passphrase(Fixture.payload("right horse"))))
    }

    func testNotAVaultAndMissingFile() {
        let directory = TemporaryDirectory()
        let path = directory.file("notes.txt")
        Fixture.writeFile(path, Array(String(repeating: "plain text ", count: 1000).utf8))
        XCTAssertThrowsCode(.notAVault, try VaultStore.open(path: path, secret: Fixture.secret))
        Fixture.writeFile(path, [])
        // An empty file says how to get on.
        let empty = assertThrowsCoffer(.notAVault) { try VaultStore.open(path: path, secret: Fixture.secret) }
        XCTAssertTrue(
            empty?.message.contains("remove the file and create the vault again") ?? false,
            "\(String(describing: empty))")
        XCTAssertThrowsCode(.notFound, try VaultStore.open(path: directory.file("missing"), secret: Fixture.secret))
    }

    func testSecondWriterIsLockedAndReadersAreAllowed() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("vault.coffer")
        let writer = try VaultStore.create(path: path, secret: Fixture.secret)
        _ = try writer.append([Fixture.payload("a")])
        XCTAssertThrowsCode(.locked, try VaultStore.open(path: path, secret: Fixture.secret))
        let (reader, payloads) = try Fixture.transactions(path: path, readOnly: true)
        XCTAssertEqual(payloads.count, 1)
        XCTAssertThrowsCode(.invalidInput, try reader.append([Fixture.payload("b")]))
        _ = try writer.append([Fixture.payload("b")])
        // A new reader sees the new prefix.
        XCTAssertEqual(try Fixture.transactions(path: path).payloads.count, 2)
    }

    /// `lockWait`: a second writer waits for the lock until its deadline, then fails `.locked`
    /// having closed every file it opened; it opens once the first writer closes.
    func testASecondWriterWaitsForTheLockUntilItsDeadline() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("vault.coffer")
        let writer = try VaultStore.create(path: path, secret: Fixture.secret)
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        let briefly = VaultStore.Options(lockWait: .milliseconds(30))
        XCTAssertThrowsCode(.locked, try VaultStore.open(path: path, secret: Fixture.secret, options: briefly))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count, descriptors)
        XCTAssertThrowsCode(
            .invalidInput,
            try VaultStore.open(path: path, secret: Fixture.secret, options: .init(lockWait: .seconds(-1))))
        XCTAssertThrowsCode(
            .invalidInput,
            try VaultStore.open(path: path, secret: Fixture.secret, options: .init(lockWait: .seconds(86_401))))

        let released = expectation(description: "the first writer closed")
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
            writer.close()
            released.fulfill()
        }
        let waiter = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(lockWait: .seconds(60)))
        wait(for: [released], timeout: 60)
        _ = try waiter.append([Fixture.payload("after the wait")])
        waiter.close()
    }

    func testReadRecordOpensARecordAtRandom() throws {
        let directory = TemporaryDirectory()
        let store = try VaultStore.create(path: directory.file("v"), secret: Fixture.secret)
        let receipt = try store.append([Fixture.payload("alpha"), Fixture.payload("beta")])
        let beta = try store.readRecord(sequence: receipt.records[1].sequence, offset: receipt.records[1].offset)
        XCTAssertEqual(beta.payload, Fixture.payload("beta"))
        XCTAssertThrowsCode(
            .corrupted, try store.readRecord(sequence: receipt.records[0].sequence, offset: receipt.records[1].offset))
        XCTAssertThrowsCode(.notFound, try store.readRecord(sequence: 99, offset: receipt.records[1].offset))
    }

    /// A reveal's read: the payload where it lies in the decrypted record, the same bytes as
    /// readRecord's, read from the file (a frame larger than one read, too) and from the cache
    /// of sealed frames; the same errors.
    func testARecordsPayloadIsReadWhereItLies() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let large = SecureBytes(copying: (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let writer = try VaultStore.create(path: path, secret: Fixture.secret)
        let receipt = try writer.append([Fixture.payload("small"), large])
        writer.close()
        let store = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(readOnly: true))
        defer { store.close() }
        for pass in ["from the file", "from the cache"] {
            for (record, expected) in zip(receipt.records, [Fixture.payload("small"), large]) {
                var seen: [UInt8] = []
                try store.withRecordPayload(sequence: record.sequence, offset: record.offset) { seen = Array($0) }
                XCTAssertTrue(seen == expected.withUnsafeBytes { Array($0) }, "record \(record.sequence), \(pass)")
            }
        }
        let other = receipt.records[0]
        XCTAssertThrowsCode(
            .corrupted,
            try store.withRecordPayload(sequence: other.sequence, offset: receipt.records[1].offset) { _ in })
        XCTAssertThrowsCode(.notFound, try store.withRecordPayload(sequence: 99, offset: other.offset) { _ in })
        let failure = CofferError(.invalidInput, "the reader's own error")
        XCTAssertThrowsCode(
            .invalidInput,
            try store.withRecordPayload(sequence: other.sequence, offset: other.offset) {
                (_: UnsafeRawBufferPointer) throws(CofferError) in throw failure
            })
    }

    func testDataKeyRotationSealsNewRecordsUnderTheNewEpoch() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        _ = try store.append([Fixture.payload("old")])
        XCTAssertEqual(try store.rotateDataKey(), 2)
        let receipt = try store.append([Fixture.payload("new")])
        XCTAssertEqual(receipt.records[0].epoch, 2)
        store.close()
        var epochs: [String: UInt32] = [:]
        _ = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(readOnly: true)) { record in
            if record.type == .transaction {
                epochs[String(decoding: record.payload!.withUnsafeBytes { Array($0) }, as: UTF8.self)] = record.epoch
            }
        }
        XCTAssertEqual(epochs, ["old": 1, "new": 2])
    }

    func testKeyslotChangesKeepDataAndNeverLoseTheLastSlot() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        _ = try store.append([Fixture.payload("kept")])
        let passphrase = Keyslot.Secret.passphrase(Fixture.payload("second factor"))
        let slot = try store.addKeyslot(passphrase, cost: .minimum)
        XCTAssertEqual(slot, 2)
        // A key file a slot holds already: a second slot would keep it after that one's removal.
        XCTAssertThrowsCode(.invalidInput, try store.addKeyslot(Fixture.secret))
        XCTAssertThrowsCode(.invalidInput, try store.replaceKeyslot(id: 2, with: Fixture.secret))
        // The same for a passphrase, whatever the new slot's cost; a slot's own passphrase may
        // be given to it again (a new cost), and another slot may take it once that one drops it.
        XCTAssertThrowsCode(.invalidInput, try store.addKeyslot(passphrase, cost: .minimum))
        try store.replaceKeyslot(id: 2, with: passphrase, cost: .minimum)
        let third = try store.addKeyslot(.passphrase(Fixture.payload("third factor")), cost: .minimum)
        XCTAssertThrowsCode(.invalidInput, try store.replaceKeyslot(id: third, with: passphrase, cost: .minimum))
        try store.removeKeyslot(id: third)
        XCTAssertEqual(store.keyslots.map(\.id), [1, 2])
        XCTAssertThrowsCode(.notFound, try store.removeKeyslot(id: 9))
        try store.removeKeyslot(id: 1)
        XCTAssertThrowsCode(.invalidInput, try store.removeKeyslot(id: 2))
        store.close()
        XCTAssertThrowsCode(.wrongKey, try VaultStore.open(path: path, secret: Fixture.secret))
        XCTAssertEqual(try Fixture.transactions(path: path, secret: passphrase).payloads.count, 1)
        // Both header copies hold the new slots: the removed key file is gone from the file.
        let info = try VaultFileInfo.read(path: path)
        XCTAssertEqual(info.header.keyslots.map(\.id), [2])
        XCTAssertEqual(info.headerCopiesValid, [true, true])
    }

    /// Header changes on one store from several threads at once all land, each on the
    /// header the one before it left: none is lost, no two slots share an id.
    func testKeyslotChangesFromManyThreadsAllLand() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        let added = FormatConstants.keyslotCountMax - 1
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: added) { number in
            let key = SecureBytes(copying: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number &+ 1) })
            do { try store.addKeyslot(.keyFile(key)) } catch { failures.withLock { $0.append("\(number): \(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(store.keyslots.map(\.id), Array(1...UInt16(added + 1)))
        store.close()
        XCTAssertEqual(try VaultFileInfo.read(path: path).header.keyslots.count, added + 1)
    }

    /// A keyslot named to try first that the vault does not have is refused by name.
    func testAKeyslotNamedToTryFirstMustExist() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        try VaultStore.create(path: path, secret: Fixture.secret).close()
        XCTAssertThrowsCode(
            .invalidInput, try VaultStore.open(path: path, secret: Fixture.secret, options: .init(preferredKeyslot: 5)))
        XCTAssertNoThrow(
            try VaultStore.open(path: path, secret: Fixture.secret, options: .init(preferredKeyslot: 1)).close())
    }

    /// A cost an opener would refuse (F-SLOT-CAP) is refused when the slot is made: a vault
    /// or slot made with it could never be opened. Nothing is created or changed.
    func testAKeyslotCostOutsideTheFormatsLimitsIsRefused() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let passphrase = Keyslot.Secret.passphrase(Fixture.payload("a passphrase"))
        let refused = [
            Argon2id.Cost(operations: 17, memoryBytes: 8192), Argon2id.Cost(operations: 0, memoryBytes: 8192),
            Argon2id.Cost(operations: 1, memoryBytes: 4096), Argon2id.Cost(operations: 1, memoryBytes: (1 << 30) + 1),
            Argon2id.Cost(operations: 1, memoryBytes: .max),
        ]
        for cost in refused {
            XCTAssertThrowsCode(.invalidInput, try VaultStore.create(path: path, secret: passphrase, cost: cost))
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(cost)")
        }
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        for cost in refused {
            XCTAssertThrowsCode(.invalidInput, try store.addKeyslot(passphrase, cost: cost))
            XCTAssertThrowsCode(.invalidInput, try store.replaceKeyslot(id: 1, with: passphrase, cost: cost))
        }
        XCTAssertEqual(store.keyslots.map(\.id), [1])
        XCTAssertEqual(store.keyslots.first?.kind, .keyFile)
        store.close()
        XCTAssertNoThrow(try VaultStore.open(path: path, secret: Fixture.secret).close())
    }

    /// F-HDR-SUPERSEDED: a keyslot removal or replacement cut after its first copy write
    /// leaves the secret it took away opening the older copy. It may still read; it may not
    /// open as the writer (whose repair from its copy would bring the slot back for good) nor
    /// salvage, and nothing is modified; a writer with a current secret completes the change.
    func testASecretAnInterruptedChangeTookAwayOpensTheVaultReadOnlyOnly() throws {
        let changes: [(String, (VaultStore, UInt16) throws -> Void)] = [
            ("removal", { store, slot in try store.removeKeyslot(id: slot) }),
            (
                "replacement",
                { store, slot in
                    try store.replaceKeyslot(
                        id: slot, with: .passphrase(Fixture.payload("its successor")), cost: .minimum)
                }
            ),
        ]
        for (name, change) in changes {
            let directory = TemporaryDirectory()
            let path = directory.file("v")
            let store = try VaultStore.create(path: path, secret: Fixture.secret)
            _ = try store.append([Fixture.payload("kept")])
            let takenAway = Keyslot.Secret.passphrase(Fixture.payload("taken away later"))
            let slot = try store.addKeyslot(takenAway, cost: .minimum)
            let before = Fixture.readFile(path)
            try change(store, slot)
            store.close()
            // The crash: the copy not in force was rewritten (step 1), the one in force not yet.
            let copyBytes = FormatConstants.headerCopyBytes
            // The copy in force before the change, which its second write rewrites.
            let older = try Fixture.copyInForce(before)
            let olderRange = older * copyBytes..<(older + 1) * copyBytes
            var bytes = Fixture.readFile(path)
            bytes.replaceSubrange(olderRange, with: before[olderRange])
            Fixture.writeFile(path, bytes)

            let (reader, payloads) = try Fixture.transactions(path: path, secret: takenAway)
            XCTAssertEqual(payloads.count, 1, "\(name): read-only, the secret lingers (F-HDR-REPAIR)")
            XCTAssertTrue(reader.recovery.openedAnOlderHeaderCopy, name)
            reader.close()
            XCTAssertThrowsCode(.wrongKey, try VaultStore.open(path: path, secret: takenAway))
            let salvaged = directory.file("salvaged")
            XCTAssertThrowsCode(.wrongKey, try VaultStore.salvage(path: path, secret: takenAway, output: salvaged))
            XCTAssertFalse(FileManager.default.fileExists(atPath: salvaged), name)
            XCTAssertTrue(Fixture.readFile(path) == bytes, "\(name): a refused open modifies nothing")
            let report = try VaultStore.verify(path: path, secret: takenAway)
            XCTAssertEqual(report.problems.map(\.kind), [.header], name)
            XCTAssertEqual(report.problems.first?.offset, UInt64(olderRange.lowerBound), name)

            let (writer, _) = try Fixture.transactions(path: path, readOnly: false)
            XCTAssertTrue(writer.recovery.headerRepaired, name)
            writer.close()
            XCTAssertThrowsCode(
                .wrongKey, try VaultStore.open(path: path, secret: takenAway, options: .init(readOnly: true)))
            let info = try VaultFileInfo.read(path: path)
            XCTAssertEqual(info.header.keyslots.map(\.id), name == "removal" ? [1] : [1, slot])
            XCTAssertEqual(info.headerCopiesValid, [true, true], name)
            XCTAssertTrue(try VaultStore.verify(path: path, secret: Fixture.secret).isClean, name)
        }
    }

    func testExpectedHeadDetectsTruncationAtARecordBoundaryAndRollback() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        let early = try store.append([Fixture.payload("a")])
        let snapshot = Fixture.readFile(path)
        let late = try store.append([Fixture.payload("b")])
        store.close()
        XCTAssertNoThrow(
            try VaultStore.open(
                path: path, secret: Fixture.secret, options: .init(readOnly: true, expectedHead: late.head)))
        XCTAssertNoThrow(
            try VaultStore.open(
                path: path, secret: Fixture.secret, options: .init(readOnly: true, expectedHead: early.head)))
        // Rollback to an older copy of the file: per-record authentication cannot see it.
        Fixture.writeFile(path, snapshot)
        XCTAssertEqual(try Fixture.transactions(path: path).payloads.count, 1)
        XCTAssertThrowsCode(
            .headMismatch,
            try VaultStore.open(
                path: path, secret: Fixture.secret, options: .init(readOnly: true, expectedHead: late.head)))
        let forged = ChainHead(sequence: early.head.sequence, digest: [UInt8](repeating: 0, count: 32))
        XCTAssertThrowsCode(
            .headMismatch,
            try VaultStore.open(
                path: path, secret: Fixture.secret, options: .init(readOnly: true, expectedHead: forged)))
    }

    func testSalvageCopiesTheValidPrefixAndLeavesTheOriginal() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: Fixture.secret)
        let receipt = try store.append([Fixture.payload("a"), Fixture.payload("b"), Fixture.payload("c")])
        store.close()
        var bytes = Fixture.readFile(path)
        // Damage the body of the middle record: valid data follows, so open must refuse.
        bytes[Int(receipt.records[1].offset) + 100] ^= 0x40
        Fixture.writeFile(path, bytes)
        XCTAssertThrowsCode(.corrupted, try VaultStore.open(path: path, secret: Fixture.secret))
        do {
            _ = try VaultStore.open(path: path, secret: Fixture.secret)
        } catch {
            XCTAssertEqual(error.offset, receipt.records[1].offset)
            XCTAssertEqual(error.sequence, receipt.records[1].sequence)
            XCTAssertTrue(error.message.contains("run salvage"), error.message)
        }
        let report = try VaultStore.salvage(path: path, secret: Fixture.secret, output: directory.file("saved"))
        XCTAssertEqual(report.recordsKept, 2)  // the key epoch and "a"
        XCTAssertEqual(Fixture.readFile(path), bytes)
        XCTAssertEqual(try Fixture.transactions(path: directory.file("saved")).payloads, [Array("a".utf8)])
        XCTAssertThrowsCode(
            .alreadyExists, try VaultStore.salvage(path: path, secret: Fixture.secret, output: directory.file("saved")))
    }

    /// F-NO-EPOCH: a log cut off before its first record holds nothing: writers refuse it,
    /// verify reports it, salvage writes nothing; with its first record it is clean.
    func testALogWithoutAKeyEpochIsReportedAndNothingIsSalvaged() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        try VaultStore.create(path: path, secret: Fixture.secret).close()
        let whole = Fixture.readFile(path)
        XCTAssertTrue(try VaultStore.verify(path: path, secret: Fixture.secret).isClean)
        Fixture.writeFile(path, Array(whole.prefix(Int(FormatConstants.logStartOffset))))
        let report = try VaultStore.verify(path: path, secret: Fixture.secret)
        XCTAssertEqual(report.problems.map(\.kind), [.chain])
        XCTAssertEqual(report.problems.first?.offset, FormatConstants.logStartOffset)
        XCTAssertTrue(report.problems.first?.detail.contains("no key-epoch record") ?? false)
        XCTAssertThrowsCode(.corrupted, try VaultStore.open(path: path, secret: Fixture.secret))
        // A reader too: the log is not an empty vault.
        XCTAssertThrowsCode(
            .corrupted, try VaultStore.open(path: path, secret: Fixture.secret, options: .init(readOnly: true)))
        XCTAssertThrowsCode(
            .corrupted, try VaultStore.salvage(path: path, secret: Fixture.secret, output: directory.file("saved")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("saved")))

        // A damaged first record with valid ones after it: a corruption, and still nothing to salvage.
        let damaged = directory.file("w")
        let store = try VaultStore.create(path: damaged, secret: Fixture.secret)
        _ = try store.append([Fixture.payload("a"), Fixture.payload("b")])
        store.close()
        var bytes = Fixture.readFile(damaged)
        bytes[Int(FormatConstants.logStartOffset) + 40] ^= 0x01
        Fixture.writeFile(damaged, bytes)
        XCTAssertEqual(try VaultStore.verify(path: damaged, secret: Fixture.secret).problems.first?.sequence, 1)
        // The open's advice is a copy, not salvage, which would refuse.
        let refusal = assertThrowsCoffer(.corrupted) { try VaultStore.open(path: damaged, secret: Fixture.secret) }
        XCTAssertTrue(refusal?.message.contains("restore the vault from a copy") ?? false, refusal?.message ?? "")
        XCTAssertThrowsCode(
            .corrupted, try VaultStore.salvage(path: damaged, secret: Fixture.secret, output: directory.file("saved")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("saved")))
        XCTAssertEqual(Fixture.readFile(damaged), bytes)
    }

    func testFileInfoWithoutAKey() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let store = try VaultStore.create(path: path, secret: .passphrase(Fixture.payload("p")), cost: .minimum)
        _ = try store.append([Fixture.payload("a")])
        let info = try VaultFileInfo.read(path: path)
        XCTAssertEqual(info.recordCount, 2)
        XCTAssertEqual(info.head, store.head)
        XCTAssertEqual(info.header.keyslots.first?.cost, .minimum)
        XCTAssertNil(info.tornTail)
    }
}
