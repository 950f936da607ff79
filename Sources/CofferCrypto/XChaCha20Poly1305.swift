import CSodium

/// XChaCha20-Poly1305 (IETF construction) from libsodium: the only cipher Coffer uses.
///
/// A 24-byte nonce is large enough to be drawn at random for every message under one key
/// without a meaningful risk of repetition, which is why Coffer never keeps a nonce counter
/// (FORMAT.md, F-NONCE).
public enum XChaCha20Poly1305 {
    /// Key length in bytes.
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)  // 32
    /// Nonce length in bytes.
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)  // 24
    /// Authentication tag length in bytes.
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)  // 16

    /// Seals `plaintext` and appends `ciphertext || tag` to `output`.
    ///
    /// - Parameters:
    ///   - plaintext: the bytes to encrypt.
    ///   - key: a ``keyBytes``-long key.
    ///   - nonce: ``nonceBytes`` bytes, never used before with this key.
    ///   - associatedData: bytes authenticated but not encrypted.
    ///   - output: receives `plaintext.count + tagBytes` bytes.
    public static func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SecureBytes,
        nonce: [UInt8],
        associatedData: [UInt8],
        appendingTo output: inout [UInt8]
    ) {
        precondition(key.count == keyBytes, "XChaCha20-Poly1305 key must be 32 bytes")
        precondition(nonce.count == nonceBytes, "XChaCha20-Poly1305 nonce must be 24 bytes")
        Sodium.ensureReady()
        let start = output.count
        let sealedCount = plaintext.count + tagBytes
        output += [UInt8](repeating: 0, count: sealedCount)
        output.withUnsafeMutableBytes { target in
            let cipher = target.baseAddress!.advanced(by: start).assumingMemoryBound(to: UInt8.self)
            var written: UInt64 = 0
            let status = key.withUnsafeBytes { keyBytes in
                plaintext.withNonNullBase { message, messageCount in
                    associatedData.withUnsafeBytes { aad in
                        aad.withNonNullBase { aadBase, aadCount in
                            crypto_aead_xchacha20poly1305_ietf_encrypt(
                                cipher, &written,
                                message, UInt64(messageCount),
                                aadBase, UInt64(aadCount),
                                nil, nonce,
                                keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                        }
                    }
                }
            }
            precondition(status == 0 && written == UInt64(sealedCount), "seal failed")
        }
    }

    /// Opens `ciphertext || tag`, returning the plaintext in protected memory, or `nil` when
    /// the tag does not verify (wrong key, wrong associated data, or altered bytes).
    public static func open(
        _ sealed: UnsafeRawBufferPointer,
        key: SecureBytes,
        nonce: UnsafeRawBufferPointer,
        associatedData: [UInt8]
    ) -> SecureBytes? {
        associatedData.withUnsafeBytes { open(sealed, key: key, nonce: nonce, associatedData: $0) }
    }

    /// Opens `ciphertext || tag` as ``open(_:key:nonce:associatedData:)-([UInt8])`` does, with
    /// the associated data read where it lies (a record's, built on the stack for each read).
    public static func open(
        _ sealed: UnsafeRawBufferPointer,
        key: SecureBytes,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer
    ) -> SecureBytes? {
        precondition(key.count == keyBytes, "XChaCha20-Poly1305 key must be 32 bytes")
        precondition(nonce.count == nonceBytes, "XChaCha20-Poly1305 nonce must be 24 bytes")
        guard sealed.count >= tagBytes else { return nil }
        struct AuthenticationFailure: Error {}
        return try? SecureBytes(count: sealed.count - tagBytes) { target in
            var byte: UInt8 = 0
            // An empty plaintext still needs a destination address.
            let opened = withUnsafeMutablePointer(to: &byte) { placeholder in
                decrypt(
                    sealed, into: target.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? placeholder, key: key,
                    nonce: nonce, associatedData: associatedData)
            }
            if opened == nil { throw AuthenticationFailure() }
        }
    }

    /// Seals `region` in place, its ciphertext taking the plaintext's place, and returns the
    /// tag apart (libsodium's detached form), in ordinary memory: for sealed data that holds no
    /// secret value, only what must stay confidential and unaltered, sealed in chunks whose tags
    /// are kept together (an index checkpoint, F-CHECKPOINT: too large for locked memory, and
    /// too large to hold twice).
    public static func sealDetachedInPlace(
        _ region: UnsafeMutableRawBufferPointer, key: SecureBytes, nonce: [UInt8], associatedData: [UInt8]
    ) -> [UInt8] {
        precondition(key.count == keyBytes, "XChaCha20-Poly1305 key must be 32 bytes")
        precondition(nonce.count == nonceBytes, "XChaCha20-Poly1305 nonce must be 24 bytes")
        Sodium.ensureReady()
        var tag = [UInt8](repeating: 0, count: tagBytes)
        var placeholder: UInt8 = 0
        let status = withUnsafeMutablePointer(to: &placeholder) { placeholder in
            let message = region.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? placeholder
            return key.withUnsafeBytes { keyBytes in
                associatedData.withUnsafeBytes { aad in
                    aad.withNonNullBase { aadBase, aadCount in
                        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                            message, &tag, nil, message, UInt64(region.count), aadBase, UInt64(aadCount), nil, nonce,
                            keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        precondition(status == 0, "seal failed")
        return tag
    }

    /// Opens `region` in place with its detached `tag`: whether the tag verifies. Only then is
    /// `region` the plaintext; when it does not, it is zeroed.
    public static func openDetachedInPlace(
        _ region: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer, key: SecureBytes, nonce: [UInt8],
        associatedData: [UInt8]
    ) -> Bool {
        precondition(key.count == keyBytes, "XChaCha20-Poly1305 key must be 32 bytes")
        precondition(nonce.count == nonceBytes, "XChaCha20-Poly1305 nonce must be 24 bytes")
        Sodium.ensureReady()
        var placeholder: UInt8 = 0
        let status = withUnsafeMutablePointer(to: &placeholder) { placeholder -> Int32 in
            guard tag.count == tagBytes else { return -1 }
            let message = region.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? placeholder
            return key.withUnsafeBytes { keyBytes in
                associatedData.withUnsafeBytes { aad in
                    aad.withNonNullBase { aadBase, aadCount in
                        crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                            message, nil, message, UInt64(region.count),
                            tag.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            aadBase, UInt64(aadCount), nonce, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        // Not every libsodium zeroes a failed open's output: no unauthenticated byte is left.
        if status != 0, let base = region.baseAddress { sodium_memzero(base, region.count) }
        return status == 0
    }

    /// Opens `ciphertext || tag` into `target`, which holds `sealed.count - tagBytes` bytes:
    /// the plaintext's length, or `nil` when the tag does not verify.
    private static func decrypt(
        _ sealed: UnsafeRawBufferPointer, into target: UnsafeMutablePointer<UInt8>, key: SecureBytes,
        nonce: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer
    ) -> Int? {
        Sodium.ensureReady()
        var written: UInt64 = 0
        let status = key.withUnsafeBytes { keyBytes in
            sealed.withNonNullBase { cipher, cipherCount in
                associatedData.withNonNullBase { aadBase, aadCount in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        target, &written, nil,
                        cipher, UInt64(cipherCount), aadBase, UInt64(aadCount),
                        nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        return status == 0 ? Int(written) : nil
    }
}
