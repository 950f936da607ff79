import CofferCrypto
import CofferErrors
import XCTest

@testable import CofferFormat

/// F-LINEAGE at the byte level: the block round-trips, breaks of its rules are corrupted, and
/// a compacted log's chain starts from its generation's genesis.
final class LogLineageTests: XCTestCase {
    let masterKey = SecureBytes(randomCount: 32)

    func copy(with lineage: LogLineage?) -> [UInt8] {
        var header = VectorBuilder.header(generation: 1)
        header.lineage = lineage
        return header.encode(masterKey: masterKey)
    }

    func decoded(_ bytes: [UInt8]) -> Result<FileHeader, CofferError> {
        var bytes = bytes
        let checksum = Blake2b.hash(Array(bytes[0..<FormatConstants.headerChecksumOffset]))
        bytes.replaceSubrange(FormatConstants.headerChecksumOffset..., with: checksum)
        return bytes.withUnsafeBytes { FileHeader.decode($0) }
    }

    let lineage = LogLineage(
        generation: 3, switchHead: ChainHead(sequence: 7, digest: [UInt8](repeating: 1, count: 32), generation: 3),
        previous: [
            ChainHead(sequence: 40, digest: [UInt8](repeating: 2, count: 32), generation: 2),
            ChainHead(sequence: 9, digest: [UInt8](repeating: 3, count: 32), generation: 0),
        ])

    func testTheBlockRoundTripsAndIsAuthenticated() throws {
        let header = try decoded(copy(with: lineage)).get()
        XCTAssertEqual(header.lineage, lineage)
        XCTAssertEqual(header.logGeneration, 3)
        XCTAssertEqual(
            header.requiredFeatures & FormatConstants.requiredFeatureLogLineage,
            FormatConstants.requiredFeatureLogLineage)
        XCTAssertNil(try decoded(copy(with: nil)).get().lineage)
        // The MAC covers it: a changed entry with the checksum fixed up decodes, but fails its MAC.
        var changed = copy(with: lineage)
        changed[FormatConstants.headerLineageOffset + 60] ^= 1
        let forged = try decoded(changed).get()
        XCTAssertFalse(forged.verifyMAC(of: changed, masterKey: masterKey))
        XCTAssertNotEqual(
            ChainHash.genesis(vaultID: VectorBuilder.vaultID, generation: 3),
            ChainHash.genesis(vaultID: VectorBuilder.vaultID))
    }

    func testBrokenRulesAreCorrupted() throws {
        let base = FormatConstants.headerLineageOffset
        func edited(_ edit: (inout [UInt8]) -> Void) -> CofferError.Code? {
            var bytes = copy(with: lineage)
            edit(&bytes)
            return decoded(bytes).failureCode
        }
        func put(_ value: UInt32, at offset: Int) -> (inout [UInt8]) -> Void {
            { $0.replaceSubrange(offset..<offset + 4, with: withUnsafeBytes(of: value.littleEndian) { Array($0) }) }
        }
        XCTAssertEqual(edited(put(0, at: base)), .corrupted, "generation 0")
        XCTAssertEqual(edited(put(0, at: base + 44)), .corrupted, "no earlier log")
        XCTAssertEqual(edited(put(33, at: base + 44)), .corrupted, "more than 32 earlier logs")
        XCTAssertEqual(
            edited(put(1, at: base + 48)), .corrupted, "the newest earlier log is not the previous generation")
        XCTAssertEqual(edited(put(2, at: base + 48 + 44)), .corrupted, "generations not descending")
        XCTAssertEqual(edited { $0[base + 48 + 2 * 44] = 1 }, .corrupted, "an unused entry not zero")
        XCTAssertEqual(edited { $0[base + LogLineage.encodedBytes] = 1 }, .corrupted, "reserved bytes after the block")
    }
}
