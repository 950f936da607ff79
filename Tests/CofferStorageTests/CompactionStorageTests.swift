import CofferCrypto
import CofferFormat
import CofferSimulation
import CofferStorage
import XCTest

/// The storage side of compaction: a new file beside the vault, records copied and caught
/// up, the switch by rename, epochs retired, leftovers removed.
final class CompactionStorageTests: XCTestCase {
    let path = "/vault/v.coffer"

    /// Copies every transaction of `store` into a compaction and switches to it.
    private func compactEverything(
        _ store: VaultStore, reencrypt: Bool, newMasterKey: Bool = false, during: () throws -> Void = {}
    ) throws -> VaultStore {
        let target = try store.beginCompaction(reencrypt: reencrypt, newMasterKey: newMasterKey)
        let genesis = ChainHead(sequence: 0, digest: ChainHash.genesis(vaultID: store.vaultID))
        var copied = try store.copyAcknowledged(after: genesis, endingAt: FormatConstants.logStartOffset, into: target)
        { _, _, _ in }
        try during()
        copied = try store.copyAcknowledged(after: copied.head, endingAt: copied.end, into: target) { _, _, _ in }
        return try store.completeCompaction(target)
    }

    private func payloads(_ count: Int, prefix: String) -> [SecureBytes] {
        (0..<count).map { SecureBytes(copying: Array("\(prefix)-\($0)".utf8)) }
    }

    func testCompactionKeepsEveryRecordAndCatchesUpWithWritersBesideIt() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append(payloads(5, prefix: "before"))
        _ = try store.rotateDataKey()
        _ = try store.append(payloads(3, prefix: "rotated"))
        let compacted = try compactEverything(store, reencrypt: false) {
            _ = try store.append(payloads(2, prefix: "during"))
        }
        XCTAssertThrowsError(try store.append(payloads(1, prefix: "old handle")))
        _ = try compacted.append(payloads(1, prefix: "after"))
        compacted.close()
        var epochs: [UInt32] = []
        var texts: [String] = []
        _ = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(storage: disk, readOnly: true)) {
            record in
            if record.type == .transaction {
                texts.append(String(decoding: record.payload!.withUnsafeBytes { Array($0) }, as: UTF8.self))
                epochs.append(record.epoch)
            }
        }
        XCTAssertEqual(
            texts,
            [
                "before-0", "before-1", "before-2", "before-3", "before-4", "rotated-0", "rotated-1", "rotated-2",
                "during-0", "during-1", "after-0",
            ])
        // Without re-encryption, records stay under their own epoch.
        XCTAssertEqual(epochs, [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
        XCTAssertEqual(disk.paths().filter { $0.contains(".compact-") }, [])
    }

    func testReencryptionRetiresOldEpochsAndErasesTheirKeys() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append(payloads(4, prefix: "old"))
        // Learn epoch 1's data key the way an attacker with the master key would.
        var oldKeys: [[UInt8]] = []
        try store.forEachRecord { record in
            if record.type == .keyEpoch, let key = KeyEpochPayload.decode(record.payload!) {
                oldKeys.append(key.dataKey.withUnsafeBytes { Array($0) })
            }
        }
        XCTAssertEqual(oldKeys.count, 1)
        let compacted = try compactEverything(store, reencrypt: true)
        XCTAssertEqual(compacted.currentEpoch, 2)
        compacted.close()
        let bytes = disk.contents(of: path)!
        for key in oldKeys {
            XCTAssertFalse(contains(bytes, key), "a retired epoch's key is still in the file")
        }
        var epochs = Set<UInt32>()
        let (_, texts) = try Fixture.transactions(path: path, storage: disk)
        _ = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(storage: disk, readOnly: true)) {
            epochs.insert($0.epoch)
        }
        XCTAssertEqual(epochs, [2])
        XCTAssertEqual(texts.count, 4)
    }

    func testMasterKeyRotationKeepsEverySlot() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        let passphrase = Keyslot.Secret.passphrase(Fixture.payload("second"))
        try store.addKeyslot(passphrase, cost: .minimum)
        _ = try store.append(payloads(3, prefix: "kept"))
        let oldHeaderMAC = FileHeader.storedMAC(of: Array(disk.contents(of: path)![0..<4096]))
        let compacted = try compactEverything(store, reencrypt: true, newMasterKey: true)
        compacted.close()
        let newHeaderMAC = FileHeader.storedMAC(of: Array(disk.contents(of: path)![0..<4096]))
        XCTAssertNotEqual(oldHeaderMAC, newHeaderMAC)
        XCTAssertEqual(try Fixture.transactions(path: path, storage: disk).payloads.count, 3)
        XCTAssertEqual(try Fixture.transactions(path: path, secret: passphrase, storage: disk).payloads.count, 3)
    }

    func testALeftoverTemporaryFileIsRemovedByTheNextWriter() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append(payloads(2, prefix: "x"))
        let target = try store.beginCompaction(reencrypt: false, newMasterKey: false)
        _ = target
        store.close()
        XCTAssertEqual(disk.paths().filter { $0.contains(".compact-") }.count, 1)
        let (reader, _) = try Fixture.transactions(path: path, readOnly: true, storage: disk)
        XCTAssertEqual(reader.recovery.removedTemporaryFiles, [])
        target.abandon()
        disk.write(path: path + ".compact-0011223344556677", bytes: [1, 2, 3], durable: true)
        disk.write(path: path + ".checkpoint.partial-8899aabbccddeeff", bytes: [4], durable: true)
        // Names that only start alike are someone else's files: a writer leaves them.
        let others = [
            ".compact-my-backup", ".compact-0011223344556677.bak", ".compact-00112233445566",
            ".compact-0011223344556677X",
            ".compact-00112233445566FF", ".checkpoint.partial-notes",
        ].map { path + $0 }
        for other in others { disk.write(path: other, bytes: [5], durable: true) }
        let (writer, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
        XCTAssertEqual(payloads.count, 2)
        XCTAssertEqual(
            writer.recovery.removedTemporaryFiles.sorted(),
            ["v.coffer.checkpoint.partial-8899aabbccddeeff", "v.coffer.compact-0011223344556677"])
        XCTAssertFalse(disk.exists(path + ".compact-0011223344556677"))
        for other in others { XCTAssertTrue(disk.exists(other), other) }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }
}
