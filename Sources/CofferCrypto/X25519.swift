import CSodium

/// X25519 Diffie-Hellman (libsodium's `crypto_scalarmult`): what lets a keyslot be rewrapped
/// for its owner without the owner's secret (FORMAT.md F-SLOT-RECIPIENT). A slot publishes a
/// public key whose private key only its passphrase or key file derives; anyone holding the
/// unlock key can seal a new one to it with a fresh ephemeral key.
public enum X25519 {
    /// Bytes of a public or private key, and of a shared secret.
    public static let keyBytes = Int(crypto_scalarmult_BYTES)  // 32

    /// The public key of `privateKey` (32 bytes; libsodium clamps it).
    public static func publicKey(of privateKey: SecureBytes) -> [UInt8] {
        precondition(privateKey.count == keyBytes, "an X25519 private key is 32 bytes")
        Sodium.ensureReady()
        var result = [UInt8](repeating: 0, count: keyBytes)
        let status = privateKey.withUnsafeBytes { secret in
            result.withUnsafeMutableBufferPointer { output in
                crypto_scalarmult_base(output.baseAddress!, secret.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        precondition(status == 0, "crypto_scalarmult_base failed")
        return result
    }

    /// The shared secret of `privateKey` and `publicKey`, in secure memory; nil when
    /// `publicKey` is not 32 bytes or is a low-order point (the result would be all zero),
    /// which a hostile file could plant.
    public static func sharedSecret(privateKey: SecureBytes, publicKey: [UInt8]) -> SecureBytes? {
        precondition(privateKey.count == keyBytes, "an X25519 private key is 32 bytes")
        guard publicKey.count == keyBytes else { return nil }
        Sodium.ensureReady()
        var failed = false
        let shared = SecureBytes(count: keyBytes) { output in
            let status = privateKey.withUnsafeBytes { secret in
                publicKey.withUnsafeBytes { point in
                    crypto_scalarmult(
                        output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        secret.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        point.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            failed = status != 0
        }
        return failed ? nil : shared
    }
}
