import CofferCrypto
import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Why a storage call failed: a system call's `errno`, or an outcome of a shared log that no
/// errno names (another instance wrote first; the log was replaced; its backend failed).
/// Internal calls return `Result<_, SystemError>`; the public API turns them into
/// ``CofferError`` with ``cofferError(_:offset:)``, the one place this becomes a public code:
/// `.notFound` for a missing file, `.conflict` for a shared log's refusal, the backend's own
/// code for its failure, `.io` otherwise.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public enum Reason: Sendable, Equatable {
        /// A system call failed with this `errno`.
        case errno(Int32)
        /// A shared log (``SharedLogStorage``) refused an append or a header change because
        /// another instance wrote first: catch up and decide again. Never a file's.
        case anotherInstanceWroteFirst
        /// A shared log was replaced by another instance's compaction: the handle reads a log
        /// that is no longer the vault's. Reopen. Never a file's.
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

    /// The `errno`: the system call's, or the nearest one for a shared log's outcome (EAGAIN
    /// for a conflict, ESTALE for a replaced log, the backend's I/O errno or EIO).
    public var number: Int32 {
        switch reason {
        case .errno(let number): number
        case .anotherInstanceWroteFirst: EAGAIN
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
    /// ``Reason/anotherInstanceWroteFirst``.
    public static let conflict = SystemError(reason: .anotherInstanceWroteFirst)
    /// ``Reason/logReplaced``.
    public static let superseded = SystemError(reason: .logReplaced)

    /// The current thread's `errno`.
    public static var current: SystemError { SystemError(errno) }

    public var description: String {
        switch reason {
        case .errno(let number):
            guard let text = strerror(number) else { return "errno \(number)" }
            return "\(String(cString: text)) (errno \(number))"
        case .anotherInstanceWroteFirst: return "another instance sharing the log wrote first"
        case .logReplaced: return "another instance compacted the shared log"
        case .backend(let error): return error.message
        }
    }

    /// The public error for this failure while doing `what` (a plain phrase, no secrets).
    public func cofferError(_ what: String, offset: UInt64? = nil) -> CofferError {
        switch reason {
        case .anotherInstanceWroteFirst:
            return CofferError(
                .conflict, "\(what) failed: another instance sharing the log wrote first.", offset: offset)
        case .logReplaced:
            return CofferError(
                .conflict, "\(what) failed: another instance compacted the shared log; reopen the vault.",
                offset: offset)
        case .backend(let error):
            return CofferError(
                error.code, "\(what) failed: \(error.message)", offset: offset ?? error.offset, sequence: error.sequence
            )
        case .errno(ENOENT):
            return CofferError(.notFound, "\(what) failed: no such file or directory.", offset: offset)
        case .errno(let number):
            return CofferError(.io(errno: number), "\(what) failed: \(description).", offset: offset)
        }
    }
}
