import CofferCrypto

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

    /// Creates a slot wrapping `unlockKey` under `secret`.
    ///
    /// - Parameters:
    ///   - salt, nonce: injected for test vectors; random when `nil`.
    /// - Returns: `nil` when the Argon2id derivation fails (cost outside libsodium's bounds).
    public static func make(
        id: UInt16, secret: Secret, cost: Argon2id.Cost?, unlockKey: SecureBytes, vaultID: [UInt8],
        createdMilliseconds: UInt64, salt: [UInt8]? = nil, nonce: [UInt8]? = nil
    ) -> Keyslot? {
        var slot = Keyslot(
            kind: secret.kind, id: id,
            cost: secret.kind == .passphrase ? (cost ?? .moderate) : nil,
            salt: salt ?? RandomBytes.make(Argon2id.saltBytes),
            wrapNonce: nonce ?? RandomBytes.make(XChaCha20Poly1305.nonceBytes),
            wrappedUnlockKey: [], createdMilliseconds: createdMilliseconds)
        guard let encryptionKey = slot.keyEncryptionKey(for: secret) else { return nil }
        var wrapped: [UInt8] = []
        unlockKey.withUnsafeBytes { plaintext in
            XChaCha20Poly1305.seal(
                plaintext, key: encryptionKey, nonce: slot.wrapNonce,
                associatedData: slot.associatedData(vaultID: vaultID), appendingTo: &wrapped)
        }
        slot.wrappedUnlockKey = wrapped
        return slot
    }

    /// F-SLOT-AAD: `"coffer keyslot v1" || vault id || slot bytes [0, 32)`.
    func associatedData(vaultID: [UInt8]) -> [UInt8] {
        Array("coffer keyslot v1".utf8) + vaultID + parameterBytes
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
            return Blake2b.keyedHash(key: keyFile, Array("coffer keyfile v1".utf8), salt)
                .withUnsafeBytes { SecureBytes(copying: $0) }
        }
    }

    /// Opens the slot with `secret`, returning the unlock key; `nil` when the secret is of
    /// another kind or wrong.
    public func unwrap(with secret: Secret, vaultID: [UInt8]) -> SecureBytes? {
        guard secret.kind == kind, let encryptionKey = keyEncryptionKey(for: secret) else { return nil }
        return unwrap(withKeyEncryptionKey: encryptionKey, vaultID: vaultID)
    }

    /// Opens the slot with the key that wraps its unlock key (derived once by
    /// ``KeyslotUnlock`` for both header copies).
    func unwrap(withKeyEncryptionKey encryptionKey: SecureBytes, vaultID: [UInt8]) -> SecureBytes? {
        wrappedUnlockKey.withUnsafeBytes { sealed in
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
        guard reserved == 0, id != 0, reader.skipZeros(reader.remaining) else {
            return .failure(CofferError(.corrupted, "Keyslot entry \(index) has non-zero reserved bytes or id 0."))
        }
        var cost: Argon2id.Cost?
        switch kind {
        case .passphrase:
            // F-SLOT-CAP: a hostile file must not make open take minutes or gigabytes.
            guard operations >= FormatConstants.argon2OperationsMin,
                operations <= FormatConstants.argon2OperationsMax,
                memory >= FormatConstants.argon2MemoryBytesMin,
                memory <= FormatConstants.argon2MemoryBytesMax
            else {
                return .failure(
                    CofferError(
                        .corrupted,
                        "Keyslot \(id) declares an Argon2id cost (ops \(operations), \(memory) bytes) outside the accepted range."))
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
                createdMilliseconds: created))
    }
}
