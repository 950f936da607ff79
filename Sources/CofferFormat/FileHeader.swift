import CofferCrypto
import CofferErrors

/// One header copy: the vault's identity, versions and keyslots (F-HDR).
///
/// The file starts with two copies of 4096 bytes each. A rewrite goes to the copy that does
/// not hold the newest valid header, with a higher generation, so a crash mid-write leaves
/// the other copy intact (F-HDR-UPDATE).
public struct FileHeader: Sendable, Equatable {
    public var writeVersion: UInt16
    public var readVersion: UInt16
    public var optionalFeatures: UInt32
    /// The vault's random 16-byte UUID, bound into every record's AAD.
    public var vaultID: [UInt8]
    /// Incremented by every header rewrite; open picks the highest valid one.
    public var generation: UInt64
    public var createdMilliseconds: UInt64
    public var keyslots: [Keyslot]
    /// F-HDR-MASTER: the master key sealed under the unlock key, `nonce (24) || ciphertext
    /// and tag (48)`.
    public var masterWrap: [UInt8]
    /// F-HDR-APIKEY: the key of platform API-key hashes sealed under the unlock key, once an
    /// unlock-key rotation has made it differ from the key derived from the unlock key; nil
    /// otherwise.
    public var apiKeyHashKeyWrap: [UInt8]?
    /// F-HDR-SIGNER: the keyslot signer, which every slot with a recipient needs; nil in a
    /// header whose slots are all of the first kind.
    public var signer: KeyslotSigner?
    /// F-LINEAGE: what this log was compacted from; nil for the log the vault was created
    /// with (generation 0).
    public var lineage: LogLineage?

    /// The log's generation: how many compactions made it (F-LINEAGE).
    public var logGeneration: UInt32 { lineage?.generation ?? 0 }

    /// The required-feature bits (F-HDR-VERSION), which say exactly what the header holds:
    /// the keyslot signer (and with it slots with recipients), and a wrapped API-key hash key.
    public var requiredFeatures: UInt32 {
        (signer != nil ? FormatConstants.requiredFeatureKeyslotRecipients : 0)
            | (apiKeyHashKeyWrap != nil ? FormatConstants.requiredFeatureAPIKeyHashKey : 0)
            | (lineage != nil ? FormatConstants.requiredFeatureLogLineage : 0)
    }

    public init(
        vaultID: [UInt8], generation: UInt64, createdMilliseconds: UInt64, keyslots: [Keyslot], masterWrap: [UInt8]
    ) {
        precondition(vaultID.count == FormatConstants.vaultIDBytes)
        precondition(keyslots.count <= FormatConstants.keyslotCountMax)
        precondition(masterWrap.count == FormatConstants.masterWrapBytes)
        self.masterWrap = masterWrap
        self.writeVersion = FormatConstants.writeVersion
        self.readVersion = FormatConstants.readVersionSupported
        self.optionalFeatures = 0
        self.vaultID = vaultID
        self.generation = generation
        self.createdMilliseconds = createdMilliseconds
        self.keyslots = keyslots
    }

    /// Bytes [0, 1736): everything the header MAC covers.
    private func encodeAuthenticatedPart() -> ByteWriter {
        var writer = ByteWriter(capacity: FormatConstants.headerCopyBytes)
        writer.write(FormatConstants.fileMagic)
        writer.write(writeVersion)
        writer.write(readVersion)
        writer.write(requiredFeatures)
        writer.write(optionalFeatures)
        writer.write(UInt32(FormatConstants.headerCopyBytes))
        writer.write(vaultID)
        writer.write(generation)
        writer.write(createdMilliseconds)
        writer.write(FormatConstants.logStartOffset)
        writer.write(UInt8(keyslots.count))
        writer.writeZeros(FormatConstants.headerKeyslotsOffset - writer.count)
        for slot in keyslots { slot.encode(into: &writer) }
        writer.writeZeros(FormatConstants.headerMasterWrapOffset - writer.count)
        writer.write(masterWrap)
        return writer
    }

    /// The signer block at 1840 (F-HDR-SIGNER): public key, seed wrap, signature.
    private var signerBytes: [UInt8] {
        guard let signer else { return [] }
        return signer.publicKey + signer.seedWrap + signer.keyslotSignature
    }

    /// The lineage block at 2008 (F-LINEAGE).
    private var lineageBytes: [UInt8] {
        guard let lineage else { return [] }
        var writer = ByteWriter(capacity: LogLineage.encodedBytes)
        lineage.encode(into: &writer)
        return writer.bytes
    }

    /// F-HDR-MAC: keyed BLAKE2b-256 under the header subkey over bytes [0, 1736), then the
    /// wrapped API-key hash key when the header carries one (F-HDR-APIKEY), then the signer
    /// block when it has one (F-HDR-SIGNER), then the lineage when it has one (F-LINEAGE).
    public func mac(masterKey: SecureBytes) -> [UInt8] {
        Blake2b.keyedHash(
            key: MasterKeySubkey.headerMAC.derive(from: masterKey), encodeAuthenticatedPart().bytes,
            apiKeyHashKeyWrap ?? [], signerBytes, lineageBytes)
    }

    /// Encodes the 4096-byte header copy, authenticated with `masterKey`.
    public func encode(masterKey: SecureBytes) -> [UInt8] {
        var writer = encodeAuthenticatedPart()
        writer.write(mac(masterKey: masterKey))
        writer.writeZeros(FormatConstants.headerAPIKeyWrapOffset - writer.count)
        if let apiKeyHashKeyWrap { writer.write(apiKeyHashKeyWrap) }
        writer.writeZeros(FormatConstants.headerSignerOffset - writer.count)
        writer.write(signerBytes)
        writer.writeZeros(FormatConstants.headerLineageOffset - writer.count)
        writer.write(lineageBytes)
        writer.writeZeros(FormatConstants.headerChecksumOffset - writer.count)
        // F-HDR-CHECKSUM: unkeyed BLAKE2b-256 of bytes [0, 4064), checkable without a key.
        writer.write(Blake2b.hash(writer.bytes))
        precondition(writer.count == FormatConstants.headerCopyBytes)
        return writer.bytes
    }

    /// The stored MAC of an encoded header copy.
    public static func storedMAC(of copy: [UInt8]) -> [UInt8] {
        Array(copy[FormatConstants.headerMACOffset..<FormatConstants.headerMACOffset + 32])
    }

    /// Decodes a header copy without a key: checks magic, checksum, versions, reserved bytes
    /// and keyslots. The MAC is checked after unlocking (``verifyMAC(of:masterKey:)``).
    ///
    /// Error codes: `.notAVault` (magic), `.corrupted` (checksum or structure),
    /// `.unsupportedVersion` (read version or required features this reader lacks).
    public static func decode(_ copy: UnsafeRawBufferPointer) -> Result<FileHeader, CofferError> {
        decode(copy, verifyingSignature: true)
    }

    /// ``decode(_:)``, optionally without checking the keyslot signature: for the fuzzers'
    /// repair of mutated copies, which signs the table again (a reader always checks it).
    package static func decode(_ copy: UnsafeRawBufferPointer, verifyingSignature: Bool) -> Result<
        FileHeader, CofferError
    > {
        guard copy.count == FormatConstants.headerCopyBytes else {
            return .failure(CofferError(.corrupted, "The header copy is shorter than 4096 bytes."))
        }
        var reader = ByteReader(copy)
        guard reader.readBytes(8) == FormatConstants.fileMagic else {
            return .failure(CofferError(.notAVault, "The file does not start with Coffer's magic bytes."))
        }
        // F-HDR-CHECKSUM: checked before any other field is trusted.
        let checksumOffset = FormatConstants.headerChecksumOffset
        var hasher = Blake2b()
        hasher.update(UnsafeRawBufferPointer(rebasing: copy[0..<checksumOffset]))
        guard constantTimeEquals(hasher.finalize(), Array(copy[checksumOffset..<checksumOffset + 32])) else {
            return .failure(CofferError(.corrupted, "The header copy fails its checksum."))
        }
        let writeVersion = reader.read(UInt16.self)!
        let readVersion = reader.read(UInt16.self)!
        let required = reader.read(UInt32.self)!
        let optional = reader.read(UInt32.self)!
        // F-HDR-VERSION: an old reader refuses what it cannot understand, with a clear message.
        guard readVersion <= FormatConstants.readVersionSupported else {
            return .failure(
                CofferError(
                    .unsupportedVersion,
                    "The vault needs a reader of format version \(readVersion); this one reads version \(FormatConstants.readVersionSupported). Upgrade Coffer."
                ))
        }
        guard required & ~FormatConstants.requiredFeaturesKnown == 0 else {
            return .failure(
                CofferError(
                    .unsupportedVersion,
                    "The vault uses required features 0x\(String(required, radix: 16)) that this reader does not know. Upgrade Coffer."
                ))
        }
        let headerSize = reader.read(UInt32.self)!
        let vaultID = reader.readBytes(16)!
        let generation = reader.read(UInt64.self)!
        let created = reader.read(UInt64.self)!
        let logStart = reader.read(UInt64.self)!
        let slotCount = Int(reader.read(UInt8.self)!)
        guard headerSize == FormatConstants.headerCopyBytes, logStart == FormatConstants.logStartOffset,
            generation <= FormatConstants.generationMax,
            writeVersion >= readVersion, slotCount <= FormatConstants.keyslotCountMax,
            reader.skipZeros(FormatConstants.headerKeyslotsOffset - reader.offset)
        else {
            return .failure(
                CofferError(.corrupted, "The header copy has an invalid layout field or non-zero reserved bytes."))
        }
        var slots: [Keyslot] = []
        var seenIDs = Set<UInt16>()
        for index in 0..<FormatConstants.keyslotCountMax {
            let entry = reader.readView(FormatConstants.keyslotBytes)!
            switch Keyslot.decode(entry, index: index) {
            case .failure(let error): return .failure(error)
            case .success(let slot):
                // F-SLOT-ORDER: the first `count` entries are used, the rest are empty.
                guard (slot != nil) == (index < slotCount) else {
                    return .failure(CofferError(.corrupted, "The keyslot table does not match its count."))
                }
                if let slot {
                    guard seenIDs.insert(slot.id).inserted else {
                        return .failure(CofferError(.corrupted, "Two keyslots share id \(slot.id)."))
                    }
                    slots.append(slot)
                }
            }
        }
        let masterWrap = reader.readBytes(FormatConstants.masterWrapBytes)!
        reader = ByteReader(copy, offset: FormatConstants.headerAPIKeyWrapOffset)
        var apiKeyHashKeyWrap: [UInt8]?
        if required & FormatConstants.requiredFeatureAPIKeyHashKey != 0 {
            apiKeyHashKeyWrap = reader.readBytes(FormatConstants.apiKeyWrapBytes)!
        }
        guard reader.skipZeros(FormatConstants.headerSignerOffset - reader.offset) else {
            return .failure(CofferError(.corrupted, "The header copy has non-zero reserved bytes."))
        }
        var signer: KeyslotSigner?
        if required & FormatConstants.requiredFeatureKeyslotRecipients != 0 {
            signer = KeyslotSigner(
                publicKey: reader.readBytes(Ed25519.publicKeyBytes)!, seedWrap: reader.readBytes(72)!,
                keyslotSignature: reader.readBytes(Ed25519.signatureBytes)!)
        }
        guard reader.skipZeros(FormatConstants.headerLineageOffset - reader.offset) else {
            return .failure(CofferError(.corrupted, "The header copy has non-zero reserved bytes."))
        }
        var lineage: LogLineage?
        if required & FormatConstants.requiredFeatureLogLineage != 0 {
            guard let decoded = LogLineage.decode(&reader) else {
                return .failure(CofferError(.corrupted, "The header's log lineage breaks its rules (F-LINEAGE)."))
            }
            lineage = decoded
        }
        guard reader.skipZeros(FormatConstants.headerChecksumOffset - reader.offset) else {
            return .failure(CofferError(.corrupted, "The header copy has non-zero reserved bytes."))
        }
        var header = FileHeader(
            vaultID: vaultID, generation: generation, createdMilliseconds: created, keyslots: slots,
            masterWrap: masterWrap)
        header.apiKeyHashKeyWrap = apiKeyHashKeyWrap
        header.signer = signer
        header.lineage = lineage
        // F-HDR-FEATURES: a slot with a recipient is believed only through a signer, so a
        // header that has one has the other; and the signer signed this very table.
        guard header.signer != nil || !slots.contains(where: { $0.recipient != nil }) else {
            return .failure(
                CofferError(.corrupted, "The header's required features do not match its keyslots and fields."))
        }
        guard !verifyingSignature || header.keyslotSignatureVerifies else {
            return .failure(CofferError(.corrupted, "The keyslot table does not carry its signer's signature."))
        }
        header.writeVersion = writeVersion
        header.readVersion = readVersion
        header.optionalFeatures = optional
        return .success(header)
    }

    /// F-HDR-MAC: after unlocking, the copy's MAC must verify under the master key.
    public func verifyMAC(of copy: [UInt8], masterKey: SecureBytes) -> Bool {
        constantTimeEquals(mac(masterKey: masterKey), FileHeader.storedMAC(of: copy))
    }

    /// F-HDR-MASTER: `masterWrap = nonce || XChaCha20-Poly1305(unlock key, nonce, master key,
    /// AAD = "coffer master v1" || vault UUID)`.
    public static func wrapMasterKey(
        _ masterKey: SecureBytes, unlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8]? = nil
    ) -> [UInt8] {
        KeyWrap.seal(masterKey, under: unlockKey, label: masterWrapLabel, vaultID: vaultID, nonce: nonce)
    }

    private static let masterWrapLabel = "coffer master v1"

    /// F-HDR-APIKEY: `nonce || XChaCha20-Poly1305(unlock key, nonce, API-key hash key,
    /// AAD = "coffer api-key hash key v1" || vault UUID)`.
    public static func wrapAPIKeyHashKey(
        _ key: SecureBytes, unlockKey: SecureBytes, vaultID: [UInt8], nonce: [UInt8]? = nil
    ) -> [UInt8] {
        KeyWrap.seal(key, under: unlockKey, label: apiKeyWrapLabel, vaultID: vaultID, nonce: nonce)
    }

    /// The API-key hash key the header carries, opened with `unlockKey`; nil when it carries
    /// none or it does not open.
    public func unwrapAPIKeyHashKey(unlockKey: SecureBytes) -> SecureBytes? {
        guard let apiKeyHashKeyWrap else { return nil }
        return KeyWrap.open(apiKeyHashKeyWrap, under: unlockKey, label: Self.apiKeyWrapLabel, vaultID: vaultID)
    }

    private static let apiKeyWrapLabel = "coffer api-key hash key v1"

    /// Opens the master-key wrap with `unlockKey`; `nil` when it does not authenticate.
    public func unwrapMasterKey(unlockKey: SecureBytes) -> SecureBytes? {
        KeyWrap.open(masterWrap, under: unlockKey, label: Self.masterWrapLabel, vaultID: vaultID)
    }

    /// The keys a secret opens: the first slot of the secret's kind that accepts it gives the
    /// unlock key, which opens the master key (F-HDR-SELECT).
    public func unlock(with secret: Keyslot.Secret) -> (masterKey: SecureBytes, unlockKey: SecureBytes, slotID: UInt16)?
    {
        for slot in keyslots {
            if let unlockKey = slot.unwrap(with: secret, vaultID: vaultID, signerPublicKey: signer?.publicKey),
                let masterKey = unwrapMasterKey(unlockKey: unlockKey)
            {
                return (masterKey, unlockKey, slot.id)
            }
        }
        return nil
    }
}
