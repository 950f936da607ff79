import Foundation

/// One measured figure: a workload on one engine at one size, over its repetitions.
public struct Figure: Codable, Sendable {
    /// The workload's key, shared by every engine that runs it (`bulk_load`, `reveal`, …).
    public var workload: String
    /// `coffer`, `sqlcipher`, `sqlite_sealed` or `machine`.
    public var engine: String
    /// Exactly what was run, in words.
    public var variant: String
    /// Credentials in the vault or database; `nil` when the figure does not depend on it.
    public var size: Int?
    public var threads: Int
    /// `ops/s`, `s`, `MB/s`, `B/credential`.
    public var unit: String
    public var higherIsBetter: Bool
    /// Operations per repetition.
    public var operations: Int
    public var repetitions: Int
    public var median: Double
    public var min: Double
    public var max: Double
    public var p50Microseconds: Double?
    public var p99Microseconds: Double?
    public var note: String?

    public init(
        workload: String, engine: String, variant: String, size: Int?, threads: Int = 1, unit: String,
        higherIsBetter: Bool, operations: Int, values: [Double], latency: Latency? = nil, note: String? = nil
    ) {
        let summary = Summary(values)
        self.workload = workload
        self.engine = engine
        self.variant = variant
        self.size = size
        self.threads = threads
        self.unit = unit
        self.higherIsBetter = higherIsBetter
        self.operations = operations
        self.repetitions = values.count
        self.median = summary.median
        self.min = summary.min
        self.max = summary.max
        self.p50Microseconds = latency?.p50Microseconds
        self.p99Microseconds = latency?.p99Microseconds
        self.note = note
    }
}

/// What one engine's run produced.
public struct EngineReport: Codable, Sendable {
    public var engine: String
    public var version: String
    public var figures: [Figure]
    public var notes: [String]

    public init(engine: String, version: String, figures: [Figure] = [], notes: [String] = []) {
        self.engine = engine
        self.version = version
        self.figures = figures
        self.notes = notes
    }

    /// Writes the report as JSON to `path`.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    public static func read(from path: String) throws -> EngineReport {
        try JSONDecoder().decode(EngineReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// Prints progress to standard error, so that standard output carries only results.
public func progress(_ message: String) {
    FileHandle.standardError.write(Data("[bench] \(message)\n".utf8))
}
