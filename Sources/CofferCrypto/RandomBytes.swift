import CSodium

/// Random bytes from libsodium's CSPRNG (getrandom on Linux).
public enum RandomBytes {
    /// Returns `count` random, non-secret bytes (nonces, salts, identifiers).
    public static func make(_ count: Int) -> [UInt8] {
        Sodium.ensureReady()
        var bytes = [UInt8](repeating: 0, count: count)
        if count > 0 { bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return bytes
    }

    /// A uniform random number below `upperBound`.
    public static func uniform(below upperBound: UInt32) -> UInt32 {
        Sodium.ensureReady()
        return randombytes_uniform(upperBound)
    }
}

/// Constant-time comparison of non-secret-typed buffers that still must not leak timing,
/// such as presented API-key hashes.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    if lhs.isEmpty { return true }
    Sodium.ensureReady()
    return sodium_memcmp(lhs, rhs, lhs.count) == 0
}

/// Zeroes memory in a way the optimiser cannot remove.
public func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
}

/// Zeroes a buffer in a way the optimiser cannot remove.
public func secureZero(_ bytes: inout [UInt8]) {
    if bytes.isEmpty { return }
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
}
