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

    /// The scheme of `text` when it reads as a URL (`SCHEME:/…`, or `jdbc:…`), after any
    /// leading blanks; `nil` for a file path.
    static func urlScheme(_ text: String) -> String? {
        let trimmed = text.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        // RFC 3986: a letter, then letters, digits, `+`, `-` and `.`.
        let scheme = trimmed.prefix { TextBytes.isLetter($0) || TextBytes.isDigit($0) || "+-.".utf8.contains($0) }
        guard let first = scheme.first, TextBytes.isLetter(first) else { return nil }
        let rest = trimmed.dropFirst(scheme.count)
        guard rest.first == UInt8(ascii: ":") else { return nil }
        let name = String(decoding: scheme, as: UTF8.self)
        return rest.dropFirst().first == UInt8(ascii: "/") || name.lowercased() == "jdbc" ? name : nil
    }

    /// What the URL parser's messages start with; the CLI's own sentence says it already.
    private static let parserPrefix = "Invalid PostgreSQL URL: "

    /// The location `text` names; a URL is connected to at once. A URL of another scheme, or
    /// one with blanks before it, is a usage error that never repeats the text: it may hold a
    /// password. The scheme is read in any case (`Postgres://` is `postgres://`).
    static func resolve(_ text: String, environment: [String: String]) throws(CommandFailure) -> VaultLocation {
        guard let scheme = urlScheme(text) else { return VaultLocation(path: text, storage: PosixStorage()) }
        let lowered = scheme.lowercased()
        guard text.hasPrefix(scheme), lowered == "postgres" || lowered == "postgresql",
            text.dropFirst(scheme.count).hasPrefix("://")
        else {
            throw CommandFailure.usage(
                "The vault is given as a URL Coffer does not read (\(text.first == " " || text.first == "\t" ? "blanks before it, " : "")"
                    + "scheme \(scheme.prefix(20))): give a file path, or postgres://user@host/database?vault=NAME "
                    + "(postgresql:// too). (The URL is not repeated: it may hold a password.)")
        }
        let location: PostgresLocation
        do {
            location = try PostgresLocation(
                parsing: lowered + text.dropFirst(scheme.count), environmentPassword: environment["PGPASSWORD"],
                environment: environment.filter { $0.key == "PGSSLMODE" || $0.key == "PGSSLROOTCERT" })
        } catch let error as CofferError {
            let reason =
                error.message.hasPrefix(Self.parserPrefix)
                ? error.message.dropFirst(Self.parserPrefix.count) : error.message[...]
            throw CommandFailure.usage("The PostgreSQL URL is not valid: \(reason)")
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
