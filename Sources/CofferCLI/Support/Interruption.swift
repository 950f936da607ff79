import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Ctrl-C (SIGINT) and SIGTERM during a long command that can stop safely (a compaction
/// before its switch): the signal only sets a flag the command polls, so it stops at a point
/// where it can clean up, and a second signal ends the process at once, as usual.
enum Interruption {
    /// Set by the signal handler.
    private static let requested = Atomic<Bool>(false)

    /// Whether SIGINT or SIGTERM arrived since ``install()``.
    static var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Catches SIGINT and SIGTERM once each.
    static func install() {
        requested.store(false, ordering: .relaxed)
        for number in [SIGINT, SIGTERM] {
            signal(number) { number in
                // Only async-signal-safe work: a lock-free store, and the default back.
                Interruption.requested.store(true, ordering: .relaxed)
                signal(number, SIG_DFL)
            }
        }
    }

    /// Puts the default handlers back.
    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
