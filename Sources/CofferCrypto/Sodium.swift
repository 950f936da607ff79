import CSodium

/// libsodium must be initialised once before any other call; `sodium_init` is idempotent and
/// thread-safe, and this token makes every entry point run it at most once per process.
enum Sodium {
    static let ready: Bool = {
        let status = sodium_init()
        precondition(status >= 0, "libsodium failed to initialise")
        return true
    }()

    @inline(__always)
    static func ensureReady() { _ = ready }
}

extension UnsafeRawBufferPointer {
    /// libsodium declares its pointers non-null; an empty buffer's base address may be nil, so
    /// empty inputs are passed as a pointer to a one-byte dummy with length zero.
    @inline(__always)
    func withNonNullBase<R>(_ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
        if let base = baseAddress, count > 0 {
            return try body(base.assumingMemoryBound(to: UInt8.self), count)
        }
        var dummy: UInt8 = 0
        return try withUnsafePointer(to: &dummy) { try body($0, 0) }
    }
}
