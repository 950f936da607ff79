import CofferCrypto
import CofferErrors
import CofferFormat

/// What an open did with the index checkpoint kept beside the log (F-CHECKPOINT).
public enum CheckpointUse: Sendable, Equatable, CustomStringConvertible {
    /// There was none (or the medium keeps none, or the open replays everything, or a writer
    /// wrote it after this open read where the log ends): the whole log was replayed.
    case none
    /// The index came from the checkpoint after record `sequence`; only the records after it
    /// were read and replayed.
    case resumed(sequence: UInt64)
    /// One was there but could not be used, for the reason given (never a secret); the whole
    /// log was replayed. Nothing in it was trusted.
    case ignored(String)

    public var description: String {
        switch self {
        case .none: "no checkpoint"
        case .resumed(let sequence): "resumed from the checkpoint after record \(sequence)"
        case .ignored(let reason): "checkpoint ignored: \(reason)"
        }
    }
}

/// Where an open resumes after a checkpoint: what the scan of the rest starts from. Its
/// contents are trusted only once `opening` has completed (``CheckpointOpening/complete()``),
/// which also reads the key epochs.
struct CheckpointResumption {
    let position: Checkpoint.Position
    let contents: Checkpoint.Contents
    let opening: CheckpointOpening

    /// The key epochs through the checkpoint, each read from its record; of a completed opening.
    var epochs: KeyEpochs {
        guard case .success(let epochs)? = opening.outcome else {
            preconditionFailure("a checkpoint's epochs are read only once it has completed")
        }
        return epochs
    }
}

extension VaultStore {
    /// Reads, authenticates and checks the checkpoint kept beside the log against the log
    /// (F-CHECKPOINT-USE): `nil` when there is none, the reason when it cannot be used.
    static func loadCheckpoint(
        path: String, storage: any LogMedium, log: any LogDevice, header: FileHeader, masterKey: SecureBytes,
        fileSize: UInt64
    ) -> Result<CheckpointResumption, CheckpointProblem>? {
        let started = startCheckpoint(
            path: path, storage: storage, log: log, header: header, masterKey: masterKey, fileSize: fileSize)
        guard case .success(let resumption)? = started else { return started }
        guard resumption.opening.complete() else { return .failure(resumption.opening.problem!) }
        return started
    }

    /// Reads the checkpoint kept beside the log and starts opening its contents on a second
    /// thread, chunk by chunk; decodes their front (the key epochs' places and the counts) as
    /// its chunks authenticate: `nil` when there is none, the reason when it cannot be used.
    /// Nothing in the contents is trusted until the resumption's opening has completed, which
    /// authenticates all of them and checks them against the log (F-CHECKPOINT-USE);
    /// meanwhile a reader may decode the index as it arrives, with the opening as its reader's
    /// ``ByteArrival``.
    static func startCheckpoint(
        path: String, storage: any LogMedium, log: any LogDevice, header: FileHeader, masterKey: SecureBytes,
        fileSize: UInt64
    ) -> Result<CheckpointResumption, CheckpointProblem>? {
        let bytes: [UInt8]
        switch storage.readCheckpoint(of: path, for: log) {
        case .success(nil): return nil
        case .success(let read?): bytes = read
        case .failure(let error): return .failure(CheckpointProblem("it could not be read (\(error))"))
        }
        let parts: Checkpoint.SealedParts
        switch Checkpoint.sealedParts(of: bytes, vaultID: header.vaultID, generation: header.logGeneration) {
        case .failure(let problem): return .failure(CheckpointProblem("\(problem)"))
        case .success(let value): parts = value
        }
        let position = parts.position
        // Consumed: opened in place, with no second copy of what can be hundreds of megabytes.
        let opening = CheckpointOpening(
            consume bytes, parts: parts, key: MasterKeySubkey.checkpoint.derive(from: masterKey))
        func failure(_ problem: CheckpointProblem) -> Result<CheckpointResumption, CheckpointProblem> {
            // A checkpoint that does not authenticate says nothing true: that is the reason.
            opening.finish() ? .failure(problem) : .failure(CheckpointProblem("\(Checkpoint.Problem.authentication)"))
        }
        guard position.end <= fileSize else {
            // A writer beside this reader may have appended and written it after the reader
            // read where the log ends: newer than this open, not wrong.
            if case .success(let end) = log.end(), position.end <= end {
                return failure(
                    CheckpointProblem(
                        "it follows record \(position.sequence), written after this open read where the log ends",
                        isNewer: true))
            }
            return failure(CheckpointProblem("the log ends before the record it follows (\(position.sequence))"))
        }
        guard let contents = Checkpoint.Contents.decode(opening.contents, at: position, arrival: opening) else {
            return failure(CheckpointProblem("its contents are malformed"))
        }
        opening.checks = {
            checkAgainstLog(contents, at: position, log: log, header: header, masterKey: masterKey)
        }
        return .success(CheckpointResumption(position: position, contents: contents, opening: opening))
    }

    /// Whether the authenticated `contents` of the checkpoint at `position` were made from
    /// this log: the record it follows is there with the chain it names; the key epochs
    /// before it, each read from its record and authenticated there.
    private static func checkAgainstLog(
        _ contents: Checkpoint.Contents, at position: Checkpoint.Position, log: any LogDevice, header: FileHeader,
        masterKey: SecureBytes
    ) -> Result<KeyEpochs, CheckpointProblem> {
        func previousChain(_ sequence: UInt64) -> [UInt8] { Array(contents.chain(before: sequence)) }
        // The record it follows is in the log, and the chain after it is the checkpoint's: the
        // checkpoint was made from this log, not another copy of the vault.
        switch readFrame(
            log: log, at: position.lastFrameOffset, sequence: position.sequence,
            frameBytes: position.end - position.lastFrameOffset)
        {
        case .failure(let problem): return .failure(problem)
        case .success(let (_, frame)):
            let chain = frame.withUnsafeBytes { ChainHash.next(previous: previousChain(position.sequence), frame: $0) }
            guard chain == position.chain else {
                return .failure(CheckpointProblem("the log's record \(position.sequence) is not the one it follows"))
            }
        }
        // The key epochs before it, each read from its record and authenticated there.
        var epochs = KeyEpochs()
        let keyRecordKey = MasterKeySubkey.keyRecord.derive(from: masterKey)
        for epoch in contents.epochs {
            let frameHeader: FrameHeader
            let frame: [UInt8]
            switch readFrame(log: log, at: epoch.offset, sequence: epoch.sequence, frameBytes: nil) {
            case .failure(let problem): return .failure(problem)
            case .success(let read): (frameHeader, frame) = read
            }
            let recordPosition = RecordPosition(
                vaultID: header.vaultID, sequence: epoch.sequence, type: .keyEpoch, epoch: epoch.number,
                previousChain: previousChain(epoch.sequence))
            let opened = frame.withUnsafeBytes { raw in
                SealedRecord.open(
                    header: frameHeader,
                    body: UnsafeRawBufferPointer(rebasing: raw[FormatConstants.frameHeaderBytes...]),
                    at: recordPosition, key: keyRecordKey)
            }
            guard frameHeader.type == .keyEpoch, frameHeader.epoch == epoch.number, case .success(let payload) = opened,
                let decoded = KeyEpochPayload.decode(payload), decoded.epoch == epoch.number
            else {
                return .failure(CheckpointProblem("the key-epoch record \(epoch.sequence) it names does not open"))
            }
            epochs.introduce(
                epoch.number, createdMilliseconds: decoded.createdMilliseconds, sequence: epoch.sequence,
                offset: epoch.offset, dataKey: decoded.dataKey)
        }
        guard epochs.newest != nil else { return .failure(CheckpointProblem("it names no key epoch")) }
        return .success(epochs)
    }

    /// The frame at `offset`, checked to be record `sequence` (of `frameBytes` bytes when given).
    private static func readFrame(
        log: any LogDevice, at offset: UInt64, sequence: UInt64, frameBytes: UInt64?
    ) -> Result<(FrameHeader, [UInt8]), CheckpointProblem> {
        let problem = CheckpointProblem("the log has no record \(sequence) where it says")
        guard case .success(let headerBytes) = log.read(count: FormatConstants.frameHeaderBytes, at: offset),
            case .success(let frameHeader) = headerBytes.withUnsafeBytes({ FrameHeader.decode($0) }),
            frameHeader.sequence == sequence, frameBytes == nil || UInt64(frameHeader.frameBytes) == frameBytes,
            case .success(let frame) = log.read(count: frameHeader.frameBytes, at: offset),
            frame.count == frameHeader.frameBytes
        else { return .failure(problem) }
        return .success((frameHeader, frame))
    }

    /// Writes a checkpoint of `index` (the canonical encoding of the index after record
    /// `head.sequence`) beside the log, replacing the one there (F-CHECKPOINT-WRITE). The caller
    /// took `index`, `head` and ``checkpointState(through:)`` together, with every durable
    /// record applied and no append in flight.
    ///
    /// - Throws: `.invalidInput` when the vault is read-only or its medium keeps no
    ///   checkpoints; `.io`.
    public func writeCheckpoint(_ state: CheckpointState, index: [UInt8]) throws(CofferError) {
        // Only the lock holder writes one (F-CHECKPOINT-WRITE): not after close, which lets the
        // lock go, nor after the writer stopped.
        _ = try requireWriter()
        // A checkpoint covers acknowledged records only: under `.unsafeNoSync` they are not
        // yet durable, and a crash would leave a checkpoint past the log's end (never used,
        // but every open would replay the whole log until the next one).
        if durability == .unsafeNoSync { try sync() }
        var contents = state.contents
        contents.index = index[...]
        let bytes = Checkpoint.seal(
            state.position, contents: contents.encode(), key: MasterKeySubkey.checkpoint.derive(from: masterKey))
        try options.storage.writeCheckpoint(bytes, of: path, for: log)
    }

    /// What a checkpoint after record `head.sequence` holds besides the index: call it with
    /// the index as of `head`, every durable record applied and no append in flight; `nil` when
    /// the log has moved past `head` or holds no record.
    public func checkpointState(through head: ChainHead) -> CheckpointState? {
        guard head.sequence >= 1, let snapshot = chains.snapshot(through: head.sequence) else { return nil }
        let epochs: KeyEpochs = headerLock.withLock { self.epochs }
        let header: FileHeader = headerLock.withLock { headerState.header }
        let end = logEnd
        let counts = counters.snapshot
        guard self.head == head else { return nil }
        return CheckpointState(
            position: Checkpoint.Position(
                vaultID: header.vaultID, generation: header.logGeneration, sequence: head.sequence,
                lastFrameOffset: snapshot.lastOffset, end: end, chain: head.digest),
            contents: Checkpoint.Contents(
                epochs: epochs.all.filter { $0.sequence <= head.sequence }.map {
                    Checkpoint.EpochRecord(number: $0.number, sequence: $0.sequence, offset: $0.offset)
                },
                recordsByType: counts.recordsByType, bytesByType: counts.bytesByType,
                transactionsByEpoch: counts.transactionsByEpoch, chains: snapshot.digests[...], index: []))
    }
}

/// A checkpoint's position and contents but the index, taken with the index they go with.
public struct CheckpointState: Sendable {
    let position: Checkpoint.Position
    let contents: Checkpoint.Contents

    /// The last record the checkpoint covers.
    public var sequence: UInt64 { position.sequence }
}

/// Why a checkpoint was not used: a plain sentence, never secret.
struct CheckpointProblem: Error {
    let reason: String
    /// It covers records past the end of the log the reader read, which a writer appended
    /// since: not a problem of the checkpoint.
    let isNewer: Bool

    init(_ reason: String, isNewer: Bool = false) {
        self.reason = reason
        self.isNewer = isNewer
    }
}
