#if canImport(Glibc)
import CofferErrors
import Glibc
#endif
import CofferCrypto

/// An `errno` value returned by a storage call. Internal calls return
/// `Result<_, SystemError>`; the public API turns them into ``CofferError`` with
/// ``cofferError(_:offset:)``, the one place an errno becomes a public code (`.notFound` for
/// a missing file, `.conflict` for a shared log's refusal, `.io` otherwise).
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public let number: Int32

    public init(_ number: Int32) { self.number = number }

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
    /// A shared log (``SharedLogStorage``) refused an append or a header change because
    /// another instance wrote first: catch up and decide again. Local files never return it.
    public static let conflict = SystemError(EAGAIN)
    /// A shared log was replaced by another instance's compaction: the handle reads a log
    /// that is no longer the vault's. Reopen. Local files never return it.
    public static let superseded = SystemError(ESTALE)

    /// The current thread's `errno`.
    public static var current: SystemError { SystemError(errno) }

    public var description: String {
        guard let text = strerror(number) else { return "errno \(number)" }
        return "\(String(cString: text)) (errno \(number))"
    }

    /// The public error for this failure while doing `what` (a plain phrase, no secrets).
    public func cofferError(_ what: String, offset: UInt64? = nil) -> CofferError {
        switch number {
        case Self.conflict.number:
            return CofferError(.conflict, "\(what) failed: another instance sharing the log wrote first.", offset: offset)
        case Self.superseded.number:
            return CofferError(
                .conflict, "\(what) failed: another instance compacted the shared log; reopen the vault.", offset: offset)
        case Self.noSuchFileOrDirectory.number:
            return CofferError(.notFound, "\(what) failed: no such file or directory.", offset: offset)
        default:
            return CofferError(.io(errno: number), "\(what) failed: \(description).", offset: offset)
        }
    }
}
