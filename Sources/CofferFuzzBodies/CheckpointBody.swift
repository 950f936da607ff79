import CofferCrypto
import CofferFormat
import CofferModel

/// ``FuzzTarget/checkpoint``: index checkpoints (F-CHECKPOINT).
///
/// An input that starts with the `CCK1` magic is a checkpoint file: its position is read and
/// it is opened under a fixed key, as an open reads the one beside a vault. Mutations never
/// authenticate, so the parsing behind the tag is reached another way: any other input is the
/// index encoding the sealed contents carry (F-CHECKPOINT-INDEX), decoded as an open decodes
/// an authenticated one.
enum CheckpointBody {
    static let key = SecureBytes(copying: [UInt8](repeating: 0x4B, count: 32))
    static let vaultID = [UInt8](repeating: 0x11, count: 16)

    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let bytes = Array(input)
        if bytes.starts(with: Checkpoint.magic) {
            container(bytes, &findings)
        } else {
            index(bytes, &findings)
        }
    }

    /// The file: position, vault, generation and tag checked before any contents are used.
    static func container(_ bytes: [UInt8], _ findings: inout FuzzFindings) {
        let position = Checkpoint.position(of: bytes)
        guard
            case .success((let opened, let sealed)) = Checkpoint.open(bytes, vaultID: vaultID, generation: 0, key: key)
        else { return }
        // Oracle: what opens had a valid position, and (of the version writers write) seals
        // back to the same bytes.
        findings.check(position == .success(opened), "a checkpoint opened whose position does not read")
        let nonce = Array(bytes[Checkpoint.headerBytes..<Checkpoint.headerBytes + XChaCha20Poly1305.nonceBytes])
        findings.check(
            opened.version != Checkpoint.version
                || Checkpoint.seal(opened, contents: Array(sealed), key: key, nonce: nonce) == bytes,
            "an opened checkpoint does not seal back to its bytes")
        guard let contents = Checkpoint.Contents.decode(sealed, at: opened) else { return }
        // Oracle: contents re-encode to contents that decode the same (encoding writes the
        // field order of the version writers write).
        findings.check(
            opened.version != Checkpoint.version
                || Checkpoint.Contents.decode(contents.encode(), at: opened) == contents,
            "checkpoint contents do not survive re-encoding")
        index(Array(contents.index), &findings)
    }

    /// The index encoding: refused, or an index every query runs on whose own encoding is
    /// canonical (it decodes and encodes to itself).
    static func index(_ bytes: [UInt8], _ findings: inout FuzzFindings) {
        guard let rebuilt = try? VaultIndex(checkpointEncoding: bytes) else { return }
        let encoded = rebuilt.checkpointEncoding()
        guard let again = try? VaultIndex(checkpointEncoding: encoded) else {
            return findings.fail("an index's own checkpoint encoding does not decode")
        }
        findings.check(again.checkpointEncoding() == encoded, "an index's checkpoint encoding is not canonical")
        _ = rebuilt.statistics()
        _ = rebuilt.checkInvariants()
        _ = rebuilt.compactionEstimate
        let users = rebuilt.users()
        for user in users { _ = rebuilt.memberships(of: user.id) }
        for organization in rebuilt.organizations() {
            _ = rebuilt.projects(in: organization.id)
            _ = rebuilt.assignments(organization: organization.id)
            for user in users { _ = try? rebuilt.apiKeys(organization: organization.id, visibleTo: user.id) }
            let credentials = rebuilt.credentials(
                matching: CredentialFilter(organization: organization.id, includesRevoked: true))
            for credential in credentials {
                _ = rebuilt.history(of: credential.id)
                _ = rebuilt.versions(of: credential.id)
                _ = rebuilt.location(of: credential.id)
                _ = rebuilt.assignments(naming: credential.id)
                _ = rebuilt.resolve(
                    ResolutionRequest(appKey: credential.appKey, context: RunContext(organization: organization.id)))
            }
        }
    }

    /// Seeds: the encoding of an empty and of a populated index, and the populated one sealed
    /// as a checkpoint under the body's key, as writers seal it (version 2) and as version 1
    /// did (whose field order only an authenticated checkpoint reaches), and a checkpoint of a
    /// longer log, whose chain table carries its contents past one chunk (F-CHECKPOINT-CHUNKS).
    static func seeds() -> [Seed] {
        let baseline = ModelScenario.baseline.index.checkpointEncoding()
        let contents = Checkpoint.Contents(
            epochs: [Checkpoint.EpochRecord(number: 1, sequence: 1, offset: FormatConstants.logStartOffset)],
            recordsByType: [.keyEpoch: 1, .transaction: 1], bytesByType: [.keyEpoch: 328, .transaction: 584],
            transactionsByEpoch: [1: 1], chains: [UInt8](repeating: 0xC1, count: 2 * 32)[...], index: baseline[...])
        let position = Checkpoint.Position(
            vaultID: vaultID, generation: 0, sequence: 2, lastFrameOffset: FormatConstants.logStartOffset + 328,
            end: FormatConstants.logStartOffset + 328 + 584, chain: [UInt8](repeating: 0xC2, count: 32))
        let sealed = Checkpoint.seal(
            position, contents: contents.encode(), key: key, nonce: [UInt8](repeating: 0xC3, count: 24))
        return [
            Seed(target: .checkpoint, name: "empty-index.bin", bytes: VaultIndex().checkpointEncoding()),
            Seed(
                target: .checkpoint, name: "sealed-checkpoint-two-chunks.bin", bytes: sealedInTwoChunks(index: baseline)
            ),
            Seed(target: .checkpoint, name: "populated-index.bin", bytes: baseline),
            Seed(target: .checkpoint, name: "sealed-checkpoint.bin", bytes: sealed),
            Seed(
                target: .checkpoint, name: "sealed-checkpoint-v1.bin",
                bytes: sealedAsVersion1(contents, header: Array(sealed[..<Checkpoint.headerBytes]))),
        ]
    }

    /// A checkpoint of a log of 2,100 records (a key epoch, then transactions), whose chain
    /// table (32 bytes a record) takes its contents just past one chunk of 64 KiB.
    static func sealedInTwoChunks(index: [UInt8]) -> [UInt8] {
        let records: UInt64 = 2_100
        let transactionBytes: UInt64 = 584
        let contents = Checkpoint.Contents(
            epochs: [Checkpoint.EpochRecord(number: 1, sequence: 1, offset: FormatConstants.logStartOffset)],
            recordsByType: [.keyEpoch: 1, .transaction: records - 1],
            bytesByType: [.keyEpoch: 328, .transaction: (records - 1) * transactionBytes],
            transactionsByEpoch: [1: records - 1],
            chains: (0..<Int(records) * 32).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }[...],
            index: index[...])
        let end = FormatConstants.logStartOffset + 328 + (records - 1) * transactionBytes
        let position = Checkpoint.Position(
            vaultID: vaultID, generation: 0, sequence: records, lastFrameOffset: end - transactionBytes, end: end,
            chain: [UInt8](repeating: 0xC5, count: 32))
        let encoded = contents.encode()
        precondition(encoded.count > Checkpoint.chunkBytes && encoded.count <= 2 * Checkpoint.chunkBytes)
        return Checkpoint.seal(position, contents: encoded, key: key, nonce: [UInt8](repeating: 0xC6, count: 24))
    }

    /// `contents` sealed as version 1 of F-CHECKPOINT wrote them, which no writer writes any
    /// more: the chain table before the index (no index length), one tag over everything with
    /// associated data `"coffer checkpoint v1" || header`, the header of a version-2 checkpoint
    /// of the same position given version 1 and its own sealed length.
    static func sealedAsVersion1(_ contents: Checkpoint.Contents, header version2Header: [UInt8]) -> [UInt8] {
        let version2 = contents.encode()
        // Version 2: ..., the chain table count, the index length, the index, the chain table.
        let leading = version2[..<(version2.count - contents.chains.count - contents.index.count - 8)]
        let plaintext = Array(leading) + Array(contents.chains) + Array(contents.index)
        var header = version2Header
        // The header's version (offset 4, u16) and sealed length `L` (offset 88, u64).
        header.replaceSubrange(4..<6, with: [1, 0])
        let sealedLength = UInt64(XChaCha20Poly1305.nonceBytes + plaintext.count + XChaCha20Poly1305.tagBytes)
        header.replaceSubrange(88..<96, with: withUnsafeBytes(of: sealedLength.littleEndian, Array.init))
        let nonce = [UInt8](repeating: 0xC4, count: XChaCha20Poly1305.nonceBytes)
        var bytes = header + nonce
        plaintext.withUnsafeBytes {
            XChaCha20Poly1305.seal(
                $0, key: key, nonce: nonce, associatedData: Array("coffer checkpoint v1".utf8) + header,
                appendingTo: &bytes)
        }
        return bytes
    }

    /// Every sealed seed opens under the body's key, as the version its name gives, and its
    /// contents decode: else the seeds would not reach what lies behind the tag.
    static func sealedSeedProblems() -> [String] {
        seeds().filter { $0.bytes.starts(with: Checkpoint.magic) }.compactMap { seed in
            guard
                case .success((let position, let contents)) = Checkpoint.open(
                    seed.bytes, vaultID: vaultID, generation: 0, key: key)
            else { return "\(seed.name): does not open" }
            let version: UInt16 = seed.name.hasSuffix("-v1.bin") ? 1 : Checkpoint.version
            guard position.version == version else { return "\(seed.name): opens as version \(position.version)" }
            guard Checkpoint.Contents.decode(contents, at: position) != nil else {
                return "\(seed.name): its contents do not decode"
            }
            return nil
        }
    }
}
