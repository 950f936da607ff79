import BenchSodium

/// XChaCha20-Poly1305 straight from libsodium, on plain byte arrays: the machine's AEAD
/// limit, and the sealing a team adding encryption to SQLite by hand would write.
/// `sealed = nonce (24) || ciphertext || tag (16)`.
public enum Sealer {
    public static let nonceBytes = 24
    public static let tagBytes = 16
    public static let overheadBytes = nonceBytes + tagBytes

    /// Initializes libsodium; call once before any other function.
    public static func prepare() {
        precondition(sodium_init() >= 0, "sodium_init failed")
    }

    /// 32 random bytes.
    public static func randomKey() -> [UInt8] {
        var key = [UInt8](repeating: 0, count: 32)
        key.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, 32) }
        return key
    }

    /// Seals `plaintext` with a fresh random nonce into `output` (which must hold
    /// `plaintext.count + overheadBytes` bytes).
    @inline(__always)
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) {
        let base = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        randombytes_buf(base, nonceBytes)
        var written: UInt64 = 0
        let status = crypto_aead_xchacha20poly1305_ietf_encrypt(
            base + nonceBytes, &written,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(base), UInt64(plaintext.count),
            associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(associatedData.count),
            nil, UnsafePointer(base), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        precondition(status == 0, "seal failed")
    }

    /// Opens `sealed` into `output` (which must hold `sealed.count - overheadBytes` bytes);
    /// `false` when the tag does not verify.
    @inline(__always)
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard sealed.count >= overheadBytes else { return false }
        let base = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written: UInt64 = 0
        var dummy: UInt8 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? withUnsafeMutablePointer(to: &dummy) { $0 },
            &written, nil,
            base + nonceBytes, UInt64(sealed.count - nonceBytes),
            associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(associatedData.count),
            base, key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }

    /// Seals an array; returns `nonce || ciphertext || tag`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: plaintext.count + overheadBytes)
        plaintext.withUnsafeBytes { message in
            key.withUnsafeBytes { keyBytes in
                associatedData.withUnsafeBytes { aad in
                    output.withUnsafeMutableBytes { seal(message, key: keyBytes, associatedData: aad, into: $0) }
                }
            }
        }
        return output
    }

    /// Opens a sealed buffer into a new array; `nil` when it does not authenticate.
    public static func open(_ sealed: UnsafeRawBufferPointer, key: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard sealed.count >= overheadBytes else { return nil }
        var output = [UInt8](repeating: 0, count: sealed.count - overheadBytes)
        let ok = key.withUnsafeBytes { keyBytes in
            associatedData.withUnsafeBytes { aad in
                output.withUnsafeMutableBytes { open(sealed, key: keyBytes, associatedData: aad, into: $0) }
            }
        }
        return ok ? output : nil
    }
}
