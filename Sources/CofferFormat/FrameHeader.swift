import CofferCrypto

/// The 32-byte header in front of every sealed record (F-FRAME).
///
/// | Offset | Size | Field |
/// |---|---|---|
/// | 0 | 4 | magic `CFR1` |
/// | 4 | 4 | body length B |
/// | 8 | 8 | sequence number |
/// | 16 | 4 | key epoch |
/// | 20 | 1 | record type |
/// | 21 | 3 | reserved, zero |
/// | 24 | 4 | CRC-32 of the body |
/// | 28 | 4 | CRC-32 of bytes [0, 28) |
public struct FrameHeader: Sendable, Equatable {
    public var bodyBytes: UInt32
    public var sequence: UInt64
    public var epoch: UInt32
    public var typeByte: UInt8
    public var bodyChecksum: UInt32

    public init(bodyBytes: UInt32, sequence: UInt64, epoch: UInt32, type: RecordType, bodyChecksum: UInt32) {
        self.bodyBytes = bodyBytes
        self.sequence = sequence
        self.epoch = epoch
        self.typeByte = type.rawValue
        self.bodyChecksum = bodyChecksum
    }

    /// The record type, or `nil` for a type this reader does not know.
    public var type: RecordType? { RecordType(rawValue: typeByte) }

    /// Total bytes of the frame: header plus body.
    public var frameBytes: Int { FormatConstants.frameHeaderBytes + Int(bodyBytes) }

    public func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: FormatConstants.frameHeaderBytes)
        writer.write(FormatConstants.frameMagic)
        writer.write(bodyBytes)
        writer.write(sequence)
        writer.write(epoch)
        writer.write(typeByte)
        writer.writeZeros(3)
        writer.write(bodyChecksum)
        writer.write(CRC32.checksum(writer.bytes))
        return writer.bytes
    }

    /// Why 32 bytes are not a frame header. Each is a distinct class so that tests and
    /// `verify` can tell them apart.
    public enum Invalid: Error, Sendable, Equatable {
        case shortInput
        case magic
        case headerChecksum
        /// The checksum holds but a field is out of range: the length is never followed.
        case field(String)
    }

    /// Decodes and checks a frame header: magic, header CRC, reserved bytes, length bounds.
    /// A length from a header that fails its checksum is never returned (F-FRAME-CRC).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<FrameHeader, Invalid> {
        guard bytes.count >= FormatConstants.frameHeaderBytes else { return .failure(.shortInput) }
        guard bytes.prefix(4).elementsEqual(FormatConstants.frameMagic) else { return .failure(.magic) }
        var reader = ByteReader(bytes, offset: 4)
        let checked = UnsafeRawBufferPointer(rebasing: bytes[0..<28])
        var checksumReader = ByteReader(bytes, offset: 28)
        let storedHeaderChecksum = checksumReader.read(UInt32.self)
        guard CRC32.checksum(checked) == storedHeaderChecksum else { return .failure(.headerChecksum) }
        let bodyBytes = reader.read(UInt32.self)!
        let sequence = reader.read(UInt64.self)!
        let epoch = reader.read(UInt32.self)!
        let typeByte = reader.read(UInt8.self)!
        guard reader.skipZeros(3) else { return .failure(.field("reserved bytes are not zero")) }
        let bodyChecksum = reader.read(UInt32.self)!
        // F-FRAME-MAX: a body is a nonce, a padded plaintext of a bucket size, and a tag.
        let plaintextBytes = Int(bodyBytes) - FormatConstants.sealOverheadBytes
        guard plaintextBytes >= FormatConstants.paddedBytesMin, plaintextBytes <= FormatConstants.paddedBytesMax,
            Padding.isBucketSize(plaintextBytes)
        else { return .failure(.field("body length \(bodyBytes) is not a valid sealed size")) }
        guard sequence > 0 else { return .failure(.field("sequence number 0")) }
        var header = FrameHeader(
            bodyBytes: bodyBytes, sequence: sequence, epoch: epoch, type: .transaction, bodyChecksum: bodyChecksum)
        header.typeByte = typeByte
        return .success(header)
    }
}
