import CofferCrypto

/// The subkeys derived from the vault master key (F-KDF): one key for one purpose.
public enum MasterKeySubkey: UInt64, Sendable {
    /// Seals key-epoch records, which carry the data keys.
    case keyRecord = 1
    /// Authenticates the header copies.
    case headerMAC = 2
    /// Keys the hash of platform API keys.
    case apiKeyHash = 3

    /// Derives this subkey from `masterKey`.
    public func derive(from masterKey: SecureBytes) -> SecureBytes {
        KeyDerivation.deriveSubkey(from: masterKey, subkeyID: rawValue, context: FormatConstants.subkeyContext)
    }
}
