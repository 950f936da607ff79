import Coffer
import CofferPostgres
import CofferStorage

/// Where a command's vault lives: a file, or a vault shared through PostgreSQL named by a URL
/// `postgres://user@host/database?vault=NAME` (the password from the URL or `PGPASSWORD`).
///
/// Every command works on either: the storage below the engine is the only difference.
struct VaultLocation {
    /// The file's path, or the URL without its password: what messages show.
    let path: String
    let storage: any LogMedium

    /// Whether this is a shared log rather than a file.
    var isShared: Bool { storage.isShared }

    /// Whether `text` names a PostgreSQL vault rather than a file.
    static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// The location `text` names; a URL is connected to at once.
    static func resolve(_ text: String, environment: [String: String]) throws(CommandFailure) -> VaultLocation {
        guard isURL(text) else { return VaultLocation(path: text, storage: PosixStorage()) }
        let location: PostgresLocation
        do {
            location = try PostgresLocation(parsing: text, environmentPassword: environment["PGPASSWORD"])
        } catch let error as CofferError {
            throw CommandFailure.usage("The PostgreSQL URL is not valid: \(error.message)")
        } catch {
            throw CommandFailure.usage("The PostgreSQL URL is not valid.")
        }
        guard location.vaultName != nil else {
            throw CommandFailure.usage("The PostgreSQL URL names no vault: add ?vault=NAME.")
        }
        do {
            let backend = try PostgresSharedLog(location: location)
            return VaultLocation(
                path: location.description, storage: SharedLogStorage(backend: backend, path: location.description))
        } catch {
            throw CommandFailure(error, status: .vaultUnavailable)
        }
    }
}
