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
    public var header: FileHeader

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
    /// - Throws: only when verification cannot run: `.notFound`, `.notAVault`,
    ///   `.unsupportedVersion`, `.wrongKey`, `.io` (and header damage that prevents unlocking).
    public static func verify(
        path: String, secret: Keyslot.Secret, expectedHead: ChainHead? = nil, witnessedHead: WitnessedHead? = nil,
        storage: any LogMedium = PosixStorage(), preferredKeyslot: UInt16? = nil, visit: (ScannedRecord) throws(CofferError) -> Void = { _ in }
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
        if problems.isEmpty && unlocked.otherCopyStale {
            problems.append(
                LogProblem(
                    kind: .header, offset: UInt64((1 - unlocked.copyIndex) * FormatConstants.headerCopyBytes), sequence: 0,
                    detail: "Header copy \(unlocked.copyIndex == 0 ? "B" : "A") does not match the copy in force (other keyslots after an "
                        + "interrupted keyslot change, or a damaged key wrap or authentication code); opening as the writer repairs it."))
        }
        var scanner = LogScanner(
            log: log, vaultID: unlocked.header.vaultID,
            keyRecordKey: MasterKeySubkey.keyRecord.derive(from: unlocked.masterKey), fileSize: size,
            generation: unlocked.header.logGeneration)
        let headChecks = HeadChecks(expected: expectedHead, witnessed: witnessedHead, lineage: unlocked.header.lineage)
        scanner.chainAt = headChecks.sequences
        var recordsByType: [RecordType: UInt64] = [:]
        var recordsByEpoch: [UInt32: UInt64] = [:]
        let outcome: ScanOutcome
        switch scanner.scan({ (record: ScannedRecord) throws(CofferError) in
            recordsByType[record.type, default: 0] += 1
            if record.type == .transaction { recordsByEpoch[record.epoch, default: 0] += 1 }
            try visit(record)
        }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        if let corruption = outcome.corruption { problems.append(corruption) }
        if let torn = outcome.tornTail { problems.append(torn) }
        for mismatch in headChecks.mismatches(
            vaultID: unlocked.header.vaultID, unlockKey: unlocked.unlockKey, head: outcome.head,
            chains: outcome.chainAtRequested)
        {
            problems.append(LogProblem(kind: .headMismatch, offset: outcome.validEnd, sequence: mismatch.sequence, detail: mismatch.detail))
        }
        return VerificationReport(
            records: outcome.recordCount, head: outcome.head, problems: problems, recordsByType: recordsByType,
            bytesByType: outcome.bytesByType, recordsByEpoch: recordsByEpoch, epochs: outcome.keyEpochs.all.map(\.number),
            fileBytes: size, header: unlocked.header)
    }
}
