#if canImport(Glibc)
    import Glibc
#endif

/// The monotonic clock, for deadlines that CofferStorage's `Lock.wait(until:)` understands.
enum MonotonicClock {
    /// Now, as a `CLOCK_MONOTONIC` time.
    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time
    }

    /// The time `nanoseconds` after `start`.
    static func adding(_ nanoseconds: Int64, to start: timespec) -> timespec {
        let nanosecondsPerSecond: Int64 = 1_000_000_000
        let total = Int64(start.tv_nsec) + nanoseconds % nanosecondsPerSecond
        var result = timespec()
        result.tv_sec = start.tv_sec + Int(nanoseconds / nanosecondsPerSecond + total / nanosecondsPerSecond)
        result.tv_nsec = Int(total % nanosecondsPerSecond)
        return result
    }

    /// Whether `time` is not after now.
    static func hasPassed(_ time: timespec) -> Bool {
        let current = now()
        return (current.tv_sec, current.tv_nsec) >= (time.tv_sec, time.tv_nsec)
    }

    /// Nanoseconds from now until `time`, or 0 when it has passed.
    static func nanoseconds(until time: timespec) -> Int64 {
        let current = now()
        let difference = Int64(time.tv_sec - current.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec - current.tv_nsec)
        return max(0, difference)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, 0 for a negative one, saturating at `Int64.max`.
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Int64.max }
        let (sum, overflowSum) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? Int64.max : sum
    }
}
