#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on standard error for long operations: counts, share done and rate,
/// redrawn at most ten times a second. It draws only when standard error is a terminal and
/// `--quiet` is not given, so pipes and logs never see it.
final class ProgressBar {
    private let label: String
    private let sink: any OutputSink
    private let enabled: Bool
    private let started: Double
    private var lastDrawn: Double = 0
    private var drewSomething = false

    init(label: String, context: CommandContext, quiet: Bool) {
        self.label = label
        self.sink = context.standardError
        self.enabled = context.standardErrorIsTerminal && !quiet
        self.started = Self.now()
    }

    /// Reports `count` items done and `done` of `total` units (bytes).
    func update(count: UInt64, done: UInt64, total: UInt64) {
        guard enabled else { return }
        let now = Self.now()
        guard now - lastDrawn >= 0.1 else { return }
        lastDrawn = now
        draw(count: count, done: done, total: total, now: now)
    }

    /// Clears the bar.
    func finish() {
        guard enabled, drewSomething else { return }
        sink.write("\r\u{1B}[2K")
    }

    private func draw(count: UInt64, done: UInt64, total: UInt64, now: Double) {
        let share = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let width = 24
        let filled = Int(share * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = max(now - started, 0.001)
        let rate = Int(Double(count) / elapsed)
        sink.write("\r\u{1B}[2K\(label) \(bar) \(Int(share * 100))%  \(count) records  \(rate) records/s")
        drewSomething = true
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
