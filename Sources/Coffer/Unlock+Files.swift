import CofferErrors
import CofferFormat
import CofferStorage

extension Keyslot.Secret {
    /// The secret of the key file at `path` (``Keyslot/Secret/keyFile(contents:)``): 32
    /// bytes, or 64 hexadecimal characters and an optional line break.
    ///
    /// ```swift
    /// let vault = try Vault.open(path: "team.coffer", unlock: .keyFile(contentsOf: "team.key"))
    /// ```
    ///
    /// - Throws: `CofferError(.notFound)`, `.io`, or `.invalidInput` for a file that is not a
    ///   key file.
    public static func keyFile(contentsOf path: String) throws(CofferError) -> Keyslot.Secret {
        let contents = try SecretFile.read(path: path)
        do {
            return try keyFile(contents: contents)
        } catch {
            throw CofferError(.invalidInput, "The key file \(path) is not one: \(error.message)")
        }
    }

    /// The passphrase in the file at `path`, without one final line break
    /// (``Keyslot/Secret/passphrase(contents:)``).
    ///
    /// - Throws: `CofferError(.notFound)`, `.io`, or `.invalidInput` for an empty one.
    public static func passphrase(contentsOf path: String) throws(CofferError) -> Keyslot.Secret {
        let contents = try SecretFile.read(path: path)
        do {
            return try passphrase(contents: contents)
        } catch {
            throw CofferError(.invalidInput, "The passphrase file \(path) is empty.")
        }
    }
}
