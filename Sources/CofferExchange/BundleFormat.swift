import Coffer
import CofferFormat

/// The constants and header of the encrypted export bundle (FORMAT.md §12.2),
/// shared by the writer and the reader.
///
/// ```
/// bundle  = header (128 bytes) || chunk_0 || … || chunk_{n-1}
/// chunk_i = XChaCha20-Poly1305(payload key, nonce_i, plaintext_i, AAD = header)
/// plaintext_0 || … || plaintext_{n-1} = zlib(revealed export JSON)
/// ```
public enum BundleFormat {
    /// `"\x89COFBUN\n"`: the high bit and the newline catch 7-bit and text-mode transfers, as
    /// the vault's magic does (F-HDR-MAGIC). [B-MAGIC]
    public static let magic: [UInt8] = [0x89, 0x43, 0x4F, 0x46, 0x42, 0x55, 0x4E, 0x0A]
    /// The one version this code writes and reads. [B-VERSION]
    public static let version: UInt16 = 1
    /// Header size: magic 8 + version 2 + key kind 1 + compression 1 + chunk size 4 + ops 4
    /// + reserved 4 + memory 8 + salt 16 + nonce prefix 16 + content length 8 + reserved 24
    /// + MAC 32.
    public static let headerBytes = 8 + 2 + 1 + 1 + 4 + 4 + 4 + 8 + 16 + 16 + 8 + 24 + 32  // 128
    /// The bytes the header MAC covers: everything before it. [B-MAC]
    public static let macOffset = headerBytes - 32  // 96
    /// Plaintext bytes in every chunk but the last, which holds 1 to this many. [B-CHUNK]
    public static let chunkBytes = 65536
    /// A sealed chunk: plaintext and the 16-byte tag.
    public static let sealedChunkBytesMax = chunkBytes + XChaCha20Poly1305.tagBytes  // 65552
    /// The largest content (inflated JSON) a bundle may declare, checked before anything is
    /// allocated for it. [B-LENGTH]
    public static let contentBytesMax = UInt64(ExchangeLimits.inputBytesMax)
    public static let saltBytes = 16
    public static let noncePrefixBytes = 16
    /// `crypto_kdf` context of the bundle's subkeys. [B-KEYS]
    static let kdfContext = "CofBndl1"
    /// Prefix of the key-file derivation. [B-KEY-FILE]
    static let keyFileLabel = Array("coffer bundle keyfile v1".utf8)

    /// How the bundle key is made.
    public enum KeyKind: UInt8, Sendable {
        /// Argon2id over a passphrase.
        case passphrase = 1
        /// BLAKE2b over a 32-byte key file.
        case keyFile = 2
    }

    /// The compression of the plaintext stream. Only zlib (RFC 1950) is defined.
    static let compressionZlib: UInt8 = 1
}

/// A bundle header, decoded and checked, before its MAC is verified.
public struct BundleHeader: Sendable, Equatable {
    public var keyKind: BundleFormat.KeyKind
    /// The Argon2id cost; zero for a key file.
    public var cost: Argon2id.Cost
    public var salt: [UInt8]
    public var noncePrefix: [UInt8]
    /// Bytes of the inflated content (the export JSON).
    public var contentLength: UInt64

    /// The 128 header bytes, the MAC taken from `mac`.
    func encoded(mac: [UInt8]) -> [UInt8] {
        var bytes = BundleFormat.magic
        func put<Integer: FixedWidthInteger>(_ value: Integer) {
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }
        put(BundleFormat.version)
        put(keyKind.rawValue)
        put(BundleFormat.compressionZlib)
        put(UInt32(BundleFormat.chunkBytes))
        put(cost.operations)
        put(UInt32(0))
        put(cost.memoryBytes)
        bytes += salt
        bytes += noncePrefix
        put(contentLength)
        bytes += [UInt8](repeating: 0, count: 24)
        precondition(bytes.count == BundleFormat.macOffset, "bundle header layout")
        bytes += mac
        precondition(bytes.count == BundleFormat.headerBytes, "bundle header layout")
        return bytes
    }

    /// Decodes and checks the header at the start of `bytes`, every rule that needs no key
    /// (B-MAGIC, B-VERSION, B-RESERVED, B-CHUNK, B-KDF-CAP, B-LENGTH), in that order.
    ///
    /// - Throws: `.invalidInput` without the magic (not a bundle), `.unsupportedVersion`,
    ///   `.corrupted`.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> BundleHeader {
        guard bytes.count >= BundleFormat.magic.count,
            bytes.prefix(BundleFormat.magic.count).elementsEqual(BundleFormat.magic)
        else {
            throw CofferError(
                .invalidInput, "The file is not a Coffer export bundle (it does not start with the bundle magic).")
        }
        guard bytes.count >= BundleFormat.headerBytes else {
            throw CofferError(
                .corrupted, "The bundle ends inside its header: it is truncated.", offset: UInt64(bytes.count))
        }
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[0..<BundleFormat.headerBytes]))
        _ = reader.readBytes(BundleFormat.magic.count)
        let version = reader.read(UInt16.self)!
        guard version == BundleFormat.version else {
            throw CofferError(
                .unsupportedVersion,
                "The bundle has format version \(version); this coffer reads version \(BundleFormat.version). Import it with a newer coffer."
            )
        }
        let kindByte = reader.read(UInt8.self)!
        let compression = reader.read(UInt8.self)!
        guard let kind = BundleFormat.KeyKind(rawValue: kindByte), compression == BundleFormat.compressionZlib else {
            throw CofferError(
                .unsupportedVersion, "The bundle uses a key kind or compression this coffer does not know.", offset: 10)
        }
        let chunk = reader.read(UInt32.self)!
        let operations = reader.read(UInt32.self)!
        let reservedA = reader.read(UInt32.self)!
        let memory = reader.read(UInt64.self)!
        let salt = reader.readBytes(BundleFormat.saltBytes)!
        let prefix = reader.readBytes(BundleFormat.noncePrefixBytes)!
        let length = reader.read(UInt64.self)!
        let reservedB = reader.readBytes(24)!
        guard reservedA == 0, reservedB.allSatisfy({ $0 == 0 }) else {
            throw CofferError(.corrupted, "The bundle header has non-zero reserved bytes.", offset: 20)
        }
        guard chunk == UInt32(BundleFormat.chunkBytes) else {
            throw CofferError(
                .corrupted, "The bundle header gives a chunk size of \(chunk); it must be \(BundleFormat.chunkBytes).",
                offset: 12)
        }
        switch kind {
        case .passphrase:
            // B-KDF-CAP, as F-SLOT-CAP: a hostile header cannot make an import take minutes
            // or gigabytes before the MAC is checked.
            guard Argon2id.Cost(operations: operations, memoryBytes: memory).isWithinFormatLimits else {
                throw CofferError(.corrupted, "The bundle's Argon2id cost is outside the allowed range.", offset: 16)
            }
        case .keyFile:
            guard operations == 0, memory == 0 else {
                throw CofferError(.corrupted, "A key-file bundle must have no Argon2id cost.", offset: 16)
            }
        }
        guard length > 0, length <= BundleFormat.contentBytesMax else {
            throw CofferError(
                .corrupted,
                "The bundle declares \(length) bytes of content; it must be 1 to \(BundleFormat.contentBytesMax).",
                offset: 64)
        }
        return BundleHeader(
            keyKind: kind, cost: Argon2id.Cost(operations: operations, memoryBytes: memory), salt: salt,
            noncePrefix: prefix,
            contentLength: length)
    }
}
