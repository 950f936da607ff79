#if canImport(Glibc)
    import Glibc
#endif

/// Timing. Repetitions are timed with `ContinuousClock`; single operations, where the cost
/// of reading the clock matters, with `clock_gettime(CLOCK_MONOTONIC)` through the vDSO.
public enum Clock {
    /// Nanoseconds on the monotonic clock.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Seconds `body` took.
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return (clock.now - start).seconds
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// Runs `body` `warmups` times untimed, then `repetitions` times, and returns what each
/// timed run reported (a rate, a time, a size). The repetition number is passed in, with
/// warm-ups numbered below zero.
public func repeatRuns(
    repetitions: Int, warmups: Int = 1, _ body: (_ repetition: Int) throws -> Double
) rethrows -> [Double] {
    for warmup in 0..<warmups { _ = try body(-1 - warmup) }
    return try (0..<repetitions).map { try body($0) }
}
