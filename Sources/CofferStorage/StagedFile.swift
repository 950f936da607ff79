import CofferCrypto
import CofferFormat

/// A new file that appears under its name whole or not at all (F-CREATE): it is written under
/// a temporary name beside its path (`<name>.partial-<random>`), synced, then linked to its
/// name — which fails if the name was taken meanwhile, so nothing is ever replaced — and the
/// directory synced. A crash leaves the name absent, or naming the whole file; at worst a
/// `.partial-` file stays beside it, never anything half-written under the name.
///
/// On storage that creates files all or nothing (``StorageSystem/stagesNewFiles`` false, a
/// shared log) the file is created under its name directly and ``publish()`` only syncs.
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

    /// Why ``publish()`` failed.
    enum PublishFailure: Error {
        /// Something took the name meanwhile; it was left as it was.
        case taken
        /// The file could not be given its name: nothing is under it.
        case notNamed(SystemError)
        /// The file is under its name, but its directory could not be synced: a crash could
        /// still lose the name. The caller, whose file it is, decides whether to keep it.
        case unsynced(SystemError)
    }

    /// Gives the written and synced file its name and makes the name durable: the file is
    /// the caller's to keep using, under `path`. The temporary name is removed either way.
    func publish() -> Result<Void, PublishFailure> {
        if writingPath != path {
            switch storage.link(writingPath, to: path) {
            case .success: _ = storage.remove(writingPath)
            case .failure(let error):
                discard()
                return .failure(error == .fileExists ? .taken : .notNamed(error))
            }
        }
        return storage.syncDirectory(containing: path).mapError { .unsynced($0) }
    }

    /// Removes what was written, after a failure: the temporary file, or on storage that does
    /// not stage, the file under its name (which this creation made).
    func discard() {
        _ = storage.remove(writingPath)
    }
}
