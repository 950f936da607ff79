import CofferCrypto
import CofferErrors
import CofferFormat

/// What a full verification found (`coffer verify`).
public struct VerificationReport: Sendable {
    /// Records that authenticated, in order, before the first problem in the log.
    public var records: UInt64
    /// The head after the last valid record.
    public var head: ChainHead
    /// Every problem, in file order: header copies, then the log, then whatever the caller adds
    /// (index invariants, a head mismatch).
    public var problems: [LogProblem]
    /// Records by type, and their bytes.
    public var recordsByType: [RecordType: UInt64]
    public var bytesByType: [RecordType: UInt64]
    /// Transaction records per key epoch, and every epoch introduced.
    public var recordsByEpoch: [UInt32: UInt64]
    public var epochs: [UInt32]
    public var fileBytes: UInt64
    /// Zeros preallocated after the last record (F-FREE), part of ``fileBytes``: not a problem.
    public var freeBytes: UInt64
    public var header: FileHeader
    /// The last record the index checkpoint beside the log covers, when one authenticates and
    /// agrees with the log (F-CHECKPOINT-VERIFY).
    public var checkpointSequence: UInt64?

    /// Whether nothing at all was found.
    public var isClean: Bool { problems.isEmpty }
}

extension VaultStore {
    /// Authenticates every record of the vault at `path`, checks both header copies and the
    /// chain, and lists every problem instead of stopping at the first (F-RECOVER classes).
    /// Opens read-only: never modifies the file, works beside a writer.
    ///
    /// - Parameters:
    ///   - expectedHead: adds a `head_mismatch` problem when the chain does not contain it.
    ///   - witnessedHead: adds one when the vault is not the one a head witness saw (F-HEAD).
    ///   - visit: sees every valid record, for checks at a higher layer.
    ///   - indexEncoding: the canonical index encoding of what `visit` has seen so far: when
    ///     given, it is compared with the checkpoint's index right after the record the
    ///     checkpoint follows, and a difference is a `checkpoint` problem.
    /// - Throws: only when verification cannot run: `.notFound`, `.notAVault`,
    ///   `.unsupportedVersion`, `.wrongKey`, `.io` (and header damage that prevents unlocking).
    public static func verify(
        path: String, secret: Keyslot.Secret, expectedHead: ChainHead? = nil, witnessedHead: WitnessedHead? = nil,
        storage: any LogMedium = PosixStorage(), preferredKeyslot: UInt16? = nil,
        indexEncoding: (() -> [UInt8])? = nil, visit: (ScannedRecord) throws(CofferError) -> Void = { _ in }
    ) throws(CofferError) -> VerificationReport {
        try secret.check()
        let log = try openLog(path: path, options: Options(storage: storage, readOnly: true))
        defer { log.close() }
        let (size, headers) = try endAndHeaders(of: log)
        let unlocked: HeaderStore.Unlocked
        switch headers.unlock(with: secret, preferredSlot: preferredKeyslot) {
        case .failure(let error): throw error
        case .success(let value): unlocked = value
        }
        var problems = headers.copies.compactMap { copy -> LogProblem? in
            guard case .failure(let error) = copy.decoded else { return nil }
            return LogProblem(
                kind: .header, offset: UInt64(copy.index * FormatConstants.headerCopyBytes), sequence: 0,
                detail: "Header copy \(copy.index == 0 ? "A" : "B") is invalid: \(error.message)")
        }
        if problems.isEmpty && unlocked.standing != .inForce {
            // F-HDR-SUPERSEDED: the stale copy is the one the secret opened.
            problems.append(
                LogProblem(
                    kind: .header, offset: UInt64(unlocked.copyIndex * FormatConstants.headerCopyBytes), sequence: 0,
                    detail:
                        "Header copy \(unlocked.copyIndex == 0 ? "A" : "B"), which the secret given opened, is older than the copy in force"
                        + (unlocked.standing == .superseded
                            ? ", which a keyslot change that was interrupted rewrote without that keyslot; opening for writing with a "
                                + "current passphrase or key file completes the change."
                            : ", whose keyslots were not all tried within the Argon2id work an open spends; name the keyslot to try first.")
                ))
        } else if problems.isEmpty && unlocked.otherCopyStale {
            problems.append(
                LogProblem(
                    kind: .header, offset: UInt64((1 - unlocked.copyIndex) * FormatConstants.headerCopyBytes),
                    sequence: 0,
                    detail:
                        "Header copy \(unlocked.copyIndex == 0 ? "B" : "A") does not match the copy in force (other keyslots after an "
                        + "interrupted keyslot change, or a damaged key wrap or authentication code); opening as the writer repairs it."
                ))
        }
        var scanner = LogScanner(
            log: log, vaultID: unlocked.header.vaultID,
            keyRecordKey: MasterKeySubkey.keyRecord.derive(from: unlocked.masterKey), fileSize: size,
            generation: unlocked.header.logGeneration)
        let headChecks = HeadChecks(expected: expectedHead, witnessed: witnessedHead, lineage: unlocked.header.lineage)
        scanner.chainAt = headChecks.sequences
        var checkpoint: CheckpointResumption?
        // Checkpoint problems come after the log's, as what the caller adds does.
        var checkpointProblems: [LogProblem] = []
        switch loadCheckpoint(
            path: path, storage: storage, log: log, header: unlocked.header, masterKey: unlocked.masterKey,
            fileSize: size)
        {
        case nil: break
        // Written beside this verification by a writer: the next verification reads it.
        case .failure(let problem)? where problem.isNewer: break
        case .failure(let problem)?:
            checkpointProblems.append(
                LogProblem(
                    kind: .checkpoint, offset: 0, sequence: 0,
                    detail:
                        "The index checkpoint beside the log cannot be used (\(problem.reason)); opens replay the whole log until a new checkpoint replaces it."
                ))
        case .success(let loaded)?: checkpoint = loaded
        }
        var compared = false
        var recordsByType: [RecordType: UInt64] = [:]
        var recordsByEpoch: [UInt32: UInt64] = [:]
        // What the log gives through the checkpoint's record, to compare with what it holds.
        var covered = CheckpointComparison()
        let outcome: ScanOutcome
        switch scanner.scan({ (record: ScannedRecord) throws(CofferError) in
            recordsByType[record.type, default: 0] += 1
            if record.type == .transaction { recordsByEpoch[record.epoch, default: 0] += 1 }
            try visit(record)
            guard let checkpoint, record.sequence <= checkpoint.position.sequence else { return }
            covered.add(record, before: checkpoint.contents)
            if record.sequence == checkpoint.position.sequence, let indexEncoding {
                compared = true
                // F-CHECKPOINT-VERIFY: the checkpoint holds exactly what the log gives here.
                // The running counts are those through this record.
                var differing = covered.differences(
                    from: checkpoint.contents, recordsByType: recordsByType, transactionsByEpoch: recordsByEpoch)
                if !indexEncoding().elementsEqual(checkpoint.contents.index) { differing.insert("the index", at: 0) }
                if !differing.isEmpty {
                    checkpointProblems.append(
                        LogProblem(
                            kind: .checkpoint, offset: 0, sequence: record.sequence,
                            detail: "The index checkpoint differs from what the log gives at record \(record.sequence) "
                                + "(\(differing.joined(separator: ", "))); opens would start from a wrong state. Remove the "
                                + "checkpoint file and report this."))
                }
            }
        }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        if let checkpoint, indexEncoding != nil, !compared {
            checkpointProblems.append(
                LogProblem(
                    kind: .checkpoint, offset: 0, sequence: checkpoint.position.sequence,
                    detail:
                        "The log's valid records end before record \(checkpoint.position.sequence), which the index checkpoint follows."
                ))
        }
        if let corruption = outcome.corruption { problems.append(corruption) }
        if let torn = outcome.tornTail { problems.append(torn) }
        if let missing = outcome.missingKeyEpoch { problems.append(missing) }
        for mismatch in headChecks.mismatches(
            vaultID: unlocked.header.vaultID, unlockKey: unlocked.unlockKey, head: outcome.head,
            chains: outcome.chainAtRequested)
        {
            problems.append(
                LogProblem(
                    kind: .headMismatch, offset: outcome.validEnd, sequence: mismatch.sequence, detail: mismatch.detail)
            )
        }
        problems += checkpointProblems
        return VerificationReport(
            records: outcome.recordCount, head: outcome.head, problems: problems, recordsByType: recordsByType,
            bytesByType: outcome.bytesByType, recordsByEpoch: recordsByEpoch,
            epochs: outcome.keyEpochs.all.map(\.number),
            fileBytes: size, freeBytes: outcome.freeBytes, header: unlocked.header,
            checkpointSequence: checkpoint?.position.sequence)
    }
}

/// What the log gives through a checkpoint's record that verify does not count anyway,
/// gathered as it scans, beside what the checkpoint holds besides its index
/// (F-CHECKPOINT-VERIFY).
private struct CheckpointComparison {
    var epochs: [Checkpoint.EpochRecord] = []
    var bytesByType: [RecordType: UInt64] = [:]
    /// The first record whose chain hash before it is not the table's.
    var firstChainDifference: UInt64?

    mutating func add(_ record: ScannedRecord, before contents: Checkpoint.Contents) {
        bytesByType[record.type, default: 0] += UInt64(record.frameBytes)
        if record.type == .keyEpoch {
            epochs.append(
                Checkpoint.EpochRecord(number: record.epoch, sequence: record.sequence, offset: record.offset))
        }
        if firstChainDifference == nil, !contents.chain(before: record.sequence).elementsEqual(record.previousChain) {
            firstChainDifference = record.sequence
        }
    }

    /// The parts of `contents` other than the index that differ from what the log gives,
    /// named; the log's counts through the checkpoint's record are verify's own.
    func differences(
        from contents: Checkpoint.Contents, recordsByType: [RecordType: UInt64], transactionsByEpoch: [UInt32: UInt64]
    ) -> [String] {
        var differing: [String] = []
        if let firstChainDifference { differing.append("the chain hash before record \(firstChainDifference)") }
        if epochs != contents.epochs { differing.append("the key-epoch records") }
        if recordsByType != contents.recordsByType || bytesByType != contents.bytesByType {
            differing.append("the record counts")
        }
        if transactionsByEpoch != contents.transactionsByEpoch { differing.append("the transactions by epoch") }
        return differing
    }
}
