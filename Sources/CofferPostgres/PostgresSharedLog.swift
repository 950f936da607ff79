import CofferCrypto
import CofferErrors
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// One vault's log in PostgreSQL, as the storage layer's ``SharedLogBackend``: the engine
/// opens it through ``SharedLogStorage`` exactly as it opens a file (FORMAT.md §13).
///
/// ```swift
/// let location = try PostgresLocation(parsing: "postgres://coffer@db/secrets?vault=team")
/// let log = try PostgresSharedLog(location: location)
/// let storage = SharedLogStorage(backend: log, path: location.description)
/// ```
public final class PostgresSharedLog: SharedLogBackend, @unchecked Sendable {
    public let location: PostgresLocation
    public let vaultName: String
    let store: PostgresFrameStore
    private let idLock = Lock()
    private var knownVaultID: [UInt8]?
    /// The copy this instance staged and has not published yet (F-SHARED-COPY): its row's
    /// id and name until then (``knownVaultID`` is the staging id), and the vault's own id.
    private var staging: (name: String, vaultID: [UInt8])?

    /// Connects. The tables are created with the first vault (``create(vaultID:header:frames:)``).
    ///
    /// - Throws: `.invalidInput` when the location names no vault (`?vault=NAME`); `.io`
    ///   when the server cannot be reached or refuses the login; `.notFound` for a missing database.
    public init(location: PostgresLocation) throws(CofferError) {
        guard let name = location.vaultName else {
            throw CofferError(.invalidInput, "The PostgreSQL URL names no vault; add ?vault=NAME.")
        }
        self.location = location
        self.vaultName = name
        // The tables are made by the first vault's creation, not here: a reader changes
        // nothing, and needs no right to create anything.
        self.store = try Self.call { try PostgresFrameStore(location: location) }
    }

    /// Closes the connection.
    public func close() { store.close() }

    public var displayName: String { location.description }

    /// The vault's id, read once: it never changes.
    private func vaultID() throws(CofferError) -> [UInt8] {
        if let known = idLock.withLock({ knownVaultID }) { return known }
        guard let state = try state() else {
            throw CofferError(.notFound, "No vault named \(vaultName) is in the database.")
        }
        return state.vaultID
    }

    public func state() throws(CofferError) -> SharedLogState? {
        let vault: PostgresVault
        do {
            let staged = idLock.withLock { staging?.name }
            vault = try staged.map { try store.readStagedVault(stagingName: $0) } ?? store.readVault(name: vaultName)
        } catch let error as CofferError where error.code == .notFound {
            return nil
        } catch {
            throw Self.cofferError(error)
        }
        idLock.withLock { knownVaultID = vault.vaultID }
        return SharedLogState(
            vaultID: vault.vaultID, header: vault.header, headerGeneration: vault.headerGeneration,
            logGeneration: vault.logGeneration)
    }

    public func extent(logGeneration: UInt64, after sequence: UInt64) throws(CofferError) -> SharedLogExtent {
        let id = try vaultID()
        let found = try call { try store.extent(vaultID: id, logGeneration: logGeneration, after: sequence) }
        return SharedLogExtent(
            logGeneration: found.logGeneration, headerGeneration: found.headerGeneration, frameBytes: found.frameBytes,
            frames: found.frames)
    }

    public func create(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool {
        try Self.call { try store.ensureSchema() }
        do {
            try store.createVault(name: vaultName, vaultID: vaultID, header: header, firstFrames: frames)
        } catch let error as CofferError where error.code == .alreadyExists {
            return false
        } catch {
            throw Self.cofferError(error)
        }
        idLock.withLock { knownVaultID = vaultID }
        return true
    }

    public func createStaged(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool {
        try Self.call { try store.ensureSchema() }
        // An id and a name of this copy's own: no other copy of the same vault writes to its
        // rows, nor is named by its rename.
        let stagingID = RandomBytes.make(16)
        let name = PostgresFrameStore.stagingName(for: vaultID, token: RandomBytes.make(8))
        do {
            try store.createStagedVault(
                stagingID: stagingID, for: vaultID, stagingName: name, header: header, firstFrames: frames)
        } catch let error as CofferError where error.code == .alreadyExists {
            return false
        } catch {
            throw Self.cofferError(error)
        }
        idLock.withLock {
            knownVaultID = stagingID
            staging = (name, vaultID)
        }
        return true
    }

    public func publishStaged() throws(CofferError) -> Bool {
        guard let (stagingID, name, vaultID) = idLock.withLock({ staging.map { (knownVaultID!, $0.name, $0.vaultID) } })
        else { preconditionFailure("only a staged vault is published") }
        let published = try Self.call {
            try store.publishStagedVault(stagingID: stagingID, stagingName: name, as: vaultID, name: vaultName)
        }
        guard published else { return false }
        idLock.withLock {
            knownVaultID = vaultID
            staging = nil
        }
        return true
    }

    public func dropStaged() throws(CofferError) {
        guard let (stagingID, name) = idLock.withLock({ staging.map { (knownVaultID!, $0.name) } }) else { return }
        try Self.call { try store.dropStagedVault(stagingID: stagingID, stagingName: name) }
        idLock.withLock {
            knownVaultID = nil
            staging = nil
        }
    }

    public func frames(logGeneration: UInt64, after sequence: UInt64, limit: Int) throws(CofferError) -> [SharedFrame] {
        let id = try vaultID()
        return try call {
            try store.readFrames(vaultID: id, logGeneration: logGeneration, after: sequence, limit: limit)
        }
    }

    public func append(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool {
        let id = try vaultID()
        return try call { try store.append(vaultID: id, logGeneration: logGeneration, frames: frames) } == .appended
    }

    public func stage(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool {
        let id = try vaultID()
        return try Self.call { try store.writeFrames(vaultID: id, logGeneration: logGeneration, frames: frames) }
            == .appended
    }

    public func replaceHeader(expectedGeneration: UInt64, header: [UInt8]) throws(CofferError) -> Bool {
        let id = try vaultID()
        return try Self.call {
            try store.replaceHeader(vaultID: id, expectedGeneration: expectedGeneration, newHeader: header)
        }
    }

    public func switchLog(
        from: UInt64, lastSequence: UInt64, to: UInt64, header: [UInt8], expectedHeaderGeneration: UInt64
    ) throws(CofferError) -> Bool {
        let id = try vaultID()
        return try Self.call {
            try store.switchLog(
                vaultID: id, from: from, to: to, newHeader: header, expectedHeaderGeneration: expectedHeaderGeneration,
                expectedLastSequence: lastSequence)
        } == .switched
    }

    public func discard(logGeneration: UInt64) throws(CofferError) {
        let id = try vaultID()
        _ = try Self.call { try store.deleteLogGeneration(vaultID: id, logGeneration: logGeneration) }
    }

    public func checkpoint(logGeneration: UInt64) throws(CofferError) -> [UInt8]? {
        let id = try vaultID()
        return try Self.call { try store.checkpoint(vaultID: id, logGeneration: logGeneration) }
    }

    public func writeCheckpoint(_ bytes: [UInt8], logGeneration: UInt64, sequence: UInt64) throws(CofferError) -> Bool {
        let id = try vaultID()
        return try Self.call {
            try store.writeCheckpoint(vaultID: id, logGeneration: logGeneration, sequence: sequence, checkpoint: bytes)
        }
    }

    public func beginWriterTurn() throws(CofferError) {
        let id = try vaultID()
        // A holder that stalls keeps the turn until the server ends its idle transaction: wait
        // that long (and one lock wait more) before giving up.
        let timeouts = location.timeouts
        let clock = ContinuousClock()
        // The last wait starts before `giveUp` and lasts at most lock_timeout: idle + lock in all.
        let giveUp = clock.now + timeouts.idleInTransaction
        while try !Self.call({ try store.beginWriterTurn(vaultID: id) }) {
            guard clock.now < giveUp else {
                throw CofferError(
                    .io(errno: ETIMEDOUT),
                    "Another writer of vault \(vaultName) held its writer turn for longer than "
                        + "idle_in_transaction_session_timeout (\(PostgresTimeouts.describe(timeouts.idleInTransaction))) "
                        + "and lock_timeout (\(PostgresTimeouts.describe(timeouts.lock))); nothing was written.")
            }
        }
    }

    public func endWriterTurn() {
        store.endWriterTurn()
    }

    /// A ``PostgresFollower`` on the vault: a thread LISTENing on its channel, with a
    /// connection of its own.
    public func follow(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> any SharedLogFollower {
        try PostgresFollower(location: location, interval: interval, refresh: onChange)
    }

    /// Runs a frame-store call, whose errors are `CofferError`s, with a typed throw.
    private static func call<Value>(_ body: () throws -> Value) throws(CofferError) -> Value {
        do { return try body() } catch { throw cofferError(error) }
    }

    /// ``call(_:)`` for a read or write of the vault's rows: while this instance's copy is
    /// staged, a row gone means another copy of the same vault removed it (F-SHARED-COPY).
    private func call<Value>(_ body: () throws -> Value) throws(CofferError) -> Value {
        do {
            return try Self.call(body)
        } catch  where error.code == .notFound && idLock.withLock({ staging != nil }) {
            throw PostgresFrameStore.supersededCopy
        }
    }

    private static func cofferError(_ error: any Error) -> CofferError {
        if let error = error as? CofferError { return error }
        return CofferError(.io(errno: 5), "A PostgreSQL call failed (\(type(of: error))).")
    }
}
