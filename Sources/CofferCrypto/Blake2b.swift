import CSodium

/// BLAKE2b (libsodium's `crypto_generichash`), unkeyed or keyed, one-shot or incremental.
///
/// Coffer uses it for the record chain, header checksums, key-file key derivation and the
/// keyed hash of platform API keys (FORMAT.md, OPS-APIKEY).
public struct Blake2b: ~Copyable {
    /// Digest length used throughout Coffer.
    public static let digestBytes = 32
    // The state is declared 64-byte aligned in C, which Swift imports as opaque: it lives
    // in memory allocated with that alignment.
    private let state: OpaquePointer
    private let stateBytes: Int
    private let outputBytes: Int

    /// Starts an incremental hash, keyed when `key` is given (16 to 64 bytes).
    public init(key: SecureBytes? = nil, outputBytes: Int = Blake2b.digestBytes) {
        Sodium.ensureReady()
        self.outputBytes = outputBytes
        self.stateBytes = crypto_generichash_statebytes()
        self.state = OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: stateBytes, alignment: 64))
        let status: Int32
        if let key {
            precondition(key.count >= 16 && key.count <= 64, "BLAKE2b key must be 16...64 bytes")
            status = key.withUnsafeBytes { keyBytes in
                crypto_generichash_init(
                    state, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    keyBytes.count, outputBytes)
            }
        } else {
            status = crypto_generichash_init(state, nil, 0, outputBytes)
        }
        precondition(status == 0, "BLAKE2b init failed")
    }

    deinit {
        sodium_memzero(UnsafeMutableRawPointer(state), stateBytes)
        UnsafeMutableRawPointer(state).deallocate()
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        bytes.withNonNullBase { base, count in
            _ = crypto_generichash_update(state, base, UInt64(count))
        }
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the digest.
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: outputBytes)
        let status = digest.withUnsafeMutableBufferPointer { buffer in
            crypto_generichash_final(state, buffer.baseAddress!, outputBytes)
        }
        precondition(status == 0, "BLAKE2b final failed")
        return digest
    }

    /// Finishes into secure memory: for digests that are keys.
    public consuming func finalizeSecret() -> SecureBytes {
        let outputBytes = outputBytes
        let state = state
        return SecureBytes(count: outputBytes) { buffer in
            let status = crypto_generichash_final(
                state, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), outputBytes)
            precondition(status == 0, "BLAKE2b final failed")
        }
    }

    /// One-shot keyed digest of `parts`, in secure memory: a key derived from a key.
    public static func keyedSecret(key: SecureBytes, _ parts: [UInt8]...) -> SecureBytes {
        var hasher = Blake2b(key: key)
        for part in parts { hasher.update(part) }
        return hasher.finalizeSecret()
    }

    /// One-shot unkeyed digest of `parts` concatenated.
    public static func hash(_ parts: [UInt8]...) -> [UInt8] {
        var hasher = Blake2b()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// One-shot keyed digest of `parts` concatenated.
    public static func keyedHash(key: SecureBytes, _ parts: [UInt8]...) -> [UInt8] {
        var hasher = Blake2b(key: key)
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }
}
