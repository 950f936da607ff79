import BenchSupport

/// The `sqlite3_*` functions the benchmark calls, as C function pointers. Each helper
/// executable fills the table from its own system-library module (SQLCipher's or SQLite's),
/// so the workloads are written once and no process ever loads both libraries, which
/// export the same symbols.
public struct SQLiteCalls: @unchecked Sendable {
    public typealias Destructor = @convention(c) (UnsafeMutableRawPointer?) -> Void

    public var openV2:
        @convention(c) (
            UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?, Int32, UnsafePointer<CChar>?
        ) -> Int32
    public var closeV2: @convention(c) (OpaquePointer?) -> Int32
    public var prepareV2:
        @convention(c) (
            OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<OpaquePointer?>?,
            UnsafeMutablePointer<UnsafePointer<CChar>?>?
        ) -> Int32
    public var step: @convention(c) (OpaquePointer?) -> Int32
    public var reset: @convention(c) (OpaquePointer?) -> Int32
    public var finalize: @convention(c) (OpaquePointer?) -> Int32
    public var bindBlob: @convention(c) (OpaquePointer?, Int32, UnsafeRawPointer?, Int32, Destructor?) -> Int32
    public var bindText: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, Int32, Destructor?) -> Int32
    public var bindInt64: @convention(c) (OpaquePointer?, Int32, Int64) -> Int32
    public var columnBlob: @convention(c) (OpaquePointer?, Int32) -> UnsafeRawPointer?
    public var columnBytes: @convention(c) (OpaquePointer?, Int32) -> Int32
    public var columnInt64: @convention(c) (OpaquePointer?, Int32) -> Int64
    public var columnText: @convention(c) (OpaquePointer?, Int32) -> UnsafePointer<UInt8>?
    public var errorMessage: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    public var libraryVersion: @convention(c) () -> UnsafePointer<CChar>?

    public init(
        openV2:
            @escaping @convention(c) (
                UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?, Int32, UnsafePointer<CChar>?
            ) -> Int32,
        closeV2: @escaping @convention(c) (OpaquePointer?) -> Int32,
        prepareV2:
            @escaping @convention(c) (
                OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<OpaquePointer?>?,
                UnsafeMutablePointer<UnsafePointer<CChar>?>?
            ) -> Int32,
        step: @escaping @convention(c) (OpaquePointer?) -> Int32,
        reset: @escaping @convention(c) (OpaquePointer?) -> Int32,
        finalize: @escaping @convention(c) (OpaquePointer?) -> Int32,
        bindBlob: @escaping @convention(c) (OpaquePointer?, Int32, UnsafeRawPointer?, Int32, Destructor?) -> Int32,
        bindText: @escaping @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, Int32, Destructor?) -> Int32,
        bindInt64: @escaping @convention(c) (OpaquePointer?, Int32, Int64) -> Int32,
        columnBlob: @escaping @convention(c) (OpaquePointer?, Int32) -> UnsafeRawPointer?,
        columnBytes: @escaping @convention(c) (OpaquePointer?, Int32) -> Int32,
        columnInt64: @escaping @convention(c) (OpaquePointer?, Int32) -> Int64,
        columnText: @escaping @convention(c) (OpaquePointer?, Int32) -> UnsafePointer<UInt8>?,
        errorMessage: @escaping @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?,
        libraryVersion: @escaping @convention(c) () -> UnsafePointer<CChar>?
    ) {
        self.openV2 = openV2
        self.closeV2 = closeV2
        self.prepareV2 = prepareV2
        self.step = step
        self.reset = reset
        self.finalize = finalize
        self.bindBlob = bindBlob
        self.bindText = bindText
        self.bindInt64 = bindInt64
        self.columnBlob = columnBlob
        self.columnBytes = columnBytes
        self.columnInt64 = columnInt64
        self.columnText = columnText
        self.errorMessage = errorMessage
        self.libraryVersion = libraryVersion
    }

    /// SQLite's `SQLITE_TRANSIENT`: the library copies a bound value before the call returns.
    static let transient = unsafeBitCast(-1, to: Destructor.self)
}

/// Result codes and flags the benchmark uses (sqlite3.h).
enum SQLiteCode {
    static let ok: Int32 = 0
    static let row: Int32 = 100
    static let done: Int32 = 101
    static let openReadWrite: Int32 = 0x0000_0002
    static let openCreate: Int32 = 0x0000_0004
    static let openNoMutex: Int32 = 0x0000_8000
}

/// A failed SQLite call; the benchmark stops on it.
struct SQLiteFailure: Error, CustomStringConvertible {
    let description: String
}

/// One connection.
final class Database: @unchecked Sendable {
    let calls: SQLiteCalls
    let handle: OpaquePointer

    init(path: String, calls: SQLiteCalls) throws {
        self.calls = calls
        var handle: OpaquePointer?
        let status = calls.openV2(
            path, &handle, SQLiteCode.openReadWrite | SQLiteCode.openCreate | SQLiteCode.openNoMutex, nil)
        guard status == SQLiteCode.ok, let handle else {
            if let handle { _ = calls.closeV2(handle) }
            throw SQLiteFailure(description: "open \(path): \(status)")
        }
        self.handle = handle
    }

    deinit {
        _ = calls.closeV2(handle)
    }

    var errorMessage: String {
        calls.errorMessage(handle).map { String(cString: $0) } ?? "unknown error"
    }

    func prepare(_ sql: String) throws -> Statement {
        var statement: OpaquePointer?
        let status = calls.prepareV2(handle, sql, -1, &statement, nil)
        guard status == SQLiteCode.ok, let statement else {
            throw SQLiteFailure(description: "prepare `\(sql)`: \(errorMessage)")
        }
        return Statement(database: self, handle: statement)
    }

    /// Runs one statement to completion and returns the first column of its rows as text.
    @discardableResult
    func execute(_ sql: String) throws -> [String] {
        let statement = try prepare(sql)
        var rows: [String] = []
        while try statement.step() {
            rows.append(statement.text(0))
        }
        return rows
    }
}

/// One prepared statement, reset after each use.
/// Used by one thread at a time.
final class Statement: @unchecked Sendable {
    let database: Database
    let handle: OpaquePointer
    private var calls: SQLiteCalls { database.calls }

    init(database: Database, handle: OpaquePointer) {
        self.database = database
        self.handle = handle
    }

    deinit {
        _ = database.calls.finalize(handle)
    }

    func bind(_ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = calls.bindBlob(
                handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count),
                SQLiteCalls.transient)
        }
    }

    func bind(_ index: Int32, _ text: String) {
        _ = calls.bindText(handle, index, text, -1, SQLiteCalls.transient)
    }

    func bind(_ index: Int32, _ value: Int) {
        _ = calls.bindInt64(handle, index, Int64(value))
    }

    /// Steps once: `true` for a row, `false` when done.
    func step() throws -> Bool {
        let status = calls.step(handle)
        if status == SQLiteCode.row { return true }
        if status == SQLiteCode.done { return false }
        let message = database.errorMessage
        _ = calls.reset(handle)
        throw SQLiteFailure(description: "step: \(status) \(message)")
    }

    /// Steps to the end, for statements that return no rows.
    func run() throws {
        while try step() {}
        _ = calls.reset(handle)
    }

    func reset() {
        _ = calls.reset(handle)
    }

    func int(_ column: Int32) -> Int { Int(calls.columnInt64(handle, column)) }

    func text(_ column: Int32) -> String {
        guard let text = calls.columnText(handle, column) else { return "" }
        return String(cString: text)
    }

    /// The column's bytes, valid until the next step or reset.
    func withBlob<Result>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let count = Int(calls.columnBytes(handle, column))
        let base = calls.columnBlob(handle, column)
        return try body(UnsafeRawBufferPointer(start: count == 0 ? nil : base, count: count))
    }

    func blob(_ column: Int32) -> [UInt8] {
        withBlob(column) { Array($0) }
    }
}
