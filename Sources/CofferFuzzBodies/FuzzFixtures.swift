import CofferCrypto
import CofferFormat

/// The fixed secrets and positions shared by the bodies and the seed corpus.
///
/// They are not secret: they exist so that the seed vaults open under the same key the bodies
/// present, which is what lets the fuzzers get past the header to the log. Changing any of
/// them invalidates the committed seed corpus; `tools/make-seed-corpus` regenerates it and
/// `CofferFuzzReplayTests` fails until it is.
public enum FuzzFixtures {
    /// The key file every seed vault's first key-file slot accepts: bytes 0xC0, 0xC1, ..., 0xDF.
    public static let keyFileBytes: [UInt8] = (0..<32).map { 0xC0 + UInt8($0) }
    /// ``keyFileBytes`` in protected memory.
    static let keyFileKey = SecureBytes(copying: keyFileBytes)
    /// ``keyFileBytes`` as the secret the bodies unlock with. Only a key file is ever tried:
    /// a passphrase slot would cost an Argon2id derivation per input.
    ///
    /// Computed, not stored: a stored `Keyslot.Secret` keeps its case in the reference's spare
    /// bits, which LeakSanitizer does not recognise as a pointer, so it reports the key as leaked.
    public static var keyFile: Keyslot.Secret { .keyFile(keyFileKey) }

    /// A second key file, for seed vaults with a slot the bodies cannot open.
    static let otherKeyFileBytes: [UInt8] = (0..<32).map { 0x40 + UInt8($0) }
    /// A key file no seed vault holds: the one ``FuzzTarget/openVault`` adds and removes, so
    /// that a slot holding it already (refused) is rare.
    static let addedKeyFileBytes: [UInt8] = (0..<32).map { 0xC0 ^ UInt8($0) }
    /// The passphrase of the seed vaults' passphrase slots (minimum Argon2id cost).
    static let passphrase = Array("correct horse battery staple".utf8)

    /// Where ``FuzzTarget/openVault`` plants its input on the simulated disk.
    public static let vaultPath = "/fuzz/vault.coffer"

    /// The data key ``FuzzTarget/frameHeader`` opens bodies with (bytes 0x10, 0x11, ...).
    public static let frameKey = SecureBytes(copying: (0..<32).map { 0x10 + UInt8($0) })
    /// The vault id bound into the AAD of ``FuzzTarget/frameHeader``'s fixed position.
    public static let frameVaultID: [UInt8] = (0..<16).map { 0xA0 + UInt8($0) }
    /// The previous chain hash of that position: the genesis hash of ``frameVaultID``.
    public static let framePreviousChain = ChainHash.genesis(vaultID: frameVaultID)
    /// The nonce a plaintext input is sealed with (bytes 0x70, 0x71, ...).
    public static let frameNonce: [UInt8] = (0..<24).map { 0x70 + UInt8($0) }

    /// The fixed position for a frame: the fixed vault and previous chain, with the header's
    /// sequence, epoch and type (an unknown type is taken as a transaction, so that its body
    /// is still opened).
    public static func framePosition(for header: FrameHeader) -> RecordPosition {
        RecordPosition(
            vaultID: frameVaultID, sequence: header.sequence, type: header.type ?? .transaction,
            epoch: header.epoch, previousChain: framePreviousChain)
    }
}
