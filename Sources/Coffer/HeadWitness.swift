import CofferErrors
import CofferFormat
import CofferStorage

/// Where a writer leaves the vault's head after every acknowledged change, kept apart from
/// the vault (another disk, a configuration store): every open checks that the vault is the
/// one it saw, under the unlock key it saw, and still holds its head (FORMAT.md F-HEAD,
/// F-LINEAGE), so a vault truncated, put back to an older copy, or rebuilt from a header whose
/// unlock key was revoked since is refused, readers included, before a writer repairs
/// anything, and a writer never appends to a log older than the witness.
public protocol HeadWitness: Sendable {
    /// What was last left; nil when nothing was left yet.
    /// - Throws: when the witness holds something else, or cannot be read.
    func read() throws(CofferError) -> WitnessedHead?
    /// Leaves `witnessed`, replacing what was there.
    func record(_ witnessed: WitnessedHead) throws(CofferError)
}

/// A head witness in a file: one line, `HEAD vault=HEX key=HEX` (`WitnessedHead`), replaced
/// whole (written beside it with mode 0600, synced, renamed over it), so a crash leaves the old
/// line or the new one. Losing the newest update to a crash leaves an older head, which the
/// vault still holds: the check stays sound. A path that is a symbolic link is written through
/// to the file it names, so the witness can live on another disk. A missing or empty file holds
/// nothing yet.
public struct HeadWitnessFile: HeadWitness {
    /// The path of the witness file; when it is a symbolic link, the file it names is read and replaced.
    public let path: String
    private let storage: any StorageSystem

    /// A witness kept in the file at `path`, reached through `storage` (the real disk by default).
    /// Nothing is read or written before ``read()`` or ``record(_:)``; the file need not exist yet.
    public init(path: String, storage: any StorageSystem = PosixStorage()) {
        self.path = path
        self.storage = storage
    }

    /// What the file holds: its one line, white space around it ignored; nil when the file does not
    /// exist or holds only white space.
    ///
    /// - Throws: `.invalidInput` when the file holds anything else (or 256 bytes or more), is a
    ///   symbolic link to nothing, or is not a regular file; `.io` when it cannot be opened or read.
    public func read() throws(CofferError) -> WitnessedHead? {
        try refuseWhatIsNoFile()
        let file: any StorageFile
        switch storage.open(path, mode: .readOnly) {
        case .failure(let error) where error.number == SystemError.noSuchFileOrDirectory.number: return nil
        case .failure(let error): throw error.cofferError("Opening the head file \(path)")
        case .success(let opened): file = opened
        }
        defer { file.close() }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count: Int
        switch bytes.withUnsafeMutableBytes({ file.read(into: $0, at: 0) }) {
        case .failure(let error): throw error.cofferError("Reading the head file \(path)")
        case .success(let read): count = read
        }
        let text = String(decoding: bytes[0..<count], as: UTF8.self).trimmingWhiteSpace
        // An empty file: nothing was left yet (an operator may make the file beforehand).
        if text.isEmpty { return nil }
        guard count < bytes.count, let witnessed = WitnessedHead(parsing: text) else {
            throw CofferError(
                .invalidInput,
                "The head file \(path) does not hold what a writer leaves there (HEAD vault=HEX key=HEX). Nothing was "
                    + "opened. If it was damaged, check the vault with `coffer verify` before you remove the file.")
        }
        return witnessed
    }

    /// A link to nothing (another disk not mounted) is not a missing witness: reading it as
    /// one would check nothing, and writing would replace the link with a file beside the vault.
    /// Nor is a device, a pipe or a directory a witness: `/dev/null` reads as empty, and a
    /// writer would replace the device with a file; a pipe's open waits for a writer forever.
    private func refuseWhatIsNoFile() throws(CofferError) {
        if storage.isDanglingLink(path) {
            throw CofferError(
                .invalidInput,
                "The head file \(path) is a symbolic link to nothing (is its disk mounted?). Nothing was opened; make "
                    + "the file it names (empty is fine), or link another.")
        }
        if storage.isSpecialFile(path) {
            throw CofferError(
                .invalidInput,
                "The head file \(path) is not a regular file (a device, a pipe, a socket or a directory), which a writer "
                    + "would replace. Nothing was opened; name a regular file (empty is fine), or give no head file.")
        }
    }

    /// Replaces the file's content with `witnessed` and a line feed: written to a new file beside it,
    /// synced, then renamed over it and the directory synced (``StagedFile``), so a reader sees
    /// the old line or the new one, never a mix.
    ///
    /// - Throws: `.invalidInput` when the path is a symbolic link to nothing or not a regular file;
    ///   `.io` when a step fails, and then the file beside it is removed and the old line stays.
    public func record(_ witnessed: WitnessedHead) throws(CofferError) {
        try refuseWhatIsNoFile()
        // Through a symbolic link to the file it names, which stays where it is.
        let target: String
        switch storage.followingLink(path) {
        case .success(let resolved): target = resolved
        case .failure(let error) where error.number == SystemError.noSuchFileOrDirectory.number: target = path
        case .failure(let error): throw error.cofferError("Following the head file's link \(path)")
        }
        try StagedFile.write(
            Array((witnessed.description + "\n").utf8), to: target, on: storage, "the head file \(target)",
            replacing: true, ownerAndModeOf: target)
    }
}

extension String {
    fileprivate var trimmingWhiteSpace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
