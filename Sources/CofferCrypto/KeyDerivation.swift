import CSodium

/// Subkey derivation from a master key (libsodium's `crypto_kdf`, BLAKE2b based).
///
/// Each subkey has an 8-byte context and a 64-bit id; FORMAT.md lists them (F-KDF).
public enum KeyDerivation {
    /// Context length in bytes.
    public static let contextBytes = Int(crypto_kdf_CONTEXTBYTES)  // 8

    /// Derives `outputBytes` (16...64) from `masterKey` (32 bytes) for `context` and `subkeyID`.
    public static func deriveSubkey(
        from masterKey: SecureBytes, subkeyID: UInt64, context: String, outputBytes: Int = 32
    ) -> SecureBytes {
        let contextBytes = Array(context.utf8)
        precondition(contextBytes.count == Self.contextBytes, "crypto_kdf context must be 8 bytes")
        precondition(masterKey.count == Int(crypto_kdf_KEYBYTES), "crypto_kdf master key must be 32 bytes")
        Sodium.ensureReady()
        return SecureBytes(count: outputBytes) { output in
            let status = masterKey.withUnsafeBytes { master in
                contextBytes.withUnsafeBufferPointer { contextPointer in
                    contextPointer.withMemoryRebound(to: CChar.self) { contextChars in
                        crypto_kdf_derive_from_key(
                            output.baseAddress!.assumingMemoryBound(to: UInt8.self), outputBytes,
                            subkeyID, contextChars.baseAddress!,
                            master.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
            precondition(status == 0, "crypto_kdf failed")
        }
    }
}
