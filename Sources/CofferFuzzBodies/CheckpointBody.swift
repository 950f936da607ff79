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
    /// as a checkpoint under the body's key.
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
            Seed(target: .checkpoint, name: "populated-index.bin", bytes: baseline),
            Seed(target: .checkpoint, name: "sealed-checkpoint.bin", bytes: sealed),
        ]
    }
}
