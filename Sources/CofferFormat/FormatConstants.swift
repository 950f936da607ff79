/// Numbers fixed by FORMAT.md. Sizes show their arithmetic; a test pins each one.
public enum FormatConstants {
    /// File magic: `\x89COFFER\n` (F-HDR-MAGIC). The high first byte catches 7-bit transfers,
    /// the newline catches text-mode conversions.
    public static let fileMagic: [UInt8] = [0x89, 0x43, 0x4F, 0x46, 0x46, 0x45, 0x52, 0x0A]
    /// Format version this code writes (F-HDR-VERSION).
    public static let writeVersion: UInt16 = 1
    /// Highest read version this code understands.
    public static let readVersionSupported: UInt16 = 1
    /// Required feature: the keyslot signer, and with it keyslots with a recipient
    /// (F-HDR-SIGNER, F-SLOT-RECIPIENT).
    public static let requiredFeatureKeyslotRecipients: UInt32 = 1 << 0
    /// Required feature: the API-key hash key is wrapped in the header (F-HDR-APIKEY), after
    /// an unlock-key rotation.
    public static let requiredFeatureAPIKeyHashKey: UInt32 = 1 << 1
    /// Required feature: the log's lineage (F-LINEAGE), in the header of a compacted log,
    /// whose chain starts from a genesis of its generation.
    public static let requiredFeatureLogLineage: UInt32 = 1 << 2
    /// Required-feature bits this code understands; any other bit makes the file unreadable.
    public static let requiredFeaturesKnown: UInt32 =
        requiredFeatureKeyslotRecipients | requiredFeatureAPIKeyHashKey | requiredFeatureLogLineage

    /// Size of one header copy: one write of at most 4 KiB (F-HDR-COPY).
    public static let headerCopyBytes = 4096
    /// Number of header copies at the start of the file.
    public static let headerCopyCount = 2
    /// The log starts right after the header copies.
    public static let logStartOffset = UInt64(headerCopyBytes * headerCopyCount)  // 8192
    /// Zeros after the last frame are free space only in a file whose length is a multiple of
    /// this (F-FREE); a writer preallocates to such a length (F-PREALLOCATE).
    public static let freeSpaceAlignment = 64 << 10

    /// Keyslot table: at most 8 slots of 192 bytes (F-SLOT).
    public static let keyslotCountMax = 8
    public static let keyslotBytes = 192
    public static let headerKeyslotsOffset = 128
    /// The master key wrapped under the unlock key: nonce 24 + ciphertext 32 + tag 16 (F-HDR-MASTER).
    public static let headerMasterWrapOffset = headerKeyslotsOffset + keyslotCountMax * keyslotBytes  // 1664
    public static let masterWrapBytes = 24 + 32 + 16  // 72
    public static let headerMACOffset = headerMasterWrapOffset + masterWrapBytes  // 1736
    /// The API-key hash key wrapped under the unlock key, when the header carries it
    /// (F-HDR-APIKEY): nonce 24 + ciphertext 32 + tag 16, right after the MAC.
    public static let headerAPIKeyWrapOffset = headerMACOffset + 32  // 1768
    public static let apiKeyWrapBytes = 24 + 32 + 16  // 72
    /// The keyslot signer, when the header has one (F-HDR-SIGNER): public key 32, seed wrap
    /// 72, keyslot signature 64, right after the API-key wrap.
    public static let headerSignerOffset = headerAPIKeyWrapOffset + apiKeyWrapBytes  // 1840
    public static let signerBytes = 32 + 72 + 64  // 168
    /// The log's lineage, when the header has one (F-LINEAGE), right after the signer.
    public static let headerLineageOffset = headerSignerOffset + signerBytes  // 2008
    public static let headerChecksumOffset = headerCopyBytes - 32  // 4064

    /// Argon2id costs accepted from a file (F-SLOT-CAP): at most 16 passes and 1 GiB.
    public static let argon2OperationsMax: UInt32 = 16
    public static let argon2MemoryBytesMax: UInt64 = 1 << 30
    public static let argon2OperationsMin: UInt32 = 1
    public static let argon2MemoryBytesMin: UInt64 = 8192

    /// Frame magic `CFR1` (F-FRAME).
    public static let frameMagic: [UInt8] = [0x43, 0x46, 0x52, 0x31]
    /// Frame header: magic 4 + length 4 + sequence 8 + epoch 4 + type 1 + reserved 3 + body CRC 4 + header CRC 4.
    public static let frameHeaderBytes = 4 + 4 + 8 + 4 + 1 + 3 + 4 + 4  // 32
    /// Sealed body: nonce 24 + padded plaintext + tag 16.
    public static let sealOverheadBytes = 24 + 16  // 40

    /// Padded plaintext sizes: powers of two from 256 B to 64 KiB, then multiples of 64 KiB (F-PAD).
    public static let paddedBytesMin = 256
    public static let paddingStepLarge = 65536
    /// Largest padded plaintext of one record: 16 MiB (F-FRAME-MAX).
    public static let paddedBytesMax = 16 << 20
    /// Plaintext header inside a sealed body: encoding 1 + reserved 3 + stored length 4 + decoded length 4 + reserved 4.
    public static let plaintextHeaderBytes = 1 + 3 + 4 + 4 + 4  // 16
    /// Largest payload of one record.
    public static let payloadBytesMax = paddedBytesMax - plaintextHeaderBytes
    /// Largest sealed body a reader will follow.
    public static let bodyBytesMax = paddedBytesMax + sealOverheadBytes

    /// Context for every `crypto_kdf` subkey of the master key (F-KDF).
    public static let subkeyContext = "CofferV1"

    /// Header generations above this are refused (F-HDR-GENERATION): every rewrite adds at
    /// most 2, so a valid file can never overflow the counter.
    public static let generationMax: UInt64 = 1 << 62
    /// Key epochs above this are refused (F-REC-KEY): a rotation adds 1, and 2^31 rotations
    /// is more than any vault will see.
    public static let epochMax: UInt32 = 1 << 31

    /// The file's UUID length.
    public static let vaultIDBytes = 16
}
