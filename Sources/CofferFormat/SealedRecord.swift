import CofferCrypto

/// Where a record sits in the log: everything its AAD binds (F-AAD).
public struct RecordPosition: Sendable, Equatable {
    public var vaultID: [UInt8]
    public var sequence: UInt64
    public var type: RecordType
    public var epoch: UInt32
    /// The chain hash after the previous record (the genesis hash for the first).
    public var previousChain: [UInt8]

    public init(vaultID: [UInt8], sequence: UInt64, type: RecordType, epoch: UInt32, previousChain: [UInt8]) {
        self.vaultID = vaultID
        self.sequence = sequence
        self.type = type
        self.epoch = epoch
        self.previousChain = previousChain
    }

    /// F-AAD: `"coffer record v1" || vault id || u16 format version || u64 sequence ||
    /// u8 type || u32 epoch || previous chain hash` (79 bytes). A record therefore cannot be
    /// moved, replayed, reordered or spliced in from another vault without failing to open.
    public var associatedData: [UInt8] {
        withAssociatedData { Array($0) }
    }

    /// Calls `body` with ``associatedData`` built on the stack: every record read, at open and
    /// at each reveal, builds one, and a heap array cost a reveal more than the rest of F-AAD's
    /// handling.
    public func withAssociatedData<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        // Exactly the bytes written below, so each copy fits.
        let count = Self.label.count + vaultID.count + 2 + 8 + 1 + 4 + previousChain.count
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            Self.label.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            var cursor = Self.label.count
            vaultID.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[cursor...]).copyMemory(from: $0) }
            cursor += vaultID.count
            buffer.storeBytes(of: FormatConstants.writeVersion.littleEndian, toByteOffset: cursor, as: UInt16.self)
            buffer.storeBytes(of: sequence.littleEndian, toByteOffset: cursor + 2, as: UInt64.self)
            buffer.storeBytes(of: type.rawValue, toByteOffset: cursor + 10, as: UInt8.self)
            buffer.storeBytes(of: epoch.littleEndian, toByteOffset: cursor + 11, as: UInt32.self)
            cursor += 15
            previousChain.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[cursor...]).copyMemory(from: $0)
            }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    private static let label = Array("coffer record v1".utf8)
}

/// How a payload is stored inside the sealed plaintext (F-COMPRESS).
public enum PayloadEncoding: UInt8, Sendable {
    case raw = 0
    case deflate = 1
}

/// Seals payloads into frames and opens them again (F-SEAL).
///
/// The sealed plaintext is `encoding(1) || reserved(3) || stored length(4) ||
/// decoded length(4) || reserved(4) || stored payload || zero padding`, padded to a bucket
/// size (F-PAD), then sealed with XChaCha20-Poly1305 under a fresh random nonce.
public enum SealedRecord {
    /// The padded plaintext of a record whose stored payload has `storedPayloadBytes` bytes
    /// (F-PAD): its plaintext header and payload rounded up to a bucket; `nil` beyond
    /// ``FormatConstants/payloadBytesMax``.
    public static func paddedPlaintextBytes(storedPayloadBytes: Int) -> Int? {
        guard storedPayloadBytes <= FormatConstants.payloadBytesMax else { return nil }
        return Padding.bucketSize(for: FormatConstants.plaintextHeaderBytes + storedPayloadBytes)
    }

    /// The bytes of the whole frame (header, nonce, sealed padded plaintext, tag) of a record
    /// whose stored payload has `storedPayloadBytes` bytes: what ``seal(payload:at:key:encoding:nonce:)``
    /// returns, counted without sealing. `nil` beyond ``FormatConstants/payloadBytesMax``.
    public static func frameBytes(storedPayloadBytes: Int) -> Int? {
        paddedPlaintextBytes(storedPayloadBytes: storedPayloadBytes).map {
            FormatConstants.frameHeaderBytes + FormatConstants.sealOverheadBytes + $0
        }
    }

    /// Builds a complete frame (header and body) for `payload` at `position`.
    ///
    /// - Parameters:
    ///   - payload: the record payload; it is copied only into protected memory.
    ///   - key: the epoch's data key, or the key-record subkey for key-epoch records.
    ///   - encoding: `.deflate` only where F-COMPRESS allows it; kept raw when it does not pay.
    ///   - nonce: injected for test vectors; random when `nil` (F-NONCE).
    /// - Returns: the frame, or `nil` when the payload exceeds ``FormatConstants/payloadBytesMax``.
    public static func seal(
        payload: UnsafeRawBufferPointer, at position: RecordPosition, key: SecureBytes,
        encoding: PayloadEncoding = .raw, nonce: [UInt8]? = nil
    ) -> [UInt8]? {
        var stored: [UInt8]? = nil
        var usedEncoding = PayloadEncoding.raw
        if encoding == .deflate {
            let compressed = Deflate.compress(payload)
            if compressed.count < payload.count {
                stored = compressed
                usedEncoding = .deflate
            }
        }
        let storedCount = stored?.count ?? payload.count
        guard let paddedCount = paddedPlaintextBytes(storedPayloadBytes: storedCount) else { return nil }
        let plaintext = SecureBytes(count: paddedCount) { target in
            var header = ByteWriter(capacity: FormatConstants.plaintextHeaderBytes)
            header.write(usedEncoding.rawValue)
            header.writeZeros(3)
            header.write(UInt32(storedCount))
            header.write(UInt32(payload.count))
            header.writeZeros(4)
            header.bytes.withUnsafeBytes { target.copyMemory(from: $0) }
            let body = UnsafeMutableRawBufferPointer(rebasing: target[FormatConstants.plaintextHeaderBytes...])
            if let stored {
                stored.withUnsafeBytes { if $0.count > 0 { body.copyMemory(from: $0) } }
            } else if payload.count > 0 {
                body.copyMemory(from: payload)
            }
        }
        let nonceBytes = nonce ?? RandomBytes.make(XChaCha20Poly1305.nonceBytes)
        var body = nonceBytes
        body.reserveCapacity(FormatConstants.sealOverheadBytes + paddedCount)
        plaintext.withUnsafeBytes { bytes in
            XChaCha20Poly1305.seal(
                bytes, key: key, nonce: nonceBytes, associatedData: position.associatedData, appendingTo: &body)
        }
        let header = FrameHeader(
            bodyBytes: UInt32(body.count), sequence: position.sequence, epoch: position.epoch,
            type: position.type, bodyChecksum: CRC32.checksum(body))
        return header.encode() + body
    }

    /// Why a frame with a valid header did not yield a payload.
    public enum OpenFailure: Error, Sendable, Equatable {
        /// The body's CRC-32 does not match: torn or flipped bytes.
        case bodyChecksum
        /// The AEAD tag does not verify: wrong key, wrong position, or altered bytes.
        case authentication
        /// The tag verifies but the plaintext breaks a rule (padding, lengths, encoding).
        case malformed(String)
    }

    /// Checks the body CRC without a key (F-FRAME-CRC).
    public static func bodyChecksumMatches(header: FrameHeader, body: UnsafeRawBufferPointer) -> Bool {
        body.count == Int(header.bodyBytes) && CRC32.checksum(body) == header.bodyChecksum
    }

    /// Opens a frame's body and returns its payload in protected memory. A stored (raw)
    /// payload is a slice of the decrypted plaintext (``SecureBytes/slice(_:)``), which it keeps
    /// alive: a caller that keeps a part of it copies that part.
    ///
    /// - Parameter skippingBodyChecksum: the body CRC is not checked: the tag authenticates the
    ///   body all the same, and the CRC only tells a damaged frame from a forged one
    ///   (F-FRAME-CRC), which a reader of one record reports alike.
    public static func open(
        header: FrameHeader, body: UnsafeRawBufferPointer, at position: RecordPosition, key: SecureBytes,
        skippingBodyChecksum: Bool = false
    ) -> Result<SecureBytes, OpenFailure> {
        openInPlace(
            header: header, body: body, at: position, key: key, skippingBodyChecksum: skippingBodyChecksum
        ).map(\.payloadBytes)
    }

    /// An opened record: the memory that holds its payload, and where in it the payload lies.
    public struct Opened: Sendable {
        /// The decrypted plaintext of a raw payload, or the inflated payload of a deflated one.
        public let plaintext: SecureBytes
        /// Where the payload lies in ``plaintext``.
        public let payload: Range<Int>

        /// The payload as bytes of its own: the inflated payload itself, or a slice of the
        /// plaintext (``SecureBytes/slice(_:)``), which keeps the plaintext alive with it.
        public var payloadBytes: SecureBytes {
            payload == 0..<plaintext.count ? plaintext : plaintext.slice(payload)
        }
    }

    /// Opens a frame's body as ``open(header:body:at:key:skippingBodyChecksum:)`` does, with
    /// the same checks, and gives the payload where it lies: for a reader that decodes it at
    /// once and lets it go (a reveal), which then needs no slice of its own.
    public static func openInPlace(
        header: FrameHeader, body: UnsafeRawBufferPointer, at position: RecordPosition, key: SecureBytes,
        skippingBodyChecksum: Bool = false
    ) -> Result<Opened, OpenFailure> {
        guard body.count == Int(header.bodyBytes) else { return .failure(.bodyChecksum) }
        guard skippingBodyChecksum || bodyChecksumMatches(header: header, body: body) else {
            return .failure(.bodyChecksum)
        }
        let nonceCount = XChaCha20Poly1305.nonceBytes
        let nonce = UnsafeRawBufferPointer(rebasing: body[0..<nonceCount])
        let sealed = UnsafeRawBufferPointer(rebasing: body[nonceCount...])
        let opened = position.withAssociatedData {
            XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: $0)
        }
        guard let plaintext = opened else { return .failure(.authentication) }
        return plaintext.withUnsafeBytes { bytes -> Result<Opened, OpenFailure> in
            var reader = ByteReader(bytes)
            guard let encodingByte = reader.read(UInt8.self), reader.skipZeros(3),
                let storedCount = reader.read(UInt32.self), let decodedCount = reader.read(UInt32.self),
                reader.skipZeros(4)
            else { return .failure(.malformed("short plaintext header")) }
            guard let encoding = PayloadEncoding(rawValue: encodingByte) else {
                return .failure(.malformed("unknown payload encoding \(encodingByte)"))
            }
            let storedStart = reader.offset
            guard let stored = reader.readView(Int(storedCount)) else {
                return .failure(.malformed("stored length exceeds the plaintext"))
            }
            // F-PAD-ZERO: padding must be zero, so the plaintext has exactly one meaning.
            guard reader.skipZeros(reader.remaining) else { return .failure(.malformed("non-zero padding")) }
            guard Padding.bucketSize(for: FormatConstants.plaintextHeaderBytes + Int(storedCount)) == bytes.count else {
                return .failure(.malformed("padded to the wrong bucket"))
            }
            switch encoding {
            case .raw:
                guard decodedCount == storedCount else { return .failure(.malformed("raw lengths differ")) }
                // The payload is read where it lies in the plaintext, not copied: it keeps the
                // padded plaintext (16 header bytes, zeros after) alive with it.
                return .success(Opened(plaintext: plaintext, payload: storedStart..<storedStart + stored.count))
            case .deflate:
                guard decodedCount <= UInt32(FormatConstants.payloadBytesMax),
                    let decoded = Deflate.decompress(stored, expectedCount: Int(decodedCount))
                else { return .failure(.malformed("deflate stream is invalid")) }
                return .success(Opened(plaintext: decoded, payload: 0..<decoded.count))
            }
        }
    }
}
