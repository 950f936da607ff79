import CofferCrypto
import CofferFormat
import CofferTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// FORMAT.md's vectors: the committed files must equal what the builder makes from fixed
/// inputs (format stability), and decode byte for byte into what they claim.
final class FormatVectorTests: XCTestCase {
    static let vectorDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Vectors")

    func testCommittedVectorsEqualTheirGenerator() throws {
        // Regenerate with: COFFER_WRITE_VECTORS=1 swift test --filter FormatVectorTests
        let write = ProcessInfo.processInfo.environment["COFFER_WRITE_VECTORS"] == "1"
        for vector in VectorBuilder.vectors() {
            let url = Self.vectorDirectory.appendingPathComponent("\(vector.name).txt")
            if write { try vector.text.write(to: url, atomically: true, encoding: .utf8) }
            let committed = try String(contentsOf: url, encoding: .utf8)
            // If this fails, the bytes of the format changed: that is a new format version,
            // with FORMAT.md and these vectors changed in the same commit.
            XCTAssertEqual(committed, vector.text, "vector \(vector.name) no longer matches its generator")
        }
    }

    func testSmallVaultDecodesByteForByte() throws {
        let vector = try Vector(named: "small-vault")
        let bytes = vector.bytes
        // Both header copies decode; generations 1 and 2; two keyslots.
        let copies = (0..<2).map { index in
            Array(bytes[(index * 4096)..<((index + 1) * 4096)])
        }
        let headers = try copies.map { copy in try copy.withUnsafeBytes { FileHeader.decode($0) }.get() }
        XCTAssertEqual(headers.map(\.generation), [1, 2])
        XCTAssertEqual(headers[1].vaultID, VectorBuilder.vaultID)
        XCTAssertEqual(headers[1].keyslots.map(\.kind), [.keyFile, .passphrase])
        XCTAssertEqual(headers[1].keyslots[1].cost, .minimum)
        // Both secrets unwrap the same master key, and the MAC verifies.
        let keyFile = SecureBytes(copying: Hex.decode(vector.fields["key-file"]!)!)
        let passphrase = SecureBytes(copying: Array(vector.fields["passphrase"]!.utf8))
        let byKeyFile = try XCTUnwrap(headers[1].unlock(with: .keyFile(keyFile)))
        let byPassphrase = try XCTUnwrap(headers[1].unlock(with: .passphrase(passphrase)))
        XCTAssertEqual(byKeyFile.masterKey, byPassphrase.masterKey)
        XCTAssertEqual(byKeyFile.masterKey, VectorBuilder.masterKey)
        XCTAssertEqual(byKeyFile.unlockKey, VectorBuilder.unlockKey)
        XCTAssertTrue(headers[1].verifyMAC(of: copies[1], masterKey: byKeyFile.masterKey))
        XCTAssertNil(headers[1].unlock(with: .keyFile(SecureBytes(randomCount: 32))))

        // Walk the frames by hand: every field, the chain, every payload.
        let masterKey = byKeyFile.masterKey
        var offset = Int(FormatConstants.logStartOffset)
        var chain = ChainHash.genesis(vaultID: headers[1].vaultID)
        var dataKeys: [UInt32: SecureBytes] = [:]
        var transactions: [String] = []
        var sequence: UInt64 = 0
        while offset < bytes.count {
            let header = try bytes[offset..<(offset + 32)].withUnsafeBytes { FrameHeader.decode($0) }.get()
            sequence += 1
            XCTAssertEqual(header.sequence, sequence)
            let body = Array(bytes[(offset + 32)..<(offset + header.frameBytes)])
            let type = try XCTUnwrap(header.type)
            let key = type == .keyEpoch ? MasterKeySubkey.keyRecord.derive(from: masterKey) : dataKeys[header.epoch]!
            let position = RecordPosition(
                vaultID: headers[1].vaultID, sequence: sequence, type: type, epoch: header.epoch, previousChain: chain)
            let payload = try body.withUnsafeBytes {
                SealedRecord.open(header: header, body: $0, at: position, key: key)
            }.get()
            switch type {
            case .keyEpoch:
                let epoch = try XCTUnwrap(KeyEpochPayload.decode(payload))
                XCTAssertEqual(epoch.epoch, header.epoch)
                dataKeys[epoch.epoch] = epoch.dataKey
            case .transaction:
                transactions.append("\(sequence) \(Hex.encode(payload.withUnsafeBytes { Array($0) }))")
                let decoded = try XCTUnwrap(TransactionPayload.decode(payload))
                XCTAssertEqual(decoded.actor, "vector")
            }
            chain = bytes[offset..<(offset + header.frameBytes)].withUnsafeBytes {
                ChainHash.next(previous: chain, frame: $0)
            }
            offset += header.frameBytes
        }
        XCTAssertEqual(offset, bytes.count)
        XCTAssertEqual(transactions, vector.all("transaction"))
        XCTAssertEqual(ChainHead(sequence: sequence, digest: chain).description, vector.fields["head"])
        XCTAssertEqual(dataKeys[2], VectorBuilder.dataKeys[1])
    }

    func testFormatDocumentExcerptsMatchTheVector() throws {
        // FORMAT.md quotes parts of the vectors in blocks introduced by
        // `<!-- vector NAME OFFSET LENGTH -->`; each must equal the vector's bytes.
        let format = try String(
            contentsOf: Self.vectorDirectory.appendingPathComponent("../../../FORMAT.md").standardizedFileURL,
            encoding: .utf8)
        let lines = format.components(separatedBy: "\n")
        var checked = 0
        for (index, line) in lines.enumerated() where line.hasPrefix("<!-- vector ") {
            let parts = line.split(separator: " ")
            // Bundle vectors live with the exchange tests, which check their own excerpts.
            guard !parts[2].hasPrefix("bundle-") else { continue }
            let bytes = try Vector(named: String(parts[2])).bytes
            let offset = Int(parts[3])!
            let length = Int(parts[4])!
            var hex = ""
            var cursor = index + 2  // skip the opening fence
            while !lines[cursor].hasPrefix("```") {
                // Each line is `OFFSET: b0 b1 …`; only the two-digit tokens are bytes.
                hex += lines[cursor].split(separator: " ").filter { $0.count == 2 }.joined()
                cursor += 1
            }
            XCTAssertEqual(
                Hex.decode(hex), Array(bytes[offset..<(offset + length)]), "FORMAT.md excerpt at offset \(offset)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, "FORMAT.md quotes no vector excerpt")
    }
}

/// A parsed vector file.
struct Vector {
    let fields: [String: String]
    let lines: [(String, String)]
    let bytes: [UInt8]

    init(named name: String) throws {
        let text = try String(
            contentsOf: FormatVectorTests.vectorDirectory.appendingPathComponent("\(name).txt"), encoding: .utf8)
        let vector = VectorText(text)
        var fields: [String: String] = [:]
        for (key, value) in vector.lines { fields[key] = value }
        let lines = vector.lines.map { ($0.key, $0.value) }
        let hex = vector.hex
        self.fields = fields
        self.lines = lines
        // `zeros-after: N`: the file continues with N zero bytes the vector does not list.
        self.bytes = Hex.decode(hex)! + [UInt8](repeating: 0, count: Int(fields["zeros-after"] ?? "0")!)
    }

    func all(_ key: String) -> [String] { lines.filter { $0.0 == key }.map(\.1) }
}

/// The rotated vault (F-UNLOCK-ROTATE): its header decodes into recipient slots that both
/// secrets open to the new unlock key, which opens the master key and the API-key hash key.
final class RotatedVectorTests: XCTestCase {
    func testRotatedVaultDecodes() throws {
        let vector = try Vector(named: "rotated-vault")
        let copy = Array(vector.bytes[FormatConstants.headerCopyBytes..<(2 * FormatConstants.headerCopyBytes)])
        let header = try copy.withUnsafeBytes { FileHeader.decode($0) }.get()
        XCTAssertEqual(header.requiredFeatures, 3)
        XCTAssertTrue(header.keyslots.allSatisfy { $0.recipient != nil })
        let unlockKey = SecureBytes(copying: Hex.decode(vector.fields["unlock-key"]!)!)
        for secret in [
            Keyslot.Secret.keyFile(SecureBytes(copying: Hex.decode(vector.fields["key-file"]!)!)),
            .passphrase(SecureBytes(copying: Array(vector.fields["passphrase"]!.utf8))),
        ] {
            let keys = try XCTUnwrap(header.unlock(with: secret))
            XCTAssertEqual(keys.unlockKey, unlockKey)
            XCTAssertEqual(keys.masterKey, VectorBuilder.masterKey)
            XCTAssertTrue(header.verifyMAC(of: copy, masterKey: keys.masterKey))
        }
        XCTAssertEqual(
            header.unwrapAPIKeyHashKey(unlockKey: unlockKey),
            SecureBytes(copying: Hex.decode(vector.fields["api-key-hash-key"]!)!))
        XCTAssertNil(header.unwrapMasterKey(unlockKey: VectorBuilder.unlockKey), "the first unlock key opens nothing")
    }
}

/// The index checkpoint vector (F-CHECKPOINT): its position, contents and every bound field.
final class CheckpointVectorTests: XCTestCase {
    /// A checkpoint handed over as its reader's only reference opens where it lies: the
    /// contents are a slice of the same buffer, not of a copy (hundreds of megabytes at a
    /// million credentials).
    func testACheckpointOpensInPlace() throws {
        let bytes = try Vector(named: "small-vault-checkpoint").bytes
        let start = bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let key = MasterKeySubkey.checkpoint.derive(from: VectorBuilder.masterKey)
        let (_, sealed) = try Checkpoint.open(
            consume bytes, vaultID: VectorBuilder.vaultID, generation: 0, key: key
        ).get()
        let contentsStart = sealed.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        XCTAssertEqual(contentsStart, start + UInt(sealed.startIndex), "the contents are not in the read buffer")
    }

    /// The other side of opening in place: a buffer the caller still holds is never decrypted
    /// in place (its plaintext would be where the caller does not expect one); the open
    /// copies it, and the caller's bytes stay sealed.
    func testACheckpointTheCallerStillHoldsIsCopied() throws {
        let held = try Vector(named: "small-vault-checkpoint").bytes
        let sealedCopy = held.map { $0 }  // its own buffer
        let start = held.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let key = MasterKeySubkey.checkpoint.derive(from: VectorBuilder.masterKey)
        func open(_ bytes: [UInt8]) throws -> ArraySlice<UInt8> {
            try Checkpoint.open(bytes, vaultID: VectorBuilder.vaultID, generation: 0, key: key).get().1
        }
        let contents = try open(held)
        let contentsStart = contents.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        XCTAssertNotEqual(contentsStart, start + UInt(contents.startIndex), "decrypted in the caller's buffer")
        XCTAssertEqual(held, sealedCopy, "the caller's bytes changed")
        XCTAssertEqual(Array(contents), Array(try open(sealedCopy)))
    }

    /// A version-1 checkpoint (one tag over the whole contents, the chain table before the
    /// index) opens to what the version-2 vector holds.
    func testVersion1CheckpointOpensAsItWasWritten() throws {
        let key = MasterKeySubkey.checkpoint.derive(from: VectorBuilder.masterKey)
        func opened(_ name: String) throws -> (Checkpoint.Position, Checkpoint.Contents) {
            let (position, sealed) = try Checkpoint.open(
                try Vector(named: name).bytes, vaultID: VectorBuilder.vaultID, generation: 0, key: key
            ).get()
            return (position, try XCTUnwrap(Checkpoint.Contents.decode(sealed, at: position), name))
        }
        let (oldPosition, old) = try opened("small-vault-checkpoint-v1")
        let (newPosition, new) = try opened("small-vault-checkpoint")
        XCTAssertEqual(oldPosition.version, 1)
        XCTAssertEqual(newPosition.version, 2)
        XCTAssertEqual(old.epochs, new.epochs)
        XCTAssertEqual(Array(old.chains), Array(new.chains))
        XCTAssertEqual(Array(old.index), Array(new.index))
        XCTAssertEqual(old.recordsByType, new.recordsByType)
        var altered = try Vector(named: "small-vault-checkpoint-v1").bytes
        altered[altered.count - 1] ^= 1
        XCTAssertEqual(
            Checkpoint.open(altered, vaultID: VectorBuilder.vaultID, generation: 0, key: key).map { $0.0 },
            .failure(.authentication))
    }

    /// Contents of several chunks (F-CHECKPOINT-CHUNKS): each chunk's tag in the table after
    /// them, each chunk bound to its place. A byte changed in any chunk or tag, two chunks
    /// (with their tags) swapped, a cut, or the version changed to 1 fail to open; a sealed
    /// length no contents seal to is malformed.
    func testContentsOfSeveralChunksOpenOnlyWhole() throws {
        let key = SecureBytes(copying: [UInt8](repeating: 9, count: 32))
        let position = Checkpoint.Position(
            vaultID: VectorBuilder.vaultID, generation: 0, sequence: 4, lastFrameOffset: 8192, end: 8192 + 400,
            chain: [UInt8](repeating: 5, count: 32))
        let chunk = Checkpoint.chunkBytes
        let tag = 16
        for count in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 77] {
            let contents = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
            let bytes = Checkpoint.seal(position, contents: contents, key: key)
            let chunks = max(1, (count + chunk - 1) / chunk)
            XCTAssertEqual(bytes.count, 120 + count + chunks * tag, "\(count) bytes")
            func opens(_ bytes: [UInt8]) -> Bool {
                guard
                    case .success(let (_, opened)) = Checkpoint.open(
                        bytes, vaultID: VectorBuilder.vaultID, generation: 0, key: key)
                else { return false }
                XCTAssertEqual(Array(opened), contents, "\(count) bytes")
                return true
            }
            XCTAssertTrue(opens(bytes), "\(count) bytes")
            for index in 0..<chunks {
                var altered = bytes
                if count > 0 {
                    altered[120 + index * chunk] ^= 1
                    XCTAssertFalse(opens(altered), "\(count) bytes, the first byte of chunk \(index)")
                }
                altered = bytes
                altered[120 + count + index * tag + 3] ^= 1
                XCTAssertFalse(opens(altered), "\(count) bytes, a byte of tag \(index)")
            }
            if chunks >= 3 {
                var swapped = bytes
                let first = 120..<120 + chunk
                let second = 120 + chunk..<120 + 2 * chunk
                swapped.replaceSubrange(first, with: bytes[second])
                swapped.replaceSubrange(second, with: bytes[first])
                let tags = 120 + count
                swapped.replaceSubrange(tags..<tags + tag, with: bytes[tags + tag..<tags + 2 * tag])
                swapped.replaceSubrange(tags + tag..<tags + 2 * tag, with: bytes[tags..<tags + tag])
                XCTAssertFalse(opens(swapped), "\(count) bytes, two chunks swapped with their tags")
            }
            var downgraded = bytes
            downgraded[4] = 1
            XCTAssertFalse(opens(downgraded), "\(count) bytes, read as version 1")
            var cut = bytes
            cut.removeLast(1)
            let cutLength = UInt64(cut.count - 96)
            cut.withUnsafeMutableBytes { $0.storeBytes(of: cutLength.littleEndian, toByteOffset: 88, as: UInt64.self) }
            XCTAssertFalse(opens(cut), "\(count) bytes, cut by one")
        }
        // 24 + 16 + 65,536 + 1 bytes: a whole chunk and one byte with one tag, which no contents seal to.
        var malformed = Checkpoint.seal(position, contents: [UInt8](repeating: 1, count: chunk), key: key)
        malformed.append(0)
        let malformedLength = UInt64(malformed.count - 96)
        malformed.withUnsafeMutableBytes {
            $0.storeBytes(of: malformedLength.littleEndian, toByteOffset: 88, as: UInt64.self)
        }
        guard case .failure(.malformed) = Checkpoint.position(of: malformed) else {
            return XCTFail("a sealed length no contents seal to was not refused as malformed")
        }
    }

    /// Each chunk is sealed as FORMAT.md says, checked apart from the code that seals and
    /// opens them: chunk `i`'s ciphertext and its tag from the table open with the one-call
    /// AEAD under the nonce with `u64 i` XORed into its last eight bytes and the associated
    /// data `"coffer checkpoint v2" || header || u64 i || u8 last`.
    func testEachChunkIsSealedAsTheFormatSays() throws {
        let key = SecureBytes(copying: [UInt8](repeating: 3, count: 32))
        let nonce = (0..<24).map { UInt8($0 * 7 + 1) }
        let position = Checkpoint.Position(
            vaultID: VectorBuilder.vaultID, generation: 0, sequence: 4, lastFrameOffset: 8192, end: 8192 + 400,
            chain: [UInt8](repeating: 5, count: 32))
        let chunk = 65_536
        let contents = (0..<(2 * chunk + 10)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let bytes = Checkpoint.seal(position, contents: contents, key: key, nonce: nonce)
        let header = Array(bytes[0..<96])
        let tags = 120 + contents.count
        for index in 0..<3 {
            var chunkNonce = nonce
            var associatedData = Array("coffer checkpoint v2".utf8) + header
            for byte in 0..<8 {
                chunkNonce[16 + byte] ^= UInt8(truncatingIfNeeded: index >> (8 * byte))
                associatedData.append(UInt8(truncatingIfNeeded: index >> (8 * byte)))
            }
            associatedData.append(index == 2 ? 1 : 0)
            let range = 120 + index * chunk..<min(tags, 120 + (index + 1) * chunk)
            let sealed = Array(bytes[range]) + Array(bytes[tags + 16 * index..<tags + 16 * (index + 1)])
            let opened = sealed.withUnsafeBytes { sealed in
                chunkNonce.withUnsafeBytes {
                    XChaCha20Poly1305.open(sealed, key: key, nonce: $0, associatedData: associatedData)
                }
            }
            let plaintext = Array(contents[(index * chunk)..<min(contents.count, (index + 1) * chunk)])
            XCTAssertEqual(opened, SecureBytes(copying: plaintext), "chunk \(index)")
        }
    }

    func testSmallVaultCheckpointDecodes() throws {
        let vector = try Vector(named: "small-vault-checkpoint")
        let vault = VectorBuilder.smallVault()
        let key = MasterKeySubkey.checkpoint.derive(from: VectorBuilder.masterKey)
        let (position, sealed) = try Checkpoint.open(
            vector.bytes, vaultID: VectorBuilder.vaultID, generation: 0, key: key
        ).get()
        XCTAssertEqual(position.sequence, 4)
        XCTAssertEqual(position.lastFrameOffset, UInt64(vault.offsets[3]))
        XCTAssertEqual(position.end, UInt64(vault.bytes.count))
        XCTAssertEqual(position.chain, vault.head.digest)
        let contents = try XCTUnwrap(Checkpoint.Contents.decode(sealed, at: position))
        XCTAssertEqual(contents.epochs.map(\.sequence), [1, 3])
        XCTAssertEqual(contents.recordsByType, [.keyEpoch: 2, .transaction: 2])
        XCTAssertEqual(contents.chains.count, 4 * 32)
        XCTAssertEqual(Array(contents.chains.prefix(32)), ChainHash.genesis(vaultID: VectorBuilder.vaultID))
        XCTAssertEqual(Array(contents.index), VectorBuilder.emptyIndexEncoding)
        XCTAssertEqual(Array(vector.bytes[96..<120]), [UInt8](repeating: 0xCC, count: 24))
        // Must-reject: every header field is bound (F-CHECKPOINT-USE 1–2).
        XCTAssertEqual(
            Checkpoint.open(vector.bytes, vaultID: VectorBuilder.vaultID, generation: 1, key: key).map { $0.0 },
            .failure(.otherGeneration(0)))
        XCTAssertEqual(
            Checkpoint.open(vector.bytes, vaultID: [UInt8](repeating: 0, count: 16), generation: 0, key: key).map {
                $0.0
            },
            .failure(.otherVault))
        for offset in [32, 40, 48, 56, 100, vector.bytes.count - 1] {
            var altered = vector.bytes
            altered[offset] ^= 1
            guard case .failure = Checkpoint.open(altered, vaultID: VectorBuilder.vaultID, generation: 0, key: key)
            else {
                return XCTFail("a checkpoint with byte \(offset) altered opened")
            }
        }
        for (offset, what) in [(0, "magic"), (4, "version"), (6, "reserved"), (28, "reserved"), (88, "length")] {
            var altered = vector.bytes
            altered[offset] ^= 1
            guard case .failure(.malformed) = Checkpoint.position(of: altered) else {
                return XCTFail("a checkpoint with its \(what) altered was not refused as malformed")
            }
        }
        // Must-reject contents (F-CHECKPOINT-CONTENTS), read as if the checkpoint stood elsewhere.
        func standing(at sequence: UInt64, lastFrame: Int) -> Checkpoint.Position {
            Checkpoint.Position(
                vaultID: position.vaultID, generation: 0, sequence: sequence,
                lastFrameOffset: UInt64(vault.offsets[lastFrame]),
                end: UInt64(vault.offsets[lastFrame + 1]), chain: position.chain)
        }
        XCTAssertNil(
            Checkpoint.Contents.decode(sealed, at: standing(at: 3, lastFrame: 2)), "a chain table of another length")
        XCTAssertNil(
            Checkpoint.Contents.decode(sealed, at: standing(at: 2, lastFrame: 1)), "an epoch record past the checkpoint"
        )
        var unordered = contents
        unordered.epochs[1] = Checkpoint.EpochRecord(number: 2, sequence: 3, offset: position.lastFrameOffset)
        XCTAssertNil(
            Checkpoint.Contents.decode(unordered.encode(), at: position), "an earlier record at the offset of S")
        unordered.epochs[1] = Checkpoint.EpochRecord(number: 2, sequence: 4, offset: position.lastFrameOffset - 1)
        XCTAssertNil(Checkpoint.Contents.decode(unordered.encode(), at: position), "record S away from its offset")
        unordered = contents
        unordered.epochs = [
            contents.epochs[0], Checkpoint.EpochRecord(number: 2, sequence: 3, offset: contents.epochs[0].offset),
        ]
        XCTAssertNil(Checkpoint.Contents.decode(unordered.encode(), at: position), "epoch records at one offset")
        unordered = contents
        unordered.epochs = [Checkpoint.EpochRecord(number: 1, sequence: 1, offset: UInt64.max)]
        XCTAssertNil(Checkpoint.Contents.decode(unordered.encode(), at: position), "an epoch record past the log")
        unordered = contents
        unordered.transactionsByEpoch = [1: 1, 2: 1]
        var encoded = unordered.encode()
        // The two (epoch, count) entries swapped: 12 bytes each, after the epochs and the counts by type.
        let table = 4 + contents.epochs.count * 20 + RecordType.allCases.count * 16 + 4
        encoded.replaceSubrange(
            table..<table + 24, with: Array(encoded[table + 12..<table + 24] + encoded[table..<table + 12]))
        XCTAssertNotNil(Checkpoint.Contents.decode(unordered.encode(), at: position))
        XCTAssertNil(Checkpoint.Contents.decode(encoded, at: position), "transaction counts of epochs out of order")
    }
}
