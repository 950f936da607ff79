#if canImport(Glibc)
    import Glibc
#endif

/// A progress bar on standard error for long operations: counts, share done, rate, bytes
/// and the time left, redrawn at most ten times a second. It draws only when standard error is a terminal and
/// `--quiet` is not given, so pipes and logs never see it.
final class ProgressBar {
    private let label: String
    private let sink: any OutputSink
    private let enabled: Bool
    private let started: Double
    /// Nothing is drawn before this many seconds: a quick command shows no bar.
    private let showsAfter: Double
    /// What `count` counts, for the line: `records`, `operations`.
    private let unit: String
    private var lastDrawn: Double = 0
    private var drewSomething = false

    init(label: String, context: CommandContext, quiet: Bool, showsAfter: Double = 0, unit: String = "records") {
        self.unit = unit
        self.label = label
        self.sink = context.standardError
        self.enabled = context.standardErrorIsTerminal && !quiet
        self.started = Self.now()
        self.showsAfter = showsAfter
    }

    /// Reports `count` records done and `done` of `total` units (bytes, or operations), and
    /// when given the bytes written so far.
    func update(count: UInt64, done: UInt64, total: UInt64, bytes: UInt64? = nil) {
        guard enabled else { return }
        let now = Self.now()
        guard now - lastDrawn >= 0.1, now - started >= showsAfter else { return }
        lastDrawn = now
        draw(count: count, done: done, total: total, bytes: bytes, now: now)
    }

    /// Clears the bar.
    func finish() {
        guard enabled, drewSomething else { return }
        sink.write("\r\u{1B}[2K")
    }

    private func draw(count: UInt64, done: UInt64, total: UInt64, bytes: UInt64?, now: Double) {
        let share = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let width = 24
        let filled = Int(share * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = max(now - started, 0.001)
        let rate = UInt64(Double(count) / elapsed)
        var line = "\r\u{1B}[2K\(label) \(bar) \(Int(share * 100))%  \(Describe.bytes(count)) \(unit)"
        if let bytes { line += ", \(Describe.bytes(bytes)) bytes" }
        line += "  \(Describe.bytes(rate)) \(unit)/s"
        // The time left once there is enough done to tell.
        if share >= 0.02 && share < 1 && elapsed >= 1 {
            line += "  about \(Self.duration(elapsed * (1 - share) / share)) left"
        }
        sink.write(line)
        drewSomething = true
    }

    /// `42 s`, `3 min 20 s`, `1 h 5 min`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        if whole < 60 { return "\(whole) s" }
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \((whole % 3600) / 60) min"
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
