// `import Coffer` is all a service needs: the model's types, the secret type and the error.
@_exported import CofferCrypto
@_exported import CofferErrors
import CofferFormat
@_exported import CofferModel
import CofferStorage

/// The head of a vault's chain (generation, last sequence number, chain hash): keep it to detect rollback.
public typealias ChainHead = CofferFormat.ChainHead
/// When a mutation is acknowledged: after fdatasync (`.synchronous`, the default) or unsynced (`.unsafeNoSync`).
public typealias Durability = CofferStorage.Durability
/// Where vault logs live, files or a shared log: ``Vault/Options/storage``.
public typealias LogMedium = CofferStorage.LogMedium
/// The file operations a vault file goes through: ``PosixStorage`` on a real disk, another in tests.
public typealias StorageSystem = CofferStorage.StorageSystem
/// The real disk through POSIX calls: the default ``Vault/Options/storage``.
public typealias PosixStorage = CofferStorage.PosixStorage
/// The medium of a vault whose log lives in a database that many processes share and write (FORMAT.md §13).
public typealias SharedLogStorage = CofferStorage.SharedLogStorage
/// One problem at one place of the log: its kind, offset and sequence number, and a sentence with no secret.
public typealias LogProblem = CofferStorage.LogProblem
/// One way to unlock a vault, a wrapped copy of its unlock key (F-SLOT): see ``StorageStatistics/keyslots``.
public typealias Keyslot = CofferFormat.Keyslot
/// What opening a vault found and repaired (``Vault/recovery``): `VaultStore.Recovery`.
public typealias VaultStore = CofferStorage.VaultStore
/// What `verify(path:unlock:expectedHead:storage:preferredKeyslot:progress:)` found.
public typealias VerificationReport = CofferStorage.VerificationReport
/// The kinds of record in a log (``LoggedRecord/type``).
public typealias RecordType = CofferFormat.RecordType
