import Coffer
import CofferTestSupport
import Foundation
import XCTest

@testable import CofferExchange

/// The bundle format (FORMAT.md §12.2): its constants, its committed vectors, and
/// every way a bundle can be damaged, each a distinct error, nothing opened.
final class BundleTests: XCTestCase {
    func testConstantsShowTheirArithmetic() {
        XCTAssertEqual(BundleFormat.headerBytes, 128)
        XCTAssertEqual(BundleFormat.macOffset, 96)
        XCTAssertEqual(BundleFormat.sealedChunkBytesMax, 65552)
        XCTAssertEqual(BundleFormat.magic, Array("\u{89}COFBUN\n".unicodeScalars.map { UInt8($0.value) }))
        XCTAssertEqual(BundleFormat.contentBytesMax, 268_435_456)
        XCTAssertEqual(BundleKeys.nonce(prefix: [UInt8](repeating: 0xAA, count: 16), index: 1, isFinal: true).count, 24)
        XCTAssertEqual(
            Array(BundleKeys.nonce(prefix: [UInt8](repeating: 0, count: 16), index: 2, isFinal: true)[16...]),
            [2, 0, 0, 0, 0, 0, 0, 0x80])
    }

    // MARK: - Vectors (B-VECTORS)

    func testCommittedVectorsEqualTheirGenerator() throws {
        let regenerate = ProcessInfo.processInfo.environment["COFFER_REGENERATE_VECTORS"] == "1"
        let contentURL = BundleVectorBuilder.fixtures.appendingPathComponent("bundle-content.json")
        if regenerate { try Data(BundleVectorBuilder.content).write(to: contentURL) }
        XCTAssertEqual(Array(try Data(contentsOf: contentURL)), BundleVectorBuilder.content, "bundle-content.json")
        for vector in BundleVectorBuilder.vectors {
            let url = BundleVectorBuilder.fixtures.appendingPathComponent("\(vector.name).txt")
            let expected = try BundleVectorBuilder.file(vector)
            if regenerate { try expected.write(to: url, atomically: true, encoding: .utf8) }
            XCTAssertEqual(
                try String(contentsOf: url, encoding: .utf8), expected, "\(vector.name): the encoding changed")
        }
    }

    func testVectorsOpenByteForByte() throws {
        let content = Array(
            try Data(contentsOf: BundleVectorBuilder.fixtures.appendingPathComponent("bundle-content.json")))
        for (name, secret) in [
            ("bundle-keyfile", Vault.Unlock.keyFile(BundleVectorBuilder.keyFile)),
            ("bundle-passphrase", .passphrase(Fixture.secret(BundleVectorBuilder.passphrase))),
        ] {
            let vector = try VectorFile(
                String(contentsOf: BundleVectorBuilder.fixtures.appendingPathComponent("\(name).txt"), encoding: .utf8))
            let header = try vector.bytes.withUnsafeBytes { try BundleHeader.decode($0) }
            XCTAssertEqual(header.salt, Hex.bytes(vector.values["salt"]!))
            XCTAssertEqual(header.noncePrefix, Hex.bytes(vector.values["nonce-prefix"]!))
            XCTAssertEqual(header.contentLength, UInt64(content.count))
            let opened = try vector.bytes.withUnsafeBytes { try ExportBundle.open($0, secret: secret) }
            XCTAssertEqual(opened.withUnsafeBytes { Array($0) }, content, name)
            // And the content is an export the importer reads.
            let document = try opened.withUnsafeBytes { try ExportDocument.decode($0) }
            XCTAssertEqual(
                document.credentials.first?.fields.fieldValues?["token"], Fixture.secret("sk-live-0123456789a1b2"))
        }
    }

    func testTheFormatDocumentQuotesTheVector() throws {
        // FORMAT.md §12 quotes the key-file vector's header in hex; the quote must be
        // the vector's bytes.
        let document = try String(
            contentsOf: BundleVectorBuilder.fixtures.deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("FORMAT.md"), encoding: .utf8)
        let vector = try VectorFile(
            String(
                contentsOf: BundleVectorBuilder.fixtures.appendingPathComponent("bundle-keyfile.txt"), encoding: .utf8))
        let marker = "<!-- vector bundle-keyfile 0 160 -->"
        let start = try XCTUnwrap(document.range(of: marker), "the excerpt marker is missing")
        let block = document[start.upperBound...].split(
            separator: "```", maxSplits: 2, omittingEmptySubsequences: false)[1]
        var quoted: [UInt8] = []
        for line in block.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            quoted += parts[1].split(separator: " ").compactMap { UInt8($0, radix: 16) }
        }
        XCTAssertEqual(quoted, Array(vector.bytes[0..<160]))
    }

    // MARK: - Damage (B-READ)

    /// A bundle of several chunks: content that does not compress below 64 KiB.
    func multiChunkBundle() throws -> (bundle: [UInt8], content: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let content = Array((0..<200_000).map { _ in UInt8.random(in: 0x21...0x7E, using: &generator) })
        let bundle = try content.withUnsafeBytes {
            try ExportBundle.seal($0, secret: .keyFile(Fixture.key), cost: .minimum)
        }
        XCTAssertGreaterThan(bundle.count, BundleFormat.headerBytes + 2 * BundleFormat.sealedChunkBytesMax)
        return (bundle, content)
    }

    func open(_ bytes: [UInt8], _ secret: Vault.Unlock = .keyFile(Fixture.key)) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try ExportBundle.open($0, secret: secret) }.withUnsafeBytes { Array($0) }
    }

    func assertFails(
        _ bytes: [UInt8], _ code: CofferError.Code, _ words: String, secret: Vault.Unlock = .keyFile(Fixture.key),
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try open(bytes, secret), file: file, line: line) { error in
            guard let error = error as? CofferError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(words), "\(error.message)", file: file, line: line)
        }
    }

    func testAMultiChunkBundleOpens() throws {
        let (bundle, content) = try multiChunkBundle()
        XCTAssertEqual(try open(bundle), content)
    }

    func testTruncationAnywhereIsDetected() throws {
        let (bundle, _) = try multiChunkBundle()
        let chunk = BundleFormat.sealedChunkBytesMax
        // At a chunk boundary: the last chunk present was not sealed as the last.
        assertFails(Array(bundle[0..<(BundleFormat.headerBytes + 2 * chunk)]), .corrupted, "truncated")
        assertFails(Array(bundle[0..<(BundleFormat.headerBytes + chunk)]), .corrupted, "truncated")
        // Inside a chunk, inside the header, right after it.
        assertFails(Array(bundle.dropLast(100)), .corrupted, "truncated")
        assertFails(
            Array(bundle.dropLast(bundle.count - BundleFormat.headerBytes - chunk - 10)), .corrupted, "truncated")
        assertFails(Array(bundle[0..<BundleFormat.headerBytes]), .corrupted, "truncated")
        assertFails(Array(bundle[0..<100]), .corrupted, "truncated")
    }

    func testReorderedOrRepeatedChunksAreDetected() throws {
        let (bundle, _) = try multiChunkBundle()
        let header = Array(bundle[0..<BundleFormat.headerBytes])
        let chunk = BundleFormat.sealedChunkBytesMax
        let first = Array(bundle[BundleFormat.headerBytes..<(BundleFormat.headerBytes + chunk)])
        let second = Array(bundle[(BundleFormat.headerBytes + chunk)..<(BundleFormat.headerBytes + 2 * chunk)])
        let rest = Array(bundle[(BundleFormat.headerBytes + 2 * chunk)...])
        assertFails(header + second + first + rest, .corrupted, "Chunk 0")
        assertFails(header + first + first + rest, .corrupted, "Chunk 1")
        // A chunk from another bundle under the same key: the header is in every chunk's AAD.
        let (other, _) = try multiChunkBundle()
        assertFails(
            header + Array(other[BundleFormat.headerBytes..<(BundleFormat.headerBytes + chunk)]) + second + rest,
            .corrupted, "Chunk 0")
        // Data after the last chunk.
        assertFails(bundle + [0], .corrupted, "does not authenticate")
    }

    func testAlteredBytesAreDetected() throws {
        let (bundle, _) = try multiChunkBundle()
        var body = bundle
        body[BundleFormat.headerBytes + 70_000] ^= 0x01
        assertFails(body, .corrupted, "Chunk 1")
        // Header fields under the MAC: the key no longer opens it (an altered header and a
        // wrong key look the same).
        for offset in [33, 50, 64, 96, 127] {
            var altered = bundle
            altered[offset] ^= 0x01
            assertFails(altered, .wrongKey, "does not open")
        }
    }

    func testHeaderRulesComeBeforeAnyKeyWork() throws {
        let (bundle, _) = try multiChunkBundle()
        func altered(_ offset: Int, _ bytes: [UInt8]) -> [UInt8] {
            var copy = bundle
            copy.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return copy
        }
        assertFails(
            altered(0, [0x89, 0x43, 0x4F, 0x46, 0x46, 0x45, 0x52, 0x0A]), .invalidInput, "not a Coffer export bundle")
        assertFails(altered(8, [2, 0]), .unsupportedVersion, "version 2")
        assertFails(altered(10, [3]), .unsupportedVersion, "key kind")
        assertFails(altered(11, [2]), .unsupportedVersion, "compression")
        assertFails(altered(12, [0, 0, 2, 0]), .corrupted, "chunk size")
        assertFails(altered(20, [1]), .corrupted, "reserved")
        assertFails(altered(80, [1]), .corrupted, "reserved")
        assertFails(altered(16, [1]), .corrupted, "no Argon2id cost")
        assertFails(altered(64, [0, 0, 0, 0, 0, 0, 0, 0]), .corrupted, "declares 0 bytes")
        assertFails(altered(64, [0, 0, 0, 0, 0, 0, 0, 1]), .corrupted, "declares")
        // A passphrase bundle with a hostile cost is refused before Argon2id runs.
        let passphrase = try Array("x".utf8).withUnsafeBytes {
            try ExportBundle.seal($0, secret: .passphrase(Fixture.secret("p")), cost: .minimum)
        }
        var costly = passphrase
        costly.replaceSubrange(16..<20, with: [17, 0, 0, 0])
        assertFails(costly, .corrupted, "cost", secret: .passphrase(Fixture.secret("p")))
        costly = passphrase
        costly.replaceSubrange(24..<32, with: [0, 0, 0, 0x80, 0, 0, 0, 0])
        assertFails(costly, .corrupted, "cost", secret: .passphrase(Fixture.secret("p")))
    }

    /// A cost the reader would refuse (B-KDF-CAP) is refused to the writer first: a bundle
    /// made with it could never be opened.
    func testACostOutsideTheFormatsLimitsIsRefusedToTheWriter() {
        let passphrase = Vault.Unlock.passphrase(Fixture.secret("p"))
        for cost in [
            Argon2id.Cost(operations: 17, memoryBytes: 8192), Argon2id.Cost(operations: 1, memoryBytes: 4096),
            Argon2id.Cost(operations: 1, memoryBytes: (1 << 30) + 1), Argon2id.Cost(operations: 1, memoryBytes: .max),
        ] {
            XCTAssertThrowsCode(
                .invalidInput,
                try Array("x".utf8).withUnsafeBytes { try ExportBundle.seal($0, secret: passphrase, cost: cost) })
        }
        // A key file derives nothing: the cost is not read.
        XCTAssertNoThrow(
            try Array("x".utf8).withUnsafeBytes {
                try ExportBundle.seal(
                    $0, secret: .keyFile(Fixture.key), cost: Argon2id.Cost(operations: 99, memoryBytes: 0))
            })
    }

    func testAWrongKeyIsAWrongKey() throws {
        let (bundle, _) = try multiChunkBundle()
        assertFails(
            bundle, .wrongKey, "does not open", secret: .keyFile(SecureBytes(copying: [UInt8](repeating: 7, count: 32)))
        )
        assertFails(bundle, .wrongKey, "key file, not a passphrase", secret: .passphrase(Fixture.secret("guess")))
        let passphrase = try Array("{}".utf8).withUnsafeBytes {
            try ExportBundle.seal($0, secret: .passphrase(Fixture.secret("right")), cost: .minimum)
        }
        assertFails(passphrase, .wrongKey, "does not open", secret: .passphrase(Fixture.secret("wrong")))
        assertFails(passphrase, .wrongKey, "passphrase, not a key file")
        XCTAssertEqual(try open(passphrase, .passphrase(Fixture.secret("right"))), Array("{}".utf8))
    }

    func testContentMustInflateToTheDeclaredLength() throws {
        // Sealed properly, but the header declares one byte more than the stream inflates to:
        // only the key holder can make such a bundle, and it is still refused.
        let content = Array("{\"a\": 1}".utf8)
        var header = BundleHeader(
            keyKind: .keyFile, cost: Argon2id.Cost(operations: 0, memoryBytes: 0), salt: BundleVectorBuilder.salt,
            noncePrefix: BundleVectorBuilder.noncePrefix, contentLength: UInt64(content.count + 1))
        let keys = try BundleKeys(secret: .keyFile(Fixture.key), header: header)
        var headerBytes = header.encoded(mac: keys.mac(header.encoded(mac: [UInt8](repeating: 0, count: 32))))
        var bundle = headerBytes
        let stream = content.withUnsafeBytes { Zlib.compress($0) }
        stream.withUnsafeBytes {
            XChaCha20Poly1305.seal(
                $0, key: keys.payload, nonce: BundleKeys.nonce(prefix: header.noncePrefix, index: 0, isFinal: true),
                associatedData: headerBytes, appendingTo: &bundle)
        }
        assertFails(bundle, .corrupted, "inflate")
        // Exactly declared: it opens.
        header.contentLength = UInt64(content.count)
        headerBytes = header.encoded(mac: keys.mac(header.encoded(mac: [UInt8](repeating: 0, count: 32))))
        bundle = headerBytes
        stream.withUnsafeBytes {
            XChaCha20Poly1305.seal(
                $0, key: keys.payload, nonce: BundleKeys.nonce(prefix: header.noncePrefix, index: 0, isFinal: true),
                associatedData: headerBytes, appendingTo: &bundle)
        }
        XCTAssertEqual(try open(bundle), content)
    }

    /// I-LIMITS: a small bundle that declares (and would inflate to) more content than one
    /// import reads is refused from its header, before any key work or inflating; opened with
    /// a larger limit, the same bundle opens.
    func testABundleOfMoreContentThanAnImportReadsIsRefusedFromItsHeader() throws {
        let content = [UInt8](repeating: UInt8(ascii: " "), count: ExchangeLimits.importBytesMax + 1)
        let bundle = try content.withUnsafeBytes {
            try ExportBundle.seal($0, secret: .keyFile(Fixture.key), cost: .minimum)
        }
        XCTAssertLessThan(bundle.count, 1 << 20, "whitespace compresses: a small file")
        let refusal = assertThrowsCoffer(.invalidInput) {
            try bundle.withUnsafeBytes { try ExportBundle.open($0, secret: .keyFile(Fixture.key)) }
        }
        XCTAssertTrue(refusal?.message.contains("more than the") ?? false, refusal?.message ?? "")
        let opened = try bundle.withUnsafeBytes {
            try ExportBundle.open($0, secret: .keyFile(Fixture.key), contentBytesMax: ExchangeLimits.inputBytesMax)
        }
        XCTAssertEqual(opened.count, content.count)
    }
}
