import CofferCrypto
import CofferErrors

/// One way to unlock a vault: a wrapped copy of the vault's unlock key (F-SLOT).
///
/// A keyslot stores only what is needed to rederive its key-encryption key (salt and cost)
/// and the unlock key sealed under it; the unlock key in turn wraps the master key in the
/// header (F-HDR-MASTER). Changing slots never touches records, and a new master key never
/// touches slots.
public struct Keyslot: Sendable, Equatable {
    /// What unlocks the slot.
    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        /// A passphrase stretched with Argon2id.
        case passphrase = 1
        /// A 32-byte key file.
        case keyFile = 2

        public var description: String {
            switch self {
            case .passphrase: "passphrase"
            case .keyFile: "key_file"
            }
        }
    }

    /// The secret a caller presents to open a slot.
    public enum Secret: Sendable {
        case passphrase(SecureBytes)
        case keyFile(SecureBytes)

        var kind: Kind {
            switch self {
            case .passphrase: .passphrase
            case .keyFile: .keyFile
            }
        }
    }

    /// Length of a key file's key.
    public static let keyFileBytes = 32

    public var kind: Kind
    /// Stable identifier of the slot within its vault, 1...65535.
    public var id: UInt16
    /// Argon2id cost; `nil` for key-file slots.
    public var cost: Argon2id.Cost?
    public var salt: [UInt8]
    public var wrapNonce: [UInt8]
    /// The unlock key sealed under the slot's key-encryption key: 32 + 16 bytes.
    public var wrappedUnlockKey: [UInt8]
    /// Creation time in milliseconds since the Unix epoch.
    public var createdMilliseconds: UInt64
    /// F-SLOT-RECIPIENT: the slot's public key and the ephemeral key its wrap was sealed
    /// with, so that a holder of the unlock key can seal a new unlock key to the slot without
    /// the slot's secret; nil for a slot that seals the unlock key straight under its slot key.
    public var recipient: Recipient?

    /// A slot's X25519 public key, whose private key only the slot's secret derives; the
    /// ephemeral public key of its current wrap; and the binding by which the slot's secret
    /// vouches for the vault's keyslot signer (F-HDR-SIGNER), so that only a wrap the signer
    /// signed is believed.
    public struct Recipient: Sendable, Equatable {
        public var publicKey: [UInt8]
        public var ephemeralPublicKey: [UInt8]
        /// `BLAKE2b-128(key = slot key, "coffer keyslot signer v1" || vault UUID || slot[0, 32) ||
        /// signer public key)`.
        public var signerBinding: [UInt8]
    }

    /// Bytes of the signer binding.
    static let signerBindingBytes = 16

    /// Bytes [0, 32) of the encoded slot: its type, id, cost and salt, bound into the wrap's AAD.
    var parameterBytes: [UInt8] {
        var writer = ByteWriter(capacity: 32)
        writer.write(kind.rawValue)
        writer.write(UInt8(0))
        writer.write(id)
        writer.write(cost?.operations ?? 0)
        writer.write(cost?.memoryBytes ?? 0)
        writer.write(salt)
        return writer.bytes
    }

    /// Creates a slot wrapping `unlockKey` under `secret`: with a recipient bound to the
    /// keyslot signer `signerPublicKey` (F-SLOT-RECIPIENT), or, when it is nil, a slot of the
    /// first kind, sealed straight under its slot key. ``FileHeader/makeKeyslot(id:secret:cost:unlockKey:createdMilliseconds:)``
    /// is what writers call.
    ///
    /// - Parameters:
    ///   - salt, nonce, ephemeralPrivateKey: injected for test vectors; random when `nil`.
    /// - Returns: `nil` when the Argon2id derivation fails (cost outside libsodium's bounds).
    public static func make(
        id: UInt16, secret: Secret, cost: Argon2id.Cost?, unlockKey: SecureBytes, vaultID: [UInt8],
        createdMilliseconds: UInt64, signerPublicKey: [UInt8]?, salt: [UInt8]? = nil, nonce: [UInt8]? = nil,
        ephemeralPrivateKey: SecureBytes? = nil
    ) -> Keyslot? {
        var slot = Keyslot(
            kind: secret.kind, id: id,
            cost: secret.kind == .passphrase ? (cost ?? .moderate) : nil,
            salt: salt ?? RandomBytes.make(Argon2id.saltBytes),
            wrapNonce: nonce ?? RandomBytes.make(XChaCha20Poly1305.nonceBytes),
            wrappedUnlockKey: [], createdMilliseconds: createdMilliseconds, recipient: nil)
        guard let slotKey = slot.keyEncryptionKey(for: secret) else { return nil }
        if let signerPublicKey {
            let publicKey = X25519.publicKey(of: Self.recipientPrivateKey(slotKey: slotKey))
            slot.recipient = Recipient(
                publicKey: publicKey, ephemeralPublicKey: [],
                signerBinding: slot.signerBinding(slotKey: slotKey, vaultID: vaultID, signerPublicKey: signerPublicKey))
            return slot.sealed(
                unlockKey, vaultID: vaultID, nonce: slot.wrapNonce, ephemeralPrivateKey: ephemeralPrivateKey)
        }
        slot.wrappedUnlockKey = Self.seal(
            unlockKey, under: slotKey, nonce: slot.wrapNonce, associatedData: slot.associatedData(vaultID: vaultID))
        return slot
    }

    /// The same slot wrapping `unlockKey` instead, sealed to its recipient: an unlock-key
    /// rotation, which needs no slot's secret (F-SLOT-RECIPIENT). Nil for a slot without a
    /// recipient, whose secret is needed to wrap anything new to it.
    ///
    /// - Parameters:
    ///   - nonce, ephemeralPrivateKey: injected for test vectors; random when `nil`.
    public func rewrapped(
        to unlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8]? = nil, ephemeralPrivateKey: SecureBytes? = nil
    ) -> Keyslot? {
        guard recipient != nil else { return nil }
        return sealed(
            unlockKey, vaultID: vaultID, nonce: nonce ?? RandomBytes.make(XChaCha20Poly1305.nonceBytes),
            ephemeralPrivateKey: ephemeralPrivateKey)
    }

    /// This slot with `unlockKey` sealed to its recipient's public key under a fresh ephemeral
    /// key; nil when the public key is a low-order point.
    private func sealed(
        _ unlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8], ephemeralPrivateKey: SecureBytes?
    ) -> Keyslot? {
        let ephemeral = ephemeralPrivateKey ?? SecureBytes(randomCount: X25519.keyBytes)
        var slot = self
        slot.wrapNonce = nonce
        slot.recipient!.ephemeralPublicKey = X25519.publicKey(of: ephemeral)
        guard let shared = X25519.sharedSecret(privateKey: ephemeral, publicKey: slot.recipient!.publicKey) else {
            return nil
        }
        let wrapKey = Self.recipientWrapKey(shared: shared, recipient: slot.recipient!)
        slot.wrappedUnlockKey = Self.seal(
            unlockKey, under: wrapKey, nonce: nonce, associatedData: slot.associatedData(vaultID: vaultID))
        return slot
    }

    private static func seal(
        _ unlockKey: SecureBytes, under key: SecureBytes, nonce: [UInt8], associatedData: [UInt8]
    ) -> [UInt8] {
        var wrapped: [UInt8] = []
        unlockKey.withUnsafeBytes { plaintext in
            XChaCha20Poly1305.seal(
                plaintext, key: key, nonce: nonce, associatedData: associatedData, appendingTo: &wrapped)
        }
        return wrapped
    }

    /// F-SLOT-RECIPIENT: `recipient private key = BLAKE2b-256(key = slot key, "coffer keyslot recipient v1")`.
    static func recipientPrivateKey(slotKey: SecureBytes) -> SecureBytes {
        Blake2b.keyedSecret(key: slotKey, Array("coffer keyslot recipient v1".utf8))
    }

    /// F-SLOT-RECIPIENT: `wrap key = BLAKE2b-256(key = X25519 shared secret,
    /// "coffer keyslot wrap v2" || ephemeral public key || public key)`.
    static func recipientWrapKey(shared: SecureBytes, recipient: Recipient) -> SecureBytes {
        Blake2b.keyedSecret(
            key: shared, Array("coffer keyslot wrap v2".utf8), recipient.ephemeralPublicKey, recipient.publicKey)
    }

    /// F-HDR-SIGNER: the binding by which the slot's secret vouches for `signerPublicKey`.
    func signerBinding(slotKey: SecureBytes, vaultID: [UInt8], signerPublicKey: [UInt8]) -> [UInt8] {
        var hasher = Blake2b(key: slotKey, outputBytes: Self.signerBindingBytes)
        hasher.update(Array("coffer keyslot signer v1".utf8))
        hasher.update(vaultID)
        hasher.update(parameterBytes)
        hasher.update(signerPublicKey)
        return hasher.finalize()
    }

    /// The key the unlock key is sealed under, from the slot key: the slot key itself, or
    /// for a slot with a recipient the wrap key of its shared secret. Nil when the slot key
    /// does not derive the slot's recipient key, when the slot does not vouch for the signer
    /// that signed the table (both what a forged or altered table shows), or for a low-order
    /// ephemeral key (a hostile file).
    func wrapKey(slotKey: SecureBytes, vaultID: [UInt8], signerPublicKey: [UInt8]?) -> SecureBytes? {
        guard let recipient else { return slotKey }
        let privateKey = Self.recipientPrivateKey(slotKey: slotKey)
        guard let signerPublicKey, constantTimeEquals(X25519.publicKey(of: privateKey), recipient.publicKey),
            constantTimeEquals(
                signerBinding(slotKey: slotKey, vaultID: vaultID, signerPublicKey: signerPublicKey),
                recipient.signerBinding)
        else { return nil }
        guard let shared = X25519.sharedSecret(privateKey: privateKey, publicKey: recipient.ephemeralPublicKey) else {
            return nil
        }
        return Self.recipientWrapKey(shared: shared, recipient: recipient)
    }

    /// F-SLOT-AAD: `"coffer keyslot v1" || vault id || slot bytes [0, 32)`, and for a slot
    /// with a recipient `"coffer keyslot v2" || vault id || slot bytes [0, 32) || public key`.
    func associatedData(vaultID: [UInt8]) -> [UInt8] {
        guard let recipient else { return Array("coffer keyslot v1".utf8) + vaultID + parameterBytes }
        return Array("coffer keyslot v2".utf8) + vaultID + parameterBytes + recipient.publicKey
    }

    /// F-SLOT-PASS and F-SLOT-FILE: derive the key that wraps the unlock key.
    func keyEncryptionKey(for secret: Secret) -> SecureBytes? {
        switch secret {
        case .passphrase(let passphrase):
            guard let cost else { return nil }
            return Argon2id.deriveKey(passphrase: passphrase, salt: salt, cost: cost)
        case .keyFile(let keyFile):
            // A key of another length opens nothing (callers check it first, with a clear error).
            guard keyFile.count == Keyslot.keyFileBytes else { return nil }
            return Blake2b.keyedSecret(key: keyFile, Array("coffer keyfile v1".utf8), salt)
        }
    }

    /// Opens the slot with `secret`, returning the unlock key; `nil` when the secret is of
    /// another kind or wrong, or (for a slot with a recipient) the slot does not vouch for
    /// `signerPublicKey`, the signer of the table it is in.
    public func unwrap(with secret: Secret, vaultID: [UInt8], signerPublicKey: [UInt8]?) -> SecureBytes? {
        guard secret.kind == kind, let encryptionKey = keyEncryptionKey(for: secret) else { return nil }
        return unwrap(withKeyEncryptionKey: encryptionKey, vaultID: vaultID, signerPublicKey: signerPublicKey)
    }

    /// Opens the slot with its slot key (derived once by ``KeyslotUnlock`` for both header
    /// copies).
    func unwrap(withKeyEncryptionKey slotKey: SecureBytes, vaultID: [UInt8], signerPublicKey: [UInt8]?) -> SecureBytes?
    {
        guard let encryptionKey = wrapKey(slotKey: slotKey, vaultID: vaultID, signerPublicKey: signerPublicKey) else {
            return nil
        }
        return wrappedUnlockKey.withUnsafeBytes { sealed in
            wrapNonce.withUnsafeBytes { nonce in
                XChaCha20Poly1305.open(
                    sealed, key: encryptionKey, nonce: nonce, associatedData: associatedData(vaultID: vaultID))
            }
        }
    }

    /// Encodes the slot into its 192 bytes (F-SLOT table).
    func encode(into writer: inout ByteWriter) {
        let start = writer.count
        writer.write(parameterBytes)
        writer.write(wrapNonce)
        writer.write(wrappedUnlockKey)
        writer.write(createdMilliseconds)
        if let recipient {
            writer.write(recipient.ephemeralPublicKey)
            writer.write(recipient.publicKey)
            writer.write(recipient.signerBinding)
        }
        writer.writeZeros(FormatConstants.keyslotBytes - (writer.count - start))
    }

    /// Decodes one 192-byte slot entry. Returns `.success(nil)` for an empty entry.
    static func decode(_ bytes: UnsafeRawBufferPointer, index: Int) -> Result<Keyslot?, CofferError> {
        precondition(bytes.count == FormatConstants.keyslotBytes)
        var reader = ByteReader(bytes)
        let typeByte = reader.read(UInt8.self)!
        if typeByte == 0 {
            // F-SLOT-EMPTY: an empty entry is all zero.
            guard bytes.allSatisfy({ $0 == 0 }) else {
                return .failure(CofferError(.corrupted, "Keyslot entry \(index) is marked empty but is not zero."))
            }
            return .success(nil)
        }
        guard let kind = Kind(rawValue: typeByte) else {
            return .failure(CofferError(.unsupportedVersion, "Keyslot entry \(index) has unknown type \(typeByte)."))
        }
        let reserved = reader.read(UInt8.self)!
        let id = reader.read(UInt16.self)!
        let operations = reader.read(UInt32.self)!
        let memory = reader.read(UInt64.self)!
        let salt = reader.readBytes(16)!
        let nonce = reader.readBytes(24)!
        let wrapped = reader.readBytes(48)!
        let created = reader.read(UInt64.self)!
        let ephemeralPublicKey = reader.readBytes(32)!
        let publicKey = reader.readBytes(32)!
        let signerBinding = reader.readBytes(signerBindingBytes)!
        guard reserved == 0, id != 0, reader.skipZeros(reader.remaining) else {
            return .failure(CofferError(.corrupted, "Keyslot entry \(index) has non-zero reserved bytes or id 0."))
        }
        // F-SLOT-RECIPIENT: both keys, or neither (a slot of the first kind, whose binding
        // bytes are reserved and zero).
        var recipient: Recipient?
        switch (publicKey.allSatisfy { $0 == 0 }, ephemeralPublicKey.allSatisfy { $0 == 0 }) {
        case (true, true):
            guard signerBinding.allSatisfy({ $0 == 0 }) else {
                return .failure(CofferError(.corrupted, "Keyslot entry \(index) has non-zero reserved bytes."))
            }
            recipient = nil
        case (false, false):
            recipient = Recipient(
                publicKey: publicKey, ephemeralPublicKey: ephemeralPublicKey, signerBinding: signerBinding)
        default:
            return .failure(
                CofferError(.corrupted, "Keyslot entry \(index) has one of its recipient keys and not the other."))
        }
        var cost: Argon2id.Cost?
        switch kind {
        case .passphrase:
            // F-SLOT-CAP: a hostile file must not make open take minutes or gigabytes.
            guard Argon2id.Cost(operations: operations, memoryBytes: memory).isWithinFormatLimits else {
                return .failure(
                    CofferError(
                        .corrupted,
                        "Keyslot \(id) declares an Argon2id cost (ops \(operations), \(memory) bytes) outside the accepted range."
                    ))
            }
            cost = Argon2id.Cost(operations: operations, memoryBytes: memory)
        case .keyFile:
            guard operations == 0, memory == 0 else {
                return .failure(CofferError(.corrupted, "Key-file keyslot \(id) declares an Argon2id cost."))
            }
        }
        return .success(
            Keyslot(
                kind: kind, id: id, cost: cost, salt: salt, wrapNonce: nonce, wrappedUnlockKey: wrapped,
                createdMilliseconds: created, recipient: recipient))
    }
}
