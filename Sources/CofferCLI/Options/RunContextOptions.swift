import ArgumentParser
import Coffer

/// `--project P`, `--user U`, `--pin S`: the run a resolution is for, as `resolve` and `run`
/// take it (with ``TargetOptions`` for its consumer).
struct RunContextOptions: ParsableArguments {
    @Option(help: "The run's project (slug or id).")
    var project: String?

    @Option(help: "The run's user (handle or id).")
    var user: String?

    @Option(help: "Pin a scope: organization, project or user; only it is tried.")
    var pin: ScopeWord?
}
