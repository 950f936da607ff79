#if canImport(Glibc)
    import Glibc
#endif

/// Milliseconds since the Unix epoch, for the times recorded in headers and transactions.
public enum WallClock {
    public static func nowMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
