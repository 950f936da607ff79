import CSodium

/// SHA-256 (libsodium's `crypto_hash_sha256`): only for what others define with it, such as
/// an SSH key's fingerprint. Coffer's own hashing is BLAKE2b.
public enum SHA256 {
    /// Bytes of a digest.
    public static let digestBytes = 32

    /// The 32-byte SHA-256 digest of `bytes`, which may be empty.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        Sodium.ensureReady()
        var digest = [UInt8](repeating: 0, count: digestBytes)
        let status = digest.withUnsafeMutableBufferPointer { output in
            crypto_hash_sha256(
                output.baseAddress!, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
        }
        precondition(status == 0, "SHA-256 failed")
        return digest
    }
}

/// Base64 (RFC 4648 §4, libsodium's constant-time codec).
public enum Base64 {
    /// Decodes `text` into secure memory (what it encodes may be secret), skipping line breaks
    /// and blanks; nil when it is not Base64. The result may be longer than the decoded bytes:
    /// they are its first `count`.
    public static func decodeSecret(_ text: UnsafeRawBufferPointer) -> (bytes: SecureBytes, count: Int)? {
        Sodium.ensureReady()
        let capacity = text.count / 4 * 3 + 3
        var decoded = 0
        var status: Int32 = -1
        let bytes = SecureBytes(count: capacity) { output in
            status = sodium_base642bin(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), capacity,
                text.baseAddress?.assumingMemoryBound(to: CChar.self), text.count, " \t\r\n", &decoded, nil,
                sodium_base64_VARIANT_ORIGINAL)
        }
        return status == 0 ? (bytes, decoded) : nil
    }

    /// The Base64 text of `bytes`, with or without `=` padding.
    public static func encode(_ bytes: [UInt8], padding: Bool = true) -> String {
        Sodium.ensureReady()
        let variant = padding ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING
        let length = sodium_base64_encoded_len(bytes.count, variant)
        var text = [CChar](repeating: 0, count: length)
        _ = text.withUnsafeMutableBufferPointer { output in
            bytes.withUnsafeBufferPointer { input in
                sodium_bin2base64(output.baseAddress!, length, input.baseAddress, input.count, variant)
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
