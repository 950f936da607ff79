import CofferCrypto

/// An index checkpoint (F-CHECKPOINT): the state of a vault's index after record `S` of
/// its log, sealed under a subkey of the master key and bound to the vault, the log's
/// generation and the chain after `S`, so that an open can start from it and replay only the
/// records after `S`.
///
///     0   4  magic "CCK1"
///     4   2  format version (2; version 1 is read too)
///     6   2  reserved, zero
///     8  16  vault UUID
///    24   4  log generation
///    28   4  reserved, zero
///    32   8  sequence S of the last record it covers (1 or more)
///    40   8  offset of frame S
///    48   8  offset just past frame S: where the records it does not cover start
///    56  32  chain_S, the chain hash after frame S
///    88   8  sealed body length L
///    96   L  nonce (24) || the contents, sealed in chunks of 64 KiB || the chunks' tags
///
/// Chunk `i` (F-CHECKPOINT-CHUNKS) is sealed with XChaCha20-Poly1305 under the checkpoint
/// key, its nonce the checkpoint's with the last eight bytes XORed with `i`, its associated data
/// `"coffer checkpoint v2" || bytes [0, 96) || u64 i || u8 last`; its ciphertext stands where
/// its plaintext did, its 16-byte tag in the table after every chunk. So a reader can decode
/// each chunk as soon as it authenticates, and the opened contents lie in one piece. Version 1 is
/// one chunk whose tag follows it (`AAD = "coffer checkpoint v1" || bytes [0, 96)`). The file
/// is exactly `96 + L` bytes.
///
/// ```swift
/// let bytes = Checkpoint.seal(position, contents: contents, key: key)
/// let (position, contents) = try Checkpoint.open(bytes, vaultID: id, generation: generation, key: key).get()
/// ```
public enum Checkpoint {
    public static let magic: [UInt8] = Array("CCK1".utf8)
    /// The version writers write; readers read it and version 1.
    public static let version: UInt16 = 2
    public static let headerBytes = 96
    /// The bytes of the contents each chunk seals (the last may be shorter).
    public static let chunkBytes = 65_536
    static let associatedDataLabels: [UInt16: [UInt8]] = [
        1: Array("coffer checkpoint v1".utf8), 2: Array("coffer checkpoint v2".utf8),
    ]
    private static let nonceEnd = headerBytes + XChaCha20Poly1305.nonceBytes

    /// Where in the log a checkpoint stands.
    public struct Position: Sendable, Equatable {
        public let vaultID: [UInt8]
        public let generation: UInt32
        /// The last record the checkpoint covers.
        public let sequence: UInt64
        /// The offset of that record's frame.
        public let lastFrameOffset: UInt64
        /// The offset just past it.
        public let end: UInt64
        /// The chain hash after it.
        public let chain: [UInt8]
        /// The version of the checkpoint it was read from, or is written into: its contents'
        /// layout follows it (F-CHECKPOINT-CONTENTS).
        public let version: UInt16

        public init(
            vaultID: [UInt8], generation: UInt32, sequence: UInt64, lastFrameOffset: UInt64, end: UInt64,
            chain: [UInt8], version: UInt16 = Checkpoint.version
        ) {
            self.version = version
            self.vaultID = vaultID
            self.generation = generation
            self.sequence = sequence
            self.lastFrameOffset = lastFrameOffset
            self.end = end
            self.chain = chain
        }
    }

    /// Why a checkpoint cannot be used; each is a reason to replay the whole log instead.
    public enum Problem: Error, Equatable, CustomStringConvertible {
        /// Too short, a wrong magic or version, a non-zero reserved field, a position that
        /// cannot be (sequence 0, offsets out of order), a length other than the file's, or
        /// one that no contents seal to in chunks (F-CHECKPOINT-CHUNKS).
        case malformed(String)
        /// Of another vault.
        case otherVault
        /// Of another generation of the log: one from before a compaction, left behind.
        case otherGeneration(UInt32)
        /// A chunk's tag does not verify: damaged, or sealed under another master key.
        case authentication

        public var description: String {
            switch self {
            case .malformed(let detail): "the checkpoint is malformed: \(detail)"
            case .otherVault: "the checkpoint is of another vault"
            case .otherGeneration(let generation): "the checkpoint is of generation \(generation) of the log"
            case .authentication: "the checkpoint does not authenticate under the vault's key"
            }
        }
    }

    /// Seals `contents` as the checkpoint at `position`, in the version writers write (the
    /// contents encoded in its field order), under a fresh random nonce (a fixed one only for
    /// test vectors).
    public static func seal(
        _ position: Position, contents: [UInt8], key: SecureBytes,
        nonce: [UInt8] = RandomBytes.make(XChaCha20Poly1305.nonceBytes)
    ) -> [UInt8] {
        precondition(position.vaultID.count == FormatConstants.vaultIDBytes && position.chain.count == 32)
        let chunkCount = chunks(ofContents: contents.count)
        let sealedLength = XChaCha20Poly1305.nonceBytes + contents.count + chunkCount * XChaCha20Poly1305.tagBytes
        var writer = ByteWriter(capacity: headerBytes + sealedLength)
        writer.write(magic)
        writer.write(version)
        writer.writeZeros(2)
        writer.write(position.vaultID)
        writer.write(position.generation)
        writer.writeZeros(4)
        writer.write(position.sequence)
        writer.write(position.lastFrameOffset)
        writer.write(position.end)
        writer.write(position.chain)
        writer.write(UInt64(sealedLength))
        writer.write(nonce)
        writer.write(contents)
        var bytes = writer.bytes
        // Written in the version writers write, whatever version `position` was read from.
        let written = Position(
            vaultID: position.vaultID, generation: position.generation, sequence: position.sequence,
            lastFrameOffset: position.lastFrameOffset, end: position.end, chain: position.chain)
        let parts = SealedParts(
            position: written, header: Array(bytes[..<headerBytes]), nonce: nonce,
            contents: nonceEnd..<nonceEnd + contents.count, chunkCount: chunkCount)
        var tags: [UInt8] = []
        tags.reserveCapacity(chunkCount * XChaCha20Poly1305.tagBytes)
        bytes.withUnsafeMutableBytes { raw in
            for index in 0..<chunkCount {
                let chunk = parts.chunk(index)
                tags += XChaCha20Poly1305.sealDetachedInPlace(
                    UnsafeMutableRawBufferPointer(rebasing: raw[chunk.range]), key: key, nonce: chunk.nonce,
                    associatedData: chunk.associatedData)
            }
        }
        // Into the room the writer reserved for them: no second copy of the contents.
        bytes.append(contentsOf: tags)
        return bytes
    }

    /// The chunks contents of `count` bytes are sealed in: at least one.
    static func chunks(ofContents count: Int) -> Int { max(1, (count + chunkBytes - 1) / chunkBytes) }

    /// The length of the contents a version-2 checkpoint whose sealed length is `sealedLength`
    /// holds, or `nil` when no length of contents seals to it.
    static func contentsLength(sealedLength: Int) -> Int? {
        let chunked = sealedLength - XChaCha20Poly1305.nonceBytes
        let chunkSealedBytes = chunkBytes + XChaCha20Poly1305.tagBytes
        guard chunked >= XChaCha20Poly1305.tagBytes else { return nil }
        let chunkCount = (chunked + chunkSealedBytes - 1) / chunkSealedBytes
        let count = chunked - chunkCount * XChaCha20Poly1305.tagBytes
        guard count >= 0, chunks(ofContents: count) == chunkCount else { return nil }
        return count
    }

    /// The position a checkpoint claims, read without a key: only its form is checked.
    public static func position(of bytes: [UInt8]) -> Result<Position, Problem> {
        guard bytes.count >= headerBytes + XChaCha20Poly1305.nonceBytes + XChaCha20Poly1305.tagBytes else {
            let minimum = headerBytes + XChaCha20Poly1305.nonceBytes + XChaCha20Poly1305.tagBytes
            return .failure(
                .malformed(
                    "it is \(bytes.count) byte\(bytes.count == 1 ? "" : "s") long, shorter than the \(minimum) of an empty one"
                ))
        }
        return bytes.withUnsafeBytes { raw -> Result<Position, Problem> in
            var reader = ByteReader(raw)
            guard reader.readBytes(4) == magic else { return .failure(.malformed("the magic is missing")) }
            guard let version = reader.read(UInt16.self), associatedDataLabels[version] != nil else {
                return .failure(.malformed("an unknown version"))
            }
            guard reader.skipZeros(2), let vaultID = reader.readBytes(FormatConstants.vaultIDBytes),
                let generation = reader.read(UInt32.self), reader.skipZeros(4), let sequence = reader.read(UInt64.self),
                let lastFrameOffset = reader.read(UInt64.self), let end = reader.read(UInt64.self),
                let chain = reader.readBytes(32), let sealedLength = reader.read(UInt64.self)
            else { return .failure(.malformed("a reserved field is not zero")) }
            guard sealedLength == UInt64(bytes.count - headerBytes) else {
                return .failure(.malformed("the sealed length is not the file's"))
            }
            guard version == 1 || contentsLength(sealedLength: Int(sealedLength)) != nil else {
                return .failure(.malformed("the sealed length is not that of contents sealed in chunks"))
            }
            let frameMinimum = UInt64(
                FormatConstants.frameHeaderBytes + FormatConstants.paddedBytesMin + FormatConstants.sealOverheadBytes)
            let frameMaximum = UInt64(FormatConstants.frameHeaderBytes + FormatConstants.bodyBytesMax)
            guard sequence >= 1, lastFrameOffset >= FormatConstants.logStartOffset, end > lastFrameOffset,
                end - lastFrameOffset >= frameMinimum, end - lastFrameOffset <= frameMaximum
            else { return .failure(.malformed("its position in the log cannot be")) }
            return .success(
                Position(
                    vaultID: vaultID, generation: generation, sequence: sequence, lastFrameOffset: lastFrameOffset,
                    end: end, chain: chain, version: version))
        }
    }

    /// Where a checkpoint's sealed contents are among its bytes, and how each chunk of them is
    /// opened: its form, vault and generation checked.
    public struct SealedParts: Sendable {
        public let position: Position
        let header: [UInt8]
        let nonce: [UInt8]
        /// Where the contents are among the bytes: ciphertext until each chunk is opened.
        public let contents: Range<Int>
        /// The chunks they are sealed in, opened front to back.
        public let chunkCount: Int

        /// A chunk: where it is among the bytes and where its tag is.
        public struct Chunk {
            public let range: Range<Int>
            public let tag: Range<Int>
            let nonce: [UInt8]
            let associatedData: [UInt8]
        }

        /// Chunk `index`, `0..<chunkCount`.
        public func chunk(_ index: Int) -> Chunk {
            precondition(index >= 0 && index < chunkCount, "no such chunk")
            let label = Checkpoint.associatedDataLabels[position.version]!
            guard position.version >= 2 else {
                // Version 1: one chunk, its tag after it, the nonce and the header alone.
                return Chunk(
                    range: contents, tag: contents.upperBound..<contents.upperBound + XChaCha20Poly1305.tagBytes,
                    nonce: nonce, associatedData: label + header)
            }
            let start = contents.lowerBound + index * Checkpoint.chunkBytes
            let tagStart = contents.upperBound + index * XChaCha20Poly1305.tagBytes
            var chunkNonce = nonce
            var associatedData = label + header
            for byte in 0..<8 {
                chunkNonce[16 + byte] ^= UInt8(truncatingIfNeeded: UInt64(index) >> (8 * byte))
                associatedData.append(UInt8(truncatingIfNeeded: UInt64(index) >> (8 * byte)))
            }
            associatedData.append(index == chunkCount - 1 ? 1 : 0)
            return Chunk(
                range: start..<min(contents.upperBound, start + Checkpoint.chunkBytes),
                tag: tagStart..<tagStart + XChaCha20Poly1305.tagBytes, nonce: chunkNonce, associatedData: associatedData
            )
        }

        /// Opens `chunk` in place among `bytes` (the checkpoint's): whether its tag verifies.
        /// When it does not, the chunk is zeroed.
        public func open(_ chunk: Chunk, in bytes: UnsafeMutableRawBufferPointer, key: SecureBytes) -> Bool {
            XChaCha20Poly1305.openDetachedInPlace(
                UnsafeMutableRawBufferPointer(rebasing: bytes[chunk.range]),
                tag: UnsafeRawBufferPointer(rebasing: bytes[chunk.tag]), key: key, nonce: chunk.nonce,
                associatedData: chunk.associatedData)
        }
    }

    /// Checks a checkpoint's form, vault and generation; where its sealed contents are.
    public static func sealedParts(
        of bytes: [UInt8], vaultID: [UInt8], generation: UInt32
    ) -> Result<SealedParts, Problem> {
        let position: Position
        switch self.position(of: bytes) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): position = value
        }
        guard position.vaultID == vaultID else { return .failure(.otherVault) }
        guard position.generation == generation else { return .failure(.otherGeneration(position.generation)) }
        // `position(of:)` checked the version and that the length is one the version seals.
        let version = position.version
        let contentsCount =
            version == 1
            ? bytes.count - nonceEnd - XChaCha20Poly1305.tagBytes
            : contentsLength(sealedLength: bytes.count - headerBytes)!
        return .success(
            SealedParts(
                position: position, header: Array(bytes[..<headerBytes]),
                nonce: Array(bytes[headerBytes..<nonceEnd]), contents: nonceEnd..<nonceEnd + contentsCount,
                chunkCount: version == 1 ? 1 : chunks(ofContents: contentsCount)))
    }

    /// Checks a checkpoint's form, vault and generation, authenticates it and returns its
    /// position and contents: a slice of `bytes`, opened where they lie.
    public static func open(
        _ bytes: consuming [UInt8], vaultID: [UInt8], generation: UInt32, key: SecureBytes
    ) -> Result<(Position, ArraySlice<UInt8>), Problem> {
        let parts: SealedParts
        switch sealedParts(of: bytes, vaultID: vaultID, generation: generation) {
        case .failure(let problem): return .failure(problem)
        case .success(let value): parts = value
        }
        // Moved, not copied: the caller's only reference, so opening in place copies nothing.
        var opened = consume bytes
        let authentic = opened.withUnsafeMutableBytes { raw in
            (0..<parts.chunkCount).allSatisfy { parts.open(parts.chunk($0), in: raw, key: key) }
        }
        guard authentic else { return .failure(.authentication) }
        return .success((parts.position, opened[parts.contents]))
    }

    /// A key-epoch record of the log before a checkpoint: its epoch, sequence and offset.
    public struct EpochRecord: Sendable, Equatable {
        public let number: UInt32
        public let sequence: UInt64
        public let offset: UInt64

        public init(number: UInt32, sequence: UInt64, offset: UInt64) {
            self.number = number
            self.sequence = sequence
            self.offset = offset
        }
    }

    /// The sealed contents of a checkpoint after record `S` (F-CHECKPOINT-CONTENTS): where
    /// the key-epoch records before it are, the record counts, the chain hash before every
    /// record through `S`, and the index.
    public struct Contents: Sendable, Equatable {
        /// The key-epoch records through `S`, in order.
        public var epochs: [EpochRecord]
        /// Records and their frame bytes by type, through `S`.
        public var recordsByType: [RecordType: UInt64]
        public var bytesByType: [RecordType: UInt64]
        /// Transaction records by the epoch they are sealed under, through `S`.
        public var transactionsByEpoch: [UInt32: UInt64]
        /// The chain hash before records 1 through `S`, 32 bytes each. Decoded contents keep
        /// it and the index as slices of the opened bytes, which can be hundreds of megabytes:
        /// index them from `startIndex` (``chain(before:)``).
        public var chains: ArraySlice<UInt8>
        /// The index's canonical encoding (F-CHECKPOINT-INDEX), opaque here.
        public var index: ArraySlice<UInt8>

        public init(
            epochs: [EpochRecord], recordsByType: [RecordType: UInt64], bytesByType: [RecordType: UInt64],
            transactionsByEpoch: [UInt32: UInt64], chains: ArraySlice<UInt8>, index: ArraySlice<UInt8>
        ) {
            self.epochs = epochs
            self.recordsByType = recordsByType
            self.bytesByType = bytesByType
            self.transactionsByEpoch = transactionsByEpoch
            self.chains = chains
            self.index = index
        }

        /// The chain hash before record `sequence`, 1 through `S`.
        public func chain(before sequence: UInt64) -> ArraySlice<UInt8> {
            let start = chains.startIndex + Int(sequence - 1) * 32
            return chains[start..<start + 32]
        }

        public func encode() -> [UInt8] {
            var writer = ByteWriter(capacity: 64 + epochs.count * 20 + chains.count + index.count)
            writer.write(UInt32(epochs.count))
            for epoch in epochs {
                writer.write(epoch.number)
                writer.write(epoch.sequence)
                writer.write(epoch.offset)
            }
            for type in RecordType.allCases {
                writer.write(recordsByType[type] ?? 0)
                writer.write(bytesByType[type] ?? 0)
            }
            let byEpoch = transactionsByEpoch.sorted { $0.key < $1.key }
            writer.write(UInt32(byEpoch.count))
            for (epoch, count) in byEpoch {
                writer.write(epoch)
                writer.write(count)
            }
            // Version 2: the index before the chain table, so that a reader of chunks as they
            // open decodes the index from the first ones while the table's are opened.
            writer.write(UInt64(chains.count / 32))
            writer.write(UInt64(index.count))
            index.withUnsafeBytes { writer.write($0) }
            chains.withUnsafeBytes { writer.write($0) }
            return writer.bytes
        }

        /// The contents of a checkpoint at `position`, in the field order of its version; `nil`
        /// when malformed: a count or an index length the bytes cannot hold, epochs, their
        /// records or their offsets out of order or past the record the checkpoint follows,
        /// transaction counts of epochs out of order or counted twice, a chain table of another
        /// length.
        public static func decode(_ bytes: [UInt8], at position: Position) -> Contents? {
            decode(bytes[...], at: position)
        }

        /// The same, of a slice (what ``Checkpoint/open(_:vaultID:generation:key:)`` returns),
        /// which the decoded chain table and index are slices of.
        ///
        /// Given `arrival`, the bytes are still arriving (opened chunk by chunk on another
        /// thread): each read waits for its bytes, and the chain table and index are slices
        /// whose bytes may not have arrived yet. Of a version-2 checkpoint, only the fields
        /// before the index are read.
        public static func decode(
            _ bytes: ArraySlice<UInt8>, at position: Position, arrival: (any ByteArrival)? = nil
        ) -> Contents? {
            let sequence = position.sequence
            return bytes.withUnsafeBytes { raw -> Contents? in
                var reader = ByteReader(raw, arrival: arrival)
                guard let epochCount = reader.read(UInt32.self), Int(epochCount) <= reader.remaining / 20 else {
                    return nil
                }
                var epochs: [EpochRecord] = []
                for _ in 0..<epochCount {
                    guard let number = reader.read(UInt32.self), let at = reader.read(UInt64.self),
                        let offset = reader.read(UInt64.self), at >= 1, at <= sequence,
                        number > (epochs.last?.number ?? 0), at > (epochs.last?.sequence ?? 0),
                        // A record's frame lies after the one before it, and the record the
                        // checkpoint follows is at the offset its header gives.
                        offset >= FormatConstants.logStartOffset, offset > (epochs.last?.offset ?? 0),
                        at == sequence ? offset == position.lastFrameOffset : offset < position.lastFrameOffset
                    else { return nil }
                    epochs.append(EpochRecord(number: number, sequence: at, offset: offset))
                }
                var recordsByType: [RecordType: UInt64] = [:]
                var bytesByType: [RecordType: UInt64] = [:]
                for type in RecordType.allCases {
                    guard let records = reader.read(UInt64.self), let bytes = reader.read(UInt64.self) else {
                        return nil
                    }
                    if records > 0 || bytes > 0 {
                        recordsByType[type] = records
                        bytesByType[type] = bytes
                    }
                }
                guard let epochCounts = reader.read(UInt32.self), Int(epochCounts) <= reader.remaining / 12 else {
                    return nil
                }
                var transactionsByEpoch: [UInt32: UInt64] = [:]
                var previousEpoch: UInt32?
                for _ in 0..<epochCounts {
                    guard let epoch = reader.read(UInt32.self), let count = reader.read(UInt64.self),
                        previousEpoch.map({ epoch > $0 }) ?? true
                    else { return nil }
                    previousEpoch = epoch
                    transactionsByEpoch[epoch] = count
                }
                guard let chainCount = reader.read(UInt64.self), chainCount == sequence,
                    sequence <= UInt64(reader.remaining / 32)
                else { return nil }
                let chainBytes = Int(sequence) * 32
                // Slices, not copies, of the chain table and the index.
                guard position.version >= 2 else {
                    // Version 1: the chain table, then the index to the end.
                    let chainsStart = bytes.startIndex + reader.offset
                    let indexStart = chainsStart + chainBytes
                    return Contents(
                        epochs: epochs, recordsByType: recordsByType, bytesByType: bytesByType,
                        transactionsByEpoch: transactionsByEpoch, chains: bytes[chainsStart..<indexStart],
                        index: bytes[indexStart...])
                }
                // The index's length, the index, then the chain table to the end.
                guard let indexLength = reader.read(UInt64.self), indexLength <= UInt64(reader.remaining),
                    UInt64(reader.remaining) - indexLength == UInt64(chainBytes)
                else { return nil }
                let indexStart = bytes.startIndex + reader.offset
                let chainsStart = indexStart + Int(indexLength)
                return Contents(
                    epochs: epochs, recordsByType: recordsByType, bytesByType: bytesByType,
                    transactionsByEpoch: transactionsByEpoch, chains: bytes[chainsStart...],
                    index: bytes[indexStart..<chainsStart])
            }
        }
    }
}
