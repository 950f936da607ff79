// `import Coffer` is all a service needs: the model's types, the secret type and the error.
@_exported import CofferCrypto
@_exported import CofferModel

import CofferFormat
import CofferStorage

public typealias ChainHead = CofferFormat.ChainHead
public typealias Durability = CofferStorage.Durability
public typealias StorageSystem = CofferStorage.StorageSystem
public typealias PosixStorage = CofferStorage.PosixStorage
public typealias SharedLogStorage = CofferStorage.SharedLogStorage
public typealias LogProblem = CofferStorage.LogProblem
public typealias Keyslot = CofferFormat.Keyslot
/// What opening a vault found and repaired (``Vault/recovery``): `VaultStore.Recovery`.
public typealias VaultStore = CofferStorage.VaultStore
/// What `verify(path:unlock:expectedHead:storage:preferredKeyslot:progress:)` found.
public typealias VerificationReport = CofferStorage.VerificationReport
/// The kinds of record in a log (``LoggedRecord/type``).
public typealias RecordType = CofferFormat.RecordType

