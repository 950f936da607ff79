import Coffer

/// The exit codes of `coffer`, the contract scripts rely on (docs/cli.md, "Exit codes").
///
/// Every error becomes one of these in one place, ``init(for:)`` and
/// ``init(forResolution:)``, so two commands never answer the same failure differently.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// The command did what was asked.
    case success = 0
    /// The command ran and the answer is "no": verification found problems, a dry-run
    /// delete, something not found, invalid input, a refused permission.
    case no = 1
    /// The vault could not be opened or changed: wrong key, locked, not a vault, corrupted,
    /// unsupported version, an I/O error, or a feature this version does not have.
    case vaultUnavailable = 2
    /// Resolution found no credential.
    case resolutionMissing = 3
    /// Resolution found several credentials and no single default.
    case resolutionAmbiguous = 4
    /// Resolution refused for another reason (no user actor, revoked, not visible, wrong app,
    /// a selected credential that does not exist).
    case resolutionRefused = 5
    /// The command line is wrong (sysexits' `EX_USAGE`, as argument-parser uses).
    case usage = 64
    /// `coffer run`: the command was found but could not be started (as shells report it).
    case commandNotExecutable = 126
    /// `coffer run`: the command was not found (as shells report it).
    case commandNotFound = 127
    /// Interrupted (SIGINT or SIGTERM) where stopping was safe: nothing was changed
    /// (128 + SIGINT, as shells report it).
    case interrupted = 130

    /// The status of a failed command, from the engine's error code.
    public init(for code: CofferError.Code) {
        switch code {
        case .corrupted, .wrongKey, .locked, .unsupportedVersion, .notAVault, .io, .headMismatch, .writerStopped,
            .closed,
            .conflict:
            self = .vaultUnavailable
        case .notFound, .invalidInput, .alreadyExists, .ambiguous, .permissionDenied:
            self = .no
        case .credentialMissing:
            self = .resolutionMissing
        case .noUserActor, .credentialRevoked, .notVisible, .wrongApp:
            self = .resolutionRefused
        case .cancelled:
            self = .interrupted
        }
    }

    /// The status of a failed resolution (`coffer resolve`): there an ambiguity is 4 and an
    /// unknown selected credential is a refusal, 5; vault errors stay 2.
    public init(forResolution code: CofferError.Code) {
        switch code {
        case .credentialMissing: self = .resolutionMissing
        case .ambiguous: self = .resolutionAmbiguous
        case .noUserActor, .credentialRevoked, .notVisible, .wrongApp, .notFound: self = .resolutionRefused
        default: self = ExitStatus(for: code)
        }
    }
}
