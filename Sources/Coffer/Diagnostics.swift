import CofferCrypto
import CofferErrors
import Logging
import Metrics

/// The vault's logger and metrics (swift-log, swift-metrics): no-ops unless the service passes
/// a logger or a metrics factory in ``Vault/Options``, or bootstraps `MetricsSystem`. Nothing
/// here ever carries a secret: log lines name paths, heads, counts and error codes.
struct Diagnostics: Sendable {
    let logger: Logger?
    /// Acknowledged transactions (`coffer_commits_total`).
    let commits: Counter
    /// Mutations that failed (`coffer_commit_failures_total`, by error code).
    let commitFailures: @Sendable (CofferError.Code) -> Void
    /// From the start of a mutation to its acknowledgement, sync included (`coffer_commit_duration`).
    let commitDuration: Timer
    /// Reveals: records read and opened for their values (`coffer_reveals_total`).
    let reveals: Counter
    /// Resolutions answered (`coffer_resolutions_total`).
    let resolutions: Counter
    /// Bytes a compaction wrote and reclaimed (`coffer_compaction_bytes_written`, `_reclaimed`).
    let compactionBytesWritten: Counter
    let compactionBytesReclaimed: Counter
    /// Commits planned again after another instance of a shared log wrote first.
    let conflicts: Counter

    init(logger: Logger?, factory: (any MetricsFactory)?) {
        self.logger = logger
        let factory = factory ?? MetricsSystem.factory
        commits = Counter(label: "coffer_commits_total", factory: factory)
        let failureFactory = factory
        commitFailures = { code in
            Counter(label: "coffer_commit_failures_total", dimensions: [("code", code.word)], factory: failureFactory)
                .increment()
        }
        commitDuration = Timer(label: "coffer_commit_duration", factory: factory)
        reveals = Counter(label: "coffer_reveals_total", factory: factory)
        resolutions = Counter(label: "coffer_resolutions_total", factory: factory)
        compactionBytesWritten = Counter(label: "coffer_compaction_bytes_written", factory: factory)
        compactionBytesReclaimed = Counter(label: "coffer_compaction_bytes_reclaimed", factory: factory)
        conflicts = Counter(label: "coffer_conflicts_total", factory: factory)
    }
}
