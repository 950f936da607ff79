import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage

/// ``FuzzTarget/openVault``: a whole vault file through the storage layer (F-RECOVER, F-TORN,
/// F-HDR-SELECT, F-HDR-REPAIR, F-APPEND, F-ROTATE-DATA).
///
/// Any `CofferError` is an accepted outcome. The oracles compare what different ways of
/// reading the same bytes report: a second read-only open, `forEachRecord`, `readRecord`, the
/// keyless `VaultFileInfo`, a writer open, and a reopen after the writer appended.
enum OpenVaultBody {
    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let file = Array(input)
        exercise(file, &findings)
        let repaired = ChecksumRepair.repairVault(file)
        if !sameBytes(repaired, file) { exercise(repaired, &findings) }
    }

    /// A scanned record as plain values, comparable across opens.
    struct Record: Equatable {
        let sequence: UInt64
        let type: RecordType
        let epoch: UInt32
        let offset: UInt64
        let frameBytes: Int
        let previousChain: [UInt8]
        let payload: [UInt8]?

        init(_ record: ScannedRecord) {
            sequence = record.sequence
            type = record.type
            epoch = record.epoch
            offset = record.offset
            frameBytes = record.frameBytes
            previousChain = record.previousChain
            payload = record.payload?.withUnsafeBytes { Array($0) }
        }
    }

    struct Opened {
        let store: VaultStore
        let records: [Record]
    }

    static func open(_ disk: SimulatedDisk, readOnly: Bool) -> Result<Opened, CofferError> {
        var records: [Record] = []
        do {
            let store = try VaultStore.open(
                path: FuzzFixtures.vaultPath, secret: FuzzFixtures.keyFile,
                options: VaultStore.Options(storage: disk, readOnly: readOnly)
            ) { record in records.append(Record(record)) }
            return .success(Opened(store: store, records: records))
        } catch {
            return .failure(error)
        }
    }

    static func readInfo(_ disk: SimulatedDisk) -> VaultFileInfo? {
        do { return try VaultFileInfo.read(path: FuzzFixtures.vaultPath, storage: disk) } catch { return nil }
    }

    static func exercise(_ file: [UInt8], _ findings: inout FuzzFindings) {
        let path = FuzzFixtures.vaultPath
        let disk = SimulatedDisk()
        disk.write(path: path, bytes: file, durable: true)

        let info = readInfo(disk)
        findings.check(sameBytes(disk.contents(of: path), file), "VaultFileInfo.read modified the file")

        let first = open(disk, readOnly: true)
        findings.check(sameBytes(disk.contents(of: path), file), "a read-only open modified the file")
        let second = open(disk, readOnly: true)
        switch (first, second) {
        case (.failure(let one), .failure(let two)):
            findings.check(one.code == two.code, "two read-only opens fail differently: \(one.code), \(two.code)")
        case (.success(let one), .success(let two)):
            findings.check(one.records == two.records, "two read-only opens see different records")
            findings.check(one.store.head == two.store.head, "two read-only opens see different heads")
            checkReadOnly(one, info: info, file: file, &findings)
        default:
            findings.fail("of two read-only opens of the same bytes, one failed and one succeeded")
        }
        if case .success(let opened) = first { opened.store.close() }
        if case .success(let opened) = second { opened.store.close() }

        let writer = open(disk, readOnly: false)
        switch (first, writer) {
        case (.failure(let readError), .failure(let writeError)):
            findings.check(
                readError.code == writeError.code,
                "a read-only open fails with \(readError.code) but a writer open with \(writeError.code)")
        case (.failure(let readError), .success(let opened)):
            findings.fail("a read-only open fails with \(readError.code) but a writer open succeeds")
            opened.store.close()
        case (.success, .failure(let writeError)):
            // A log without a key epoch fails both (F-NO-EPOCH): no open fails a writer alone.
            findings.fail("a read-only open succeeds but a writer open fails with \(writeError.code)")
        case (.success(let reader), .success(let opened)):
            findings.check(opened.records == reader.records, "a writer open sees other records than a read-only open")
            checkWriter(opened, reader: reader, disk: disk, &findings)
        }
    }

    static func checkReadOnly(_ opened: Opened, info: VaultFileInfo?, file: [UInt8], _ findings: inout FuzzFindings) {
        let fileBytes = UInt64(file.count)
        let store = opened.store
        let records = opened.records
        findings.check(
            records.map(\.sequence) == records.indices.map { UInt64($0 + 1) },
            "sequence numbers are not 1, 2, 3, ...")
        findings.check(store.head.sequence == UInt64(records.count), "the head is not the last record")
        findings.check(!store.recovery.truncated && !store.recovery.headerRepaired, "a read-only open reports a repair")
        var end = FormatConstants.logStartOffset
        for record in records {
            findings.check(record.offset == end, "record \(record.sequence) is not where the previous one ends")
            end += UInt64(record.frameBytes)
        }
        findings.check(store.logEnd == end, "the log end is not where the last record ends")
        // F-TORN, F-FREE: whatever follows the last valid record is free space — zeros to the
        // end of a file whose length is a multiple of 64 KiB — or else a torn tail (or the
        // open fails), judged here from the bytes themselves.
        let recovery = store.recovery
        let followingZeros = store.logEnd < fileBytes && file[Int(store.logEnd)...].allSatisfy { $0 == 0 }
        let free = followingZeros && file.count % FormatConstants.freeSpaceAlignment == 0
        findings.check(
            recovery.freeBytes == (free ? fileBytes - store.logEnd : 0)
                && (recovery.tornTail != nil) == (store.logEnd < fileBytes && !free),
            "free space is reported iff zeros fill a 64 KiB-aligned file after the last record, else a torn tail iff bytes follow it"
        )

        var again: [Record] = []
        do {
            try store.forEachRecord { again.append(Record($0)) }
            findings.check(again == records, "forEachRecord sees other records than the open")
        } catch {
            findings.fail("forEachRecord fails on a store that opened: \(error)")
        }
        for record in records {
            do {
                let read = try store.readRecord(sequence: record.sequence, offset: record.offset)
                findings.check(Record(read) == record, "readRecord(\(record.sequence)) differs from the scan")
            } catch {
                findings.fail("readRecord(\(record.sequence)) fails on a record the open returned: \(error)")
            }
        }
        // The keyless walk checks a subset of what the keyed scan checks, so over the same
        // vault id (the newest header copy may belong to another vault) it sees the same log.
        if let info, info.header.vaultID == store.vaultID {
            findings.check(
                info.recordCount == UInt64(records.count) && info.head == store.head && info.corruption == nil
                    && (info.tornTail == nil) == (store.recovery.tornTail == nil)
                    && info.freeBytes == store.recovery.freeBytes,
                "VaultFileInfo disagrees with a keyed open of the same log")
        }
    }

    static func checkWriter(_ opened: Opened, reader: Opened, disk: SimulatedDisk, _ findings: inout FuzzFindings) {
        let store = opened.store
        let path = FuzzFixtures.vaultPath
        // F-TORN: a writer cuts a torn tail, so the file ends with its last valid record and
        // the free space after it (F-FREE), if any.
        findings.check(
            disk.contents(of: path).map { UInt64($0.count) } == store.logEnd + store.recovery.freeBytes,
            "after a writer open the file does not end with the last valid record and its free space")
        findings.check(
            store.recovery.truncated == (reader.store.recovery.tornTail != nil),
            "a writer cut the log iff a read-only open found a torn tail")

        let first = SecureBytes(copying: Array("fuzz append one".utf8))
        let second = SecureBytes(copying: Array(repeating: 0x5A, count: 300))
        let before = store.head
        let epochBefore = store.currentEpoch
        let keyslots = store.keyslots
        let head: ChainHead
        do {
            let receipt = try store.append([first])
            findings.check(receipt.records.map(\.sequence) == [before.sequence + 1], "an append got the wrong sequence")
            let epoch = try store.rotateDataKey()
            findings.check(epoch > epochBefore, "rotation did not move to a later epoch")
            _ = try store.append([second])
            head = store.head
        } catch {
            findings.fail("appending to a vault open for writing fails: \(error)")
            store.close()
            return
        }
        // An unlock change and its undo: two header rewrites each (F-HDR-UPDATE). A full slot
        // table, slot ids used up to 65535, or a slot that holds that key file already, are
        // refused with .invalidInput.
        let addedKeyFile = Keyslot.Secret.keyFile(SecureBytes(copying: FuzzFixtures.addedKeyFileBytes))
        let holdsIt = readInfo(disk)?.header.unlock(with: addedKeyFile) != nil
        do {
            let id = try store.addKeyslot(addedKeyFile)
            findings.check(store.keyslots.map(\.id) == keyslots.map(\.id) + [id], "addKeyslot did not append one slot")
            try store.removeKeyslot(id: id)
        } catch let error where error.code == .invalidInput {
            findings.check(
                keyslots.count == FormatConstants.keyslotCountMax || keyslots.contains { $0.id == UInt16.max }
                    || holdsIt,
                "addKeyslot refused a slot with room in the table: \(error)")
        } catch {
            findings.fail("adding and removing a keyslot fails: \(error)")
            store.close()
            return
        }
        store.close()
        switch open(disk, readOnly: true) {
        case .failure(let error):
            findings.fail("the vault does not reopen after appends: \(error)")
        case .success(let reopened):
            let count = opened.records.count
            findings.check(
                reopened.records.count == count + 3 && Array(reopened.records.prefix(count)) == opened.records,
                "a reopen after appends does not see the old records followed by the new ones")
            let added = reopened.records.dropFirst(count)
            findings.check(
                added.map(\.type) == [.transaction, .keyEpoch, .transaction]
                    && added.first?.payload == first.withUnsafeBytes { Array($0) }
                    && added.last?.payload == second.withUnsafeBytes { Array($0) },
                "the appended records do not reopen as written")
            findings.check(reopened.store.head == head, "the reopened head is not the writer's head")
            findings.check(reopened.store.keyslots == keyslots, "adding and removing a keyslot changed the others")
            findings.check(reopened.store.recovery.tornTail == nil, "a torn tail after clean appends")
            reopened.store.close()
        }
        // F-HDR-REPAIR: a writer open leaves both header copies valid.
        findings.check(
            readInfo(disk)?.headerCopiesValid == [true, true], "after a writer open a header copy is invalid")
    }
}
