@_exported import Coffer
@_exported import CofferSimulation
import CofferStorage

/// A vault in memory, for a service's own tests: as easy to get as GRDB's in-memory
/// `DatabaseQueue()`, with the same engine, the same rules and the same errors as a vault on
/// disk, over a simulated disk that knows what is durable and can lose power.
///
/// ```swift
/// import Coffer
/// import CofferTesting
///
/// let memory = try MemoryVault(deterministic: 42)
/// try memory.vault.mutate(actor: "test") { try $0.createOrganization(slug: "acme", name: "Acme") }
/// // The service under test uses `memory.vault` as it would a vault on disk.
/// ```
///
/// - `deterministic:` gives the same identifiers and commit times on every run (a seeded
///   generator and a clock that advances a second per commit), so a test can compare ids and
///   history with fixed expectations. The planner's other random bytes come from the same
///   generator: platform API key secrets are then predictable too. Never use it outside tests.
///   The same seed gives the same values with the same Swift standard library.
/// - The vault is unlocked by a key file of random bytes, so no Argon2id work is spent.
/// - ``armCrash(after:atCall:)`` and ``crashAndReopen(mode:seed:)`` let a service test its own
///   recovery: the disk dies at a chosen system call, calls fail as on a dead disk, and the
///   reopened vault is what a restart would find (every acknowledged commit, nothing else).
public final class MemoryVault: Sendable {
    /// The simulated disk under the vault: fault plans, call counts, durable contents.
    public let disk: SimulatedDisk
    /// The vault file's path on ``disk``.
    public static let path = "/memory/vault.coffer"
    private let key: SecureBytes
    private let options: Vault.Options
    private let current: Locked<Vault>

    /// The vault, as last created or reopened.
    public var vault: Vault { current.withLock { $0 } }

    /// Creates an empty vault in memory.
    ///
    /// - Parameters:
    ///   - seed: when given, identifiers come from a generator seeded with it and commit
    ///     times from a clock starting at `startMilliseconds` that advances one second per
    ///     commit; when nil, from the system's CSPRNG and the wall clock, as on disk.
    ///   - durability: `.synchronous` (the default) or `.unsafeNoSync`, as for a vault on disk.
    public init(
        deterministic seed: UInt64? = nil, startMilliseconds: UInt64 = 1_767_225_600_000,
        durability: Durability = .synchronous
    ) throws(CofferError) {
        let disk = SimulatedDisk()
        var options = Vault.Options(storage: disk, durability: durability)
        if let seed {
            let generator = Locked(SeededGenerator(seed: seed))
            options.identifierBytes = { count in
                generator.withLock { generator in (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
                }
            }
            let clock = Locked(startMilliseconds)
            options.clock = {
                clock.withLock { now in
                    defer { now += 1000 }
                    return now
                }
            }
        }
        var keyGenerator = SeededGenerator(seed: seed ?? UInt64.random(in: 0...UInt64.max))
        let key = SecureBytes(copying: (0..<32).map { _ in UInt8.random(in: 0...255, using: &keyGenerator) })
        let vault = try Vault.create(path: Self.path, unlock: .keyFile(key), options: options)
        self.disk = disk
        self.key = key
        self.options = options
        self.current = Locked(vault)
    }

    /// Makes the disk die right after call number `index` of `operation` (counted from 0 for
    /// the disk's whole life; ``SimulatedDisk/callCounts()`` tells how many a workload makes):
    /// that call completes, every later one fails with `EIO` as on a dead disk, so the commit in
    /// progress fails (`.io`) and the vault takes no more, until ``crashAndReopen(mode:seed:)``.
    public func armCrash(after operation: SimulatedDisk.Operation, atCall index: Int) {
        disk.armCrash(after: operation, atCall: index)
    }

    /// Simulates a power loss and a restart: what was not durable is lost as `mode` says (with
    /// random choices drawn from `seed`), then the vault is opened again, running recovery,
    /// and becomes ``vault``. Every commit acknowledged before the crash is in it.
    ///
    /// - Throws: what opening throws (it does not for a crash the engine survives).
    @discardableResult
    public func crashAndReopen(mode: CrashMode = .keepRandomSectors, seed: UInt64 = 0) throws(CofferError) -> Vault {
        vault.close()
        var generator = SeededGenerator(seed: seed)
        disk.crash(mode: mode, using: &generator)
        let reopened = try Vault.open(path: Self.path, unlock: .keyFile(key), options: options)
        current.withLock { $0 = reopened }
        return reopened
    }

    /// Closes the vault and opens it again, as a service restart without a crash does.
    @discardableResult
    public func reopen() throws(CofferError) -> Vault {
        vault.close()
        let reopened = try Vault.open(path: Self.path, unlock: .keyFile(key), options: options)
        current.withLock { $0 = reopened }
        return reopened
    }
}
