import CofferCrypto
import CofferErrors

/// How long each step on the PostgreSQL path may take: no connect, statement, transaction or
/// LISTEN waits without a deadline, so that a stalled server, a failover or a connection that
/// died without a word fails a call with `CofferError(.io)` instead of hanging it.
///
/// | Setting | URL parameter | Default | Enforced by |
/// |---|---|---|---|
/// | ``connect`` | `connect_timeout` (seconds, as libpq) | 10 s | the client: reaching the server and logging in |
/// | ``statement`` | `statement_timeout` | 30 s | the server cancels the statement; the client gives up ``clientGrace`` later whatever the server does |
/// | ``lock`` | `lock_timeout` | 10 s | the server: a wait for a row lock (an append behind a compaction's switch) |
/// | ``transaction`` | `transaction_timeout` | 60 s | the client: a whole transaction, from `BEGIN` to the end of `COMMIT` |
/// | ``idleInTransaction`` | `idle_in_transaction_session_timeout` | 30 s | the server: it ends the session of a client that stopped in the middle of a transaction, releasing its locks |
/// | ``keepaliveIdle``, ``keepaliveInterval``, ``keepaliveCount`` | `keepalives_idle`, `keepalives_interval` (seconds), `keepalives_count` | 15 s, 5 s, 3 | TCP keepalive: a connection whose peer vanished (a failover, a cut network) is closed after about 30 s idle |
///
/// Durations in the URL are whole milliseconds, or a number with a unit `ms`, `s`, `min` or
/// `h` as PostgreSQL writes them (`statement_timeout=5s`); `connect_timeout` and the
/// keepalive intervals are whole seconds, as libpq reads them. Every duration is at least
/// 1 ms (or 1 s) and at most 24 hours: none of them can be switched off.
///
/// A statement the client gave up on fails with `.io(ETIMEDOUT)` and its connection is
/// closed, so the next call opens a new one; a `COMMIT` the client gave up on has an unknown
/// outcome, said in the error, as when the connection is lost while committing.
public struct PostgresTimeouts: Sendable, Equatable {
    /// Reaching the server and logging in.
    public let connect: Duration
    /// One statement on the server.
    public let statement: Duration
    /// A wait for a row lock on the server.
    public let lock: Duration
    /// A whole transaction, measured by the client.
    public let transaction: Duration
    /// How long the server lets a session sit idle inside a transaction.
    public let idleInTransaction: Duration
    /// Idle time before TCP keepalive probes start (TCP connections only).
    public let keepaliveIdle: Duration
    /// Time between TCP keepalive probes.
    public let keepaliveInterval: Duration
    /// Probes without an answer before the connection is closed.
    public let keepaliveCount: Int

    /// How much longer than ``statement`` the client waits for a statement's answer: room for
    /// the server's own cancellation to arrive first, as a clean error on a connection that
    /// stays usable.
    public static let clientGrace: Duration = .seconds(2)
    /// The longest any duration may be.
    public static let durationMax: Duration = .seconds(24 * 60 * 60)
    /// The most keepalive probes.
    public static let keepaliveCountMax = 100

    /// The defaults in the table above.
    public static let `default` = PostgresTimeouts(
        checked: .seconds(10), statement: .seconds(30), lock: .seconds(10), transaction: .seconds(60),
        idleInTransaction: .seconds(30), keepaliveIdle: .seconds(15), keepaliveInterval: .seconds(5),
        keepaliveCount: 3)

    /// Deadlines of your own; each one left out keeps its default.
    ///
    /// - Throws: `CofferError(.invalidInput)` naming the setting when a duration is below
    ///   1 ms (below 1 s for ``connect`` and the keepalive intervals) or above 24 hours, or
    ///   the keepalive count is not between 1 and ``keepaliveCountMax``.
    public init(
        connect: Duration = Self.default.connect, statement: Duration = Self.default.statement,
        lock: Duration = Self.default.lock, transaction: Duration = Self.default.transaction,
        idleInTransaction: Duration = Self.default.idleInTransaction,
        keepaliveIdle: Duration = Self.default.keepaliveIdle,
        keepaliveInterval: Duration = Self.default.keepaliveInterval,
        keepaliveCount: Int = Self.default.keepaliveCount
    ) throws {
        try Self.check(connect, "connect_timeout", least: .seconds(1))
        try Self.check(statement, "statement_timeout", least: .milliseconds(1))
        try Self.check(lock, "lock_timeout", least: .milliseconds(1))
        try Self.check(transaction, "transaction_timeout", least: .milliseconds(1))
        try Self.check(idleInTransaction, "idle_in_transaction_session_timeout", least: .milliseconds(1))
        try Self.check(keepaliveIdle, "keepalives_idle", least: .seconds(1))
        try Self.check(keepaliveInterval, "keepalives_interval", least: .seconds(1))
        guard (1...Self.keepaliveCountMax).contains(keepaliveCount) else {
            throw CofferError(.invalidInput, "keepalives_count must be between 1 and \(Self.keepaliveCountMax).")
        }
        self.init(
            checked: connect, statement: statement, lock: lock, transaction: transaction,
            idleInTransaction: idleInTransaction, keepaliveIdle: keepaliveIdle, keepaliveInterval: keepaliveInterval,
            keepaliveCount: keepaliveCount)
    }

    private init(
        checked connect: Duration, statement: Duration, lock: Duration, transaction: Duration,
        idleInTransaction: Duration, keepaliveIdle: Duration, keepaliveInterval: Duration, keepaliveCount: Int
    ) {
        self.connect = connect
        self.statement = statement
        self.lock = lock
        self.transaction = transaction
        self.idleInTransaction = idleInTransaction
        self.keepaliveIdle = keepaliveIdle
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveCount = keepaliveCount
    }

    private static func check(_ duration: Duration, _ name: String, least: Duration) throws {
        guard duration >= least, duration <= durationMax else {
            let unit = least >= .seconds(1) ? "1 s" : "1 ms"
            throw CofferError(.invalidInput, "\(name) must be between \(unit) and 24 hours: it cannot be switched off.")
        }
    }

    // MARK: The URL's parameters

    /// The URL query parameters these settings are read from.
    static let parameterNames = [
        "connect_timeout", "statement_timeout", "lock_timeout", "transaction_timeout",
        "idle_in_transaction_session_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
    ]

    /// The settings from a URL's query parameters (only those in ``parameterNames``), the
    /// rest at their defaults.
    ///
    /// - Throws: `CofferError(.invalidInput)` naming the parameter whose value is malformed
    ///   or out of range.
    init(parameters: [String: String]) throws {
        func duration(_ name: String, seconds: Bool, _ fallback: Duration) throws -> Duration {
            guard let text = parameters[name] else { return fallback }
            guard let value = seconds ? Self.parseSeconds(text) : Self.parseDuration(text) else {
                let form =
                    seconds
                    ? "whole seconds, from 1 to 86400"
                    : "milliseconds, or a number with ms, s, min or h, up to 24 hours"
                throw CofferError(.invalidInput, "Invalid PostgreSQL URL: \(name) must be \(form).")
            }
            return value
        }
        let defaults = Self.default
        var count = defaults.keepaliveCount
        if let text = parameters["keepalives_count"] {
            guard let value = Self.parseWhole(text) else {
                throw CofferError(.invalidInput, "Invalid PostgreSQL URL: keepalives_count must be a whole number.")
            }
            count = value
        }
        do {
            try self.init(
                connect: duration("connect_timeout", seconds: true, defaults.connect),
                statement: duration("statement_timeout", seconds: false, defaults.statement),
                lock: duration("lock_timeout", seconds: false, defaults.lock),
                transaction: duration("transaction_timeout", seconds: false, defaults.transaction),
                idleInTransaction: duration(
                    "idle_in_transaction_session_timeout", seconds: false, defaults.idleInTransaction),
                keepaliveIdle: duration("keepalives_idle", seconds: true, defaults.keepaliveIdle),
                keepaliveInterval: duration("keepalives_interval", seconds: true, defaults.keepaliveInterval),
                keepaliveCount: count)
        } catch let error as CofferError where !error.message.hasPrefix("Invalid PostgreSQL URL") {
            throw CofferError(error.code, "Invalid PostgreSQL URL: \(error.message)")
        }
    }

    /// The parameters that differ from the defaults, in ``parameterNames`` order, for a URL
    /// that reads back to the same settings.
    var nonDefaultParameters: [(name: String, value: String)] {
        let defaults = Self.default
        var result: [(String, String)] = []
        func add(_ name: String, _ value: Duration, _ fallback: Duration, seconds: Bool) {
            guard value != fallback else { return }
            result.append((name, seconds ? String(value.components.seconds) : "\(Self.milliseconds(value))ms"))
        }
        add("connect_timeout", connect, defaults.connect, seconds: true)
        add("statement_timeout", statement, defaults.statement, seconds: false)
        add("lock_timeout", lock, defaults.lock, seconds: false)
        add("transaction_timeout", transaction, defaults.transaction, seconds: false)
        add("idle_in_transaction_session_timeout", idleInTransaction, defaults.idleInTransaction, seconds: false)
        add("keepalives_idle", keepaliveIdle, defaults.keepaliveIdle, seconds: true)
        add("keepalives_interval", keepaliveInterval, defaults.keepaliveInterval, seconds: true)
        if keepaliveCount != defaults.keepaliveCount { result.append(("keepalives_count", String(keepaliveCount))) }
        return result
    }

    /// Whole milliseconds, rounded up so that a setting never becomes 0 (which PostgreSQL
    /// reads as "no limit").
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let partial = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return seconds * 1000 + partial
    }

    /// A duration as a person reads it: `30 s`, `1500 ms`.
    static func describe(_ duration: Duration) -> String {
        let milliseconds = milliseconds(duration)
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }

    private static func parseWhole(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return nil
        }
        return Int(text)
    }

    private static func parseSeconds(_ text: String) -> Duration? {
        parseWhole(text).map { .seconds($0) }
    }

    /// Milliseconds, or a number with a unit as PostgreSQL writes them.
    private static func parseDuration(_ text: String) -> Duration? {
        let digits = text.prefix { ("0"..."9").contains($0) }
        guard let number = parseWhole(String(digits)) else { return nil }
        switch text.dropFirst(digits.count) {
        case "", "ms": return .milliseconds(number)
        case "s": return .seconds(number)
        case "min": return .seconds(Int64(number) * 60)
        case "h": return .seconds(Int64(number) * 3600)
        default: return nil
        }
    }
}
