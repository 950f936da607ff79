import CofferCrypto
import CofferErrors
import CofferFormat

/// What ``VaultStore/copy(from:on:to:on:)`` copied.
public struct CopyReport: Sendable {
    /// Records copied, and the chain head after them: the same in the copy as in the source.
    public let records: UInt64
    public let head: ChainHead
    /// Bytes of the header copies and frames written.
    public let bytes: UInt64
    /// An incomplete record at the source's end (an interrupted write), left out of the copy.
    public let tornTail: LogProblem?
}

extension VaultStore {
    /// Copies a vault byte for byte to a new place, from a file or a shared log to a file or a
    /// shared log: both header copies with their keyslots, then every frame, so the copy has
    /// the same records, the same chain and the same head, and opens with the same secrets.
    ///
    /// No key is needed: the frames are checked by their checksums and sequence numbers (a
    /// copy never holds a frame the source's reader would cut or refuse), and the copy is
    /// scanned again afterwards and must end at the same head. The source may have a writer
    /// beside it; the copy holds the records acknowledged when it started.
    ///
    /// - Throws: `.alreadyExists` when the destination exists; `.corrupted` when the source's
    ///   log is corrupted (nothing is written) or the copy reads back differently; `.notFound`,
    ///   `.notAVault`, `.io`. A failed copy to a file is removed; one to a shared log is left
    ///   as the valid prefix it reached, for the operator to drop.
    public static func copy(
        from sourcePath: String, on sourceStorage: any StorageSystem = PosixStorage(),
        to destinationPath: String, on destinationStorage: any StorageSystem = PosixStorage()
    ) throws(CofferError) -> CopyReport {
        let source = try openFile(path: sourcePath, options: Options(storage: sourceStorage, readOnly: true))
        defer { source.close() }
        let (scanned, boundaries) = try scanForCopy(source)
        if let corruption = scanned.corruption {
            throw CofferError(
                .corrupted, "The source's log is corrupted: \(corruption.detail). Nothing was copied; salvage it first.",
                offset: corruption.offset, sequence: corruption.sequence)
        }
        let taken = CofferError(.alreadyExists, "Something exists already where the copy should go; choose another destination.")
        // A file is copied under a temporary name and renamed into place once whole and read back.
        let staged = try StagedFile.create(destinationPath, on: destinationStorage, "the copy", taken: taken)
        let destination = staged.file
        defer { destination.close() }
        do throws(CofferError) {
            // The header with the first piece of frames, synced; then piece by piece, each a
            // whole number of frames, so a shared log takes each as one append.
            var start: UInt64 = 0
            for end in boundaries + [scanned.validEnd] where end > start || start == 0 {
                let bytes: [UInt8]
                switch source.read(count: Int(end - start), at: start) {
                case .failure(let error): throw error.cofferError("Reading the source", offset: start)
                case .success(let read): bytes = read
                }
                guard bytes.count == Int(end - start) else {
                    throw CofferError(.corrupted, "The source became shorter while it was copied.", offset: start + UInt64(bytes.count))
                }
                if case .failure(let error) = destination.write(bytes, at: start) { throw error.cofferError("Writing the copy", offset: start) }
                switch destination.sync() {
                case .success: break
                case .failure(let error) where error.number == SystemError.fileExists.number:
                    // A shared log refuses a second vault with the same UUID, under any name.
                    throw CofferError(
                        .alreadyExists, "The destination already holds this vault (the same UUID), perhaps under another name.")
                case .failure(let error): throw error.cofferError("Syncing the copy", offset: start)
                }
                start = end
            }
            let (copied, _) = try scanForCopy(destination)
            guard copied.head == scanned.head, copied.corruption == nil, copied.tornTail == nil else {
                throw CofferError(.corrupted, "The copy does not read back with the source's head \(scanned.head).", sequence: scanned.head.sequence)
            }
        } catch {
            staged.discard()
            throw error
        }
        try staged.publish("the copy", taken: taken)
        return CopyReport(records: scanned.head.sequence, head: scanned.head, bytes: scanned.validEnd, tornTail: scanned.tornTail)
    }

    /// A keyless scan of the log, and frame boundaries about every 4 MiB.
    private static func scanForCopy(_ file: any StorageFile) throws(CofferError) -> (ScanOutcome, [UInt64]) {
        let (size, headers) = try sizeAndHeaders(of: file)
        if case .failure(let error) = headers.newestHeader() { throw error }
        let newest = headers.validCopiesNewestFirst[0].header!
        var boundaries: [UInt64] = []
        var last = FormatConstants.logStartOffset
        let scanner = LogScanner(
            file: file, vaultID: newest.vaultID, keyRecordKey: nil, fileSize: size, generation: newest.logGeneration)
        let outcome: ScanOutcome
        switch scanner.scan({ (record: ScannedRecord) throws(CofferError) in
            if record.offset - last >= 4 << 20 {
                boundaries.append(record.offset)
                last = record.offset
            }
        }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        return (outcome, boundaries)
    }
}
