import CofferCrypto
import CofferFormat

/// Builds FORMAT.md's test vectors from fixed inputs: every key, salt, nonce and time below
/// is chosen, not random, so the bytes are reproducible (F-VECTORS).
enum VectorBuilder {
    static let masterKey = SecureBytes(copying: (0..<32).map { 0xA0 &+ UInt8($0) })
    static let vaultID: [UInt8] = (0..<16).map { UInt8($0) * 0x11 }
    static let unlockKey = SecureBytes(copying: (0..<32).map { 0xC0 &+ UInt8($0) })
    static let keyFile = SecureBytes(copying: (0..<32).map { UInt8($0) })
    static let passphrase = SecureBytes(copying: Array("correct horse battery staple".utf8))
    static let created: UInt64 = 1_795_000_000_000
    static let dataKeys = [
        SecureBytes(copying: (0..<32).map { 0xD0 &+ UInt8($0) }),
        SecureBytes(copying: (0..<32).map { 0x60 &+ UInt8($0) }),
    ]

    /// The transactions of the small vault: (epoch, payload).
    static let transactions: [(epoch: UInt32, payload: TransactionPayload)] = [
        (
            1,
            TransactionPayload(
                timeMilliseconds: created + 1000, actor: "vector",
                operations: [Operation(code: 0xF001, bytes: Array("hello, vault".utf8))])
        ),
        (
            2,
            TransactionPayload(
                timeMilliseconds: created + 2000, actor: "vector",
                operations: [
                    Operation(code: 0xF001, bytes: Array("sealed under epoch 2".utf8)),
                    Operation(code: 0xF002, bytes: [0, 1, 2, 3]),
                ])
        ),
    ]

    static func header(generation: UInt64) -> FileHeader {
        let keyFileSlot = Keyslot.make(
            id: 1, secret: .keyFile(keyFile), cost: nil, unlockKey: unlockKey, vaultID: vaultID,
            createdMilliseconds: created, signerPublicKey: nil, salt: [UInt8](repeating: 0x11, count: 16),
            nonce: [UInt8](repeating: 0x22, count: 24))!
        let passphraseSlot = Keyslot.make(
            id: 2, secret: .passphrase(passphrase), cost: .minimum, unlockKey: unlockKey, vaultID: vaultID,
            createdMilliseconds: created, signerPublicKey: nil, salt: [UInt8](repeating: 0x33, count: 16),
            nonce: [UInt8](repeating: 0x44, count: 24))!
        let masterWrap = FileHeader.wrapMasterKey(
            masterKey, unlockKey: unlockKey, vaultID: vaultID, nonce: [UInt8](repeating: 0x99, count: 24))
        return FileHeader(
            vaultID: vaultID, generation: generation, createdMilliseconds: created,
            keyslots: [keyFileSlot, passphraseSlot],
            masterWrap: masterWrap)
    }

    /// The unlock key after the rotation of the rotated vault, and the ephemeral X25519 keys
    /// its two slots were sealed with (F-UNLOCK-ROTATE, F-SLOT-RECIPIENT).
    static let rotatedUnlockKey = SecureBytes(copying: (0..<32).map { 0xE0 &+ UInt8($0) })
    static let ephemeralKeys = [
        SecureBytes(copying: (0..<32).map { 0x50 &+ UInt8($0) }),
        SecureBytes(copying: (0..<32).map { 0x70 &+ UInt8($0) }),
    ]
    /// The seed of the rotated vault's keyslot signer (F-HDR-SIGNER).
    static let signerSeed = SecureBytes(copying: (0..<32).map { 0x30 &+ UInt8($0) })
    /// The API-key hash key the rotated header carries: the one the first unlock key derives.
    static var apiKeyHashKey: SecureBytes { MasterKeySubkey.apiKeyHash.derive(from: unlockKey) }

    /// The small vault's header after an unlock-key rotation: both slots have recipients and
    /// wrap ``rotatedUnlockKey``, which wraps the same master key and the API-key hash key.
    static func rotatedHeader(generation: UInt64) -> FileHeader {
        var signer = KeyslotSigner.make(
            unlockKey: unlockKey, vaultID: vaultID, seed: signerSeed, nonce: [UInt8](repeating: 0x96, count: 24))
        let secrets: [(UInt16, Keyslot.Secret, Argon2id.Cost?, UInt8)] = [
            (1, .keyFile(keyFile), nil, 0x11), (2, .passphrase(passphrase), .minimum, 0x33),
        ]
        let slots = secrets.enumerated().map { index, entry in
            Keyslot.make(
                id: entry.0, secret: entry.1, cost: entry.2, unlockKey: unlockKey, vaultID: vaultID,
                createdMilliseconds: created, signerPublicKey: signer.publicKey,
                salt: [UInt8](repeating: entry.3, count: 16),
                nonce: [UInt8](repeating: entry.3 &+ 0x11, count: 24), ephemeralPrivateKey: ephemeralKeys[1 - index])!
                .rewrapped(
                    to: rotatedUnlockKey, vaultID: vaultID, nonce: [UInt8](repeating: entry.3 &+ 0x22, count: 24),
                    ephemeralPrivateKey: ephemeralKeys[index])!
        }
        var header = FileHeader(
            vaultID: vaultID, generation: generation, createdMilliseconds: created, keyslots: slots,
            masterWrap: FileHeader.wrapMasterKey(
                masterKey, unlockKey: rotatedUnlockKey, vaultID: vaultID, nonce: [UInt8](repeating: 0x98, count: 24)))
        header.apiKeyHashKeyWrap = FileHeader.wrapAPIKeyHashKey(
            apiKeyHashKey, unlockKey: rotatedUnlockKey, vaultID: vaultID, nonce: [UInt8](repeating: 0x97, count: 24))
        signer = signer.rewrapped(
            from: unlockKey, to: rotatedUnlockKey, vaultID: vaultID, nonce: [UInt8](repeating: 0x95, count: 24))!
        header.signer = signer
        header.signKeyslots(unlockKey: rotatedUnlockKey)
        return header
    }

    /// The small vault: two header copies, then key epoch 1, a transaction, key epoch 2 and a
    /// transaction under it. Returns the bytes, the record offsets and the head.
    ///
    /// With a `lineage`, the same records as the log of that lineage's generation (F-LINEAGE):
    /// its header carries the lineage and its chain starts from that generation's genesis.
    static func smallVault(lineage: LogLineage? = nil) -> (bytes: [UInt8], offsets: [Int], head: ChainHead) {
        var first = header(generation: 1)
        var second = header(generation: 2)
        first.lineage = lineage
        second.lineage = lineage
        var bytes = first.encode(masterKey: masterKey) + second.encode(masterKey: masterKey)
        let logGeneration = lineage?.generation ?? 0
        var chain = ChainHash.genesis(vaultID: vaultID, generation: logGeneration)
        var offsets: [Int] = []
        var sequence: UInt64 = 0
        let keyRecordKey = MasterKeySubkey.keyRecord.derive(from: masterKey)
        func append(type: RecordType, epoch: UInt32, payload: SecureBytes, key: SecureBytes, nonceByte: UInt8) {
            sequence += 1
            let position = RecordPosition(
                vaultID: vaultID, sequence: sequence, type: type, epoch: epoch, previousChain: chain)
            let frame = payload.withUnsafeBytes {
                SealedRecord.seal(payload: $0, at: position, key: key, nonce: [UInt8](repeating: nonceByte, count: 24))!
            }
            offsets.append(bytes.count)
            bytes += frame
            chain = frame.withUnsafeBytes { ChainHash.next(previous: chain, frame: $0) }
        }
        append(
            type: .keyEpoch, epoch: 1,
            payload: KeyEpochPayload(epoch: 1, dataKey: dataKeys[0], createdMilliseconds: created).encode(),
            key: keyRecordKey, nonceByte: 0x55)
        append(
            type: .transaction, epoch: 1, payload: transactions[0].payload.encode()!, key: dataKeys[0], nonceByte: 0x66)
        append(
            type: .keyEpoch, epoch: 2,
            payload: KeyEpochPayload(epoch: 2, dataKey: dataKeys[1], createdMilliseconds: created + 1500).encode(),
            key: keyRecordKey, nonceByte: 0x77)
        append(
            type: .transaction, epoch: 2, payload: transactions[1].payload.encode()!, key: dataKeys[1], nonceByte: 0x88)
        return (bytes, offsets, ChainHead(sequence: sequence, digest: chain, generation: logGeneration))
    }

    /// The lineage of the compacted vault: generation 3, switched at its record 2, made from
    /// logs whose final heads were 41 (generation 2), 17 (1) and 9 (0), with fixed digests.
    static let compactedLineage = LogLineage(
        generation: 3, switchHead: ChainHead(sequence: 0, digest: [], generation: 3),
        previous: [(2, 41, 0xB2), (1, 17, 0xB1), (0, 9, 0xB0)].map {
            ChainHead(sequence: $0.1, digest: [UInt8](repeating: $0.2, count: 32), generation: $0.0)
        })

    /// The compacted vault, its switch head the chain after its second record.
    static func compactedVault() -> (bytes: [UInt8], offsets: [Int], head: ChainHead) {
        // The switch head depends on the chain, which does not depend on the header: build
        // once to learn it, then again with it.
        var lineage = compactedLineage
        lineage.switchHead = ChainHead(sequence: 4, digest: [UInt8](repeating: 0, count: 32), generation: 3)
        let draft = smallVault(lineage: lineage)
        var chain = ChainHash.genesis(vaultID: vaultID, generation: 3)
        for (index, offset) in draft.offsets.prefix(2).enumerated() {
            let end = index + 1 < draft.offsets.count ? draft.offsets[index + 1] : draft.bytes.count
            chain = Array(draft.bytes[offset..<end]).withUnsafeBytes { ChainHash.next(previous: chain, frame: $0) }
        }
        lineage.switchHead = ChainHead(sequence: 2, digest: chain, generation: 3)
        return smallVault(lineage: lineage)
    }

    /// One file per scenario, as C2SP's vectors have it: a header of `key: value` lines, then
    /// the file's bytes in hex.
    static func vectors() -> [(name: String, text: String)] {
        let vault = smallVault()
        var result: [(String, String)] = []
        /// `zerosAfter` zero bytes follow `bytes` in the file; the vector says how many
        /// (`zeros-after:`) instead of listing them.
        func render(
            _ name: String, _ expect: String, _ comment: String, _ bytes: [UInt8], extra: [String] = [],
            zerosAfter: Int = 0
        ) {
            var lines =
                [
                    "# Coffer format v1 test vector (FORMAT.md, F-VECTORS). Generated by VectorBuilder.swift.",
                    "name: \(name)",
                    "comment: \(comment)",
                    "key-file: \(keyFile.withUnsafeBytes { Hex.encode(Array($0)) })",
                    "passphrase: \(String(decoding: passphrase.withUnsafeBytes { Array($0) }, as: UTF8.self))",
                    "expect: \(expect)",
                ] + extra
            if zerosAfter > 0 { lines.append("zeros-after: \(zerosAfter)") }
            lines.append("bytes:")
            var index = 0
            while index < bytes.count {
                lines.append(Hex.encode(Array(bytes[index..<min(index + 32, bytes.count)])))
                index += 32
            }
            result.append((name, lines.joined(separator: "\n") + "\n"))
        }
        let transactionLines = transactions.enumerated().map { index, entry in
            "transaction: \(index == 0 ? 2 : 4) \(Hex.encode(entry.payload.encode()!.withUnsafeBytes { Array($0) }))"
        }
        render(
            "small-vault", "open",
            "Two keyslots (key file, passphrase at Argon2id minimum cost), epochs 1 and 2, one transaction under each.",
            vault.bytes, extra: ["head: \(vault.head)"] + transactionLines)
        let tornCut = vault.offsets[3] + 100
        render(
            "torn-tail", "open; torn_tail at \(vault.offsets[3])",
            "The small vault cut 100 bytes into its last record: the first three records open, the tail is torn.",
            Array(vault.bytes[0..<tornCut]))
        var flipped = vault.bytes
        flipped[vault.offsets[1] + 200] ^= 0x01
        render(
            "corrupted-middle", "corrupted at offset \(vault.offsets[1]) sequence 2",
            "One bit of the first transaction's body flipped: valid records follow, so this is corruption, not a torn tail.",
            flipped)
        var future = header(generation: 3)
        future.readVersion = 2
        future.writeVersion = 2
        let futureBytes = future.encode(masterKey: masterKey) + future.encode(masterKey: masterKey)
        render(
            "future-version", "unsupported_version",
            "Both header copies declare read version 2: a version-1 reader must refuse with a clear message.",
            futureBytes + Array(vault.bytes[8192...]))
        var wrongMAC = vault.bytes
        // Change the created time in both copies and fix up their checksums, but not the MAC.
        for copy in 0..<2 {
            let base = copy * FormatConstants.headerCopyBytes
            wrongMAC[base + 48] ^= 0xFF
            let checksum = Blake2b.hash(Array(wrongMAC[base..<(base + FormatConstants.headerChecksumOffset)]))
            wrongMAC.replaceSubrange(
                (base + FormatConstants.headerChecksumOffset)..<(base + FormatConstants.headerCopyBytes), with: checksum
            )
        }
        render(
            "altered-header", "corrupted",
            "A header field changed and the keyless checksum recomputed: the MAC under the master key catches it.",
            wrongMAC)
        let compacted = compactedVault()
        render(
            "compacted-vault", "open; head \(compacted.head)",
            "The small vault's records as the log of the third compaction (F-LINEAGE): the header carries the lineage "
                + "(generation 3, switch head at record 2, the final heads of generations 2, 1 and 0) and the chain starts "
                + "from generation 3's genesis. Expected heads 0:9:b0…, 0:5:(any digest), 1:17:b1…, 2:41:b2…, 3:2:(the "
                + "switch head) and the head verify; 2:42:…, 0:9:b1…, 4:1:… and 3:3:(any other digest) do not.",
            compacted.bytes, extra: ["head: \(compacted.head)"])
        let rotated =
            rotatedHeader(generation: 1).encode(masterKey: masterKey)
            + rotatedHeader(generation: 2).encode(masterKey: masterKey)
        render(
            "rotated-vault", "open",
            "The small vault's log under the header of an unlock-key rotation: both keyslots have recipients and wrap a "
                + "new unlock key, which wraps the same master key and carries the API-key hash key.",
            rotated + Array(vault.bytes[8192...]),
            extra: [
                "unlock-key: \(rotatedUnlockKey.withUnsafeBytes { Hex.encode(Array($0)) })",
                "api-key-hash-key: \(apiKeyHashKey.withUnsafeBytes { Hex.encode(Array($0)) })",
                "head: \(vault.head)",
            ] + transactionLines)
        let checkpoint = smallVaultCheckpoint(vault)
        render(
            "small-vault-checkpoint", "resumed after record 4",
            "The small vault's index checkpoint after its last record, the file `<vault>.checkpoint` beside it "
                + "(F-CHECKPOINT): both key-epoch records, the counts, the chain hash before each of the four "
                + "records, and the encoding of an empty index (the small vault's transactions use test codes). "
                + "Nonce cc…, fixed for the vector.",
            checkpoint, extra: ["head: \(vault.head)"])
        let alignment = FormatConstants.freeSpaceAlignment
        let free = (vault.bytes.count + alignment - 1) / alignment * alignment - vault.bytes.count
        render(
            "free-space", "open; free \(free) after offset \(vault.bytes.count)",
            "The small vault followed by zeros up to 64 KiB, as a writer preallocates (F-PREALLOCATE): free space "
                + "(F-FREE), not a torn tail; the head is the small vault's.",
            vault.bytes, extra: ["head: \(vault.head)"], zerosAfter: free)
        render(
            "zeros-not-free", "open; torn_tail at \(vault.bytes.count)",
            "The small vault followed by 100 zeros: the file's length is not a multiple of 64 KiB, so the zeros are "
                + "not free space (F-FREE) but a torn tail.",
            vault.bytes, zerosAfter: 100)
        return result
    }

    /// The encoding of an empty index (F-CHECKPOINT-INDEX): version 1, next principal 0,
    /// retention 10, four zero counters, thirteen empty tables.
    static let emptyIndexEncoding: [UInt8] = {
        var writer = ByteWriter()
        writer.write(UInt16(1))
        writer.write(UInt32(0))
        writer.write(UInt16(10))
        for _ in 0..<4 { writer.write(UInt64(0)) }
        for _ in 0..<13 { writer.write(UInt32(0)) }
        return writer.bytes
    }()

    /// The small vault's checkpoint after its last record.
    static func smallVaultCheckpoint(_ vault: (bytes: [UInt8], offsets: [Int], head: ChainHead)) -> [UInt8] {
        var chains: [UInt8] = []
        var chain = ChainHash.genesis(vaultID: vaultID)
        var bytesByType: [RecordType: UInt64] = [:]
        for (index, offset) in vault.offsets.enumerated() {
            let end = index + 1 < vault.offsets.count ? vault.offsets[index + 1] : vault.bytes.count
            chains += chain
            chain = Array(vault.bytes[offset..<end]).withUnsafeBytes { ChainHash.next(previous: chain, frame: $0) }
            bytesByType[index % 2 == 0 ? .keyEpoch : .transaction, default: 0] += UInt64(end - offset)
        }
        let contents = Checkpoint.Contents(
            epochs: [
                Checkpoint.EpochRecord(number: 1, sequence: 1, offset: UInt64(vault.offsets[0])),
                Checkpoint.EpochRecord(number: 2, sequence: 3, offset: UInt64(vault.offsets[2])),
            ],
            recordsByType: [.keyEpoch: 2, .transaction: 2], bytesByType: bytesByType,
            transactionsByEpoch: [1: 1, 2: 1],
            chains: chains[...], index: emptyIndexEncoding[...])
        let position = Checkpoint.Position(
            vaultID: vaultID, generation: 0, sequence: 4, lastFrameOffset: UInt64(vault.offsets[3]),
            end: UInt64(vault.bytes.count), chain: vault.head.digest)
        return Checkpoint.seal(
            position, contents: contents.encode(), key: MasterKeySubkey.checkpoint.derive(from: masterKey),
            nonce: [UInt8](repeating: 0xCC, count: 24))
    }
}
