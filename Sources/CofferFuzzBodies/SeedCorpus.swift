import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage

/// One seed input: where it goes (`Fuzz/corpus/<target>/<name>`) and its bytes.
public struct Seed: Sendable, Equatable {
    public let target: FuzzTarget
    public let name: String
    public let bytes: [UInt8]
}

/// The seed corpus: small, valid or nearly valid inputs for each target, built
/// deterministically from the format's own encoders with fixed salts, nonces and times, so
/// that regenerating it changes no byte unless the format changed.
///
/// The vaults are what `VaultStore.create`, `append`, `rotateDataKey` and `addKeyslot` write
/// (two header copies of generations 1 and 2, a first key epoch at sequence 1, records chained
/// from the genesis hash), under the fixed key file of ``FuzzFixtures``, so that the fuzzers
/// start past the header. ``verify()`` checks that `VaultStore` opens each as intended.
public enum SeedCorpus {
    /// Every seed of every target.
    public static func make() -> [Seed] {
        vaultSeeds().map(\.seed) + fileHeaderSeeds() + frameSeeds() + payloadSeeds()
            + ModelSeeds.modelOperationSeeds() + ModelSeeds.sequenceSeeds() + CheckpointBody.seeds()
    }

    /// Checks that each seed vault opens (or fails) as intended, and that every seed runs
    /// through its body with no broken oracle. Returns the problems found.
    public static func verify() -> [String] {
        var problems: [String] = []
        for (seed, expectation) in vaultSeeds() {
            let disk = SimulatedDisk()
            disk.write(path: FuzzFixtures.vaultPath, bytes: seed.bytes, durable: true)
            var transactions = 0
            let readOnly = VaultStore.Options(storage: disk, readOnly: true)
            let outcome = Result { () throws(CofferError) -> VaultStore in
                try VaultStore.open(path: FuzzFixtures.vaultPath, secret: FuzzFixtures.keyFile, options: readOnly) {
                    if $0.type == .transaction { transactions += 1 }
                }
            }
            switch (expectation, outcome) {
            case (.opens(let count, let torn), .success(let store)):
                if transactions != count || (store.recovery.tornTail != nil) != torn {
                    problems.append(
                        "\(seed.name): opens with \(transactions) transactions, torn tail \(store.recovery.tornTail != nil)"
                    )
                }
                store.close()
                let writer = Result { () throws(CofferError) -> VaultStore in
                    try VaultStore.open(
                        path: FuzzFixtures.vaultPath, secret: FuzzFixtures.keyFile,
                        options: VaultStore.Options(storage: disk))
                }
                if case .failure(let error) = writer { problems.append("\(seed.name): a writer fails: \(error)") }
            case (.fails(let code), .failure(let error)):
                if error.code != code { problems.append("\(seed.name): fails with \(error.code), not \(code)") }
            case (_, .success):
                problems.append("\(seed.name): opens, but should fail")
            case (_, .failure(let error)):
                problems.append("\(seed.name): fails to open: \(error)")
            }
        }
        for seed in make() {
            problems += seed.target.run(seed.bytes).map { "\(seed.target.rawValue)/\(seed.name): \($0)" }
        }
        problems += compareWithStoreLayout()
        problems += CheckpointBody.sealedSeedProblems()
        problems += ModelSeeds.missingOperationCodes().map { "no FuzzModelOperation seed holds operation \($0)" }
        problems += ModelSeeds.missingOpcodes().map { "no FuzzOperationSequence seed runs opcode \($0)" }
        return problems
    }

    /// Checks that ``VaultBuilder`` lays a vault out as `VaultStore` does: the same file size,
    /// header generations and keyslot kinds, and the same frames (sequence, type, epoch,
    /// length). Only the random values and times differ. The free space a writer leaves after
    /// the log (F-PREALLOCATE) is left out: the zero-tail seed has some.
    static func compareWithStoreLayout() -> [String] {
        let disk = SimulatedDisk()
        let path = "/fuzz/layout.coffer"
        let built = threeRecords()
        let logEnd: UInt64
        do {
            let store = try VaultStore.create(
                path: path, secret: fixedKeyFile, cost: .minimum, options: VaultStore.Options(storage: disk))
            for payload in built.transactionPayloads { _ = try store.append([payload]) }
            logEnd = store.logEnd
            store.close()
        } catch {
            return ["VaultStore.create or append fails on a simulated disk: \(error)"]
        }
        guard let file = disk.contents(of: path) else { return ["VaultStore.create wrote no file"] }
        let written = Array(file.prefix(Int(logEnd)))
        let expected = layout(of: built.file())
        // Size, two header copies, the first key epoch and three transactions.
        guard expected.count == 1 + 2 + 4 else { return ["the layout of the seed vault is incomplete: \(expected)"] }
        return layout(of: written) == expected
            ? [] : ["the seed vaults are not laid out as VaultStore writes a vault; update VaultBuilder"]
    }

    /// The layout of a vault file: size, per copy its generation and slot kinds, per frame its
    /// sequence, type byte, epoch and body length.
    static func layout(of file: [UInt8]) -> [String] {
        var parts = ["size \(file.count)"]
        let copyBytes = FormatConstants.headerCopyBytes
        for index in 0..<FormatConstants.headerCopyCount where file.count >= (index + 1) * copyBytes {
            switch file[index * copyBytes..<(index + 1) * copyBytes].withUnsafeBytes({ FileHeader.decode($0) }) {
            case .success(let header):
                parts.append("copy \(index): generation \(header.generation), slots \(header.keyslots.map(\.kind))")
            case .failure(let error): parts.append("copy \(index): \(error.code)")
            }
        }
        var offset = Int(FormatConstants.logStartOffset)
        while offset < file.count,
            case .success(let header) = file[offset...].withUnsafeBytes({ FrameHeader.decode($0) })
        {
            parts.append(
                "frame \(header.sequence) type \(header.typeByte) epoch \(header.epoch) body \(header.bodyBytes)")
            offset += header.frameBytes
        }
        return parts
    }

    /// What opening a seed vault read-only with the fixed key file does; one that opens
    /// opens for writing too.
    enum Expectation {
        case opens(transactions: Int, tornTail: Bool)
        case fails(CofferError.Code)
    }

    // Computed for the reason FuzzFixtures.keyFile is.
    static var fixedKeyFile: Keyslot.Secret { FuzzFixtures.keyFile }
    static var otherKeyFile: Keyslot.Secret { .keyFile(SecureBytes(copying: FuzzFixtures.otherKeyFileBytes)) }
    static var passphrase: Keyslot.Secret { .passphrase(SecureBytes(copying: FuzzFixtures.passphrase)) }

    static func threeRecords() -> VaultBuilder {
        var vault = VaultBuilder(seed: 2, slots: [fixedKeyFile])
        vault.appendTransaction(actor: "alice@example.com", operations: [(1, Array("github/main".utf8))])
        vault.appendTransaction(actor: "bob", operations: [(2, Array(repeating: 0x42, count: 40)), (3, [])])
        vault.appendTransaction(actor: "ci", operations: [(1, Array("deploy-key".utf8))])
        return vault
    }

    static func vaultSeeds() -> [(seed: Seed, expectation: Expectation)] {
        var seeds: [(Seed, Expectation)] = []
        func add(_ name: String, _ bytes: [UInt8], _ expectation: Expectation) {
            seeds.append((Seed(target: .openVault, name: name, bytes: bytes), expectation))
        }

        // What VaultStore.create writes: one key-file slot and the first key epoch.
        let created = VaultBuilder(seed: 1, slots: [fixedKeyFile])
        add("created.coffer", created.file(), .opens(transactions: 0, tornTail: false))

        let three = threeRecords()
        let threeFile = three.file()
        add("three-records.coffer", threeFile, .opens(transactions: 3, tornTail: false))

        var rotated = VaultBuilder(seed: 3, slots: [fixedKeyFile])
        rotated.appendTransaction(actor: "alice", operations: [(1, Array("before rotation".utf8))])
        rotated.appendKeyEpoch()
        rotated.appendTransaction(actor: "alice", operations: [(1, Array("epoch two".utf8))])
        rotated.appendKeyEpoch()
        rotated.appendTransaction(actor: "alice", operations: [(4, Array("epoch three".utf8))])
        add("rotated.coffer", rotated.file(), .opens(transactions: 3, tornTail: false))

        // The fixed key file is the third slot, after a slot for another key file and a
        // passphrase slot (minimum Argon2id cost; the bodies never try passphrases).
        var slots = VaultBuilder(seed: 4, slots: [otherKeyFile, passphrase, fixedKeyFile])
        slots.appendTransaction(actor: "admin", operations: [(5, Array("slots".utf8))])
        add("several-slots.coffer", slots.file(), .opens(transactions: 1, tornTail: false))

        var sizes = VaultBuilder(seed: 5, slots: [fixedKeyFile])
        sizes.appendTransaction(
            actor: "bulk", operations: [(1, Array(repeating: 0x61, count: 600))], encoding: .deflate)
        sizes.appendTransaction(actor: "bulk", operations: [(1, (0..<700).map { UInt8(truncatingIfNeeded: $0 &* 37) })])
        add("deflate-and-1024-bucket.coffer", sizes.file(), .opens(transactions: 2, tornTail: false))

        // An append interrupted halfway through its frame.
        add("torn-tail.coffer", Array(threeFile.dropLast(150)), .opens(transactions: 2, tornTail: true))
        // Zeros after the log are a torn tail in a file of any length but a multiple of 64 KiB;
        // in such a file they are free space a writer preallocated (F-FREE), and an append
        // interrupted inside free space is a torn tail.
        add(
            "zero-tail.coffer", threeFile + [UInt8](repeating: 0, count: 512),
            .opens(transactions: 3, tornTail: true))
        func preallocated(_ bytes: [UInt8]) -> [UInt8] {
            let alignment = FormatConstants.freeSpaceAlignment
            return bytes + [UInt8](repeating: 0, count: alignment - bytes.count % alignment)
        }
        add("free-space.coffer", preallocated(threeFile), .opens(transactions: 3, tornTail: false))
        add(
            "torn-into-free-space.coffer", preallocated(Array(threeFile.dropLast(150))),
            .opens(transactions: 2, tornTail: true))

        // An unlock change interrupted between its two header writes: copy A (generation 3)
        // has a second slot, copy B (generation 2) does not. A writer repairs copy B.
        var stale = VaultBuilder(seed: 6, slots: [fixedKeyFile, otherKeyFile])
        stale.appendTransaction(actor: "alice", operations: [(1, Array("stale".utf8))])
        let staleFile =
            stale.headerCopy(generation: 3) + stale.headerCopy(generation: 2, slots: Array(stale.keyslots.prefix(1)))
            + stale.log
        add("stale-header-copy.coffer", staleFile, .opens(transactions: 1, tornTail: false))

        // Copy A fails its checksum; copy B still opens the vault.
        var damaged = threeFile
        damaged[200] ^= 0x01
        add("damaged-copy-a.coffer", damaged, .opens(transactions: 3, tornTail: false))

        // A flipped byte in the second record's body, with valid records after it: corruption.
        var corrupt = threeFile
        corrupt[Int(FormatConstants.logStartOffset) + three.frameOffsets[1] + 100] ^= 0x80
        add("corrupt-middle-record.coffer", corrupt, .fails(.corrupted))

        // Creation interrupted after the headers: no key epoch, nothing to read or append under
        // (F-NO-EPOCH).
        add(
            "headers-only.coffer", Array(created.file().prefix(Int(FormatConstants.logStartOffset))),
            .fails(.corrupted))

        var foreign = VaultBuilder(seed: 7, slots: [otherKeyFile])
        foreign.appendTransaction(actor: "eve", operations: [(1, Array("other key".utf8))])
        add("other-key.coffer", foreign.file(), .fails(.wrongKey))
        return seeds
    }

    static func fileHeaderSeeds() -> [Seed] {
        func seed(_ name: String, _ bytes: [UInt8]) -> Seed { Seed(target: .fileHeader, name: name, bytes: bytes) }
        let created = VaultBuilder(seed: 1, slots: [fixedKeyFile])
        let slots = VaultBuilder(seed: 4, slots: [otherKeyFile, passphrase, fixedKeyFile])
        let full = VaultBuilder(
            seed: 8,
            slots: [
                passphrase, otherKeyFile, passphrase, otherKeyFile, passphrase, otherKeyFile, passphrase, fixedKeyFile,
            ])
        let passphraseOnly = VaultBuilder(seed: 9, slots: [passphrase])
        // A copy whose slot unwraps the master key but whose MAC was made under another key.
        let other = VaultBuilder(seed: 10, slots: [fixedKeyFile])
        var badMAC = other.headerCopy(generation: 1)
        let macRange = FormatConstants.headerMACOffset..<FormatConstants.headerMACOffset + 32
        badMAC.replaceSubrange(macRange, with: created.headerCopy(generation: 1)[macRange])
        ChecksumRepair.patchHeaderChecksum(&badMAC)
        return [
            seed("created-copy-a.bin", created.headerCopy(generation: 1)),
            seed("created-copy-b.bin", created.headerCopy(generation: 2)),
            seed("three-slots.bin", slots.headerCopy(generation: 7)),
            seed("eight-slots.bin", full.headerCopy(generation: 1)),
            seed("passphrase-only.bin", passphraseOnly.headerCopy(generation: 1)),
            seed("wrong-mac.bin", badMAC),
            seed(
                "api-key-hash-key.bin",
                created.headerCopy(
                    generation: 3, apiKeyHashKey: SecureBytes(copying: [UInt8](repeating: 0x3C, count: 32)))),
        ]
    }

    static func frameSeeds() -> [Seed] {
        func seed(_ name: String, _ bytes: [UInt8]) -> Seed { Seed(target: .frameHeader, name: name, bytes: bytes) }
        var random = SeededGenerator(seed: 11)
        func frame(
            _ payload: [UInt8], sequence: UInt64 = 1, epoch: UInt32 = 1, type: RecordType = .transaction,
            encoding: PayloadEncoding = .raw
        ) -> [UInt8] {
            let header = FrameHeader(bodyBytes: 0, sequence: sequence, epoch: epoch, type: type, bodyChecksum: 0)
            let nonce = VaultBuilder.bytes(XChaCha20Poly1305.nonceBytes, using: &random)
            return payload.withUnsafeBytes {
                SealedRecord.seal(
                    payload: $0, at: FuzzFixtures.framePosition(for: header), key: FuzzFixtures.frameKey,
                    encoding: encoding, nonce: nonce)!
            }
        }
        let transaction = TransactionPayload(
            timeMilliseconds: VaultBuilder.createdMilliseconds, actor: "alice",
            operations: [Operation(code: 1, bytes: Array("token".utf8))]
        ).encode()!.withUnsafeBytes { Array($0) }
        let epochPayload = KeyEpochPayload(
            epoch: 3, dataKey: SecureBytes(copying: Array(repeating: 7, count: 32)),
            createdMilliseconds: VaultBuilder.createdMilliseconds
        ).encode().withUnsafeBytes { Array($0) }
        var unknownType = frame(transaction)
        unknownType[20] = 9
        let headerChecksum = unknownType.withUnsafeBytes {
            CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28]))
        }
        withUnsafeBytes(of: headerChecksum.littleEndian) { unknownType.replaceSubrange(28..<32, with: $0) }
        let compressible = Array(String(repeating: "compressible ", count: 40).utf8)
        return [
            seed("transaction.frame", frame(transaction)),
            seed("transaction-bucket-512.frame", frame(Array(repeating: 0x33, count: 400), sequence: 2)),
            seed("deflate.frame", frame(compressible, sequence: 3, encoding: .deflate)),
            seed("key-epoch.frame", frame(epochPayload, sequence: 1, epoch: 3, type: .keyEpoch)),
            seed("late-sequence-and-epoch.frame", frame(transaction, sequence: 1_000_000, epoch: 42)),
            seed("unknown-type.frame", unknownType),
            seed("torn.frame", Array(frame(transaction).prefix(100))),
            seed("header-only.frame", Array(frame(transaction).prefix(FormatConstants.frameHeaderBytes))),
            seed("plaintext-raw.bin", plaintext(encoding: .raw, stored: Array("token".utf8), decodedCount: 5)),
            seed("plaintext-empty.bin", plaintext(encoding: .raw, stored: [], decodedCount: 0)),
            seed(
                "plaintext-deflate.bin",
                plaintext(
                    encoding: .deflate, stored: compressible.withUnsafeBytes { Deflate.compress($0) },
                    decodedCount: compressible.count)),
            seed(
                "plaintext-bucket-512.bin",
                plaintext(encoding: .raw, stored: Array(repeating: 1, count: 300), decodedCount: 300)),
            seed(
                "plaintext-nonzero-padding.bin",
                {
                    var bytes = plaintext(encoding: .raw, stored: [1, 2, 3], decodedCount: 3)
                    bytes[255] = 1
                    return bytes
                }()),
        ]
    }

    /// A plaintext as F-SEAL lays it out, padded to its bucket.
    static func plaintext(encoding: PayloadEncoding, stored: [UInt8], decodedCount: Int) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(encoding.rawValue)
        writer.writeZeros(3)
        writer.write(UInt32(stored.count))
        writer.write(UInt32(decodedCount))
        writer.writeZeros(4)
        writer.write(stored)
        writer.writeZeros(Padding.bucketSize(for: writer.count)! - writer.count)
        return writer.bytes
    }

    static func payloadSeeds() -> [Seed] {
        func seed(_ name: String, _ payload: SecureBytes) -> Seed {
            Seed(target: .transactionPayload, name: name, bytes: payload.withUnsafeBytes { Array($0) })
        }
        let time = VaultBuilder.createdMilliseconds
        return [
            seed(
                "transaction-empty.bin", TransactionPayload(timeMilliseconds: time, actor: "", operations: []).encode()!
            ),
            seed(
                "transaction-one.bin",
                TransactionPayload(
                    timeMilliseconds: time, actor: "alice@example.com",
                    operations: [Operation(code: 1, bytes: Array("github.com/acme token".utf8))]
                ).encode()!),
            seed(
                "transaction-three.bin",
                TransactionPayload(
                    timeMilliseconds: time, actor: "Zoë ✓",
                    operations: [
                        Operation(code: 1, bytes: [0, 1, 2, 3]), Operation(code: 2, bytes: []),
                        Operation(code: 0xFFFF, bytes: Array(repeating: 0xEE, count: 20)),
                    ]
                ).encode()!),
            seed(
                "key-epoch.bin",
                KeyEpochPayload(
                    epoch: 2, dataKey: SecureBytes(copying: Array(repeating: 9, count: 32)), createdMilliseconds: time
                )
                .encode()),
        ]
        // The credential model's operations have their own target and seeds (ModelSeeds.swift).
    }
}

/// Builds a vault file the way `VaultStore` writes one, with every random value drawn from a
/// seeded generator and every time fixed.
struct VaultBuilder {
    /// 2026-01-01T00:00:00Z: every time recorded in a seed.
    static let createdMilliseconds: UInt64 = 1_767_225_600_000

    private var random: SeededGenerator
    let masterKey: SecureBytes
    let vaultID: [UInt8]
    private let unlockKey: SecureBytes
    /// The keyslot signer (F-HDR-SIGNER), from seeded bytes.
    private let signer: KeyslotSigner
    private(set) var keyslots: [Keyslot] = []
    /// The log: every frame, from the log start.
    private(set) var log: [UInt8] = []
    /// Offset of each frame in ``log``.
    private(set) var frameOffsets: [Int] = []
    private(set) var head: ChainHead
    /// Every transaction payload appended, in order.
    private(set) var transactionPayloads: [SecureBytes] = []
    /// The master key wrapped under the unlock key (F-HDR-MASTER).
    private let masterWrap: [UInt8]
    private var epoch: UInt32 = 0
    private var dataKey: SecureBytes?

    /// A vault as `VaultStore.create` leaves it, with a slot for each secret in order, and the
    /// first key epoch.
    init(seed: UInt64, slots secrets: [Keyslot.Secret]) {
        random = SeededGenerator(seed: seed)
        masterKey = SecureBytes(copying: Self.bytes(32, using: &random))
        vaultID = Self.bytes(FormatConstants.vaultIDBytes, using: &random)
        unlockKey = SecureBytes(copying: Self.bytes(32, using: &random))
        masterWrap = FileHeader.wrapMasterKey(
            masterKey, unlockKey: unlockKey, vaultID: vaultID,
            nonce: Self.bytes(XChaCha20Poly1305.nonceBytes, using: &random))
        head = ChainHead(sequence: 0, digest: ChainHash.genesis(vaultID: vaultID))
        signer = KeyslotSigner.make(
            unlockKey: unlockKey, vaultID: vaultID,
            seed: SecureBytes(copying: Self.bytes(Ed25519.seedBytes, using: &random)),
            nonce: Self.bytes(XChaCha20Poly1305.nonceBytes, using: &random))
        for secret in secrets {
            let salt = Self.bytes(Argon2id.saltBytes, using: &random)
            let nonce = Self.bytes(XChaCha20Poly1305.nonceBytes, using: &random)
            let ephemeral = SecureBytes(copying: Self.bytes(X25519.keyBytes, using: &random))
            keyslots.append(
                Keyslot.make(
                    id: UInt16(keyslots.count + 1), secret: secret, cost: .minimum, unlockKey: unlockKey,
                    vaultID: vaultID,
                    createdMilliseconds: Self.createdMilliseconds, signerPublicKey: signer.publicKey, salt: salt,
                    nonce: nonce,
                    ephemeralPrivateKey: ephemeral)!)
        }
        appendKeyEpoch()
    }

    static func bytes(_ count: Int, using random: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    /// What `rotateDataKey` appends: a key-epoch record with a new data key, for the next
    /// epoch or for `number` (which must be later: F-REC-KEY).
    mutating func appendKeyEpoch(number: UInt32? = nil) {
        let next = number ?? epoch + 1
        let key = SecureBytes(copying: Self.bytes(XChaCha20Poly1305.keyBytes, using: &random))
        let payload = KeyEpochPayload(epoch: next, dataKey: key, createdMilliseconds: Self.createdMilliseconds).encode()
        appendFrame(
            payload, type: .keyEpoch, epoch: next, key: MasterKeySubkey.keyRecord.derive(from: masterKey),
            encoding: .raw)
        epoch = next
        dataKey = key
    }

    /// What `append` writes for one transaction payload.
    mutating func appendTransaction(actor: String, operations: [(UInt16, [UInt8])], encoding: PayloadEncoding = .raw) {
        let payload = TransactionPayload(
            timeMilliseconds: Self.createdMilliseconds + head.sequence, actor: actor,
            operations: operations.map { Operation(code: $0.0, bytes: $0.1) }
        ).encode()!
        transactionPayloads.append(payload)
        appendFrame(payload, type: .transaction, epoch: epoch, key: dataKey!, encoding: encoding)
    }

    private mutating func appendFrame(
        _ payload: SecureBytes, type: RecordType, epoch: UInt32, key: SecureBytes, encoding: PayloadEncoding
    ) {
        let position = RecordPosition(
            vaultID: vaultID, sequence: head.sequence + 1, type: type, epoch: epoch, previousChain: head.digest)
        let nonce = Self.bytes(XChaCha20Poly1305.nonceBytes, using: &random)
        let frame = payload.withUnsafeBytes {
            SealedRecord.seal(payload: $0, at: position, key: key, encoding: encoding, nonce: nonce)!
        }
        head = ChainHead(
            sequence: position.sequence,
            digest: frame.withUnsafeBytes { ChainHash.next(previous: head.digest, frame: $0) })
        frameOffsets.append(log.count)
        log += frame
    }

    /// One header copy of this vault.
    /// A header copy; with `apiKeyHashKey`, carrying it wrapped as after an unlock-key
    /// rotation (F-HDR-APIKEY), under a nonce made of `generation`.
    func headerCopy(generation: UInt64, slots: [Keyslot]? = nil, apiKeyHashKey: SecureBytes? = nil) -> [UInt8] {
        var header = FileHeader(
            vaultID: vaultID, generation: generation, createdMilliseconds: Self.createdMilliseconds,
            keyslots: slots ?? keyslots, masterWrap: masterWrap)
        header.signer = signer
        header.signKeyslots(unlockKey: unlockKey)
        if let apiKeyHashKey {
            header.apiKeyHashKeyWrap = FileHeader.wrapAPIKeyHashKey(
                apiKeyHashKey, unlockKey: unlockKey, vaultID: vaultID,
                nonce: [UInt8](repeating: UInt8(truncatingIfNeeded: generation), count: XChaCha20Poly1305.nonceBytes))
        }
        return header.encode(masterKey: masterKey)
    }

    /// The whole file: copy A at generation 1, copy B at generation 2, then the log.
    func file() -> [UInt8] {
        headerCopy(generation: 1) + headerCopy(generation: 2) + log
    }
}
