import CofferCrypto
import CofferFormat

/// ``FuzzTarget/frameHeader``: frame headers and sealed bodies (F-FRAME, F-SEAL, F-PAD).
enum FrameHeaderBody {
    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let decoded = FrameHeader.decode(input)
        guard input.starts(with: FormatConstants.frameMagic) else {
            // Oracle: the magic is checked before anything else.
            if case .success = decoded { findings.fail("a frame header decoded without the CFR1 magic") }
            // Mutated sealed bodies never authenticate, so the plaintext parsing behind the tag
            // is out of the fuzzer's reach. Inputs that are not frames are sealed as a plaintext
            // and opened instead. A plaintext starts with its encoding byte (0 or 1), so the two
            // kinds of input do not overlap.
            sealAndOpen(plaintext: input, &findings)
            return
        }
        guard case .success(let header) = decoded else { return }
        // Oracle: decode checks the magic, the header CRC and the reserved bytes, so a header
        // that decodes re-encodes to exactly its 32 bytes.
        findings.check(
            header.encode().elementsEqual(input.prefix(FormatConstants.frameHeaderBytes)),
            "a decoded frame header does not re-encode to its bytes")
        findings.check(header.sequence > 0, "a frame header with sequence 0 decoded")
        findings.check(
            Padding.isBucketSize(Int(header.bodyBytes) - FormatConstants.sealOverheadBytes),
            "a frame header with body length \(header.bodyBytes) decoded")

        let body = UnsafeRawBufferPointer(rebasing: input[FormatConstants.frameHeaderBytes...])
        let position = FuzzFixtures.framePosition(for: header)
        switch SealedRecord.open(header: header, body: body, at: position, key: FuzzFixtures.frameKey) {
        case .failure: return
        case .success(let payload):
            let nonce = Array(body.prefix(XChaCha20Poly1305.nonceBytes))
            checkResealing(
                payload, frame: Array(input), header: header, position: position, nonce: nonce, &findings)
        }
    }

    /// Seals `plaintext` as a body at the fixed position and opens it: exactly the bytes
    /// `SealedRecord.open` parses after a tag verifies.
    static func sealAndOpen(plaintext: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let header = FrameHeader(bodyBytes: 0, sequence: 1, epoch: 1, type: .transaction, bodyChecksum: 0)
        let position = FuzzFixtures.framePosition(for: header)
        var body = FuzzFixtures.frameNonce
        XChaCha20Poly1305.seal(
            plaintext, key: FuzzFixtures.frameKey, nonce: FuzzFixtures.frameNonce,
            associatedData: position.associatedData, appendingTo: &body)
        let sealedHeader = FrameHeader(
            bodyBytes: UInt32(body.count), sequence: 1, epoch: 1, type: .transaction,
            bodyChecksum: CRC32.checksum(body))
        let result = body.withUnsafeBytes {
            SealedRecord.open(header: sealedHeader, body: $0, at: position, key: FuzzFixtures.frameKey)
        }
        switch result {
        case .failure(.bodyChecksum), .failure(.authentication):
            findings.fail("a body sealed at its position under its key did not open: \(result)")
        case .failure(.malformed):
            return
        case .success(let payload):
            checkResealing(
                payload, frame: sealedHeader.encode() + body, header: sealedHeader, position: position,
                nonce: FuzzFixtures.frameNonce, &findings)
        }
    }

    /// Oracles on an opened payload. Open accepts a raw plaintext only in its canonical form
    /// (zero reserved bytes and padding, equal lengths, the right bucket), so sealing the
    /// payload again with the same nonce must give back the same frame. A deflate stream has
    /// many encodings, so for it only the round trip is checked.
    static func checkResealing(
        _ payload: SecureBytes, frame: [UInt8], header: FrameHeader, position: RecordPosition, nonce: [UInt8],
        _ findings: inout FuzzFindings
    ) {
        let body = Array(frame[FormatConstants.frameHeaderBytes...])
        let plaintext = body.withUnsafeBytes { raw in
            XChaCha20Poly1305.open(
                UnsafeRawBufferPointer(rebasing: raw[XChaCha20Poly1305.nonceBytes...]), key: FuzzFixtures.frameKey,
                nonce: UnsafeRawBufferPointer(rebasing: raw[0..<XChaCha20Poly1305.nonceBytes]),
                associatedData: position.associatedData)
        }
        guard let plaintext else {
            findings.fail("SealedRecord.open succeeded on a body whose tag does not verify")
            return
        }
        let encodingByte = plaintext.withUnsafeBytes { $0.first }
        findings.check(
            Padding.isBucketSize(plaintext.count), "a plaintext of \(plaintext.count) bytes (not a bucket size) opened")
        switch encodingByte.flatMap(PayloadEncoding.init(rawValue:)) {
        case .raw?:
            // An unknown type byte is opened as a transaction but cannot be sealed back as itself.
            guard header.type != nil else { return }
            let resealed = payload.withUnsafeBytes {
                SealedRecord.seal(payload: $0, at: position, key: FuzzFixtures.frameKey, encoding: .raw, nonce: nonce)
            }
            findings.check(resealed == frame, "a raw payload sealed again with its nonce gives a different frame")
        case .deflate?:
            guard
                let resealed = payload.withUnsafeBytes({
                    SealedRecord.seal(
                        payload: $0, at: position, key: FuzzFixtures.frameKey, encoding: .deflate, nonce: nonce)
                })
            else {
                findings.fail("an opened deflate payload of \(payload.count) bytes cannot be sealed again")
                return
            }
            let reopened = resealed.withUnsafeBytes { raw -> Result<SecureBytes, SealedRecord.OpenFailure>? in
                guard case .success(let again) = FrameHeader.decode(raw) else { return nil }
                return SealedRecord.open(
                    header: again, body: UnsafeRawBufferPointer(rebasing: raw[FormatConstants.frameHeaderBytes...]),
                    at: position, key: FuzzFixtures.frameKey)
            }
            switch reopened {
            case .success(let again)?:
                findings.check(again == payload, "a deflate payload sealed again opens to different bytes")
            default:
                findings.fail("a deflate payload sealed again does not open: \(String(describing: reopened))")
            }
        case nil:
            findings.fail("a plaintext with encoding byte \(String(describing: encodingByte)) opened")
        }
    }
}
