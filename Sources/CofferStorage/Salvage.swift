import CofferCrypto
import CofferFormat

/// What a salvage copied and what it left behind.
public struct SalvageReport: Sendable {
    /// Records copied: the longest prefix that authenticates.
    public let recordsKept: UInt64
    /// Log bytes of the original not copied.
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
    /// - Throws: `.wrongKey`, `.notAVault`, `.alreadyExists` for `output`, `.io`.
    public static func salvage(
        path: String, secret: Keyslot.Secret, output: String, storage: any StorageSystem = PosixStorage()
    ) throws(CofferError) -> SalvageReport {
        try secret.check()
        let file = try openFile(path: path, options: Options(storage: storage, readOnly: true))
        let size: UInt64
        switch file.size() {
        case .failure(let error): throw error.cofferError("Reading the vault's size")
        case .success(let value): size = value
        }
        let unlocked: HeaderStore.Unlocked
        switch HeaderStore.read(from: file).flatMap({ $0.unlock(with: secret) }) {
        case .failure(let error): throw error
        case .success(let value): unlocked = value
        }
        let scanner = LogScanner(
            file: file, vaultID: unlocked.header.vaultID,
            keyRecordKey: MasterKeySubkey.keyRecord.derive(from: unlocked.masterKey), fileSize: size,
            generation: unlocked.header.logGeneration)
        let outcome: ScanOutcome
        switch scanner.scan({ _ in }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        let target: any StorageFile
        switch storage.open(output, mode: .createNew) {
        case .failure(.fileExists): throw CofferError(.alreadyExists, "The salvage output file exists already; choose a new path.")
        case .failure(let error): throw error.cofferError("Creating the salvage output")
        case .success(let opened): target = opened
        }
        // The header in force is written to both copies, so the copy has no stale slot.
        var header = unlocked.header
        var bytes = header.encode(masterKey: unlocked.masterKey)
        header.generation += 1
        bytes += header.encode(masterKey: unlocked.masterKey)
        if case .failure(let error) = target.write(bytes, at: 0) { throw error.cofferError("Writing the salvage output") }
        var offset = FormatConstants.logStartOffset
        let chunk: UInt64 = 1 << 20
        while offset < outcome.validEnd {
            let count = Int(min(chunk, outcome.validEnd - offset))
            switch file.read(count: count, at: offset) {
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
        if case .failure(let error) = storage.syncDirectory(containing: output) {
            throw error.cofferError("Syncing the salvage output's directory")
        }
        return SalvageReport(
            recordsKept: outcome.recordCount, bytesDropped: size - outcome.validEnd, head: outcome.head,
            problem: outcome.corruption ?? outcome.tornTail)
    }
}
