import CofferCrypto

/// A key sealed under the unlock key in the header (F-HDR-MASTER, F-HDR-APIKEY,
/// F-HDR-SIGNER): `nonce || XChaCha20-Poly1305(unlock key, nonce, key, AAD = label || vault
/// UUID)`, each kind of key with its own label, so no wrap opens as another.
enum KeyWrap {
    static func seal(
        _ key: SecureBytes, under unlockKey: SecureBytes, label: String, vaultID: [UInt8], nonce: [UInt8]? = nil
    ) -> [UInt8] {
        var wrap = nonce ?? RandomBytes.make(XChaCha20Poly1305.nonceBytes)
        key.withUnsafeBytes { plaintext in
            XChaCha20Poly1305.seal(
                plaintext, key: unlockKey, nonce: wrap, associatedData: Array(label.utf8) + vaultID, appendingTo: &wrap)
        }
        return wrap
    }

    /// The key, or nil when the wrap does not authenticate under `unlockKey`.
    static func open(_ wrap: [UInt8], under unlockKey: SecureBytes, label: String, vaultID: [UInt8]) -> SecureBytes? {
        wrap.withUnsafeBytes { raw in
            let nonceBytes = XChaCha20Poly1305.nonceBytes
            guard raw.count >= nonceBytes else { return nil }
            return XChaCha20Poly1305.open(
                UnsafeRawBufferPointer(rebasing: raw[nonceBytes...]), key: unlockKey,
                nonce: UnsafeRawBufferPointer(rebasing: raw[0..<nonceBytes]),
                associatedData: Array(label.utf8) + vaultID)
        }
    }
}
