#if canImport(Glibc)
    import Glibc
#endif

/// A growable buffer for bytes that may be secret: a revealed export being written, a
/// bundle's plaintext being inflated, an input file being read.
///
/// ``SecureBytes`` is immutable, and a Swift array that grows leaves its old storage behind
/// unwiped. This buffer locks its memory where the system allows, and zeroes every block it
/// lets go of: the old one when it grows, the whole capacity when it is released.
///
/// ```swift
/// let buffer = SecretBuffer()
/// buffer.append(text: "{\"token\":")
/// buffer.append(token)                        // a SecureBytes, copied into locked memory
/// let sealed = try buffer.withUnsafeBytes { try ExportBundle.seal($0, secret: .keyFile(key)) }
/// ```
public final class SecretBuffer {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private var isLocked: Bool
    /// The bytes held.
    public private(set) var count = 0

    /// Creates an empty buffer with room for `capacity` bytes before it first grows.
    public init(capacity: Int = 4096) {
        precondition(capacity >= 0, "negative capacity")
        self.capacity = max(capacity, 16)
        (base, isLocked) = Self.allocate(self.capacity)
    }

    deinit {
        Self.release(base, capacity, isLocked)
    }

    /// Makes room for `additional` more bytes.
    public func reserve(_ additional: Int) {
        let needed = count + additional
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity = newCapacity < (1 << 30) ? newCapacity * 2 : newCapacity + (1 << 30) }
        let (newBase, newLocked) = Self.allocate(newCapacity)
        if count > 0 { newBase.copyMemory(from: base, byteCount: count) }
        Self.release(base, capacity, isLocked)
        base = newBase
        capacity = newCapacity
        isLocked = newLocked
    }

    /// Appends bytes.
    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    /// Appends one byte.
    public func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends the bytes of a secret.
    public func append(_ secret: SecureBytes) {
        secret.withUnsafeBytes { append($0) }
    }

    /// Appends text that is not secret (structure, names, metadata).
    public func append(text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Lets `body` write up to `maximum` bytes at the end, and keeps the count it returns.
    /// zlib and `read(2)` write straight into the locked memory this way.
    public func appendInPlace<Failure: Error>(
        maximum: Int, _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    ) throws(Failure) {
        reserve(maximum)
        let written = try body(UnsafeMutableRawBufferPointer(start: base + count, count: maximum))
        precondition(written >= 0 && written <= maximum, "wrote outside the reserved space")
        count += written
    }

    /// Calls `body` with the bytes held. The view must not escape.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy in ``SecureBytes``.
    public func secureBytes() -> SecureBytes {
        withUnsafeBytes { SecureBytes(copying: $0) }
    }

    private static func allocate(_ capacity: Int) -> (UnsafeMutableRawPointer, Bool) {
        guard let memory = malloc(capacity) else { preconditionFailure("out of memory") }
        memset(memory, 0, capacity)
        // mlock fails beyond RLIMIT_MEMLOCK; the bytes are still zeroed on release.
        return (memory, mlock(memory, capacity) == 0)
    }

    private static func release(_ memory: UnsafeMutableRawPointer, _ capacity: Int, _ locked: Bool) {
        explicit_bzero(memory, capacity)
        if locked { munlock(memory, capacity) }
        free(memory)
    }
}
