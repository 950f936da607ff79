import CofferCrypto
import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Why a storage call failed: a system call's `errno`, or a failure of a shared log that no
/// errno names (the log was replaced; its backend failed). Another instance writing first is
/// no failure: it is ``LogWriteOutcome/conflict``.
/// Internal calls return `Result<_, SystemError>`; the public API turns them into
/// ``CofferError`` with ``cofferError(_:offset:)``, the one place this becomes a public code:
/// `.notFound` for a missing file, `.conflict` for a replaced log, the backend's own code for
/// its failure, `.io` otherwise.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public enum Reason: Sendable, Equatable {
        /// A system call failed with this `errno`.
        case errno(Int32)
        /// The log is no longer the vault's: another instance's compaction switched a shared
        /// log, or a writer's compaction renamed a new file over a reader's. Reopen.
        case logReplaced
        /// A shared log's backend failed with this error; its code is kept (a gap in the
        /// frames is `.corrupted`, a lost connection `.io`).
        case backend(CofferError)
    }

    public let reason: Reason

    public init(_ number: Int32) { reason = .errno(number) }

    /// A shared log's backend failure, kept whole.
    public init(_ error: CofferError) { reason = .backend(error) }

    private init(reason: Reason) { self.reason = reason }

    /// The `errno`: the system call's, or the nearest one for another failure (ESTALE for a
    /// replaced log, the backend's I/O errno or EIO).
    public var number: Int32 {
        switch reason {
        case .errno(let number): number
        case .logReplaced: ESTALE
        case .backend(let error): if case .io(let number) = error.code { number } else { EIO }
        }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(number) }

    public static let ioError = SystemError(EIO)
    public static let noSpace = SystemError(ENOSPC)
    public static let noSuchFileOrDirectory = SystemError(ENOENT)
    public static let fileExists = SystemError(EEXIST)
    public static let wouldBlock = SystemError(EWOULDBLOCK)
    public static let interrupted = SystemError(EINTR)
    public static let badFileDescriptor = SystemError(EBADF)
    public static let invalidArgument = SystemError(EINVAL)
    public static let permissionDenied = SystemError(EACCES)
    /// A file larger than its reader takes (``PosixStorage/readWhole(_:maximum:)``).
    public static let fileTooLarge = SystemError(EFBIG)
    /// ``Reason/logReplaced``.
    public static let superseded = SystemError(reason: .logReplaced)

    /// The current thread's `errno`.
    public static var current: SystemError { SystemError(errno) }

    public var description: String {
        switch reason {
        case .errno(let number):
            guard let text = strerror(number) else { return "errno \(number)" }
            return "\(String(cString: text)) (errno \(number))"
        case .logReplaced: return "the log was replaced by a compaction"
        case .backend(let error): return error.message
        }
    }

    /// The public code of this failure: `.notFound` for a missing file, `.conflict` for a
    /// replaced log, a backend's own code, `.io` with the errno otherwise.
    public var code: CofferError.Code {
        switch reason {
        case .logReplaced: .conflict
        case .backend(let error): error.code
        case .errno(ENOENT): .notFound
        case .errno(let number): .io(errno: number)
        }
    }

    /// The public error for this failure while doing `what` (a plain phrase, no secrets).
    public func cofferError(_ what: String, offset: UInt64? = nil) -> CofferError {
        switch reason {
        case .logReplaced:
            CofferError(code, "\(what) failed: the log was replaced by a compaction; reopen the vault.", offset: offset)
        case .backend(let error):
            CofferError(
                code, "\(what) failed: \(error.message)", offset: offset ?? error.offset, sequence: error.sequence)
        case .errno(ENOENT): CofferError(code, "\(what) failed: no such file or directory.", offset: offset)
        case .errno: CofferError(code, "\(what) failed: \(description).", offset: offset)
        }
    }
}
