import CSodium
import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// Bytes that are secret: key material and decrypted plaintext.
///
/// The bytes are locked in memory where the operating system allows (so they are not
/// swapped out), zeroed when the last reference goes away, readable only inside
/// ``withUnsafeBytes(_:)``, compared in constant time, and print as `SecureBytes(redacted)`.
/// The contents never change after initialisation, which is what makes sharing them
/// between threads safe.
///
/// ```swift
/// let key = SecureBytes(randomCount: 32)
/// key.withUnsafeBytes { bytes in use(bytes) }
/// ```
public final class SecureBytes: @unchecked Sendable, Equatable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    /// The memory this value owns, zeroed and released by its `deinit`; `nil` for a slice,
    /// which reads its owner's memory instead (``slice(_:)``).
    private let allocation: SecureMemory.Allocation?
    /// The value whose memory a slice reads, kept alive by it.
    private let owner: SecureBytes?
    private let pointer: UnsafeMutableRawPointer
    /// The number of bytes held.
    public let count: Int

    /// Creates `count` bytes filled by `initializer`, which writes the secret directly into
    /// locked memory so that no unprotected copy is made. A negative `count` is a programming
    /// error and traps, as `Array(repeating:count:)` does.
    ///
    /// - Throws: whatever `initializer` throws; the memory is zeroed before the error leaves.
    public init(
        count: Int,
        initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        precondition(count >= 0, "negative count")
        Sodium.ensureReady()
        self.count = count
        // Zeroed, locked memory from a shared locked region (SecureMemory): no system call
        // per secret.
        let allocation = SecureMemory.allocate(count)
        self.allocation = allocation
        self.owner = nil
        self.pointer = allocation.pointer
        // Every stored property is set, so if the initializer throws, deinit still runs and
        // zeroes and releases the memory.
        try initializer(UnsafeMutableRawBufferPointer(start: allocation.pointer, count: count))
    }

    private init(slicing owner: SecureBytes, _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= owner.count, "slice out of bounds")
        // A slice of a slice reads the first owner's memory: the chain never grows.
        self.owner = owner.owner ?? owner
        self.allocation = nil
        self.pointer = owner.pointer + range.lowerBound
        self.count = range.count
    }

    /// Creates `count` zero bytes.
    public convenience init(zeroedCount count: Int) {
        self.init(count: count) { _ in }
    }

    /// Creates `count` bytes from libsodium's random generator.
    public convenience init(randomCount count: Int) {
        self.init(count: count) { buffer in
            if let base = buffer.baseAddress, count > 0 { randombytes_buf(base, count) }
        }
    }

    /// Copies `bytes` into locked memory. The source is not wiped: prefer the initialiser
    /// that writes in place when the source is itself unprotected.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { target in
            if bytes.count > 0 { target.copyMemory(from: bytes) }
        }
    }

    /// Copies `bytes` into locked memory; the array is not wiped.
    public convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count) { target in
            bytes.withUnsafeBytes { source in
                if source.count > 0 { target.copyMemory(from: source) }
            }
        }
    }

    deinit {
        // Clears the whole capacity, even the bytes we think were unused. A slice owns
        // nothing: its owner clears the memory once the last slice has gone.
        if let allocation { SecureMemory.release(allocation) }
    }

    /// The bytes in `range`, without a copy: the slice reads this value's memory and keeps
    /// all of it alive (locked, and unzeroed) for as long as the slice lives. For a part
    /// that is read at once and let go (the payload inside a decrypted record, one operation
    /// inside a payload); a part that is handed out to be kept should be copied, so that it
    /// does not hold the rest of the secret with it.
    package func slice(_ range: Range<Int>) -> SecureBytes {
        SecureBytes(slicing: self, range)
    }

    /// Calls `body` with a read-only view of the secret. The view must not escape.
    public func withUnsafeBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Calls `body` with the secret as a `String`, for an API that takes only a string (a
    /// client library's token parameter, an HTTP header), then overwrites that string's bytes
    /// with zeros: the string lent outlives the call only as NULs. It lives in ordinary memory
    /// (not locked) while `body` runs. A copy `body` keeps shares its bytes, so a client that
    /// stores the string (to send it later) sees NUL characters then: lend it only to a call
    /// that uses it at once. Text derived from it (interpolation, concatenation, bridging to
    /// `NSString`) is a copy of its own, which this cannot clear: pass the string itself.
    ///
    /// ```swift
    /// try token.withString { client.authorize(bearer: $0) }
    /// ```
    ///
    /// - Throws: `CofferError(.invalidInput)` when the bytes are not UTF-8 (read them with
    ///   ``withUnsafeBytes(_:)`` instead; nothing was copied), and whatever `body` throws.
    public func withString<Result>(_ body: (String) throws -> Result) throws -> Result {
        let source = UnsafeRawBufferPointer(start: pointer, count: count)
        var decoder = Unicode.UTF8()
        var iterator = source.makeIterator()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break decoding
            case .error: throw CofferError(.invalidInput, "The secret is not UTF-8 text; read it as bytes.")
            }
        }
        // At least 16 bytes of capacity: the string keeps its bytes in a buffer of its own,
        // never inline in the value (where copies could not be found and cleared).
        var string = String(unsafeUninitializedCapacity: max(count, 16)) { buffer in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source) }
            return count
        }
        defer {
            string.withUTF8 { bytes in
                if let base = bytes.baseAddress {
                    sodium_memzero(UnsafeMutableRawPointer(mutating: base), bytes.count)
                }
            }
        }
        return try body(string)
    }

    /// Constant-time comparison: the time taken depends only on the lengths.
    public static func == (lhs: SecureBytes, rhs: SecureBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 { return true }
        return sodium_memcmp(lhs.pointer, rhs.pointer, lhs.count) == 0
    }

    /// `SecureBytes(redacted)`: neither the bytes nor their count, so interpolating or logging a
    /// secret never shows it.
    public var description: String { "SecureBytes(redacted)" }
    /// `SecureBytes(redacted)`, as ``description``: `debugPrint` and the debugger's `po` show no byte either.
    public var debugDescription: String { "SecureBytes(redacted)" }
}
