import CofferCrypto
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

/// A crash mid-append leaves a prefix of the last frames on disk. Open must return exactly
/// the records completely written, cut the rest, and accept appends afterwards.
final class TornTailTests: XCTestCase {
    private let path = "/vault/v.coffer"

    /// Builds a vault of four transactions and returns its log's bytes (without the free
    /// space after it, F-FREE) and the records' offsets.
    private func makeVault() throws -> (bytes: [UInt8], offsets: [UInt64], payloads: [[UInt8]]) {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        var offsets: [UInt64] = []
        var payloads: [[UInt8]] = []
        for index in 0..<4 {
            let payload = (0..<(40 + index * 150)).map { UInt8(truncatingIfNeeded: $0 * 7 + index) }
            payloads.append(payload)
            offsets.append(try store.append([SecureBytes(copying: payload)]).records[0].offset)
        }
        let end = Int(store.logEnd)
        store.close()
        return (Array(disk.contents(of: path)!.prefix(end)), offsets, payloads)
    }

    func testEveryCutInsideTheLastTwoRecordsRecoversTheCompleteOnes() throws {
        let vault = try makeVault()
        let firstCut = Int(vault.offsets[2])
        for cut in firstCut..<vault.bytes.count {
            let disk = SimulatedDisk()
            disk.write(path: path, bytes: Array(vault.bytes[0..<cut]), durable: true)
            let complete =
                vault.offsets.filter { $0 < UInt64(cut) }.count - (vault.offsets.contains(UInt64(cut)) ? 0 : 1)
            let (store, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
            XCTAssertEqual(payloads, Array(vault.payloads.prefix(complete)), "cut at \(cut)")
            let atBoundary = vault.offsets.contains(UInt64(cut))
            XCTAssertEqual(store.recovery.tornTail != nil, !atBoundary, "cut at \(cut)")
            XCTAssertEqual(store.recovery.truncated, !atBoundary, "cut at \(cut)")
            if let torn = store.recovery.tornTail {
                XCTAssertEqual(torn.offset, vault.offsets[complete], "cut at \(cut)")
            }
            _ = try store.append([Fixture.payload("after")])
            store.close()
            let reopened = try Fixture.transactions(path: path, storage: disk)
            XCTAssertEqual(
                reopened.payloads, Array(vault.payloads.prefix(complete)) + [Array("after".utf8)], "cut at \(cut)")
            XCTAssertNil(reopened.store.recovery.tornTail, "cut at \(cut)")
        }
    }

    /// F-FREE: a torn append into free space (the frame's first bytes, then the zeros that
    /// were there) is a torn tail, cut; zeros alone where a frame would start are free space,
    /// kept, and the next append goes there.
    func testEveryCutInsideTheLastRecordBeforeFreeSpaceRecoversTheCompleteOnes() throws {
        let vault = try makeVault()
        // Free space fills the file to a multiple of 64 KiB (F-FREE).
        let alignment = FormatConstants.freeSpaceAlignment
        let fileBytes = (vault.bytes.count / alignment + 1) * alignment
        for cut in Int(vault.offsets[3])..<vault.bytes.count {
            let disk = SimulatedDisk()
            let file = Array(vault.bytes[0..<cut]) + [UInt8](repeating: 0, count: fileBytes - cut)
            disk.write(path: path, bytes: file, durable: true)
            // A cut that takes off only zeros (a tag's last bytes, random, are zero one time in
            // 256) leaves the same bytes as no cut: the last record is whole, then free space.
            if vault.bytes[cut...].allSatisfy({ $0 == 0 }) {
                let (store, payloads) = try Fixture.transactions(path: path, readOnly: true, storage: disk)
                XCTAssertEqual(payloads, vault.payloads, "cut at \(cut), only zeros cut")
                XCTAssertNil(store.recovery.tornTail, "cut at \(cut), only zeros cut")
                continue
            }
            let atBoundary = cut == Int(vault.offsets[3])
            let (store, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
            XCTAssertEqual(payloads, Array(vault.payloads.prefix(3)), "cut at \(cut)")
            XCTAssertEqual(store.recovery.tornTail?.offset, atBoundary ? nil : vault.offsets[3], "cut at \(cut)")
            XCTAssertEqual(store.recovery.truncated, !atBoundary, "cut at \(cut)")
            XCTAssertEqual(store.recovery.freeBytes, atBoundary ? UInt64(fileBytes - cut) : 0, "cut at \(cut)")
            XCTAssertEqual(
                disk.contents(of: path)?.count, atBoundary ? fileBytes : Int(vault.offsets[3]), "cut at \(cut)")
            let receipt = try store.append([Fixture.payload("after")])
            XCTAssertEqual(receipt.records[0].offset, vault.offsets[3], "cut at \(cut)")
            store.close()
            let reopened = try Fixture.transactions(path: path, storage: disk)
            XCTAssertEqual(reopened.payloads, Array(vault.payloads.prefix(3)) + [Array("after".utf8)], "cut at \(cut)")
            XCTAssertNil(reopened.store.recovery.tornTail, "cut at \(cut)")
        }
    }

    /// F-PREALLOCATE: an append that grows the file leaves zeros after its frames up to a
    /// multiple of 64 KiB, and the appends after it fill them without growing the file; a read-only
    /// open reports the free space and changes nothing.
    func testAppendsPreallocateFreeSpaceAndFillIt() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append([Fixture.payload("first")])
        let chunk = 64 << 10
        XCTAssertEqual(disk.contents(of: path)?.count, chunk)
        var payloads = [Array("first".utf8)]
        while store.logEnd < UInt64(chunk) - 2000 {
            let payload = Array(repeating: UInt8(payloads.count), count: 900)
            _ = try store.append([SecureBytes(copying: payload)])
            payloads.append(payload)
            XCTAssertEqual(disk.contents(of: path)?.count, chunk, "after \(payloads.count) appends")
        }
        let big = [UInt8](repeating: 7, count: 3000)
        _ = try store.append([SecureBytes(copying: big)])
        payloads.append(big)
        let end = Int(store.logEnd)
        XCTAssertEqual(disk.contents(of: path)?.count, 2 * chunk)
        XCTAssertEqual(disk.contents(of: path)?.dropFirst(end).allSatisfy { $0 == 0 }, true)
        store.close()
        let before = disk.contents(of: path)
        let (reader, read) = try Fixture.transactions(path: path, readOnly: true, storage: disk)
        XCTAssertEqual(read, payloads)
        XCTAssertEqual(reader.logEnd, UInt64(end))
        XCTAssertEqual(reader.recovery.freeBytes, UInt64(2 * chunk - end))
        XCTAssertNil(reader.recovery.tornTail)
        XCTAssertEqual(disk.contents(of: path), before)
    }

    func testReadOnlyOpenReportsButDoesNotCutATornTail() throws {
        let vault = try makeVault()
        let disk = SimulatedDisk()
        let cut = Array(vault.bytes.dropLast(10))
        disk.write(path: path, bytes: cut, durable: true)
        let (store, payloads) = try Fixture.transactions(path: path, readOnly: true, storage: disk)
        XCTAssertEqual(payloads.count, 3)
        XCTAssertEqual(store.recovery.tornTail?.kind, .tornTail)
        XCTAssertFalse(store.recovery.truncated)
        XCTAssertEqual(disk.contents(of: path), cut)
    }

    /// The nonce is random per seal, so re-appending at the offset and sequence number of a
    /// cut record never reuses a (key, nonce) pair (F-NONCE).
    func testAppendingAfterACutNeverReusesANonce() throws {
        let vault = try makeVault()
        let lastOffset = Int(vault.offsets[3])
        let nonceRange =
            (lastOffset + FormatConstants.frameHeaderBytes)..<(lastOffset + FormatConstants.frameHeaderBytes + 24)
        let cutNonce = Array(vault.bytes[nonceRange])
        var seen: Set<[UInt8]> = [cutNonce]
        for attempt in 0..<20 {
            let disk = SimulatedDisk()
            disk.write(path: path, bytes: Array(vault.bytes.dropLast(1)), durable: true)
            let store = try VaultStore.open(path: path, secret: Fixture.secret, options: .init(storage: disk))
            let receipt = try store.append([SecureBytes(copying: vault.payloads[3])])
            XCTAssertEqual(receipt.records[0].offset, UInt64(lastOffset))
            store.close()
            let nonce = Array(disk.contents(of: path)![nonceRange])
            XCTAssertTrue(seen.insert(nonce).inserted, "attempt \(attempt) reused a nonce")
        }
    }
}

/// A frame in the middle of the log whose header checksum holds but whose length is
/// impossible (F-FRAME-MAX) is followed by valid frames: corruption for open and for verify
/// alike (F-TORN), never a torn tail for one and corruption for the other.
final class ImpossibleLengthTests: XCTestCase {
    private let path = "/vault/v.coffer"

    func testAnImpossibleLengthMidLogIsCorruptionForOpenAndVerify() throws {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        var offsets: [UInt64] = []
        for index in 0..<4 {
            offsets.append(try store.append([Fixture.payload("record \(index)")]).records[0].offset)
        }
        store.close()
        // Lengths outside F-FRAME-MAX, and the largest valid one, which runs past the file's end.
        for length: UInt32 in [0, 1, 12_345, UInt32.max, UInt32(16 << 20) + 40] {
            var bytes = disk.contents(of: path)!
            let header = Int(offsets[1])
            withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(header + 4..<header + 8, with: $0) }
            let crc = CRC32.checksum(Array(bytes[header..<header + 28]))
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(header + 28..<header + 32, with: $0) }
            let damaged = SimulatedDisk()
            damaged.write(path: path, bytes: bytes, durable: true)
            XCTAssertThrowsCode(
                .corrupted, try VaultStore.open(path: path, secret: Fixture.secret, options: .init(storage: damaged)))
            let report = try VaultStore.verify(path: path, secret: Fixture.secret, storage: damaged)
            XCTAssertFalse(report.problems.isEmpty, "length \(length)")
            XCTAssertEqual(report.problems.map(\.kind), [.chain], "length \(length): \(report.problems)")
            XCTAssertEqual(damaged.contents(of: path), bytes, "length \(length): the file was modified")
        }
    }
}
