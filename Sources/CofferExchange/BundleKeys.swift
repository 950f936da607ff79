import Coffer
import CofferFormat

/// The keys of one bundle (FORMAT.md §12, B-KEYS):
///
/// ```
/// bundle key  = Argon2id(passphrase, salt, opslimit, memlimit, 32)                     (key kind 1)
///             = BLAKE2b-256(key = key file, "coffer bundle keyfile v1" || salt)       (key kind 2)
/// header key  = KDF(bundle key, id 1, context "CofBndl1")
/// payload key = KDF(bundle key, id 2, context "CofBndl1")
/// ```
///
/// The salt is fresh for every bundle, so every bundle has its own payload key even under
/// one passphrase or key file.
struct BundleKeys {
    let header: SecureBytes
    let payload: SecureBytes

    /// - Throws: `.wrongKey` when the secret is of the other kind than the bundle's;
    ///   `.invalidInput` for a key file that is not 32 bytes or an Argon2id failure.
    init(secret: Vault.Unlock, header: BundleHeader) throws(CofferError) {
        let bundleKey: SecureBytes
        switch (secret, header.keyKind) {
        case (.passphrase(let passphrase), .passphrase):
            guard let derived = Argon2id.deriveKey(passphrase: passphrase, salt: header.salt, cost: header.cost) else {
                throw CofferError(.invalidInput, "Argon2id could not derive the bundle key (out of memory?).")
            }
            bundleKey = derived
        case (.keyFile(let keyFile), .keyFile):
            guard keyFile.count == Keyslot.keyFileBytes else {
                throw CofferError(.invalidInput, "A bundle key file holds exactly \(Keyslot.keyFileBytes) bytes.")
            }
            var hasher = Blake2b(key: keyFile)
            hasher.update(BundleFormat.keyFileLabel)
            hasher.update(header.salt)
            var digest = hasher.finalize()
            bundleKey = SecureBytes(copying: digest)
            secureZero(&digest)
        case (.passphrase, .keyFile):
            throw CofferError(.wrongKey, "The bundle is sealed with a key file, not a passphrase. Pass its key file.")
        case (.keyFile, .passphrase):
            throw CofferError(.wrongKey, "The bundle is sealed with a passphrase, not a key file. Pass its passphrase.")
        }
        self.header = KeyDerivation.deriveSubkey(from: bundleKey, subkeyID: 1, context: BundleFormat.kdfContext)
        self.payload = KeyDerivation.deriveSubkey(from: bundleKey, subkeyID: 2, context: BundleFormat.kdfContext)
    }

    /// B-MAC: `BLAKE2b-256(key = header key, header[0, 96))`.
    func mac(_ headerBytes: [UInt8]) -> [UInt8] {
        precondition(headerBytes.count >= BundleFormat.macOffset, "short bundle header")
        return Blake2b.keyedHash(key: header, Array(headerBytes[0..<BundleFormat.macOffset]))
    }

    /// B-NONCE: `nonce prefix (16) || u64 (chunk index, with bit 63 set on the last chunk)`.
    static func nonce(prefix: [UInt8], index: UInt64, isFinal: Bool) -> [UInt8] {
        precondition(index < 1 << 63, "chunk index out of range")
        var nonce = prefix
        withUnsafeBytes(of: (index | (isFinal ? 1 << 63 : 0)).littleEndian) { nonce += $0 }
        return nonce
    }
}
