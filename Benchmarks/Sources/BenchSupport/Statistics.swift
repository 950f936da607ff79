/// Median, minimum and maximum of the repetitions of one figure.
public struct Summary: Codable, Sendable {
    public var median: Double
    public var min: Double
    public var max: Double

    /// Summarizes `values`; the median of an even count is the mean of the middle two.
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "no repetitions")
        let sorted = values.sorted()
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        min = sorted[0]
        max = sorted[sorted.count - 1]
    }
}

/// Latency percentiles from per-operation samples, in microseconds.
public struct Latency: Codable, Sendable {
    public var p50Microseconds: Double
    public var p99Microseconds: Double
    public var samples: Int

    /// Nearest-rank percentiles of `nanoseconds`.
    public init(nanoseconds: [UInt64]) {
        precondition(!nanoseconds.isEmpty, "no samples")
        let sorted = nanoseconds.sorted()
        func rank(_ fraction: Double) -> Double {
            let index = Swift.min(
                sorted.count - 1, Swift.max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
            return Double(sorted[index]) / 1000
        }
        p50Microseconds = rank(0.50)
        p99Microseconds = rank(0.99)
        samples = sorted.count
    }
}
