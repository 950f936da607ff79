import CofferCrypto

/// F-HDR-SIGNER: the vault's keyslot signer. A slot with a recipient can be handed a new
/// unlock key without its secret (F-SLOT-RECIPIENT), so its secret alone no longer proves who
/// sealed what it opens. The signer closes that gap: an Ed25519 key whose seed only holders of
/// the unlock key can open, whose public key every recipient slot binds with its own secret
/// when it is made, and which signs the keyslot table after every change. A slot believes a
/// wrap only in a table its bound signer signed, so a file forged from the public parts of a
/// header opens with no one's secret.
public struct KeyslotSigner: Sendable, Equatable {
    /// The Ed25519 public key.
    public var publicKey: [UInt8]
    /// `nonce || XChaCha20-Poly1305(unlock key, nonce, seed, AAD = "coffer signer v1" ||
    /// vault UUID)`: nonce 24, ciphertext 32, tag 16.
    public var seedWrap: [UInt8]
    /// The Ed25519 signature of the keyslot table (``FileHeader/keyslotMessage``).
    public var keyslotSignature: [UInt8]

    /// A new signer whose seed is wrapped under `unlockKey`; the table is not signed yet.
    ///
    /// - Parameters:
    ///   - seed, nonce: injected for test vectors; random when `nil`.
    public static func make(
        unlockKey: SecureBytes, vaultID: [UInt8], seed: SecureBytes? = nil, nonce: [UInt8]? = nil
    ) -> KeyslotSigner {
        let seed = seed ?? SecureBytes(randomCount: Ed25519.seedBytes)
        return KeyslotSigner(
            publicKey: Ed25519.publicKey(seed: seed),
            seedWrap: wrap(seed, unlockKey: unlockKey, vaultID: vaultID, nonce: nonce),
            keyslotSignature: [UInt8](repeating: 0, count: Ed25519.signatureBytes))
    }

    /// The seed, opened with `unlockKey`; nil when it does not open.
    public func seed(unlockKey: SecureBytes, vaultID: [UInt8]) -> SecureBytes? {
        KeyWrap.open(seedWrap, under: unlockKey, label: Self.wrapLabel, vaultID: vaultID)
    }

    /// The same signer with its seed wrapped under `newUnlockKey` instead (F-UNLOCK-ROTATE);
    /// nil when the seed does not open under `unlockKey`.
    public func rewrapped(
        from unlockKey: SecureBytes, to newUnlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8]? = nil
    ) -> KeyslotSigner? {
        guard let seed = seed(unlockKey: unlockKey, vaultID: vaultID) else { return nil }
        var signer = self
        signer.seedWrap = Self.wrap(seed, unlockKey: newUnlockKey, vaultID: vaultID, nonce: nonce)
        return signer
    }

    private static func wrap(_ seed: SecureBytes, unlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8]?) -> [UInt8]
    {
        KeyWrap.seal(seed, under: unlockKey, label: wrapLabel, vaultID: vaultID, nonce: nonce)
    }

    private static let wrapLabel = "coffer signer v1"
}

extension FileHeader {
    /// What the signer signs: `"coffer keyslots v1" || vault UUID || keyslot count (1 byte) ||
    /// the used keyslot entries (192 bytes each)`.
    var keyslotMessage: [UInt8] {
        var writer = ByteWriter(capacity: 64 + keyslots.count * FormatConstants.keyslotBytes)
        writer.write(Array("coffer keyslots v1".utf8))
        writer.write(vaultID)
        writer.write(UInt8(keyslots.count))
        for slot in keyslots { slot.encode(into: &writer) }
        return writer.bytes
    }

    /// Whether the keyslot table carries its signer's signature (checked at decode).
    var keyslotSignatureVerifies: Bool {
        guard let signer else { return true }
        return Ed25519.verify(signer.keyslotSignature, of: keyslotMessage, publicKey: signer.publicKey)
    }

    /// Makes a keyslot for `secret` with a recipient bound to this header's signer, making
    /// the signer first when the header has none (a vault written before signers). The
    /// caller puts the slot in the table, then calls ``signKeyslots(unlockKey:)``.
    ///
    /// - Returns: nil when the Argon2id derivation fails (cost outside libsodium's bounds).
    public mutating func makeKeyslot(
        id: UInt16, secret: Keyslot.Secret, cost: Argon2id.Cost?, unlockKey: SecureBytes, createdMilliseconds: UInt64
    ) -> Keyslot? {
        if signer == nil { signer = KeyslotSigner.make(unlockKey: unlockKey, vaultID: vaultID) }
        return Keyslot.make(
            id: id, secret: secret, cost: cost, unlockKey: unlockKey, vaultID: vaultID,
            createdMilliseconds: createdMilliseconds, signerPublicKey: signer!.publicKey)
    }

    /// Signs the keyslot table as it is now, with the seed `unlockKey` opens; after every
    /// change to the table. Nothing to do for a header without a signer.
    ///
    /// - Returns: false when the seed does not open under `unlockKey` (a broken invariant for
    ///   a header this process unlocked).
    @discardableResult
    public mutating func signKeyslots(unlockKey: SecureBytes) -> Bool {
        guard let current = signer else { return true }
        guard let seed = current.seed(unlockKey: unlockKey, vaultID: vaultID) else { return false }
        signer!.keyslotSignature = Ed25519.sign(keyslotMessage, seed: seed)
        return true
    }
}
