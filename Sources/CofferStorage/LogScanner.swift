import CofferCrypto
import CofferErrors
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// One record met while scanning the log.
public struct ScannedRecord: Sendable {
    public let sequence: UInt64
    public let type: RecordType
    public let epoch: UInt32
    /// Offset of the frame in the file.
    public let offset: UInt64
    /// Bytes of the whole frame (header and body).
    public let frameBytes: Int
    /// The chain hash before this record, which its AAD binds.
    public let previousChain: [UInt8]
    /// The opened payload, or `nil` when scanning without a key.
    public let payload: SecureBytes?
}

/// What is wrong at one place of the log.
public struct LogProblem: Sendable, Equatable, CustomStringConvertible {
    /// The classes `verify` reports. They stay distinct so that a lower-level failure is never
    /// masked by a higher-level one.
    public enum Kind: String, Sendable {
        /// The log ends inside a frame that no valid frame follows: an interrupted append.
        case tornTail = "torn_tail"
        /// A frame header or body fails its CRC-32 (or its magic or a field is invalid).
        case checksum
        /// A frame's checksums hold but its AEAD tag does not verify.
        case authentication
        /// A frame is out of place: wrong sequence number, or an epoch not introduced before it.
        case chain
        /// A header copy is damaged.
        case header
        /// The index built from the records breaks an invariant.
        case invariant
        /// The chain head differs from the one expected.
        case headMismatch = "head_mismatch"
        /// The index checkpoint beside the log cannot be used, or differs from the index the
        /// log gives (F-CHECKPOINT-VERIFY).
        case checkpoint
    }

    public let kind: Kind
    public let offset: UInt64
    /// The sequence number the frame at `offset` should have had.
    public let sequence: UInt64
    /// A plain sentence; never secret.
    public let detail: String

    public init(kind: Kind, offset: UInt64, sequence: UInt64, detail: String) {
        self.kind = kind
        self.offset = offset
        self.sequence = sequence
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue) at offset \(offset) (sequence \(sequence)): \(detail)" }
}

/// The outcome of scanning a log to its end.
public struct ScanOutcome {
    /// The chain head after the last valid record.
    public var head: ChainHead
    /// Offset just past the last valid record.
    public var validEnd: UInt64
    /// Number of valid records.
    public var recordCount: UInt64
    /// Set when the log ends in an incomplete or unreadable frame that no valid frame follows.
    public var tornTail: LogProblem?
    /// Bytes of zeros from the end of the last valid record to the end of the file: space a
    /// writer preallocated (F-FREE), neither a torn tail nor corruption.
    public var freeBytes: UInt64 = 0
    /// Set when an invalid frame is followed by valid data: the log is corrupted there.
    public var corruption: LogProblem?
    /// The epochs introduced, in order, with their data keys when scanning with a key.
    public var keyEpochs: KeyEpochs
    /// The chain hash after each sequence number asked for in `chainAt` that the log reaches.
    public var chainAtRequested: [UInt64: [UInt8]]
    /// Bytes of every record by type.
    public var bytesByType: [RecordType: UInt64]
}

extension ScanOutcome {
    /// A log's first record introduces its first key epoch (F-CREATE, F-COMPACT): a log
    /// whose valid records introduce none (cut off before its first record, or a creation that
    /// never completed) serves no writer and holds nothing to recover. `nil` when there is an
    /// epoch, or a corruption already says what is wrong.
    public var missingKeyEpoch: LogProblem? {
        guard keyEpochs.newest == nil, corruption == nil else { return nil }
        return LogProblem(
            kind: .chain, offset: FormatConstants.logStartOffset, sequence: 1,
            detail:
                "The log holds no key-epoch record, which every vault's first record is: its log was cut off before it, "
                + "or its creation never completed. No writer opens it and it holds nothing to salvage; restore the vault "
                + "from a copy.")
    }

    /// What a scan of a log just sealed would find, up to `cursor`: every record valid, no
    /// tail to cut (a new vault, a compaction's new file).
    init(sealedThrough cursor: LogCursor, keyEpochs: KeyEpochs, bytesByType: [RecordType: UInt64]) {
        self.init(
            head: cursor.head, validEnd: cursor.end, recordCount: cursor.head.sequence, tornTail: nil, corruption: nil,
            keyEpochs: keyEpochs, chainAtRequested: [:], bytesByType: bytesByType)
    }
}

/// Reads frames in order from the log start, checking each before it is handed on
/// (F-RECOVER). With a key, every record is authenticated and opened; without one, only the
/// frame checksums and sequence numbers are checked.
///
/// Torn-tail policy, as LevelDB's reader has it for a truncated last record: an incomplete or
/// checksum-failing final frame is the end of the log, not an error. An invalid frame that a
/// valid frame follows is corruption: the log cannot be trusted past that point (F-TORN).
struct LogScanner {
    let log: any LogDevice
    let vaultID: [UInt8]
    /// Subkey that opens key-epoch records; `nil` to scan without a key.
    let keyRecordKey: SecureBytes?
    let fileSize: UInt64
    /// Sequence numbers whose chain hashes the caller wants (for expected-head checks).
    var chainAt: Set<UInt64> = []
    /// The log's generation (F-LINEAGE): its chain starts from that generation's genesis.
    var generation: UInt32 = 0
    /// Where to start instead of the log start: a frame boundary, the head before it, and the
    /// epochs and keys introduced before it (for scanning only what a writer added).
    var resume: (offset: UInt64, head: ChainHead, keyEpochs: KeyEpochs)? = nil

    private static let chunkBytes = 1 << 20

    /// Scans the whole log, calling `visit` for each valid record in order.
    func scan(_ visit: (ScannedRecord) throws(CofferError) -> Void) -> Result<ScanOutcome, CofferError> {
        var reader = ChunkedReader(log: log, fileSize: fileSize)
        var outcome = ScanOutcome(
            head: ChainHead(
                sequence: 0, digest: ChainHash.genesis(vaultID: vaultID, generation: generation), generation: generation
            ),
            validEnd: FormatConstants.logStartOffset, recordCount: 0, tornTail: nil, corruption: nil,
            keyEpochs: KeyEpochs(),
            chainAtRequested: chainAt.contains(0)
                ? [0: ChainHash.genesis(vaultID: vaultID, generation: generation)] : [:],
            bytesByType: [:])
        var offset = FormatConstants.logStartOffset
        if let resume {
            offset = resume.offset
            outcome.head = resume.head
            outcome.validEnd = resume.offset
            outcome.keyEpochs = resume.keyEpochs
        }
        var settling = Settling()
        while offset < fileSize {
            let expected = outcome.head.sequence + 1
            let step: FrameStep
            switch readFrame(at: offset, expectedSequence: expected, reader: &reader, outcome: &outcome) {
            case .failure(let error): return .failure(error)
            case .success(let value): step = value
            }
            switch step {
            case .record(let record, let frame):
                do { try visit(record) } catch { return .failure(error) }
                outcome.head = ChainHead(
                    sequence: record.sequence,
                    digest: frame.withUnsafeBytes { ChainHash.next(previous: outcome.head.digest, frame: $0) },
                    generation: outcome.head.generation)
                if chainAt.contains(record.sequence) { outcome.chainAtRequested[record.sequence] = outcome.head.digest }
                outcome.recordCount += 1
                outcome.bytesByType[record.type, default: 0] += UInt64(record.frameBytes)
                offset += UInt64(record.frameBytes)
                outcome.validEnd = offset
            case .invalid(let kind, let detail):
                let ending: LogEnding
                switch logEnding(at: offset, kind: kind, detail: detail, sequence: expected, reader: &reader) {
                case .failure(let error): return .failure(error)
                case .success(let value): ending = value
                }
                if case .corruption = ending {
                    // F-FREE: a writer beside this reader overwrites free space below the size
                    // this scan read, so bytes read earlier may be stale zeros, and a read may
                    // see part of a write. Corruption is reported only once two fresh reads of
                    // what follows agree.
                    switch settle(at: offset, reads: &settling) {
                    case .failure(let error): return .failure(error)
                    case .success(false):
                        reader = ChunkedReader(log: log, fileSize: fileSize)
                        continue
                    case .success(true): break
                    }
                }
                switch ending {
                case .free(let bytes): outcome.freeBytes = bytes
                case .torn(let problem): outcome.tornTail = problem
                case .corruption(let problem): outcome.corruption = problem
                }
                return .success(outcome)
            }
        }
        return .success(outcome)
    }

    /// How the log ends at an invalid frame (F-TORN, F-FREE).
    private enum LogEnding {
        /// Zeros from the frame boundary to the end of a file whose length is a multiple of
        /// `FormatConstants.freeSpaceAlignment`: space a writer preallocated, this many bytes.
        case free(UInt64)
        case torn(LogProblem)
        case corruption(LogProblem)
    }

    private func logEnding(
        at offset: UInt64, kind: LogProblem.Kind, detail: String, sequence: UInt64, reader: inout ChunkedReader
    ) -> Result<LogEnding, CofferError> {
        // F-TORN: only checksum-level damage or an incomplete frame can be a torn append; a
        // frame whose checksums hold but which fails authentication or is out of place was
        // written whole, so it is corruption wherever it is.
        let tornCandidate = kind == .checksum || kind == .tornTail
        if tornCandidate && fileSize % UInt64(FormatConstants.freeSpaceAlignment) == 0 {
            switch isZero(from: offset, reader: &reader) {
            case .failure(let error): return .failure(error)
            case .success(true): return .success(.free(fileSize - offset))
            case .success(false): break
            }
        }
        switch validFrameExists(after: offset, reader: &reader) {
        case .failure(let error): return .failure(error)
        case .success(nil) where tornCandidate:
            return .success(
                .torn(
                    LogProblem(
                        kind: .tornTail, offset: offset, sequence: sequence,
                        detail:
                            "The log ends with an incomplete record (\(detail)): the next writer cuts the "
                            + "\(fileSize - offset) bytes from there to the end of the file, preallocated space included."
                    )))
        case .success:
            if kind == .tornTail {
                // An incomplete frame with valid frames after it was not cut short by a crash:
                // its length was written that way (F-TORN), whoever reads it.
                return .success(
                    .corruption(
                        LogProblem(
                            kind: .chain, offset: offset, sequence: sequence,
                            detail: detail + ", and valid records follow")
                    ))
            }
            return .success(.corruption(LogProblem(kind: kind, offset: offset, sequence: sequence, detail: detail)))
        }
    }

    /// The fresh reads of what follows an invalid frame, for ``settle(at:reads:)``.
    private struct Settling {
        var offset: UInt64 = 0
        var window: [UInt8]? = nil
        var reads = 0
    }

    /// The most fresh reads ``settle(at:reads:)`` makes before it lets a verdict stand.
    private static let settlingReadsMax = 8

    /// Reads what follows `offset` afresh (up to a chunk): `true` when it is what the read
    /// before found (nothing is changing it: the verdict stands), `false` to decide again from
    /// fresh bytes. After a change it waits a millisecond for the write under way; past
    /// ``settlingReadsMax`` reads it lets the verdict stand.
    private func settle(at offset: UInt64, reads settling: inout Settling) -> Result<Bool, CofferError> {
        if settling.offset != offset { settling = Settling(offset: offset) }
        guard settling.reads < Self.settlingReadsMax else { return .success(true) }
        let window: [UInt8]
        switch log.read(count: Int(min(UInt64(Self.chunkBytes), fileSize - offset)), at: offset) {
        case .failure(let error): return .failure(error.cofferError("Reading the log", offset: offset))
        case .success(let bytes): window = bytes
        }
        if window == settling.window { return .success(true) }
        if settling.window != nil { usleep(1000) }
        settling.window = window
        settling.reads += 1
        return .success(false)
    }

    private enum FrameStep: Error {
        case record(ScannedRecord, frame: [UInt8])
        case invalid(LogProblem.Kind, String)
    }

    private func readFrame(
        at offset: UInt64, expectedSequence: UInt64, reader: inout ChunkedReader, outcome: inout ScanOutcome
    ) -> Result<FrameStep, CofferError> {
        let headerBytes: [UInt8]
        switch reader.bytes(at: offset, count: FormatConstants.frameHeaderBytes) {
        case .failure(let error): return .failure(error)
        case .success(let bytes): headerBytes = bytes
        }
        guard headerBytes.count == FormatConstants.frameHeaderBytes else {
            return .success(.invalid(.tornTail, "only \(headerBytes.count) bytes of a frame header"))
        }
        let header: FrameHeader
        switch headerBytes.withUnsafeBytes({ FrameHeader.decode($0) }) {
        case .failure(let invalid):
            switch invalid {
            case .shortInput: return .success(.invalid(.tornTail, "short frame header"))
            case .magic: return .success(.invalid(.checksum, "frame magic is missing"))
            case .headerChecksum: return .success(.invalid(.checksum, "frame header fails its checksum"))
            // The header's CRC holds, so these bytes were written as they are: corruption.
            case .field(let detail): return .success(.invalid(.chain, detail))
            }
        case .success(let decoded): header = decoded
        }
        let frameBytes = header.frameBytes
        if offset + UInt64(frameBytes) > fileSize {
            return .success(.invalid(.tornTail, "the frame needs \(frameBytes) bytes, \(fileSize - offset) remain"))
        }
        let frame: [UInt8]
        switch reader.bytes(at: offset, count: frameBytes) {
        case .failure(let error): return .failure(error)
        case .success(let bytes): frame = bytes
        }
        guard frame.count == frameBytes else {
            return .success(.invalid(.tornTail, "the file ended inside the frame"))
        }
        let bodyValid = frame.withUnsafeBytes { raw in
            SealedRecord.bodyChecksumMatches(
                header: header, body: UnsafeRawBufferPointer(rebasing: raw[FormatConstants.frameHeaderBytes...]))
        }
        guard bodyValid else { return .success(.invalid(.checksum, "frame body fails its checksum")) }
        // F-SEQ: sequence numbers start at 1 and grow by exactly 1.
        guard header.sequence == expectedSequence else {
            return .success(
                .invalid(.chain, "sequence number \(header.sequence) where \(expectedSequence) was expected"))
        }
        guard let type = header.type else {
            return .success(.invalid(.chain, "unknown record type \(header.typeByte)"))
        }
        let position = RecordPosition(
            vaultID: vaultID, sequence: header.sequence, type: type, epoch: header.epoch,
            previousChain: outcome.head.digest)
        var payload: SecureBytes?
        switch type {
        case .keyEpoch:
            // F-REC-KEY: epochs are introduced in strictly increasing order, from 1 to 2^31.
            guard header.epoch >= 1, header.epoch <= FormatConstants.epochMax else {
                return .success(.invalid(.chain, "key epoch \(header.epoch) is outside 1...2^31"))
            }
            if let last = outcome.keyEpochs.newest, header.epoch <= last.number {
                return .success(.invalid(.chain, "key epoch \(header.epoch) does not follow epoch \(last.number)"))
            }
            if let key = keyRecordKey {
                switch open(frame: frame, header: header, position: position, key: key) {
                case .failure(let problem): return .success(problem)
                case .success(let opened):
                    guard let epochPayload = KeyEpochPayload.decode(opened), epochPayload.epoch == header.epoch else {
                        return .success(.invalid(.authentication, "key-epoch record payload is malformed"))
                    }
                    outcome.keyEpochs.introduce(
                        header.epoch, createdMilliseconds: epochPayload.createdMilliseconds, sequence: header.sequence,
                        offset: offset, dataKey: epochPayload.dataKey)
                    payload = opened
                }
            } else {
                outcome.keyEpochs.introduce(
                    header.epoch, createdMilliseconds: 0, sequence: header.sequence, offset: offset, dataKey: nil)
            }
        case .transaction:
            // F-REC-TXN: a transaction is sealed under an epoch introduced before it.
            guard outcome.keyEpochs.contains(header.epoch) else {
                return .success(
                    .invalid(.chain, "record sealed under epoch \(header.epoch), which was never introduced"))
            }
            if keyRecordKey != nil {
                switch open(
                    frame: frame, header: header, position: position, key: outcome.keyEpochs.dataKey(header.epoch)!)
                {
                case .failure(let problem): return .success(problem)
                case .success(let opened): payload = opened
                }
            }
        }
        let record = ScannedRecord(
            sequence: header.sequence, type: type, epoch: header.epoch, offset: offset, frameBytes: frameBytes,
            previousChain: outcome.head.digest, payload: payload)
        return .success(.record(record, frame: frame))
    }

    private func open(
        frame: [UInt8], header: FrameHeader, position: RecordPosition, key: SecureBytes
    ) -> Result<SecureBytes, FrameStep> {
        let result = frame.withUnsafeBytes { raw in
            SealedRecord.open(
                header: header, body: UnsafeRawBufferPointer(rebasing: raw[FormatConstants.frameHeaderBytes...]),
                at: position, key: key)
        }
        switch result {
        case .success(let payload): return .success(payload)
        case .failure(.bodyChecksum): return .failure(.invalid(.checksum, "frame body fails its checksum"))
        case .failure(.authentication):
            return .failure(.invalid(.authentication, "the record does not authenticate at this position"))
        case .failure(.malformed(let detail)):
            return .failure(.invalid(.authentication, "authenticated plaintext is malformed: \(detail)"))
        }
    }

    /// Whether every byte from `offset` to the end of the file is zero.
    private func isZero(from offset: UInt64, reader: inout ChunkedReader) -> Result<Bool, CofferError> {
        var position = offset
        while position < fileSize {
            let window: [UInt8]
            switch reader.bytes(at: position, count: Int(min(UInt64(Self.chunkBytes), fileSize - position))) {
            case .failure(let error): return .failure(error)
            case .success(let bytes): window = bytes
            }
            guard !window.isEmpty else { return .success(true) }
            // Zero at the start, and each byte equal to the next: zero throughout.
            let zero = window.withUnsafeBytes { raw in
                raw[0] == 0 && memcmp(raw.baseAddress!, raw.baseAddress! + 1, raw.count - 1) == 0
            }
            guard zero else { return .success(false) }
            position += UInt64(window.count)
        }
        return .success(true)
    }

    /// Looks for any frame after `offset` whose header and body checksums hold. Only run
    /// after an invalid frame, to tell a torn tail from corruption.
    private func validFrameExists(after offset: UInt64, reader: inout ChunkedReader) -> Result<UInt64?, CofferError> {
        var position = offset + 1
        let magic = FormatConstants.frameMagic
        while position + UInt64(FormatConstants.frameHeaderBytes) <= fileSize {
            let windowCount = Int(min(UInt64(Self.chunkBytes), fileSize - position))
            let window: [UInt8]
            switch reader.bytes(at: position, count: windowCount) {
            case .failure(let error): return .failure(error)
            case .success(let bytes): window = bytes
            }
            var index = 0
            while index + magic.count <= window.count {
                // The next byte that can start a magic (memchr: free space is long runs of zeros).
                let next = window.withUnsafeBytes { raw -> Int? in
                    let start = raw.baseAddress! + index
                    return memchr(start, Int32(magic[0]), raw.count - magic.count + 1 - index).map {
                        index + start.distance(to: UnsafeRawPointer($0))
                    }
                }
                guard let next else { break }
                index = next
                if window[index + 1] == magic[1] && window[index + 2] == magic[2] && window[index + 3] == magic[3] {
                    let candidate = position + UInt64(index)
                    switch checksumsHold(at: candidate, reader: &reader) {
                    case .failure(let error): return .failure(error)
                    case .success(true): return .success(candidate)
                    case .success(false): break
                    }
                }
                index += 1
            }
            // Overlap windows by the magic's length so a magic across a boundary is found.
            position += UInt64(max(1, window.count - magic.count + 1))
        }
        return .success(nil)
    }

    private func checksumsHold(at offset: UInt64, reader: inout ChunkedReader) -> Result<Bool, CofferError> {
        guard case .success(let headerBytes) = reader.bytes(at: offset, count: FormatConstants.frameHeaderBytes),
            case .success(let header) = headerBytes.withUnsafeBytes({ FrameHeader.decode($0) }),
            offset + UInt64(header.frameBytes) <= fileSize
        else { return .success(false) }
        switch reader.bytes(at: offset + UInt64(FormatConstants.frameHeaderBytes), count: Int(header.bodyBytes)) {
        case .failure(let error): return .failure(error)
        case .success(let body):
            return .success(body.withUnsafeBytes { SealedRecord.bodyChecksumMatches(header: header, body: $0) })
        }
    }
}

/// Reads a log front to back in large chunks, so that scanning many small frames costs few
/// system calls.
struct ChunkedReader {
    let log: any LogDevice
    let fileSize: UInt64
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64 = 0
    private static let chunkBytes = 1 << 20

    init(log: any LogDevice, fileSize: UInt64) {
        self.log = log
        self.fileSize = fileSize
    }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    mutating func bytes(at offset: UInt64, count: Int) -> Result<[UInt8], CofferError> {
        let end = offset + UInt64(count)
        if offset >= bufferStart && end <= bufferStart + UInt64(buffer.count) {
            let start = Int(offset - bufferStart)
            return .success(Array(buffer[start..<start + count]))
        }
        // Read ahead a chunk, but never past the end of the file: small vaults stay cheap.
        let wanted = max(count, Int(min(UInt64(Self.chunkBytes), fileSize > offset ? fileSize - offset : 0)))
        switch log.read(count: wanted, at: offset) {
        case .failure(let error): return .failure(error.cofferError("Reading the log", offset: offset))
        case .success(let bytes):
            buffer = bytes
            bufferStart = offset
            return .success(Array(bytes.prefix(count)))
        }
    }
}
