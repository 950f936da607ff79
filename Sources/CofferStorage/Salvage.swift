import CofferCrypto
import CofferErrors
import CofferFormat

/// What a salvage copied and what it left behind.
public struct SalvageReport: Sendable {
    /// Records copied: the longest prefix that authenticates.
    public let recordsKept: UInt64
    /// Log bytes of the original not copied (its free space, F-FREE, is not counted).
    public let bytesDropped: UInt64
    /// The head of the copy.
    public let head: ChainHead
    /// The first problem met, where the copy stops; `nil` when the whole log was valid.
    public let problem: LogProblem?
}

extension VaultStore {
    /// Copies the longest valid prefix of the vault at `path` into a new file at `output`
    /// (F-SALVAGE). The original is opened read-only and never modified; `output` must not exist.
    ///
    /// Every record copied authenticates under `secret`, so the copy opens cleanly.
    ///
    /// - Throws: `.wrongKey` (also for a secret an interrupted keyslot change removed,
    ///   F-HDR-SUPERSEDED), `.notAVault`, `.corrupted` for a log without a key epoch (nothing
    ///   to salvage), `.alreadyExists` for `output`, `.io`.
    public static func salvage(
        path: String, secret: Keyslot.Secret, output: String, storage: any StorageSystem = PosixStorage()
    ) throws(CofferError) -> SalvageReport {
        try salvage(path: path, on: storage, secret: secret, output: output, on: storage)
    }

    /// ``salvage(path:secret:output:storage:)`` of a vault on `source` — a file, or a shared
    /// log (whose frames are rows written whole: what fails a check there is damage, never a
    /// torn append) — into a new file on `outputStorage`.
    public static func salvage(
        path: String, on source: any LogMedium, secret: Keyslot.Secret, output: String,
        on outputStorage: any StorageSystem
    ) throws(CofferError) -> SalvageReport {
        try secret.check()
        let log = try openLog(path: path, options: Options(storage: source, readOnly: true))
        defer { log.close() }
        let (size, headers) = try endAndHeaders(of: log)
        let unlocked: HeaderStore.Unlocked
        switch headers.unlock(with: secret) {
        case .failure(let error): throw error
        case .success(let value): unlocked = value
        }
        // F-HDR-SUPERSEDED: the output would carry the keyslots the change took away.
        if unlocked.standing != .inForce {
            throw HeaderStore.notInForceError("Salvaging the vault", unlocked.standing)
        }
        let scanner = LogScanner(
            log: log, vaultID: unlocked.header.vaultID,
            keyRecordKey: MasterKeySubkey.keyRecord.derive(from: unlocked.masterKey), fileSize: size,
            generation: unlocked.header.logGeneration)
        let outcome: ScanOutcome
        switch scanner.scan({ _ in }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        // F-NO-EPOCH: a prefix without the first key epoch would be a vault no writer opens,
        // whatever cut it short.
        guard outcome.keyEpochs.newest != nil else {
            throw CofferError(
                .corrupted,
                "The log's valid records hold no key epoch, which every vault's first record is: nothing can be "
                    + "salvaged from it. Restore the vault from a copy.",
                offset: FormatConstants.logStartOffset, sequence: 1)
        }
        let taken = CofferError(.alreadyExists, "The salvage output file exists already; choose a new path.")
        // Written under a temporary name and renamed to `output` once whole and synced.
        let staged = try StagedFile.create(output, on: outputStorage, "the salvage output", taken: taken)
        let target = staged.file
        defer { target.close() }
        do throws(CofferError) {
            try writeSalvaged(
                from: log, header: unlocked.header, masterKey: unlocked.masterKey, through: outcome.validEnd,
                into: target)
        } catch {
            staged.discard()
            throw error
        }
        try staged.publish("the salvage output", taken: taken)
        return SalvageReport(
            recordsKept: outcome.recordCount, bytesDropped: size - outcome.validEnd - outcome.freeBytes,
            head: outcome.head,
            problem: outcome.corruption ?? outcome.tornTail)
    }

    /// Writes the header in force (both copies, so the copy has no stale slot) and the log
    /// through `end` into `target`, and syncs it.
    private static func writeSalvaged(
        from log: any LogDevice, header given: FileHeader, masterKey: SecureBytes, through end: UInt64,
        into target: any StorageFile
    ) throws(CofferError) {
        var header = given
        var bytes = header.encode(masterKey: masterKey)
        header.generation += 1
        bytes += header.encode(masterKey: masterKey)
        if case .failure(let error) = target.write(bytes, at: 0) {
            throw error.cofferError("Writing the salvage output")
        }
        var offset = FormatConstants.logStartOffset
        let chunk: UInt64 = 1 << 20
        while offset < end {
            let count = Int(min(chunk, end - offset))
            switch log.read(count: count, at: offset) {
            case .failure(let error): throw error.cofferError("Reading the vault", offset: offset)
            case .success(let piece):
                guard piece.count == count else {
                    throw CofferError(.io(errno: 5), "The vault shrank while it was being salvaged.", offset: offset)
                }
                if case .failure(let error) = target.write(piece, at: offset) {
                    throw error.cofferError("Writing the salvage output", offset: offset)
                }
            }
            offset += UInt64(count)
        }
        if case .failure(let error) = target.sync() { throw error.cofferError("Syncing the salvage output") }
    }
}
