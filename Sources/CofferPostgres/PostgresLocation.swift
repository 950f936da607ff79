import CofferCrypto
import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Where a PostgreSQL-backed vault lives: the server, the database, the role and the vault name.
///
/// Parsed from a URL in libpq's style, over TCP or a Unix socket:
///
/// ```swift
/// let tcp = try PostgresLocation(parsing: "postgres://coffer@db.internal:5432/vaults?vault=team")
/// let socket = try PostgresLocation(parsing: "postgresql://postgres@/coffer_test?host=/tmp/pg&vault=team")
/// ```
///
/// The password comes from the URL (`postgres://user:secret@host/db`) or, when the URL has
/// none, from the `PGPASSWORD` environment variable. It is never part of ``description``,
/// ``debugDescription``, a mirror or an error message.
public struct PostgresLocation: Sendable, Equatable {
    /// How to reach the server.
    public enum Endpoint: Sendable, Equatable {
        /// TCP to `host` (a name or an IP address) and `port`.
        case tcp(host: String, port: Int)
        /// The Unix socket `directory/.s.PGSQL.port`, as libpq names it.
        case unixSocket(directory: String, port: Int)
    }

    /// The port PostgreSQL listens on unless told otherwise.
    public static let defaultPort = 5432
    /// The longest Unix socket path Linux accepts: `sizeof(sun_path)` (108) minus the terminator.
    static let socketPathBytesMax = 108 - 1

    /// How to reach the server.
    public let endpoint: Endpoint
    /// The role to log in as.
    public let user: String
    /// The database that holds the `coffer_` tables.
    public let database: String
    /// The vault named by `?vault=`, if any.
    public let vaultName: String?
    /// The password, if any. Internal so that no public path can print it.
    let password: String?
    /// How a TCP connection is encrypted (`sslmode`, `sslrootcert`); a Unix socket's is not.
    public let tls: PostgresTLS
    /// How long each connect, statement and transaction may take
    /// (``PostgresTimeouts``: the URL's `connect_timeout`, `statement_timeout`, … parameters).
    public private(set) var timeouts: PostgresTimeouts

    /// Whether a password was given, in the URL or through `PGPASSWORD`.
    public var hasPassword: Bool { password != nil }

    /// The path of the Unix socket, for a ``Endpoint/unixSocket(directory:port:)`` endpoint.
    public var socketPath: String? {
        guard case .unixSocket(let directory, let port) = endpoint else { return nil }
        return (directory.hasSuffix("/") ? directory : directory + "/") + ".s.PGSQL.\(port)"
    }

    /// Creates a location from its parts.
    ///
    /// - Parameters:
    ///   - endpoint: How to reach the server.
    ///   - user: The role to log in as.
    ///   - password: The role's password, or nil for trust or peer authentication.
    ///   - database: The database that holds the tables.
    ///   - vaultName: The vault, if the location names one.
    ///   - timeouts: The deadlines of every call on the PostgreSQL path.
    ///   - tls: How a TCP connection is encrypted.
    /// - Throws: `CofferError(.invalidInput)` when a part is empty or the port is out of range,
    ///   or `verify-full` is asked of a host given as an address (it checks a name).
    public init(
        endpoint: Endpoint, user: String, password: String?, database: String, vaultName: String?,
        timeouts: PostgresTimeouts = .default, tls: PostgresTLS = .default
    ) throws {
        switch endpoint {
        case .tcp(let host, let port):
            guard !host.isEmpty else { throw Self.invalid("the host is empty") }
            // Names, IPv4 and IPv6 addresses (with a zone); anything else, a relative socket
            // directory among them, is a mistake.
            let isHostCharacter: (Unicode.Scalar) -> Bool = {
                $0.isASCII
                    && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_:%".unicodeScalars.contains($0))
            }
            guard host.unicodeScalars.allSatisfy(isHostCharacter) else {
                throw Self.invalid("the host is neither a name, an IP address nor an absolute socket directory")
            }
            guard (1...65535).contains(port) else { throw Self.invalid("the port is not between 1 and 65535") }
            if tls.mode == .verifyFull && Self.isAddress(host) {
                throw Self.invalid(
                    "sslmode=verify-full checks the server's certificate against its host name: give the host by "
                        + "name, or use verify-ca")
            }
        case .unixSocket(let directory, let port):
            guard directory.hasPrefix("/") else {
                throw Self.invalid("the socket directory must be an absolute path")
            }
            guard (1...65535).contains(port) else { throw Self.invalid("the port is not between 1 and 65535") }
        }
        guard !user.isEmpty else { throw Self.invalid("the URL names no user (postgres://USER@host/database)") }
        guard !database.isEmpty else {
            throw Self.invalid("the URL names no database (postgres://user@host/DATABASE)")
        }
        if let vaultName, vaultName.isEmpty { throw Self.invalid("the vault name is empty") }
        if let vaultName, vaultName.utf8.count > PostgresFrameStore.vaultNameBytesMax || vaultName.utf8.contains(0) {
            throw Self.invalid(
                "the vault name must be 1 to \(PostgresFrameStore.vaultNameBytesMax) bytes, without NUL")
        }
        self.endpoint = endpoint
        self.user = user
        self.password = password
        self.database = database
        self.vaultName = vaultName
        self.timeouts = timeouts
        self.tls = tls
        if let socketPath, socketPath.utf8.count > Self.socketPathBytesMax {
            throw Self.invalid("the socket path is longer than \(Self.socketPathBytesMax) bytes")
        }
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    ///
    /// Accepted forms:
    /// - `postgres://user[:password]@host[:port]/database[?vault=NAME]` (IPv6 hosts in brackets);
    /// - `postgres://user[:password]@/database?host=/socket/dir[&port=N][&vault=NAME]`, or the
    ///   socket directory percent-encoded as the host (`postgres://user@%2Ftmp%2Fpg/database`).
    ///
    /// Query parameters: `host`, `port`, `vault`, `user`, `password`, `sslmode` and
    /// `sslrootcert` (``PostgresTLS``), and the deadlines of ``PostgresTimeouts`` (`connect_timeout`,
    /// `statement_timeout`, `lock_timeout`, `transaction_timeout`,
    /// `idle_in_transaction_session_timeout`, `keepalives_idle`, `keepalives_interval`,
    /// `keepalives_count`). Each may appear once; values are percent-decoded.
    ///
    /// - Parameters:
    ///   - text: The URL.
    ///   - environmentPassword: The password to use when the URL has none; by default the
    ///     `PGPASSWORD` environment variable.
    ///   - environment: `PGSSLMODE` and `PGSSLROOTCERT`, for a URL without `sslmode` or
    ///     `sslrootcert`; by default the process's (``tlsVariablesFromEnvironment()``).
    /// - Throws: `CofferError(.invalidInput)` naming what is wrong, never quoting a password.
    public init(
        parsing text: String, environmentPassword: String? = PostgresLocation.passwordFromEnvironment(),
        environment: [String: String] = PostgresLocation.tlsVariablesFromEnvironment()
    ) throws {
        var rest = Substring(text)
        if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else {
            throw Self.invalid("the URL does not start with postgres:// or postgresql://")
        }
        // A fragment names nothing here: dropped, `vault=a#b` would open vault `a`.
        guard !rest.contains("#") else {
            throw Self.invalid("the URL holds a '#'; in a name or a password write it as %23")
        }

        var queryText: Substring = ""
        if let question = rest.firstIndex(of: "?") {
            queryText = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        let authority: Substring
        var pathText: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            pathText = rest[rest.index(after: slash)...]
        } else {
            authority = rest
        }
        // A raw '@' past the authority: a password (or user) holding a raw '?' or '/' ended the
        // authority early, and the rest of it would be read — and quoted — as the host, the
        // path or a query parameter. A '@' in a name or a parameter is written %40.
        if pathText.contains("@") || queryText.contains("@") {
            throw Self.invalid(
                "a '@' follows the host: a user or password holding '?' or '/' must write them as %3F and %2F, and "
                    + "a '@' in a name or parameter is written %40")
        }

        // The last "@" separates the user information, since a password may contain "@" only
        // percent-encoded but people paste it raw.
        var userText: String?
        var passwordText: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                userText = try Self.percentDecoded(userInfo[..<colon], part: "user")
                passwordText = try Self.percentDecoded(userInfo[userInfo.index(after: colon)...], part: "password")
            } else {
                userText = try Self.percentDecoded(userInfo, part: "user")
            }
        }

        var hostText: String?
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw Self.invalid("an IPv6 host is missing its closing bracket")
            }
            hostText = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Self.invalid("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostText = try Self.percentDecoded(hostPort[..<colon], part: "host")
            portText = hostPort[hostPort.index(after: colon)...]
        } else if !hostPort.isEmpty {
            hostText = try Self.percentDecoded(hostPort, part: "host")
        }
        if hostText == "" { hostText = nil }

        guard !pathText.contains("/") else { throw Self.invalid("the path must be one database name") }
        var databaseText = try Self.percentDecoded(pathText, part: "database")

        var parameters: [String: String] = [:]
        for pair in queryText.split(separator: "&", omittingEmptySubsequences: true) {
            let name: String
            let value: String
            if let equals = pair.firstIndex(of: "=") {
                name = try Self.percentDecoded(pair[..<equals], part: "parameter name")
                value = try Self.percentDecoded(pair[pair.index(after: equals)...], part: "parameter \(name)")
            } else {
                throw Self.invalid("a query parameter has no value (expected name=value)")
            }
            guard
                ["host", "port", "vault", "user", "password", "sslmode", "sslrootcert", "dbname"].contains(name)
                    || PostgresTimeouts.parameterNames.contains(name)
            else {
                // Quoted only when it reads as a parameter's name (a misspelt one), never
                // whatever text a malformed URL put there.
                let looksLikeAName =
                    !name.isEmpty && name.utf8.count <= 40
                    && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || ($0 >= 0x30 && $0 <= 0x39) }
                throw Self.invalid(
                    looksLikeAName
                        ? "unknown query parameter \"\(name)\"" : "a query parameter's name is not one Coffer reads")
            }
            // `?host=/dir?vault=x`: a second '?' where '&' was meant.
            guard !pair.contains("?") else {
                throw Self.invalid(
                    "the query parameter \"\(name)\" holds a '?': join parameters with '&' (…&vault=NAME)")
            }
            guard parameters[name] == nil else {
                throw Self.invalid("the query parameter \"\(name)\" appears twice")
            }
            parameters[name] = value
        }

        if let value = parameters["host"] {
            guard hostText == nil else { throw Self.invalid("the host is given twice, in the URL and as ?host=") }
            hostText = value
        }
        if let value = parameters["port"] {
            guard portText == nil else { throw Self.invalid("the port is given twice, in the URL and as ?port=") }
            portText = Substring(value)
        }
        if let value = parameters["user"] {
            guard userText == nil else { throw Self.invalid("the user is given twice, in the URL and as ?user=") }
            userText = value
        }
        if let value = parameters["password"] {
            guard passwordText == nil else { throw Self.invalid("the password is given twice") }
            passwordText = value
        }
        if let value = parameters["dbname"] {
            guard databaseText.isEmpty else {
                throw Self.invalid("the database is given twice, in the path and as ?dbname=")
            }
            databaseText = value
        }
        let tls = try PostgresTLS(parameters: parameters, environment: environment, invalid: Self.invalid)

        var port = Self.defaultPort
        if let portText {
            guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let number = Int(portText), (1...65535).contains(number)
            else { throw Self.invalid("the port is not a number between 1 and 65535") }
            port = number
        }
        guard let hostText else {
            throw Self.invalid("the URL names no host: give host[:port], or ?host=/socket/directory")
        }
        let endpoint: Endpoint =
            hostText.hasPrefix("/") ? .unixSocket(directory: hostText, port: port) : .tcp(host: hostText, port: port)
        try self.init(
            endpoint: endpoint, user: userText ?? "", password: passwordText ?? environmentPassword,
            database: databaseText, vaultName: parameters["vault"], timeouts: PostgresTimeouts(parameters: parameters),
            tls: tls)
    }

    /// Whether `host` is an IP address (IPv6, or digits and dots) rather than a name.
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || host.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || $0 == "." }
    }

    /// `PGSSLMODE` and `PGSSLROOTCERT` from the process's environment, those that are set.
    public static func tlsVariablesFromEnvironment() -> [String: String] {
        var variables: [String: String] = [:]
        for name in ["PGSSLMODE", "PGSSLROOTCERT"] {
            if let value = getenv(name) { variables[name] = String(cString: value) }
        }
        return variables
    }

    /// The `PGPASSWORD` environment variable, or nil when it is unset or empty.
    public static func passwordFromEnvironment() -> String? {
        guard let value = getenv("PGPASSWORD") else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// A copy naming another vault.
    ///
    /// - Throws: `CofferError(.invalidInput)` when `name` is empty.
    public func naming(vault name: String) throws -> PostgresLocation {
        try PostgresLocation(
            endpoint: endpoint, user: user, password: password, database: database, vaultName: name,
            timeouts: timeouts, tls: tls)
    }

    /// A copy with other deadlines.
    public func with(timeouts: PostgresTimeouts) -> PostgresLocation {
        var copy = self
        copy.timeouts = timeouts
        return copy
    }

    private static func invalid(_ reason: String) -> CofferError {
        CofferError(.invalidInput, "Invalid PostgreSQL URL: \(reason).")
    }

    /// Decodes `%XX` escapes. The error names the part, never its text, since it may be a
    /// password.
    static func percentDecoded(_ text: Substring, part: String) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw invalid("the \(part) has a malformed percent escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw invalid("the \(part) is not valid UTF-8 once percent-decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension PostgresLocation: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The location as a URL without its password, e.g. `postgres://coffer@db:5432/vaults?vault=team`,
    /// with the deadlines that differ from the defaults: parsed again, it gives the same location.
    public var description: String {
        var text = "postgres://" + Self.escaped(user)
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : Self.escaped(host)
            text += "@\(shownHost):\(port)/\(Self.escaped(database))"
        case .unixSocket(let directory, let port):
            text += "@/\(Self.escaped(database))?host=\(Self.escaped(directory, keepingSlashes: true))"
            if port != Self.defaultPort { text += "&port=\(port)" }
        }
        if let vaultName {
            text += (text.contains("?") ? "&" : "?") + "vault=\(Self.escaped(vaultName))"
        }
        for (name, value) in timeouts.nonDefaultParameters {
            text += (text.contains("?") ? "&" : "?") + "\(name)=\(value)"
        }
        for (name, value) in tls.parameters {
            text += (text.contains("?") ? "&" : "?") + "\(name)=\(Self.escaped(value, keepingSlashes: true))"
        }
        return text
    }

    /// The same as ``description``: the password is left out.
    public var debugDescription: String { "PostgresLocation(\(description)\(hasPassword ? ", password set" : ""))" }

    /// A mirror without the password, so that `dump` and reflection cannot show it.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": endpoint, "user": user, "database": database, "vaultName": vaultName as Any,
                "hasPassword": hasPassword, "timeouts": timeouts, "tls": tls,
            ],
            displayStyle: .struct)
    }

    private static func escaped(_ text: String, keepingSlashes: Bool = false) -> String {
        var result = ""
        for byte in text.utf8 {
            let isSafe =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "~") || (keepingSlashes && byte == UInt8(ascii: "/"))
            if isSafe {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                result += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
            }
        }
        return result
    }
}
