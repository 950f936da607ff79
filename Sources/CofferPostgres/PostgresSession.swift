import CofferCrypto
import CofferErrors
import CofferStorage
import NIOSSL
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
    /// No answer came before the client's deadline; the connection cannot be trusted since
    /// the statement may still run.
    case timedOut

    /// PostgreSQL's SQLSTATE for a unique violation.
    static let uniqueViolation = "23505"
    /// The server cancelled the statement: `statement_timeout` passed.
    static let queryCanceled = "57014"
    /// The server gave up waiting for a lock: `lock_timeout` passed.
    static let lockNotAvailable = "55P03"
    /// SQLSTATE `undefined_table`: a database where no vault was ever created has no tables.
    static let undefinedTable = "42P01"
    /// The server ended a session idle in a transaction for longer than
    /// `idle_in_transaction_session_timeout`; it closes the connection after sending it.
    static let idleInTransactionTimeout = "25P03"

    init(_ error: any Error) {
        guard let error = error as? PSQLError else {
            self = .connectionLost(errno: Self.errno(in: error) ?? ECONNRESET)
            return
        }
        if error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
            // Class 08 is "connection exception" and 57P0x is an administrator or crash
            // shutdown: the server closes the connection after sending them.
            if sqlState.hasPrefix("08") || sqlState.hasPrefix("57P0") || sqlState == Self.idleInTransactionTimeout {
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

    /// Whether a connection failed before any attempt to connect: the host's name resolved
    /// to no address (NIO's error then holds a DNS error and no connection error).
    static func isUnresolvedHost(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return error.underlying.map(isUnresolvedHost) ?? false }
        guard let error = error as? NIOConnectionError else { return false }
        return error.connectionErrors.isEmpty && (error.dnsAError != nil || error.dnsAAAAError != nil)
    }

    /// The errno inside one of NIO's errors. A socket's errno is not a file's, so it is not
    /// mapped through `SystemError`: ENOENT here is the server's Unix socket gone during a
    /// restart, an outage (`.io`, retried), never the `.notFound` a missing file is.
    private static func errno(in error: any Error) -> Int32? {
        if let error = error as? IOError { return error.errnoCode }
        if let error = error as? ChannelError, case .connectTimeout = error { return ETIMEDOUT }
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
    let timeouts: PostgresTimeouts
    /// When the transaction these statements belong to must be over, if they are in one.
    let transactionDeadline: Deadline?

    /// Runs one statement and collects its rows, waiting at most `statement_timeout` plus
    /// ``PostgresTimeouts/clientGrace`` (and never past the transaction's deadline), and no
    /// longer than the connection stays open.
    ///
    /// - Throws: ``StatementFailure``.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> PostgresQueryResult {
        let deadline = Deadline.after(timeouts.statement + PostgresTimeouts.clientGrace).earlier(transactionDeadline)
        switch connection.query(query, logger: postgresSilentLogger).wait(
            until: deadline, orUntilClosed: connection.closeFuture)
        {
        case .value(let result): return result
        case .failure(let error): throw StatementFailure(error)
        case .timedOut: throw StatementFailure.timedOut
        case .closed: throw StatementFailure.connectionLost(errno: ECONNRESET)
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
/// Nothing waits without a deadline (``PostgresTimeouts``): a statement that gets no answer in
/// time fails as a lost connection would, with `ETIMEDOUT`, and its connection is closed.
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
    /// Whether a transaction begun by ``hold(_:_:)`` is open. Guarded by `lock`.
    private var isHolding = false
    /// The thread that called ``hold(_:_:)``, while it holds. Guarded by `lock`.
    private var holder: pthread_t?

    init(location: PostgresLocation) {
        self.location = location
    }

    deinit {
        connection?.closeWithinDeadline()
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
        connection?.closeWithinDeadline()
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
                    return try body(
                        Statements(connection: connection, timeouts: location.timeouts, transactionDeadline: nil))
                } catch let failure as StatementFailure {
                    guard failure.endsTheConnection else { throw serverError(failure, operation: operation) }
                    dropConnection()
                    if case .connectionLost = failure, !isFresh && !retried {
                        retried = true
                        continue
                    }
                    throw CofferError(
                        .io(errno: failure.errno),
                        "\(failure.what(operation, location.timeouts)); it changed nothing and can be retried.")
                }
            }
        }
    }

    /// Runs `body` in one transaction (read committed, synchronous commit), which must be over
    /// within `transaction_timeout`.
    ///
    /// - A statement that fails with a server error rolls the transaction back and throws
    ///   `CofferError(.io)` with the SQLSTATE, unless the body catches it first.
    /// - A connection lost, or a statement unanswered in time, before `COMMIT` was sent throws
    ///   `.io` saying nothing was committed; while committing, `.io` saying the outcome is
    ///   unknown.
    func transaction<Value>(_ operation: String, _ body: (Statements) throws -> TransactionEnd<Value>) throws -> Value {
        try lock.withLock {
            let deadline = Deadline.after(location.timeouts.transaction)
            var retried = false
            while true {
                let (connection, isFresh) = try currentConnection()
                let statements = Statements(
                    connection: connection, timeouts: location.timeouts, transactionDeadline: deadline)
                do {
                    try statements.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                } catch let failure as StatementFailure {
                    guard failure.endsTheConnection else { throw serverError(failure, operation: operation) }
                    dropConnection()
                    // Only BEGIN was sent: nothing of the operation reached the server.
                    if case .connectionLost = failure, !isFresh && !retried {
                        retried = true
                        continue
                    }
                    throw lostBeforeCommit(operation, failure)
                }

                switch try finish(operation, statements, body) {
                case .ended(let value): return value
                case .lostBeforeCommit(let failure): throw lostBeforeCommit(operation, failure)
                }
            }
        }
    }

    /// How ``finish(_:_:_:)`` left a transaction.
    private enum Finished<Value> {
        /// Committed or rolled back, as the body asked.
        case ended(Value)
        /// The connection was lost, or a statement went unanswered, before `COMMIT` was sent:
        /// nothing of the transaction was committed, and the connection is dropped.
        case lostBeforeCommit(StatementFailure)
    }

    /// Runs `body` in the transaction `statements` began and ends it as `body` asks. Called
    /// with `lock` held.
    private func finish<Value>(
        _ operation: String, _ statements: Statements, _ body: (Statements) throws -> TransactionEnd<Value>
    ) throws -> Finished<Value> {
        let end: TransactionEnd<Value>
        do {
            end = try body(statements)
        } catch {
            if let failure = error as? StatementFailure, failure.endsTheConnection {
                dropConnection()
                return .lostBeforeCommit(failure)
            }
            rollBack(statements)
            if let failure = error as? StatementFailure {
                throw serverError(failure, operation: operation)
            }
            throw error
        }

        switch end {
        case .rollback(let value):
            rollBack(statements)
            return .ended(value)
        case .commit(let value):
            let tag: String
            do {
                tag = try statements.execute("COMMIT").metadata.command
            } catch let failure as StatementFailure {
                guard failure.endsTheConnection else {
                    // The server refused the commit and rolled the transaction back.
                    rollBack(statements)
                    throw serverError(failure, operation: operation)
                }
                dropConnection()
                throw CofferError(
                    .io(errno: failure.errno),
                    "\(failure.what("committing (" + operation + ")", location.timeouts)): the outcome is "
                        + "unknown. Read back what was written to learn whether it landed.")
            }
            // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
            guard tag == "COMMIT" else {
                throw CofferError(.io(errno: EIO), "PostgreSQL rolled back \(operation) instead of committing it.")
            }
            return .ended(value)
        }
    }

    /// Begins a transaction that stays open when this returns, for what it holds until
    /// ``release()``: a transaction-scoped lock that `body` takes. `body` returns whether to
    /// keep the transaction; when it returns `false` (say, a lock wait gave up) the transaction
    /// is rolled back and `hold` returns `false`.
    ///
    /// While held, the session runs nothing else (the caller uses it for this only), and another
    /// `hold` waits for ``release()``. The server
    /// ends a transaction left idle for longer than `idle_in_transaction_session_timeout`, and
    /// any transaction whose connection ends: what it held is released then too.
    ///
    /// - Throws: `CofferError(.io)` when the connection is lost or a statement is refused.
    func hold(_ operation: String, _ body: (Statements) throws -> Bool) throws -> Bool {
        try lock.withLock {
            // Several vaults opened on one backend share this session: one holds at a time,
            // and a holder keeps it no longer than the server lets a transaction sit idle.
            let deadline = Deadline.after(location.timeouts.idleInTransaction + location.timeouts.lock)
            while isHolding {
                guard !deadline.hasPassed else {
                    throw CofferError(
                        .io(errno: ETIMEDOUT),
                        "Another vault of this process held the writer turn for longer than a transaction may sit idle; "
                            + "nothing was written.")
                }
                lock.wait(until: deadline.time)
            }
            var retried = false
            while true {
                let (connection, isFresh) = try currentConnection()
                let statements = Statements(
                    connection: connection, timeouts: location.timeouts, transactionDeadline: nil)
                do {
                    try statements.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                    guard try body(statements) else {
                        rollBack(statements)
                        return false
                    }
                    isHolding = true
                    holder = pthread_self()
                    return true
                } catch let failure as StatementFailure {
                    guard failure.endsTheConnection else {
                        rollBack(statements)
                        throw serverError(failure, operation: operation)
                    }
                    dropConnection()
                    // A connection idle since the last release may have been closed by the server.
                    if case .connectionLost = failure, !isFresh && !retried {
                        retried = true
                        continue
                    }
                    throw CofferError(.io(errno: failure.errno), "\(failure.what(operation, location.timeouts)).")
                }
            }
        }
    }

    /// Ends the transaction ``hold(_:_:)`` began, releasing what it held. Nothing to do when
    /// none is held; when the rollback fails the connection is closed, which ends it as well.
    func release() {
        lock.withLock {
            guard isHolding else { return }
            endHolding()
            guard let connection, !connection.isClosed else { return dropConnection() }
            rollBack(Statements(connection: connection, timeouts: location.timeouts, transactionDeadline: nil))
        }
    }

    /// Runs `body` in the transaction this thread's ``hold(_:_:)`` left open, and ends it as
    /// `body` asks (committing or rolling back), which releases what it held: the writes a
    /// lock guards and the lock's release take one transaction, and no round trip of their own.
    ///
    /// Returns `nil`, having committed nothing, when this thread holds nothing or the held
    /// transaction's connection was lost before `COMMIT` was sent (the server ended it, and
    /// released what it held): run the operation in a transaction of its own then. Otherwise
    /// it fails as ``transaction(_:_:)`` does.
    func finishHeld<Value>(_ operation: String, _ body: (Statements) throws -> TransactionEnd<Value>) throws -> Value? {
        try lock.withLock {
            guard isHolding, let holder, pthread_equal(holder, pthread_self()) != 0 else { return nil }
            endHolding()
            guard let connection, !connection.isClosed else {
                dropConnection()
                return nil
            }
            let statements = Statements(
                connection: connection, timeouts: location.timeouts,
                transactionDeadline: Deadline.after(location.timeouts.transaction))
            switch try finish(operation, statements, body) {
            case .ended(let value): return value
            case .lostBeforeCommit(.connectionLost): return nil
            case .lostBeforeCommit(let failure): throw lostBeforeCommit(operation, failure)
            }
        }
    }

    /// Marks the held transaction over and wakes a ``hold(_:_:)`` waiting for it. Called with
    /// `lock` held.
    private func endHolding() {
        isHolding = false
        holder = nil
        lock.broadcast()
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
        connection?.closeWithinDeadline()
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

    /// Opens and authenticates a connection, with the session settings the store relies on,
    /// within `connect_timeout` (plus ``PostgresTimeouts/clientGrace``, for postgres-nio's own
    /// deadline to fire first).
    ///
    /// - Throws: `CofferError(.io)` when the server cannot be reached, does not answer in time
    ///   or refuses the login, `.notFound` when the database does not exist.
    static func open(_ location: PostgresLocation, id: Int) throws -> PostgresConnection {
        let timeouts = location.timeouts
        let deadline = Deadline.after(timeouts.connect + PostgresTimeouts.clientGrace)
        // One loop for the channel and the connection: postgres-nio sets up an established
        // channel's handlers on the loop it is given, which must be the channel's.
        let eventLoop = postgresEventLoopGroup.next()
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            // A channel of our own, for TCP keepalive: postgres-nio sets no socket options.
            let channel = try connectTCP(
                host: host, port: port, on: eventLoop, timeouts: timeouts, deadline: deadline, location)
            let tls: PostgresConnection.Configuration.TLS
            do {
                tls = try Self.tls(location.tls)
            } catch {
                channel.close(promise: nil)
                throw error
            }
            configuration = .init(
                establishedChannel: channel, tls: tls, username: location.user, password: location.password,
                database: location.database)
            // The name the server is asked for (SNI, which proxies route by, as libpq sends it),
            // and the one verify-full checks the certificate for; an address is neither.
            if !PostgresLocation.isAddress(host) { configuration.options.tlsServerName = host }
        case .unixSocket:
            configuration = .init(
                unixSocketPath: location.socketPath!, username: location.user, password: location.password,
                database: location.database)
        }
        configuration.options.connectTimeout = .nanoseconds(timeouts.connect.clampedNanoseconds)
        // Whatever the server, database or role defaults say: a commit is acknowledged only once
        // it is durable on the server, the locking in PostgresFrameStore assumes read committed,
        // and the server enforces its share of the deadlines.
        configuration.options.additionalStartupParameters = [
            ("synchronous_commit", "on"),
            ("default_transaction_isolation", "read committed"),
            ("application_name", "coffer"),
            ("statement_timeout", "\(PostgresTimeouts.milliseconds(timeouts.statement))"),
            ("lock_timeout", "\(PostgresTimeouts.milliseconds(timeouts.lock))"),
            (
                "idle_in_transaction_session_timeout",
                "\(PostgresTimeouts.milliseconds(timeouts.idleInTransaction))"
            ),
        ]
        let connecting = PostgresConnection.connect(
            on: eventLoop, configuration: configuration, id: id, logger: postgresSilentLogger)
        switch connecting.wait(until: deadline) {
        case .value(let connection):
            return connection
        case .timedOut:
            // A login that completes after all is closed at once rather than leaked.
            connecting.whenSuccess { connection in _ = connection.close() as EventLoopFuture<Void> }
            if let channel = configuration.establishedChannel { channel.close(promise: nil) }
            throw CofferError(
                .io(errno: ETIMEDOUT),
                "PostgreSQL at \(location) did not let us log in within connect_timeout "
                    + "(\(PostgresTimeouts.describe(timeouts.connect))).")
        case .closed:
            preconditionFailure("no close future was given")
        case .failure(let error):
            if let channel = configuration.establishedChannel { channel.close(promise: nil) }
            throw connectionError(error, location)
        }
    }

    /// postgres-nio's TLS setting for `tls`: libpq's modes on NIOSSL's checks.
    ///
    /// - Throws: `CofferError(.invalidInput)` when the root certificate file cannot be read as
    ///   PEM certificates.
    static func tls(_ tls: PostgresTLS) throws(CofferError) -> PostgresConnection.Configuration.TLS {
        if tls.mode == .disable { return .disable }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls.mode {
        case .disable, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let file = tls.rootCertificates { configuration.trustRoots = .file(file) }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw CofferError(
                .invalidInput,
                "The TLS root certificates \(tls.rootCertificates ?? "of the system") could not be read as PEM "
                    + "certificates (sslrootcert).")
        }
        return tls.mode == .prefer ? .prefer(context) : .require(context)
    }

    /// Connects a TCP channel with keepalive set, within `deadline`. Internal for tests.
    static func connectTCP(
        host: String, port: Int, on eventLoop: any EventLoop = postgresEventLoopGroup.next(),
        timeouts: PostgresTimeouts, deadline: Deadline, _ location: PostgresLocation
    ) throws -> any Channel {
        let keepalive = { (duration: Duration) in Int(duration.components.seconds) }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(timeouts.connect.clampedNanoseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.init(rawValue: TCP_KEEPIDLE)), value: keepalive(timeouts.keepaliveIdle))
            .channelOption(.tcpOption(.init(rawValue: TCP_KEEPINTVL)), value: keepalive(timeouts.keepaliveInterval))
            .channelOption(.tcpOption(.init(rawValue: TCP_KEEPCNT)), value: timeouts.keepaliveCount)
        let connecting = bootstrap.connect(host: host, port: port)
        switch connecting.wait(until: deadline) {
        case .value(let channel):
            return channel
        case .timedOut:
            connecting.whenSuccess { (channel: any Channel) in channel.close(promise: nil) }
            throw CofferError(
                .io(errno: ETIMEDOUT),
                "PostgreSQL at \(location) could not be reached within connect_timeout "
                    + "(\(PostgresTimeouts.describe(timeouts.connect))).")
        case .closed:
            preconditionFailure("no close future was given")
        case .failure(let error):
            throw connectionError(error, location)
        }
    }

    /// What went wrong in a TLS handshake, when `error` is one (NIOSSL's, possibly wrapped by
    /// postgres-nio), in NIOSSL's words: a verification failure names no secret.
    private static func tlsFailure(_ error: any Error) -> String? {
        let found = (error as? PSQLError)?.underlying ?? error
        guard found is NIOSSLError || found is BoringSSLError || found is NIOSSLExtraError else { return nil }
        // BoringSSL's reason (`CERTIFICATE_VERIFY_FAILED`), without the source file it names.
        let text = "\(found)"
        guard let marker = text.range(of: "OPENSSL_internal:") else { return "the handshake failed" }
        let reason = text[marker.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        return reason.isEmpty ? "the handshake failed" : String(reason)
    }

    /// What a failed connection attempt means to the caller.
    private static func connectionError(_ error: any Error, _ location: PostgresLocation) -> CofferError {
        if let error = error as? PSQLError, error.code == .server, let sqlState = error.serverInfo?[.sqlState] {
            switch sqlState {
            case "28P01", "28000":
                return CofferError(
                    .io(errno: EACCES), "PostgreSQL at \(location) refused the login of role \(location.user).")
            case "3D000":
                return CofferError(.notFound, "The database \(location.database) does not exist at \(location).")
            case "57P03":
                return CofferError(
                    .io(errno: EAGAIN),
                    "PostgreSQL at \(location) is starting up, shutting down or recovering, and takes no connection yet "
                        + "(SQLSTATE 57P03); nothing was written. Try again in a moment.")
            default:
                return CofferError(
                    .io(errno: EIO), "PostgreSQL at \(location) refused the connection (SQLSTATE \(sqlState)).")
            }
        }
        if let error = error as? PSQLError, error.code == .sslUnsupported {
            return CofferError(
                .io(errno: EPROTO),
                "PostgreSQL at \(location) does not accept TLS, which sslmode=\(location.tls.mode.rawValue) asks for; "
                    + "nothing was sent to it. Turn ssl on at the server, or reach it another safe way.")
        }
        if let failure = Self.tlsFailure(error) {
            return CofferError(
                .io(errno: EPROTO),
                "TLS with PostgreSQL at \(location) failed (\(failure)); nothing was sent to it. With "
                    + "sslmode=verify-ca or verify-full the server's certificate must be signed by an authority of "
                    + "sslrootcert (or of the system), and with verify-full name the host.")
        }
        if let error = error as? PSQLError, error.code == .authMechanismRequiresPassword {
            return CofferError(
                .io(errno: EACCES), "PostgreSQL at \(location) asks for a password and none was given.")
        }
        if StatementFailure.isUnresolvedHost(error) {
            return CofferError(
                .io(errno: EHOSTUNREACH),
                "Cannot connect to PostgreSQL at \(location): its host name could not be resolved to an address.")
        }
        let code: Int32
        if case .connectionLost(let found) = StatementFailure(error) { code = found } else { code = EIO }
        if code == ETIMEDOUT {
            return CofferError(
                .io(errno: code),
                "PostgreSQL at \(location) did not let us log in within connect_timeout "
                    + "(\(PostgresTimeouts.describe(location.timeouts.connect))).")
        }
        // No socket file, or no one listening: the server is not running there.
        let hint = code == ENOENT || code == ECONNREFUSED ? ": no server listens there (is PostgreSQL running?)" : ""
        return CofferError(
            .io(errno: code),
            "Cannot connect to PostgreSQL at \(location) (\(String(cString: strerror(code))))\(hint).")
    }

    // MARK: Errors

    private func serverError(_ failure: StatementFailure, operation: String) -> CofferError {
        switch failure {
        case .server(let sqlState, _, _) where sqlState == StatementFailure.queryCanceled:
            CofferError(
                .io(errno: ETIMEDOUT),
                "PostgreSQL cancelled \(operation): it ran longer than statement_timeout; nothing was written.")
        case .server(let sqlState, _, _) where sqlState == StatementFailure.lockNotAvailable:
            CofferError(
                .io(errno: ETIMEDOUT),
                "PostgreSQL gave up \(operation) after waiting lock_timeout for another writer; nothing was written.")
        case .server(let sqlState, _, _) where sqlState == StatementFailure.undefinedTable:
            CofferError(
                .notFound,
                "The database \(location.database) holds no Coffer vault: it has none of the tables `coffer init` creates."
            )
        case .server(let sqlState, let message, _) where sqlState == "42501":
            CofferError(
                .io(errno: EACCES),
                "PostgreSQL refused \(operation): the role \(location.user) lacks a privilege (SQLSTATE 42501, "
                    + "\(message)). Reading needs SELECT on the coffer_ tables; writing needs INSERT, UPDATE and "
                    + "DELETE as well.")
        case .server(let sqlState, let message, _):
            CofferError(.io(errno: EIO), "PostgreSQL refused \(operation): SQLSTATE \(sqlState), \(message)")
        case .connectionLost, .timedOut:
            CofferError(
                .io(errno: failure.errno),
                "\(failure.what(operation, location.timeouts)), before the commit: nothing was written.")
        }
    }

    private func lostBeforeCommit(_ operation: String, _ failure: StatementFailure) -> CofferError {
        CofferError(
            .io(errno: failure.errno),
            "\(failure.what(operation, location.timeouts)), before the commit: nothing was written.")
    }
}

extension StatementFailure {
    /// Whether the connection cannot be used after this failure.
    var endsTheConnection: Bool {
        switch self {
        case .server: false
        case .connectionLost, .timedOut: true
        }
    }

    /// The errno an `.io` error for this failure carries.
    var errno: Int32 {
        switch self {
        case .server: EIO
        case .connectionLost(let code): code
        case .timedOut: ETIMEDOUT
        }
    }

    /// What happened to `operation`, as the start of a sentence.
    func what(_ operation: String, _ timeouts: PostgresTimeouts) -> String {
        switch self {
        case .timedOut:
            "PostgreSQL did not answer while \(operation) within its deadline (statement_timeout "
                + "\(PostgresTimeouts.describe(timeouts.statement)) + \(PostgresTimeouts.describe(PostgresTimeouts.clientGrace)), "
                + "transaction_timeout \(PostgresTimeouts.describe(timeouts.transaction))); the connection was closed"
        case .connectionLost, .server:
            "The connection to PostgreSQL was lost while \(operation)"
        }
    }
}
