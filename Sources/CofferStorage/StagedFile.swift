import CofferCrypto
import CofferFormat

/// A new file that appears under its name whole or not at all (F-CREATE): it is written under
/// a temporary name beside its path (`<name>.partial-<16 hex digits>`), synced, then moved to
/// its name without replacing anything (``StorageSystem/moveWithoutReplacing(_:to:)``: the move
/// fails if the name was taken meanwhile) and the directory synced. A crash leaves the name
/// absent, or naming the whole file; at worst a `.partial-` file stays beside it, never
/// anything half-written under the name.
///
/// On storage that creates files all or nothing (``StorageSystem/stagesNewFiles`` false, a
/// shared log) the file is created under its name directly and ``publish(_:taken:)`` only syncs.
struct StagedFile {
    let storage: any StorageSystem
    /// The name the file gets.
    let path: String
    /// Where it is written first; `path` itself on storage that does not stage.
    let writingPath: String
    let file: any StorageFile

    /// Creates the file to write. Fails with `EEXIST` when `path` exists already.
    static func create(_ path: String, on storage: any StorageSystem) -> Result<StagedFile, SystemError> {
        guard storage.stagesNewFiles else {
            return storage.open(path, mode: .createNew).map {
                StagedFile(storage: storage, path: path, writingPath: path, file: $0)
            }
        }
        if case .success = storage.identity(of: path) { return .failure(.fileExists) }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = VaultStore.sibling("\(name).partial-\(Hex.encode(RandomBytes.make(8)))", of: path)
        return storage.open(temporary, mode: .createNew).map {
            StagedFile(storage: storage, path: path, writingPath: temporary, file: $0)
        }
    }

    /// ``create(_:on:)`` for a caller that throws: `taken` when `path` exists, `.io` naming
    /// `what` ("the copy") otherwise.
    static func create(_ path: String, on storage: any StorageSystem, _ what: String, taken: CofferError) throws(CofferError)
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
    ///   - taken: the error when something took the name meanwhile (it is left as it was).
    /// - Throws: `taken`; `.io` when the file could not be given its name, or when its
    ///   directory could not be synced — the file is then removed from its name (it is ours,
    ///   and a crash could have lost it anyway). Either way the temporary name is gone.
    func publish(_ what: String, taken: CofferError) throws(CofferError) {
        if writingPath != path {
            switch storage.moveWithoutReplacing(writingPath, to: path) {
            case .success: break
            case .failure(let error):
                discard()
                if error == .fileExists { throw taken }
                throw error.cofferError("Giving \(what) its name")
            }
        }
        if case .failure(let error) = storage.syncDirectory(containing: path) {
            _ = storage.remove(path)
            throw CofferError(
                .io(errno: error.number),
                "The directory of \(what) could not be synced (\(error)), so a crash could lose it: it was removed. "
                    + "Check the file system, then try again.")
        }
    }

    /// Removes what was written, after a failure: the temporary file, or on storage that does
    /// not stage, the file under its name (which this creation made).
    func discard() {
        _ = storage.remove(writingPath)
    }
}
