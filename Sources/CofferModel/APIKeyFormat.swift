import CofferCrypto

/// The text form, hash and preview of platform API keys (FORMAT.md, OPS-APIKEY-FORMAT).
///
/// A key is `ck_live_` followed by 32 base32 digits of 20 random bytes (160 bits). The vault
/// stores only `hash = BLAKE2b-256(key = K_api, message = UTF-8 key text)`, where `K_api` is
/// the master key's API-key subkey, and a preview showing the last four digits.
///
/// ```swift
/// let secret = APIKeyFormat.generate()             // shown once
/// let hash = APIKeyFormat.hash(of: secret, hashKey: apiKeyHashKey)
/// ```
public enum APIKeyFormat {
    /// Every key starts with this, so leaked keys are easy to scan for.
    public static let prefix = "ck_live_"
    /// Random bytes in a key: 160 bits.
    public static let randomByteCount = 20
    /// Characters of a key: prefix 8 + base32 digits 32.
    public static let characterCount = 8 + 32  // 40
    /// Bytes of the stored hash.
    public static let hashByteCount = 32

    /// Generates a new key into protected memory. The random bytes pass through one
    /// temporary array, which is wiped.
    public static func generate(randomBytes: (Int) -> [UInt8] = RandomBytes.make) -> SecureBytes {
        var random = randomBytes(randomByteCount)
        defer { secureZero(&random) }
        precondition(random.count == randomByteCount, "random source returned the wrong number of bytes")
        let prefixBytes = Array(prefix.utf8)
        return SecureBytes(count: characterCount) { target in
            target.copyBytes(from: prefixBytes)
            random.withUnsafeBytes { source in
                Base32.encode(source, into: UnsafeMutableRawBufferPointer(rebasing: target[prefixBytes.count...]))
            }
        }
    }

    /// Whether `key` has the shape of a key: the prefix, then 32 base32 digits.
    public static func isWellFormed(_ key: SecureBytes) -> Bool {
        key.withUnsafeBytes { bytes in
            bytes.count == characterCount && bytes.starts(with: prefix.utf8)
                && bytes.dropFirst(prefix.utf8.count).allSatisfy { Base32.value(of: $0) != nil }
        }
    }

    /// The keyed hash the vault stores: BLAKE2b-256 keyed with `hashKey` (16 to 64 bytes,
    /// normally `MasterKeySubkey.apiKeyHash`) over the key's text.
    public static func hash(of key: SecureBytes, hashKey: SecureBytes) -> [UInt8] {
        var hasher = Blake2b(key: hashKey, outputBytes: hashByteCount)
        key.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// The non-secret preview: the prefix, the mask and the last four digits, e.g.
    /// `ck_live_••••w2xq`. Four of 32 digits leave 140 bits unknown.
    public static func preview(of key: SecureBytes) -> String {
        key.withUnsafeBytes { bytes in
            prefix + Preview.mask + String(decoding: bytes.suffix(4), as: UTF8.self)
        }
    }

    /// The lookup tag of a hash: its first eight bytes, little-endian. The index finds a key
    /// by tag, then compares the whole hash in constant time.
    static func tag(of hash: [UInt8]) -> UInt64 {
        precondition(hash.count >= 8, "hash too short for a tag")
        var tag: UInt64 = 0
        for index in stride(from: 7, through: 0, by: -1) { tag = tag << 8 | UInt64(hash[index]) }
        return tag
    }
}
