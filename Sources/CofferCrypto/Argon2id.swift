import CSodium

/// Argon2id passphrase hashing (libsodium's `crypto_pwhash`), used to derive the key that
/// wraps the master key in a passphrase keyslot (FORMAT.md, F-SLOT-PASS).
public enum Argon2id {
    /// Salt length in bytes.
    public static let saltBytes = Int(crypto_pwhash_SALTBYTES)  // 16

    /// A cost: passes over memory and memory in bytes.
    public struct Cost: Sendable, Hashable, CustomStringConvertible {
        /// Number of passes (libsodium's `opslimit`).
        public let operations: UInt32
        /// Memory in bytes (libsodium's `memlimit`).
        public let memoryBytes: UInt64

        /// A cost of `operations` passes over `memoryBytes` bytes of memory, taken as given: libsodium
        /// refuses one outside its bounds when a key is derived.
        public init(operations: UInt32, memoryBytes: UInt64) {
            self.operations = operations
            self.memoryBytes = memoryBytes
        }

        /// libsodium's minimum: for tests only.
        public static let minimum = Cost(
            operations: UInt32(crypto_pwhash_OPSLIMIT_MIN), memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_MIN))
        /// libsodium's INTERACTIVE cost (2 passes, 64 MiB).
        public static let interactive = Cost(
            operations: UInt32(crypto_pwhash_OPSLIMIT_INTERACTIVE),
            memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE))
        /// libsodium's MODERATE cost (3 passes, 256 MiB): Coffer's default.
        public static let moderate = Cost(
            operations: UInt32(crypto_pwhash_OPSLIMIT_MODERATE),
            memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_MODERATE))
        /// libsodium's SENSITIVE cost (4 passes, 1 GiB).
        public static let sensitive = Cost(
            operations: UInt32(crypto_pwhash_OPSLIMIT_SENSITIVE),
            memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_SENSITIVE))

        /// The passes and the memory in KiB, rounded down: `argon2id(ops 3, 262144 KiB)` for ``moderate``.
        public var description: String { "argon2id(ops \(operations), \(memoryBytes / 1024) KiB)" }
    }

    /// Derives `outputBytes` bytes from `passphrase` and `salt`.
    ///
    /// - Returns: `nil` when libsodium refuses (out of memory, or a cost outside its bounds).
    public static func deriveKey(
        passphrase: SecureBytes, salt: [UInt8], cost: Cost, outputBytes: Int = 32
    ) -> SecureBytes? {
        precondition(salt.count == saltBytes, "Argon2id salt must be 16 bytes")
        // Beyond what any machine has, and beyond `Int` on this one: refused as libsodium would.
        guard cost.memoryBytes <= UInt64(Int.max) else { return nil }
        Sodium.ensureReady()
        struct DerivationFailure: Error {}
        return try? SecureBytes(count: outputBytes) { output in
            let status = passphrase.withUnsafeBytes { secret in
                secret.withNonNullBase { secretBase, secretCount in
                    crypto_pwhash(
                        output.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(outputBytes),
                        UnsafeRawPointer(secretBase).assumingMemoryBound(to: CChar.self), UInt64(secretCount),
                        salt, UInt64(cost.operations), Int(cost.memoryBytes),
                        crypto_pwhash_ALG_ARGON2ID13)
                }
            }
            if status != 0 { throw DerivationFailure() }
        }
    }
}
