import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

/// Every single-bit flip over a small vault is detected (an error, or a reported torn tail
/// or a fallback to the other header copy), never a wrong plaintext, never a crash.
final class BitFlipTests: XCTestCase {
    static let path = "/vault/v.coffer"

    /// A new disk with a vault at ``path`` that holds one transaction, `kept`.
    static func vaultHoldingKept() throws -> SimulatedDisk {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append([Fixture.payload("kept")])
        store.close()
        return disk
    }

    func testEverySingleBitFlipIsDetectedNeverAWrongPlaintext() throws {
        let path = "/vault/v.coffer"
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        let payloads: [[UInt8]] = [Array("organization acme".utf8), Array(repeating: 0x5A, count: 300)]
        for payload in payloads { _ = try store.append([SecureBytes(copying: payload)]) }
        let logEnd = Int(store.logEnd)
        store.close()
        let original = disk.contents(of: path)!
        let logStart = Int(FormatConstants.logStartOffset)
        var outcomes: [String: Int] = [:]

        // Every bit of the log and of the parts of the header copies that carry data; in the
        // zero-filled reserved area of each copy, every 7th bit (the checksum covers it whole).
        var bits: [Int] = []
        for copy in 0..<2 {
            let base = copy * FormatConstants.headerCopyBytes
            let dataEnd = base + FormatConstants.headerMACOffset + 32
            let checksumStart = base + FormatConstants.headerChecksumOffset
            bits += (base * 8)..<(dataEnd * 8)
            bits += stride(from: dataEnd * 8, to: checksumStart * 8, by: 7)
            bits += (checksumStart * 8)..<((base + FormatConstants.headerCopyBytes) * 8)
        }
        bits += (logStart * 8)..<(logEnd * 8)
        // The free space after the log (F-FREE): its first frame header's worth, then every 997th bit.
        let freeHeaderEnd = logEnd + FormatConstants.frameHeaderBytes
        bits += (logEnd * 8)..<(freeHeaderEnd * 8)
        bits += stride(from: freeHeaderEnd * 8, to: original.count * 8, by: 997)

        for bit in bits {
            var flipped = original
            flipped[bit / 8] ^= 1 << (bit % 8)
            let trial = SimulatedDisk()
            trial.write(path: path, bytes: flipped, durable: true)
            do {
                let (opened, recovered) = try Fixture.transactions(path: path, readOnly: true, storage: trial)
                XCTAssertEqual(recovered, Array(payloads.prefix(recovered.count)), "bit \(bit): wrong plaintext")
                if recovered.count < payloads.count {
                    XCTAssertNotNil(opened.recovery.tornTail, "bit \(bit): records lost without a report")
                    outcomes["torn tail reported", default: 0] += 1
                } else if bit / 8 >= logEnd {
                    // Free space that is no longer zero: a torn tail after every record.
                    XCTAssertEqual(
                        opened.recovery.tornTail?.offset, UInt64(logEnd), "bit \(bit): free space flip unreported")
                    outcomes["torn tail in free space reported", default: 0] += 1
                } else {
                    XCTAssertLessThan(bit / 8, logStart, "bit \(bit): a flip in the log went unnoticed")
                    outcomes["other header copy used", default: 0] += 1
                }
            } catch let error as CofferError {
                XCTAssertTrue(
                    [.corrupted, .wrongKey, .notAVault, .unsupportedVersion].contains(error.code),
                    "bit \(bit): \(error)")
                outcomes["\(error.code)", default: 0] += 1
            }
        }
        print("bit flips tried: \(bits.count), outcomes: \(outcomes.sorted { $0.key < $1.key })")
    }

    /// A header copy altered where its checksum does not show it (the checksum recomputed
    /// over a damaged master-key wrap): verify reports it, the next writer rewrites it, and
    /// later damage to the other copy leaves a vault that still opens.
    func testACopyDamagedBehindAValidChecksumIsReportedAndRepaired() throws {
        let path = Self.path
        let disk = try Self.vaultHoldingKept()
        var bytes = disk.contents(of: path)!
        let copyB = FormatConstants.headerCopyBytes
        // The newest copy is in force (ties go to A): damage the other one, whichever it is.
        let other = 1 - (try Fixture.copyInForce(bytes))
        Fixture.damageMasterWrapBehindItsChecksum(&bytes, copy: other)
        disk.write(path: path, bytes: bytes, durable: true)
        XCTAssertEqual(
            try VaultFileInfo.read(path: path, storage: disk).headerCopiesValid, [true, true], "the checksum holds")

        let report = try VaultStore.verify(path: path, secret: Fixture.secret, storage: disk)
        XCTAssertEqual(report.problems.map(\.kind), [.header], "\(report.problems)")
        let (opened, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
        XCTAssertEqual(payloads, [Array("kept".utf8)])
        XCTAssertTrue(opened.recovery.headerRepaired)
        opened.close()
        XCTAssertTrue(try VaultStore.verify(path: path, secret: Fixture.secret, storage: disk).isClean)
        // Now the copy that was in force is damaged: the repaired one opens the vault.
        var later = disk.contents(of: path)!
        for index in (1 - other) * copyB..<(2 - other) * copyB { later[index] = 0xEE }
        disk.write(path: path, bytes: later, durable: true)
        XCTAssertEqual(try Fixture.transactions(path: path, storage: disk).payloads, [Array("kept".utf8)])
    }

    /// The copy in force damaged behind a valid checksum (its master-key wrap, so its MAC no
    /// longer verifies): that is damage, not a keyslot change (F-HDR-SUPERSEDED). The older
    /// copy opens the vault, for the writer too, which rewrites the damaged one from it.
    func testTheCopyInForceDamagedBehindAValidChecksumIsRepairedFromTheOther() throws {
        let path = Self.path
        let disk = try Self.vaultHoldingKept()
        var bytes = disk.contents(of: path)!
        Fixture.damageMasterWrapBehindItsChecksum(&bytes, copy: try Fixture.copyInForce(bytes))
        disk.write(path: path, bytes: bytes, durable: true)

        let (opened, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: disk)
        XCTAssertEqual(payloads, [Array("kept".utf8)])
        XCTAssertTrue(opened.recovery.headerRepaired)
        opened.close()
        XCTAssertTrue(try VaultStore.verify(path: path, secret: Fixture.secret, storage: disk).isClean)
    }

    func testEitherHeaderCopyDamagedStillOpens() throws {
        let path = Self.path
        let disk = try Self.vaultHoldingKept()
        let original = disk.contents(of: path)!
        for copy in 0..<2 {
            var damaged = original
            let start = copy * FormatConstants.headerCopyBytes
            for index in start..<(start + FormatConstants.headerCopyBytes) { damaged[index] = 0xEE }
            let trial = SimulatedDisk()
            trial.write(path: path, bytes: damaged, durable: true)
            let (opened, payloads) = try Fixture.transactions(path: path, readOnly: false, storage: trial)
            XCTAssertEqual(payloads, [Array("kept".utf8)], "copy \(copy)")
            XCTAssertTrue(opened.recovery.headerRepaired, "copy \(copy)")
            opened.close()
            XCTAssertEqual(try VaultFileInfo.read(path: path, storage: trial).headerCopiesValid, [true, true])
        }
        var both = original
        for copy in 0..<2 {
            // Past the magic, so the file is still recognised as a vault.
            both[copy * FormatConstants.headerCopyBytes + 100] ^= 0x10
        }
        let trial = SimulatedDisk()
        trial.write(path: path, bytes: both, durable: true)
        XCTAssertThrowsCode(
            .corrupted, try VaultStore.open(path: path, secret: Fixture.secret, options: .init(storage: trial)))
    }
}
