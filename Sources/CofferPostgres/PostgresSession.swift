import CofferCrypto
import CofferStorage
import PostgresNIO

#if canImport(Glibc)
    import Glibc
#endif

/// The event loops every connection of the process runs on: NIO's process-wide group, so that
/// stores and listeners share its threads instead of each starting their own.
let postgresEventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

/// The logger handed to postgres-nio. It logs only at `.critical`, which postgres-nio never
/// uses: queries carry sealed frames and headers, and none of it belongs in a log.
let postgresSilentLogger: Logger = {
    var logger = Logger(label: "coffer.postgres")
    logger.logLevel = .critical
    return logger
}()

/// What one statement's failure means to the caller.
enum StatementFailure: Error {
    /// The server refused the statement; the connection is still usable once the transaction
    /// is rolled back.
    case server(sqlState: String, message: String, constraint: String?)
    /// The connection is gone (closed, reset, shut down by the server) or unusable.
    case connectionLost(errno: Int32)

    /// PostgreSQL's SQLSTATE for a unique violation.
    static let uniqueViolation = "23505"

    init(_ error: any Error) {
        guard let error = error as? PSQLError else {
            self = .connectionLost(errno: Self.errno(in: error) ?? ECONNRESET)
            return
        }
        if error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
            // Class 08 is "connection exception" and 57P0x is an administrator or crash
            // shutdown: the server closes the connection after sending them.
            if sqlState.hasPrefix("08") || sqlState.hasPrefix("57P0") {
                self = .connectionLost(errno: ECONNRESET)
            } else {
                // The primary message only: the detail can quote key values.
                self = .server(
                    sqlState: sqlState, message: error.serverInfo?[.message] ?? "no message",
                    constraint: error.serverInfo?[.constraintName])
            }
            return
        }
        self = .connectionLost(errno: error.underlying.flatMap(Self.errno(in:)) ?? ECONNRESET)
    }

    private static func errno(in error: any Error) -> Int32? {
        if let error = error as? IOError { return error.errnoCode }
        if let error = error as? NIOConnectionError {
            for failure in error.connectionErrors {
                if let code = Self.errno(in: failure.error) { return code }
            }
            return error.dnsAAAAError.flatMap(Self.errno(in:)) ?? error.dnsAError.flatMap(Self.errno(in:))
        }
        if let error = error as? PSQLError { return error.underlying.flatMap(Self.errno(in:)) }
        return nil
    }

    var isUniqueViolation: Bool {
        if case .server(let sqlState, _, _) = self { return sqlState == Self.uniqueViolation }
        return false
    }
}

/// How a transaction body wants its transaction to end.
enum TransactionEnd<Value> {
    /// Commit, then return the value.
    case commit(Value)
    /// Roll back (the body saw a conflict, or a statement failed and it knows why), then
    /// return the value.
    case rollback(Value)
}

/// One connection, used by one thread at a time: the statements of an operation.
struct Statements {
    let connection: PostgresConnection

    /// Runs one statement and collects its rows.
    ///
    /// - Throws: ``StatementFailure``.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> PostgresQueryResult {
        do {
            return try connection.query(query, logger: postgresSilentLogger).wait()
        } catch {
            throw StatementFailure(error)
        }
    }
}

/// A synchronous connection over postgres-nio, safe to use from several threads: a lock
/// serializes the operations, each of which runs its statements one after another, waiting on
/// each future from the caller's thread.
///
/// The connection is opened on first use and again after it was lost: a lost connection fails
/// the operation that saw it and the next operation reconnects. An operation whose first
/// statement fails on a connection that was idle since an earlier operation is retried once on
/// a new connection, because nothing of it reached the server.
///
/// Call it from ordinary threads, never from an event loop (waiting there would deadlock) nor
/// from a Swift concurrency task (it blocks the thread).
final class PostgresSession: @unchecked Sendable {
    let location: PostgresLocation
    private let lock = Lock()
    /// Guarded by `lock`.
    private var connection: PostgresConnection?
    /// Guarded by `lock`.
    private var isClosed = false
    /// Guarded by `lock`.
    private var connectionCount = 0

    init(location: PostgresLocation) {
        self.location = location
    }

    deinit {
        if let connection { try? connection.close().wait() }
    }

    /// How many connections this session opened: 1 until a connection was lost.
    var connectionsOpened: Int { lock.withLock { connectionCount } }

    /// Opens the connection now, instead of on first use.
    ///
    /// - Throws: `CofferError(.io)` when the server cannot be reached or refuses the login.
    func connect() throws {
        try lock.withLock { _ = try currentConnection() }
    }

    /// Closes the connection. Later operations throw `CofferError(.closed)`.
    func close() {
        let connection = lock.withLock {
            isClosed = true
            defer { self.connection = nil }
            return self.connection
        }
        if let connection { try? connection.close().wait() }
    }

    /// Runs read-only statements outside an explicit transaction; each is its own snapshot.
    ///
    /// A lost connection is reported as `.io` that says a retry is safe.
    func read<Value>(_ operation: String, _ body: (Statements) throws -> Value) throws -> Value {
        try lock.withLock {
            var retried = false
            while true {
                let (connection, isFresh) = try currentConnection()
                do {
                    return try body(Statements(connection: connection))
                } catch let failure as StatementFailure {
                    guard case .connectionLost(let code) = failure else {
                        throw Self.serverError(failure, operation: operation)
                    }
                    dropConnection()
                    if !isFresh && !retried {
                        retried = true
                        continue
                    }
                    throw CofferError(
                        .io(errno: code),
                        "The connection to PostgreSQL was lost during \(operation); it changed nothing and can be retried."
                    )
                }
            }
        }
    }

    /// Runs `body` in one transaction (read committed, synchronous commit).
    ///
    /// - A statement that fails with a server error rolls the transaction back and throws
    ///   `CofferError(.io)` with the SQLSTATE, unless the body catches it first.
    /// - A connection lost before `COMMIT` was sent throws `.io` saying nothing was committed;
    ///   a connection lost while committing throws `.io` saying the outcome is unknown.
    func transaction<Value>(_ operation: String, _ body: (Statements) throws -> TransactionEnd<Value>) throws -> Value {
        try lock.withLock {
            var retried = false
            while true {
                let (connection, isFresh) = try currentConnection()
                let statements = Statements(connection: connection)
                do {
                    try statements.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                } catch let failure as StatementFailure {
                    guard case .connectionLost(let code) = failure else {
                        throw Self.serverError(failure, operation: operation)
                    }
                    dropConnection()
                    // Only BEGIN was sent: nothing of the operation reached the server.
                    if !isFresh && !retried {
                        retried = true
                        continue
                    }
                    throw Self.lostBeforeCommit(operation, errno: code)
                }

                let end: TransactionEnd<Value>
                do {
                    end = try body(statements)
                } catch {
                    if let failure = error as? StatementFailure, case .connectionLost(let code) = failure {
                        dropConnection()
                        throw Self.lostBeforeCommit(operation, errno: code)
                    }
                    rollBack(statements)
                    if let failure = error as? StatementFailure {
                        throw Self.serverError(failure, operation: operation)
                    }
                    throw error
                }

                switch end {
                case .rollback(let value):
                    rollBack(statements)
                    return value
                case .commit(let value):
                    let tag: String
                    do {
                        tag = try statements.execute("COMMIT").metadata.command
                    } catch let failure as StatementFailure {
                        guard case .connectionLost(let code) = failure else {
                            // The server refused the commit and rolled the transaction back.
                            rollBack(statements)
                            throw Self.serverError(failure, operation: operation)
                        }
                        dropConnection()
                        throw CofferError(
                            .io(errno: code),
                            "The connection to PostgreSQL was lost while committing \(operation): the outcome is "
                                + "unknown. Read back what was written to learn whether it landed.")
                    }
                    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
                    guard tag == "COMMIT" else {
                        throw CofferError(
                            .io(errno: EIO), "PostgreSQL rolled back \(operation) instead of committing it.")
                    }
                    return value
                }
            }
        }
    }

    // MARK: Connection management (all called with `lock` held)

    private func currentConnection() throws -> (PostgresConnection, isFresh: Bool) {
        guard !isClosed else { throw CofferError(.closed, "The PostgreSQL store was closed.") }
        if let connection {
            if !connection.isClosed { return (connection, false) }
            dropConnection()
        }
        let opened = try Self.open(location, id: connectionCount + 1)
        connectionCount += 1
        connection = opened
        return (opened, true)
    }

    private func dropConnection() {
        if let connection { try? connection.close().wait() }
        connection = nil
    }

    private func rollBack(_ statements: Statements) {
        do {
            try statements.execute("ROLLBACK")
        } catch {
            // The server rolls back on its own when the connection goes; a connection whose
            // rollback failed cannot be trusted to be outside a transaction.
            dropConnection()
        }
    }

    /// Opens and authenticates a connection, with the session settings the store relies on.
    ///
    /// - Throws: `CofferError(.io)` when the server cannot be reached or refuses the login,
    ///   `.notFound` when the database does not exist.
    static func open(_ location: PostgresLocation, id: Int) throws -> PostgresConnection {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host, port: port, username: location.user, password: location.password,
                database: location.database, tls: .disable)
        case .unixSocket:
            configuration = .init(
                unixSocketPath: location.socketPath!, username: location.user, password: location.password,
                database: location.database)
        }
        configuration.options.connectTimeout = .seconds(10)
        // Whatever the server, database or role defaults say: a commit is acknowledged only once
        // it is durable on the server, and the locking in PostgresFrameStore assumes read committed.
        configuration.options.additionalStartupParameters = [
            ("synchronous_commit", "on"),
            ("default_transaction_isolation", "read committed"),
            ("application_name", "coffer"),
        ]
        do {
            return try PostgresConnection.connect(
                on: postgresEventLoopGroup.next(), configuration: configuration, id: id, logger: postgresSilentLogger
            ).wait()
        } catch {
            if let error = error as? PSQLError, error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
                switch sqlState {
                case "28P01", "28000":
                    throw CofferError(
                        .io(errno: EACCES), "PostgreSQL at \(location) refused the login of role \(location.user).")
                case "3D000":
                    throw CofferError(.notFound, "The database \(location.database) does not exist at \(location).")
                default:
                    throw CofferError(
                        .io(errno: EIO), "PostgreSQL at \(location) refused the connection (SQLSTATE \(sqlState)).")
                }
            }
            if let error = error as? PSQLError, error.code == .authMechanismRequiresPassword {
                throw CofferError(
                    .io(errno: EACCES), "PostgreSQL at \(location) asks for a password and none was given.")
            }
            let code: Int32
            if case .connectionLost(let found) = StatementFailure(error) { code = found } else { code = EIO }
            throw CofferError(
                .io(errno: code), "Cannot connect to PostgreSQL at \(location) (\(String(cString: strerror(code)))).")
        }
    }

    // MARK: Errors

    static func serverError(_ failure: StatementFailure, operation: String) -> CofferError {
        switch failure {
        case .server(let sqlState, let message, _):
            CofferError(.io(errno: EIO), "PostgreSQL refused \(operation): SQLSTATE \(sqlState), \(message)")
        case .connectionLost(let code):
            lostBeforeCommit(operation, errno: code)
        }
    }

    private static func lostBeforeCommit(_ operation: String, errno code: Int32) -> CofferError {
        CofferError(
            .io(errno: code),
            "The connection to PostgreSQL was lost during \(operation), before the commit: nothing was written.")
    }
}
