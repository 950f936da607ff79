import CSodium

/// Ed25519 signatures (libsodium's `crypto_sign_*`): what lets a keyslot trust a new unlock key
/// sealed to it without its secret (FORMAT.md F-HDR-SIGNER). The vault's signer signs the
/// keyslot table; each slot binds the signer's public key with its own secret when it is made.
public enum Ed25519 {
    /// Bytes of a seed (the private key's 32 random bytes) and of a public key.
    public static let seedBytes = Int(crypto_sign_SEEDBYTES)  // 32
    /// Bytes of a public key.
    public static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)  // 32
    /// Bytes of a detached signature.
    public static let signatureBytes = Int(crypto_sign_BYTES)  // 64

    /// The public key of `seed`.
    public static func publicKey(seed: SecureBytes) -> [UInt8] {
        var publicKey = [UInt8](repeating: 0, count: publicKeyBytes)
        withSecretKey(seed: seed, publicKey: &publicKey) { _ in }
        return publicKey
    }

    /// The detached signature of `message` by the key of `seed`.
    public static func sign(_ message: [UInt8], seed: SecureBytes) -> [UInt8] {
        var publicKey = [UInt8](repeating: 0, count: publicKeyBytes)
        return withSecretKey(seed: seed, publicKey: &publicKey) { secretKey in
            var signature = [UInt8](repeating: 0, count: signatureBytes)
            let status = crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
            precondition(status == 0, "crypto_sign_detached failed")
            return signature
        }
    }

    /// Whether `signature` is the signature of `message` by `publicKey`; false for inputs of
    /// the wrong size, which a hostile file may hold.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
        Sodium.ensureReady()
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    /// Expands `seed` into libsodium's 64-byte secret key, in secure memory, for `body`.
    private static func withSecretKey<Result>(
        seed: SecureBytes, publicKey: inout [UInt8], _ body: (UnsafePointer<UInt8>) -> Result
    ) -> Result {
        precondition(seed.count == seedBytes, "an Ed25519 seed is 32 bytes")
        Sodium.ensureReady()
        let secretKey = SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { output in
            let status = seed.withUnsafeBytes { seedBytes in
                publicKey.withUnsafeMutableBufferPointer { publicOutput in
                    crypto_sign_seed_keypair(
                        publicOutput.baseAddress!, output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        seedBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            precondition(status == 0, "crypto_sign_seed_keypair failed")
        }
        return secretKey.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
    }
}
