import CofferCrypto
import CofferErrors
import CofferFormat

/// A file that appears under its name whole or not at all (F-CREATE): it is written under a
/// temporary name beside its path (`<name>.partial-<16 hex digits>`), synced, then given its
/// name and the directory synced. A new file is moved to its name without replacing anything
/// (``StorageSystem/moveWithoutReplacing(_:to:)``: the move fails if the name was taken
/// meanwhile); a replacement is renamed over the old file. A crash leaves the name absent or
/// as it was, or naming the whole new file; at worst a `.partial-` file stays beside it,
/// never anything half-written under the name.
///
/// Every file Coffer writes whole goes through here: vaults, copies and salvage outputs (which
/// keep writing through the handle), and exports, key files and head files (``write(_:to:on:replacing:keepingUnsynced:)``).
public struct StagedFile {
    let storage: any StorageSystem
    /// The name the file gets.
    let path: String
    /// Where it is written first: `<name>.partial-<random>` beside it.
    let writingPath: String
    /// Whether the file replaces one under its name, rather than being new.
    let replacing: Bool
    let file: any StorageFile

    /// Creates the file to write. Fails with `EEXIST` when `path` exists already.
    /// With `replacing`, a file under `path` is replaced when the new one is published.
    static func create(_ path: String, on storage: any StorageSystem, replacing: Bool = false)
        -> Result<StagedFile, SystemError>
    {
        if !replacing, case .success = storage.identity(of: path) { return .failure(.fileExists) }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = VaultStore.sibling("\(name).partial-\(Hex.encode(RandomBytes.make(8)))", of: path)
        return storage.open(temporary, mode: .createNew).map {
            StagedFile(storage: storage, path: path, writingPath: temporary, replacing: replacing, file: $0)
        }
    }

    /// ``create(_:on:)`` for a caller that throws: `taken` when `path` exists, `.io` naming
    /// `what` ("the copy") otherwise.
    static func create(_ path: String, on storage: any StorageSystem, _ what: String, taken: CofferError)
        throws(CofferError)
        -> StagedFile
    {
        switch create(path, on: storage) {
        case .failure(.fileExists): throw taken
        case .failure(let error): throw error.cofferError("Creating \(what)")
        case .success(let created): return created
        }
    }

    /// Gives the written and synced file its name and makes the name durable: the file is
    /// the caller's to keep using, under `path`.
    ///
    /// - Parameters:
    ///   - what: the file, for messages ("the copy").
    ///   - taken: the error when something took the name of a new file meanwhile (it is left
    ///     as it was).
    ///   - keepingUnsynced: what happens to a new file whose directory could not be synced:
    ///     kept under its name (a crash could still lose it), or removed. A replacement is
    ///     always kept: the file it replaced is gone.
    /// - Throws: `taken`; `.io` when the file could not be given its name, or when its
    ///   directory could not be synced. Either way the temporary name is gone.
    func publish(_ what: String, taken: CofferError, keepingUnsynced: Bool = false) throws(CofferError) {
        let moved =
            replacing ? storage.rename(writingPath, to: path) : storage.moveWithoutReplacing(writingPath, to: path)
        if case .failure(let error) = moved {
            discard()
            if error == .fileExists { throw taken }
            throw error.cofferError("Giving \(what) its name")
        }
        // The name is durable only once its directory is: a crash before that can lose the
        // file although every byte of it was synced.
        if case .failure(let error) = storage.syncDirectory(containing: path) {
            guard replacing || keepingUnsynced else {
                _ = storage.remove(path)
                throw CofferError(
                    .io(errno: error.number),
                    "The directory of \(what) could not be synced (\(error)), so a crash could lose it: it was "
                        + "removed. Check the file system, then try again.")
            }
            throw CofferError(
                .io(errno: error.number),
                "\(what.prefix(1).uppercased() + what.dropFirst()) was written, but its directory could not be synced "
                    + "(\(error)): a crash now could lose it. Check the file system, then write it again.")
        }
    }

    /// Removes what was written, after a failure: the temporary file.
    func discard() {
        _ = storage.remove(writingPath)
    }
}

extension StagedFile {
    /// Writes `bytes` as the whole content of the file at `path`, with mode 0600 (or the owner
    /// and mode of `ownerAndModeOf`): staged,
    /// synced, published (see the type), so `path` never holds a half-written file.
    ///
    /// - Parameters:
    ///   - what: the file, for messages ("the file out.json", "the head file").
    ///   - replacing: whether a file at `path` may be replaced; when false, one that exists
    ///     (or appears meanwhile) fails the write with `.alreadyExists` and stays as it was.
    ///   - keepingUnsynced: see ``publish(_:taken:keepingUnsynced:)``.
    ///   - ownerAndModeOf: a file whose owner, group and permission bits the new one takes
    ///     (``StorageFile/takeOwnerAndMode(of:)``), when it exists; mode 0600 otherwise.
    /// - Throws: `.alreadyExists`; `.notFound` when the directory does not exist; `.io` naming
    ///   the step that failed. `path` is then as it was, except when only the last step,
    ///   syncing the directory, failed (the message says so).
    public static func write(
        _ bytes: UnsafeRawBufferPointer, to path: String, on storage: any StorageSystem, _ what: String,
        replacing: Bool, keepingUnsynced: Bool = false, ownerAndModeOf model: String? = nil
    ) throws(CofferError) {
        let taken = CofferError(.alreadyExists, "A file exists at \(path); it was left as it was.")
        let staged: StagedFile
        switch create(path, on: storage, replacing: replacing) {
        case .success(let created): staged = created
        case .failure(.fileExists): throw taken
        case .failure(let error): throw error.cofferError("Creating \(what)")
        }
        if let model { staged.file.takeOwnerAndMode(of: model) }
        var result = staged.file.write(bytes, at: 0)
        if case .success = result { result = staged.file.sync() }
        staged.file.close()
        if case .failure(let error) = result {
            staged.discard()
            throw error.cofferError("Writing \(what)")
        }
        try staged.publish(what, taken: taken, keepingUnsynced: keepingUnsynced)
    }

    /// ``write(_:to:on:_:replacing:keepingUnsynced:ownerAndModeOf:)`` of an array.
    public static func write(
        _ bytes: [UInt8], to path: String, on storage: any StorageSystem, _ what: String, replacing: Bool,
        keepingUnsynced: Bool = false, ownerAndModeOf model: String? = nil
    ) throws(CofferError) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(CofferError) in
                try write(
                    buffer, to: path, on: storage, what, replacing: replacing, keepingUnsynced: keepingUnsynced,
                    ownerAndModeOf: model)
            }
        }.get()
    }
}
