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
    ///   `.notAVault`, `.io`. A failed copy is removed: a file, or a shared log's staged rows
    ///   (F-SHARED-COPY; a copy cut short leaves them, under no name, for the next copy of the
    ///   same vault to remove).
    public static func copy(
        from sourcePath: String, on sourceStorage: any LogMedium = PosixStorage(),
        to destinationPath: String, on destinationStorage: any LogMedium = PosixStorage()
    ) throws(CofferError) -> CopyReport {
        let source = try openLog(path: sourcePath, options: Options(storage: sourceStorage, readOnly: true))
        defer { source.close() }
        let (scanned, vaultID, pieces) = try scanForCopy(source)
        if let corruption = scanned.corruption {
            throw CofferError(
                .corrupted,
                "The source's log is corrupted: \(corruption.detail). Nothing was copied; salvage it first.",
                offset: corruption.offset, sequence: corruption.sequence)
        }
        let taken = CofferError(
            .alreadyExists,
            destinationStorage.isShared
                ? "A vault exists already under that name, or this vault (its UUID) under another name, in the "
                    + "shared store; choose another destination."
                : "A file exists already where the copy should go; choose another destination.")
        let header: [UInt8]
        switch source.read(count: Int(FormatConstants.logStartOffset), at: 0) {
        case .failure(let error): throw error.cofferError("Reading the source")
        case .success(let bytes): header = bytes
        }
        // The header with the first piece of frames, created durably; then piece by piece,
        // each a whole number of frames, so a shared log takes each as one append. A file is
        // written under a temporary name and given its name once whole and read back.
        let created = try destinationStorage.createLog(
            destinationPath, vaultID: vaultID, header: header, frames: try frames(of: pieces.first, in: source),
            "the copy", taken: taken, framesFollow: true)
        let destination = created.device
        defer { destination.close() }
        do throws(CofferError) {
            for piece in pieces.dropFirst() {
                let batch = try frames(of: piece, in: source)
                switch destination.append(batch, at: piece.start) {
                case .failure(let error): throw error.cofferError("Writing the copy", offset: piece.start)
                case .success(.conflict):
                    throw CofferError(
                        .conflict, "Another instance wrote to the copy while it was made.", offset: piece.start)
                case .success(.written): break
                }
                if case .failure(let error) = destination.sync() {
                    throw error.cofferError("Syncing the copy", offset: piece.start)
                }
            }
            let (copied, _, _) = try scanForCopy(destination)
            guard copied.head == scanned.head, copied.corruption == nil, copied.tornTail == nil else {
                throw CofferError(
                    .corrupted, "The copy does not read back with the source's head \(scanned.head).",
                    sequence: scanned.head.sequence)
            }
        } catch {
            created.discard()
            throw error
        }
        try created.publish("the copy", taken: taken)
        return CopyReport(
            records: scanned.head.sequence, head: scanned.head, bytes: scanned.validEnd, tornTail: scanned.tornTail)
    }

    /// Consecutive frames of a log, about 4 MiB together: their offset, sequence numbers and lengths.
    private struct CopyPiece {
        let start: UInt64
        var frames: [(sequence: UInt64, count: Int)] = []
        var bytes: Int { frames.reduce(0) { $0 + $1.count } }
    }

    /// The frames of `piece`, read from `source` (none for no piece: a log without records).
    private static func frames(of piece: CopyPiece?, in source: any LogDevice) throws(CofferError) -> FrameBatch {
        var batch = FrameBatch()
        guard let piece else { return batch }
        let bytes: [UInt8]
        switch source.read(count: piece.bytes, at: piece.start) {
        case .failure(let error): throw error.cofferError("Reading the source", offset: piece.start)
        case .success(let read): bytes = read
        }
        guard bytes.count == piece.bytes else {
            throw CofferError(
                .corrupted, "The source became shorter while it was copied.", offset: piece.start + UInt64(bytes.count))
        }
        var start = 0
        for frame in piece.frames {
            batch.append(sequence: frame.sequence, frame: Array(bytes[start..<start + frame.count]))
            start += frame.count
        }
        return batch
    }

    /// A keyless scan of the log: its outcome, its vault id, and its frames in pieces.
    private static func scanForCopy(_ log: any LogDevice) throws(CofferError) -> (ScanOutcome, [UInt8], [CopyPiece]) {
        let (size, headers) = try endAndHeaders(of: log)
        if case .failure(let error) = headers.newestHeader() { throw error }
        let newest = headers.validCopiesNewestFirst[0].header!
        var pieces: [CopyPiece] = []
        var pieceBytes = 0
        let scanner = LogScanner(
            log: log, vaultID: newest.vaultID, keyRecordKey: nil, fileSize: size, generation: newest.logGeneration)
        let outcome: ScanOutcome
        switch scanner.scan({ (record: ScannedRecord) throws(CofferError) in
            if pieces.isEmpty || pieceBytes >= 4 << 20 {
                pieces.append(CopyPiece(start: record.offset))
                pieceBytes = 0
            }
            pieces[pieces.count - 1].frames.append((record.sequence, record.frameBytes))
            pieceBytes += record.frameBytes
        }) {
        case .failure(let error): throw error
        case .success(let value): outcome = value
        }
        return (outcome, newest.vaultID, pieces)
    }
}
