import CofferCrypto

/// The subkeys of the vault's keys (F-KDF): one key for one purpose. The key-record and
/// header-MAC keys are derived from the master key; the API-key hash key from the unlock key,
/// so that a master-key rotation leaves stored API-key hashes valid.
public enum MasterKeySubkey: UInt64, Sendable {
    /// Seals key-epoch records, which carry the data keys.
    case keyRecord = 1
    /// Authenticates the header copies.
    case headerMAC = 2
    /// Keys the hash of platform API keys; derived from the unlock key.
    case apiKeyHash = 3
    /// Seals index checkpoints (F-CHECKPOINT).
    case checkpoint = 4

    /// Derives this subkey from `key` (the master key, or the unlock key for `.apiKeyHash`).
    public func derive(from key: SecureBytes) -> SecureBytes {
        KeyDerivation.deriveSubkey(from: key, subkeyID: rawValue, context: FormatConstants.subkeyContext)
    }
}
