import CofferCrypto
import CofferErrors
import CofferFormat

/// What can be learnt about a vault file without any key: its header and the shape of its
/// log. Never a secret.
public struct VaultFileInfo: Sendable {
    /// The newest valid header.
    public let header: FileHeader
    /// Whether each header copy is valid (index 0 is copy A).
    public let headerCopiesValid: [Bool]
    /// Problems with the header copies, as `verify` lists them.
    public let headerProblems: [LogProblem]
    public let fileBytes: UInt64
    /// Records whose checksums hold, and their bytes by type.
    public let recordCount: UInt64
    public let bytesByType: [RecordType: UInt64]
    /// The head as far as checksums go (without a key, records are not authenticated).
    public let head: ChainHead
    public let epochs: [UInt32]
    public let tornTail: LogProblem?
    public let corruption: LogProblem?
    /// Bytes of zeros after the last record: space a writer preallocated (F-FREE).
    public let freeBytes: UInt64

    /// Reads the header and walks the frames by their checksums, without a key, never
    /// modifying the file.
    public static func read(path: String, storage: any LogMedium = PosixStorage()) throws(CofferError) -> VaultFileInfo
    {
        let log = try VaultStore.openLog(path: path, options: VaultStore.Options(storage: storage, readOnly: true))
        defer { log.close() }
        let (size, store) = try VaultStore.endAndHeaders(of: log)
        let header: FileHeader
        switch store.newestHeader() {
        case .failure(let error): throw error
        case .success(let value): header = value
        }
        let problems = store.copies.compactMap { copy -> LogProblem? in
            guard case .failure(let error) = copy.decoded else { return nil }
            return LogProblem(
                kind: .header, offset: UInt64(copy.index * FormatConstants.headerCopyBytes), sequence: 0,
                detail: "header copy \(copy.index == 0 ? "A" : "B"): \(error.message)")
        }
        let scanner = LogScanner(
            log: log, vaultID: header.vaultID, keyRecordKey: nil, fileSize: size, generation: header.logGeneration)
        let outcome: ScanOutcome
        switch scanner.scan({ _ in }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        return VaultFileInfo(
            header: header, headerCopiesValid: store.copies.map { $0.header != nil }, headerProblems: problems,
            fileBytes: size, recordCount: outcome.recordCount, bytesByType: outcome.bytesByType, head: outcome.head,
            epochs: outcome.keyEpochs.all.map(\.number), tornTail: outcome.tornTail, corruption: outcome.corruption,
            freeBytes: outcome.freeBytes)
    }
}
