import CProcessControl
import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// What `coffer` does to its own process before it touches a secret, as KeePassXC does: no
/// core dump (`RLIMIT_CORE` 0), not dumpable (so no other process of the user can attach to it
/// or read its memory, and no core file is written even if the limit is raised again), no
/// crash report of its memory (the Swift backtracer is off unless `SWIFT_BACKTRACE` asks for
/// it), and a warning when secrets cannot be locked out of swap, or a refusal to run when
/// `COFFER_REQUIRE_LOCKED_MEMORY=1`.
enum ProcessHardening {
    /// The variable that makes `coffer` refuse to run without locked memory.
    static let requireLockedMemoryVariable = "COFFER_REQUIRE_LOCKED_MEMORY"

    /// Runs the process again with the Swift backtracer off when nothing asked for it: the
    /// backtracer prints registers and reads the crashed process's memory, which may hold a
    /// secret. The runtime reads `SWIFT_BACKTRACE` when the process starts, so it takes an
    /// exec. Returns only when the exec did not happen.
    static func turnOffCrashReports(arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        guard getenv("SWIFT_BACKTRACE") == nil else { return }
        setenv("SWIFT_BACKTRACE", "enable=no", 1)
        execv("/proc/self/exe", arguments)
        // The exec failed (no /proc): go on without it; the process is still not dumpable.
    }

    /// Makes the process neither dumpable nor able to write a core file, and sets how a
    /// refusal to lock memory is reported (on standard error: this is the real process's).
    ///
    /// - Returns: a failure to report and exit with, when locked memory is required and
    ///   cannot be had.
    static func apply(in context: CommandContext) -> CommandFailure? {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        _ = coffer_set_dumpable(0)
        let required = context.variable(requireLockedMemoryVariable) == "1"
        MemoryLocking.onFirstFailure { number in
            if required {
                // Secrets would go on in memory that can be swapped: stop now.
                Self.writeToStandardError(
                    "error: memory for secrets could not be locked (\(String(cString: strerror(number)))) and "
                        + "\(requireLockedMemoryVariable)=1 forbids going on.\n")
                _exit(ExitStatus.vaultUnavailable.rawValue)
            }
            Self.writeToStandardError(
                "warning: memory for secrets could not be locked (\(String(cString: strerror(number)))): they may "
                    + "reach swap. Raise the limit (ulimit -l), or set \(requireLockedMemoryVariable)=1 to refuse to run.\n"
            )
        }
        if required {
            do {
                try MemoryLocking.requireLocked()
            } catch {
                return CommandFailure(error, status: .vaultUnavailable)
            }
        }
        return nil
    }

    /// Writes straight to descriptor 2: the report may come from any thread, at any time.
    private static func writeToStandardError(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// Whether the process is dumpable now (for tests).
    static var isDumpable: Bool { coffer_get_dumpable() == 1 }

    /// Makes the process dumpable again (for tests that applied the hardening to themselves).
    static func restoreDumpable() { _ = coffer_set_dumpable(1) }
}
