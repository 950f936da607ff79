import CofferCrypto
import CofferErrors
import PostgresNIO

/// Sealed frames and headers of vaults, shared through PostgreSQL by several service instances.
///
/// The store is byte-level: it keeps each vault's header and the frames of its log exactly as
/// given, never decrypting or parsing them. Three tables hold everything (``ensureSchema()``):
///
/// ```
/// coffer_vaults(vault_id bytea primary key, name text unique not null, header bytea not null,
///               header_generation bigint not null, log_generation bigint not null)
/// coffer_frames(vault_id bytea references coffer_vaults on delete cascade, log_generation bigint,
///               sequence bigint, frame bytea not null, primary key (vault_id, log_generation, sequence))
/// coffer_checkpoints(vault_id bytea references coffer_vaults on delete cascade, log_generation bigint,
///               sequence bigint, checkpoint bytea not null, primary key (vault_id, log_generation))
/// ```
///
/// Writers coordinate through the database, not through locks of their own:
/// - an append names the log generation it extends and fails as ``PostgresAppendOutcome/conflict``
///   when another writer took one of its sequence numbers or a compaction switched the log;
/// - a header replacement is a compare-and-swap on the header generation;
/// - a compaction writes a new log generation beside the current one, then switches to it in one
///   transaction that also replaces the header and deletes the old frames.
///
/// Every operation is one transaction (a bulk ``writeFrames(vaultID:logGeneration:frames:)``
/// is one per chunk) with `synchronous_commit = on`: when it returns, the commit is durable on
/// the server. Commits that change a vault NOTIFY its channel (``PostgresVaultListener``).
///
/// ```swift
/// let store = try PostgresFrameStore(location: PostgresLocation(parsing: url))
/// try store.ensureSchema()
/// try store.createVault(name: "team", vaultID: uuid, header: header, firstFrames: frames)
/// let vault = try store.readVault(name: "team")
/// switch try store.append(vaultID: uuid, logGeneration: vault.logGeneration, frames: [next]) {
/// case .appended: break                     // durable
/// case .conflict: break                     // catch up with readFrames, then decide again
/// }
/// ```
///
/// Thread-safe: one connection per store, operations serialized by a lock. A lost connection
/// fails the operation that saw it with `CofferError(.io)` and the next operation reconnects.
/// Call it from threads, not from an event loop or a Swift concurrency task.
public final class PostgresFrameStore: Sendable {
    /// The longest vault id: a vault's NOTIFY channel is `coffer_` and its id in hex, and
    /// PostgreSQL identifiers hold at most 63 bytes (NAMEDATALEN − 1), so (63 − 7) / 2.
    public static let vaultIDBytesMax = (63 - channelPrefix.utf8.count) / 2
    /// The longest vault name, in UTF-8 bytes.
    public static let vaultNameBytesMax = 255
    /// The most frames one INSERT statement carries: 2 + 2 × 1000 parameters, far below the
    /// protocol's 65 535.
    static let framesPerStatementMax = 1000
    /// The most frame bytes one INSERT statement carries (a single larger frame goes alone).
    static let bytesPerStatementMax = 16 << 20
    /// The most frame bytes ``extent(vaultID:logGeneration:after:)`` returns with the extent.
    static let prefetchBytesMax = 64 << 10
    /// The first generation of a new vault's header and log.
    public static let firstGeneration: UInt64 = 1
    static let channelPrefix = "coffer_"

    /// Where the store connects.
    public let location: PostgresLocation
    /// Internal, not private, so that tests can look at the connection.
    let session: PostgresSession
    /// A connection of its own for the writer turn, whose transaction stays open while held;
    /// opened on the first ``beginWriterTurn(vaultID:)``. Internal for tests.
    let turnSession: PostgresSession

    /// Connects to the server at `location`.
    ///
    /// - Parameter location: The server, database and role (its vault name is not used here).
    /// - Throws: `CofferError(.io)` when the server cannot be reached or refuses the login,
    ///   `.notFound` when the database does not exist.
    public init(location: PostgresLocation) throws {
        self.location = location
        self.session = PostgresSession(location: location)
        self.turnSession = PostgresSession(location: location)
        try session.connect()
    }

    /// Closes the connections. Every later call throws `CofferError(.closed)`.
    public func close() {
        session.close()
        turnSession.close()
    }

    /// How many connections the store opened: 1, plus one per reconnection after a loss.
    public var connectionsOpened: Int { session.connectionsOpened }

    /// The NOTIFY channel of a vault: `coffer_` and the vault id in lower-case hex.
    ///
    /// - Throws: `CofferError(.invalidInput)` for an empty or too long id.
    public static func notificationChannel(vaultID: [UInt8]) throws -> String {
        try checkVaultID(vaultID)
        return channelPrefix + hex(vaultID)
    }

    // MARK: Schema

    /// Creates the tables (vaults, frames, checkpoints) when they do not exist; safe to call
    /// from several processes at once. When all three exist it changes nothing and needs no
    /// right beyond reading the catalog: a role that may only write rows creates vaults too.
    ///
    /// - Throws: `CofferError(.io)` when the server refuses (for example the role may not
    ///   create tables) or the connection is lost.
    public func ensureSchema() throws {
        let present = try session.read("looking for Coffer's tables") { statements in
            try Self.decode(
                try statements.execute(
                    """
                    SELECT to_regclass('coffer_vaults') IS NOT NULL AND to_regclass('coffer_frames') IS NOT NULL
                        AND to_regclass('coffer_checkpoints') IS NOT NULL
                    """
                ).first!, as: Bool.self)
        }
        if present { return }
        try session.transaction("creating Coffer's tables") { statements in
            // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalogs; a
            // transaction-scoped advisory lock (key: "coffer" in ASCII) makes them take turns.
            try statements.execute("SELECT pg_advisory_xact_lock(\(Int64(0x636f_6666_6572)))")
            try statements.execute(
                """
                CREATE TABLE IF NOT EXISTS coffer_vaults (
                    vault_id bytea NOT NULL,
                    name text NOT NULL,
                    header bytea NOT NULL,
                    header_generation bigint NOT NULL,
                    log_generation bigint NOT NULL,
                    CONSTRAINT coffer_vaults_pkey PRIMARY KEY (vault_id),
                    CONSTRAINT coffer_vaults_name_key UNIQUE (name)
                )
                """)
            try statements.execute(
                """
                CREATE TABLE IF NOT EXISTS coffer_frames (
                    vault_id bytea NOT NULL,
                    log_generation bigint NOT NULL,
                    sequence bigint NOT NULL,
                    frame bytea NOT NULL,
                    CONSTRAINT coffer_frames_pkey PRIMARY KEY (vault_id, log_generation, sequence),
                    CONSTRAINT coffer_frames_vault_fkey FOREIGN KEY (vault_id)
                        REFERENCES coffer_vaults (vault_id) ON DELETE CASCADE
                )
                """)
            try statements.execute(
                """
                CREATE TABLE IF NOT EXISTS coffer_checkpoints (
                    vault_id bytea NOT NULL,
                    log_generation bigint NOT NULL,
                    sequence bigint NOT NULL,
                    checkpoint bytea NOT NULL,
                    CONSTRAINT coffer_checkpoints_pkey PRIMARY KEY (vault_id, log_generation),
                    CONSTRAINT coffer_checkpoints_vault_fkey FOREIGN KEY (vault_id)
                        REFERENCES coffer_vaults (vault_id) ON DELETE CASCADE
                )
                """)
            // Sealed frames and checkpoints do not compress: store them out of line without trying.
            try statements.execute("ALTER TABLE coffer_frames ALTER COLUMN frame SET STORAGE EXTERNAL")
            try statements.execute("ALTER TABLE coffer_checkpoints ALTER COLUMN checkpoint SET STORAGE EXTERNAL")
            return .commit(())
        }
    }

    // MARK: Vaults

    /// Creates a vault with its header and the first frames of its log, in one transaction.
    ///
    /// The header generation and the log generation both start at ``firstGeneration``.
    ///
    /// - Parameters:
    ///   - name: The vault's unique name, 1 to ``vaultNameBytesMax`` bytes, no NUL.
    ///   - vaultID: The vault's id, 1 to ``vaultIDBytesMax`` bytes.
    ///   - header: The header bytes, not empty.
    ///   - firstFrames: The log's first frames, sequences 1, 2, 3 …; may be empty.
    /// - Throws: `CofferError(.alreadyExists)` when a vault has that name or id;
    ///   `.invalidInput` for a bad argument; `.io` when the server refuses or the connection is lost.
    public func createVault(name: String, vaultID: [UInt8], header: [UInt8], firstFrames: [PostgresFrame] = []) throws {
        try Self.checkName(name)
        try insertVault(named: name, vaultID: vaultID, header: header, firstFrames: firstFrames, "creating the vault")
    }

    /// The start of every staging name (``stagingName(for:token:)``).
    static let stagingPrefix = "coffer-staged-copy:"

    /// The name a copy into the database is staged under until it is whole (FORMAT.md
    /// F-SHARED-COPY): `coffer-staged-copy:`, the vault id in hex, `:`, the copy's own token in
    /// hex, then `.` up to 256 bytes. Longer than any vault name, so no vault has it and no one
    /// opens it by mistake; the token tells one copy's row from another's.
    public static func stagingName(for vaultID: [UInt8], token: [UInt8]) -> String {
        let name = stagingPrefix + hex(vaultID) + ":" + hex(token)
        return name + String(repeating: ".", count: max(0, vaultNameBytesMax + 1 - name.utf8.count))
    }

    /// Whether `name` is a staging name: never a vault's own.
    static func isStagingName(_ name: String) -> Bool {
        name.utf8.count > vaultNameBytesMax && name.hasPrefix(stagingPrefix)
    }

    /// Creates a copy's vault row and its first frames as
    /// ``createVault(name:vaultID:header:firstFrames:)`` does, but under an id and a name of
    /// the copy's own (F-SHARED-COPY): `stagingID`, random, so that no other copy's writes
    /// reach its rows, and `stagingName` (``stagingName(for:token:)``). First it removes
    /// the staged rows of `vaultID` another copy left (one cut short; one still running then
    /// fails at its next write, its rows gone).
    ///
    /// - Throws: `CofferError(.alreadyExists)` when a vault with id `vaultID` exists;
    ///   `.invalidInput` for a bad argument; `.io`.
    public func createStagedVault(
        stagingID: [UInt8], for vaultID: [UInt8], stagingName: String, header: [UInt8],
        firstFrames: [PostgresFrame] = []
    ) throws {
        try Self.checkVaultID(vaultID)
        try Self.checkStagingName(stagingName)
        let real = ByteBuffer(bytes: vaultID)
        let leftovers = Self.stagingPrefix + Self.hex(vaultID) + ":"
        try insertVault(
            named: stagingName, vaultID: stagingID, header: header, firstFrames: firstFrames, "starting the copy"
        ) { statements in
            try statements.execute(
                """
                DELETE FROM coffer_vaults
                WHERE octet_length(name) > \(Self.vaultNameBytesMax) AND left(name, \(Int32(leftovers.utf8.count))) = \(leftovers)
                """)
            guard try statements.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(real)").isEmpty else {
                throw CofferError(.alreadyExists, "A vault with the same id exists already.")
            }
        }
    }

    /// Inserts a vault row and its first frames in one transaction, after `first`.
    private func insertVault(
        named name: String, vaultID: [UInt8], header: [UInt8], firstFrames: [PostgresFrame], _ operation: String,
        first: (Statements) throws -> Void = { _ in }
    ) throws {
        try Self.checkVaultID(vaultID)
        try Self.checkHeader(header)
        if !firstFrames.isEmpty { try Self.checkFrames(firstFrames, startingAt: 1) }
        let id = ByteBuffer(bytes: vaultID)
        let generation = Int64(Self.firstGeneration)
        try session.transaction(operation) { statements in
            try first(statements)
            do {
                try statements.execute(
                    """
                    INSERT INTO coffer_vaults (vault_id, name, header, header_generation, log_generation)
                    VALUES (\(id), \(name), \(ByteBuffer(bytes: header)), \(generation), \(generation))
                    """)
            } catch let failure as StatementFailure where failure.isUniqueViolation {
                throw CofferError(.alreadyExists, "A vault of that name or with the same id exists already.")
            }
            try Self.insert(firstFrames[...], vaultID: id, logGeneration: generation, statements)
            return .commit(())
        }
    }

    /// A copy whose staged row another copy of the same vault removed (F-SHARED-COPY).
    static let supersededCopy = CofferError(
        .conflict,
        "Another copy of the same vault into this database started meanwhile and removed this one; run the copy again.")

    /// What naming a staged copy did.
    private enum Publication {
        case published
        /// A vault has the name or the id already.
        case taken
        /// The staged row is gone: another copy of the same vault removed it.
        case superseded
    }

    /// Makes the copy staged under `stagingID` and `stagingName` the vault `vaultID` named
    /// `name`, in one transaction: the vault's row is inserted, the copy's frames and
    /// checkpoints move to it, and the staged row goes. From then on it is a vault like any other.
    ///
    /// - Returns: `false` when a vault has that name or id already (nothing changed).
    /// - Throws: `CofferError(.conflict)` when the staged row is gone (another copy of the same
    ///   vault removed it: run the copy again); `.invalidInput` for a bad name; `.io`.
    public func publishStagedVault(
        stagingID: [UInt8], stagingName: String, as vaultID: [UInt8], name: String
    ) throws -> Bool {
        try Self.checkName(name)
        try Self.checkVaultID(vaultID)
        try Self.checkVaultID(stagingID)
        try Self.checkStagingName(stagingName)
        let staged = ByteBuffer(bytes: stagingID)
        let real = ByteBuffer(bytes: vaultID)
        let outcome = try session.transaction("naming the copy") { statements -> TransactionEnd<Publication> in
            let row = try statements.execute(
                "SELECT 1 FROM coffer_vaults WHERE vault_id = \(staged) AND name = \(stagingName) FOR UPDATE")
            guard !row.isEmpty else { return .rollback(.superseded) }
            do {
                try statements.execute(
                    """
                    INSERT INTO coffer_vaults (vault_id, name, header, header_generation, log_generation)
                    SELECT \(real), \(name), header, header_generation, log_generation FROM coffer_vaults
                    WHERE vault_id = \(staged)
                    """)
            } catch let failure as StatementFailure where failure.isUniqueViolation {
                return .rollback(.taken)
            }
            try statements.execute("UPDATE coffer_frames SET vault_id = \(real) WHERE vault_id = \(staged)")
            try statements.execute("UPDATE coffer_checkpoints SET vault_id = \(real) WHERE vault_id = \(staged)")
            try statements.execute("DELETE FROM coffer_vaults WHERE vault_id = \(staged)")
            return .commit(.published)
        }
        switch outcome {
        case .published: return true
        case .taken: return false
        case .superseded: throw Self.supersededCopy
        }
    }

    /// Drops the copy staged under `stagingID` and `stagingName`, with its frames; nothing
    /// when there is none.
    public func dropStagedVault(stagingID: [UInt8], stagingName: String) throws {
        try Self.checkVaultID(stagingID)
        try Self.checkStagingName(stagingName)
        let staged = ByteBuffer(bytes: stagingID)
        try session.transaction("dropping an unfinished copy") { statements in
            try statements.execute(
                "DELETE FROM coffer_vaults WHERE vault_id = \(staged) AND name = \(stagingName)")
            return .commit(())
        }
    }

    /// Reads a vault's row by name.
    ///
    /// - Returns: The vault's id, header and generations.
    /// - Throws: `CofferError(.notFound)` when no vault has that name; `.io` when the
    ///   connection is lost.
    public func readVault(name: String) throws -> PostgresVault {
        try Self.checkName(name)
        return try readVault(anyName: name)
    }

    /// Reads a vault's row by its staging name (``stagingName(for:token:)``).
    public func readStagedVault(stagingName: String) throws -> PostgresVault {
        try Self.checkStagingName(stagingName)
        return try readVault(anyName: stagingName)
    }

    private func readVault(anyName name: String) throws -> PostgresVault {
        let vault = try session.read("reading the vault") { statements in
            try statements.execute(
                """
                SELECT vault_id, name, header, header_generation, log_generation FROM coffer_vaults
                WHERE name = \(name)
                """
            ).first.map(Self.vault(from:))
        }
        guard let vault else { throw CofferError(.notFound, "No vault is named \(name).") }
        return vault
    }

    /// Reads a vault's row by id.
    ///
    /// - Throws: `CofferError(.notFound)` when no vault has that id; `.io` when the
    ///   connection is lost.
    public func readVault(vaultID: [UInt8]) throws -> PostgresVault {
        try Self.checkVaultID(vaultID)
        let vault = try session.read("reading the vault") { statements in
            try statements.execute(
                """
                SELECT vault_id, name, header, header_generation, log_generation FROM coffer_vaults
                WHERE vault_id = \(ByteBuffer(bytes: vaultID))
                """
            ).first.map(Self.vault(from:))
        }
        guard let vault else { throw CofferError(.notFound, "No vault has the id \(Self.hex(vaultID)).") }
        return vault
    }

    /// Lists every vault, by name, without headers; a copy still staged (F-SHARED-COPY) is no vault yet.
    ///
    /// - Throws: `CofferError(.io)` when the connection is lost.
    public func listVaults() throws -> [PostgresVaultSummary] {
        try session.read("listing the vaults") { statements in
            try statements.execute(
                """
                SELECT vault_id, name, header_generation, log_generation FROM coffer_vaults
                WHERE octet_length(name) <= \(Self.vaultNameBytesMax) ORDER BY name
                """
            ).map { row in
                let (id, name, header, log) = try Self.decode(row, as: (ByteBuffer, String, Int64, Int64).self)
                return PostgresVaultSummary(
                    vaultID: Array(id.readableBytesView), name: name,
                    headerGeneration: try Self.unsigned(header, "header_generation"),
                    logGeneration: try Self.unsigned(log, "log_generation"))
            }
        }
    }

    /// Deletes a vault and every frame of every generation of its log, in one transaction.
    ///
    /// - Throws: `CofferError(.notFound)` when no vault has that name; `.io` when the server
    ///   refuses or the connection is lost.
    public func dropVault(name: String) throws {
        try Self.checkName(name)
        let dropped = try session.transaction("dropping the vault") { statements in
            let rows = try statements.execute("DELETE FROM coffer_vaults WHERE name = \(name) RETURNING vault_id")
            return .commit(!rows.isEmpty)
        }
        guard dropped else { throw CofferError(.notFound, "No vault is named \(name).") }
    }

    // MARK: The header

    /// Replaces the header if its generation is still `expectedGeneration` (compare-and-swap).
    ///
    /// On success the header generation becomes `expectedGeneration + 1` and the vault's
    /// channel is notified.
    ///
    /// - Returns: Whether this call replaced the header; false when another writer did first.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` for an
    ///   empty header; `.io` when the server refuses or the connection is lost (the message
    ///   says whether the outcome is unknown: then ``readVault(vaultID:)`` tells).
    public func replaceHeader(vaultID: [UInt8], expectedGeneration: UInt64, newHeader: [UInt8]) throws -> Bool {
        try Self.checkVaultID(vaultID)
        try Self.checkHeader(newHeader)
        let expected = try Self.bigint(expectedGeneration, "the expected header generation")
        guard expected < Int64.max else { return false }
        let id = ByteBuffer(bytes: vaultID)
        let replaced = try session.transaction("rewriting the header") { statements -> TransactionEnd<Bool> in
            let rows = try statements.execute(
                """
                UPDATE coffer_vaults SET header = \(ByteBuffer(bytes: newHeader)), header_generation = \(expected + 1)
                WHERE vault_id = \(id) AND header_generation = \(expected)
                RETURNING log_generation
                """)
            guard let row = rows.first else {
                let exists = try !statements.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(id)").isEmpty
                guard exists else { throw CofferError(.notFound, "No vault has the id \(Self.hex(vaultID)).") }
                return .rollback(false)
            }
            let logGeneration = try Self.decode(row, as: Int64.self)
            let last = try Self.lastSequence(vaultID: id, logGeneration: logGeneration, statements)
            try Self.notify(
                vaultID: vaultID, logGeneration: logGeneration, lastSequence: last, headerGeneration: expected + 1,
                statements)
            return .commit(true)
        }
        return replaced
    }

    // MARK: The log

    /// Appends frames to the current log generation, all or none, in one transaction.
    ///
    /// The transaction holds the vault row `FOR SHARE`, so it cannot interleave with a log
    /// switch, and checks that `logGeneration` is still the current one. `frames` must follow
    /// the generation's last frame without a gap: the first sequence is `lastSequence + 1`.
    /// A successful append notifies the vault's channel with the new last sequence.
    ///
    /// Called by the thread that holds the writer turn (``beginWriterTurn(vaultID:)``), the
    /// append runs in the turn's transaction and its commit ends the turn: three round trips
    /// fewer in the part of a commit that writers take turns for.
    ///
    /// - Parameters:
    ///   - vaultID: The vault.
    ///   - logGeneration: The log generation the caller extends.
    ///   - frames: At least one frame, sequences consecutive.
    /// - Returns: ``PostgresAppendOutcome/appended``, or ``PostgresAppendOutcome/conflict`` when
    ///   another writer holds one of the sequence numbers or the generation is no longer current.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` for an
    ///   empty list, non-consecutive sequences or a gap after the last frame; `.io` when the
    ///   server refuses or the connection is lost. When the message says the outcome is
    ///   unknown, compare ``frame(vaultID:logGeneration:sequence:)`` with what was sent.
    public func append(vaultID: [UInt8], logGeneration: UInt64, frames: [PostgresFrame]) throws -> PostgresAppendOutcome
    {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        try Self.checkFrames(frames, startingAt: nil)
        let id = ByteBuffer(bytes: vaultID)
        func append(_ statements: Statements) throws -> TransactionEnd<PostgresAppendOutcome> {
            let (current, headerGeneration, last) = try Self.lockVault(
                id, vaultID: vaultID, appendingTo: generation, statements)
            guard current == generation else { return .rollback(.conflict) }
            switch try Self.checkContinuation(frames, after: last) {
            case .continues: break
            case .taken: return .rollback(.conflict)
            }
            let notification = PostgresLogNotification(
                logGeneration: logGeneration, lastSequence: frames.last!.sequence,
                headerGeneration: UInt64(headerGeneration))
            do {
                try Self.insert(
                    frames[...], vaultID: id, logGeneration: generation,
                    notifying: (Self.channelPrefix + Self.hex(vaultID), notification.payload), statements)
            } catch let failure as StatementFailure where failure.isUniqueViolation {
                return .rollback(.conflict)
            }
            return .commit(.appended)
        }
        // In the writer turn, the append is the turn's own transaction: its commit ends the turn.
        if let outcome = try turnSession.finishHeld("append", append) { return outcome }
        return try session.transaction("appending records", append)
    }

    // MARK: Writer turns

    /// Waits for the vault's writer turn and holds it until ``endWriterTurn()``: a
    /// transaction-scoped advisory lock keyed by the vault id, taken in a transaction left open
    /// on a connection of its own. Writers that take the turn before they catch up, plan and
    /// append never find each other's frames at their sequence numbers, so none of them has to
    /// plan again (FORMAT.md §13).
    ///
    /// The server releases the turn when the transaction ends: at the holder's
    /// ``append(vaultID:logGeneration:frames:)``, which commits it, or at ``endWriterTurn()``;
    /// when the connection ends (the process died, the network or the server went away); or
    /// when the holder left it idle for longer than `idle_in_transaction_session_timeout`. A
    /// writer whose turn was released that way appends in a transaction of its own, which
    /// conflicts as it would without turns if another writer got there first.
    ///
    /// - Returns: `true` when the turn is held; `false` when another writer held it for
    ///   longer than `lock_timeout` (or `statement_timeout`, if shorter): nothing is held
    ///   then; wait again or give up.
    /// - Throws: `CofferError(.invalidInput)` for a bad vault id; `.io` when the connection is
    ///   lost or the server refuses.
    public func beginWriterTurn(vaultID: [UInt8]) throws -> Bool {
        try Self.checkVaultID(vaultID)
        let key = Self.writerTurnKey(vaultID)
        return try turnSession.hold("waiting for the vault's writer turn") { statements in
            do {
                try statements.execute("SELECT pg_advisory_xact_lock(\(key))")
                return true
            } catch let failure as StatementFailure {
                // The wait ended by lock_timeout, or by statement_timeout when that is the
                // shorter: either way nothing is held, and the caller may wait again.
                if case .server(let sqlState, _, _) = failure,
                    sqlState == StatementFailure.lockNotAvailable || sqlState == StatementFailure.queryCanceled
                {
                    return false
                }
                throw failure
            }
        }
    }

    /// Ends the writer turn ``beginWriterTurn(vaultID:)`` began; nothing to do when none is
    /// held or an append ended it.
    public func endWriterTurn() {
        turnSession.release()
    }

    /// The advisory lock key of a vault's writer turn: its id's first 8 bytes, big-endian. Ids
    /// are random, so two vaults share a key only by a 2⁻⁶⁴ chance, and then their writers
    /// merely take turns with each other too.
    static func writerTurnKey(_ vaultID: [UInt8]) -> Int64 {
        var key: UInt64 = 0
        for byte in vaultID.prefix(8) { key = key << 8 | UInt64(byte) }
        return Int64(bitPattern: key)
    }

    /// Reads frames of a log generation in sequence order, those after `sequence`.
    ///
    /// It is not an error if the vault or the generation does not exist: the list is empty.
    ///
    /// - Parameters:
    ///   - vaultID: The vault.
    ///   - logGeneration: The generation to read.
    ///   - sequence: Frames with a greater sequence number are read; 0 reads from the start.
    ///   - limit: The most frames to return, at least 1.
    /// - Returns: Up to `limit` frames, sequence numbers increasing.
    /// - Throws: `CofferError(.invalidInput)` for a bad argument; `.corrupted` when the rows
    ///   are not what the store writes; `.io` when the connection is lost.
    public func readFrames(vaultID: [UInt8], logGeneration: UInt64, after sequence: UInt64, limit: Int) throws
        -> [PostgresFrame]
    {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let after = try Self.bigint(sequence, "the sequence number")
        guard limit >= 1 else { throw CofferError(.invalidInput, "The frame limit must be at least 1.") }
        let frames = try session.read("reading records") { statements in
            try statements.execute(
                """
                SELECT sequence, frame FROM coffer_frames
                WHERE vault_id = \(ByteBuffer(bytes: vaultID)) AND log_generation = \(generation)
                    AND sequence > \(after)
                ORDER BY sequence LIMIT \(Int64(limit))
                """
            ).map { row in
                let (number, bytes) = try Self.decode(row, as: (Int64, ByteBuffer).self)
                return PostgresFrame(
                    sequence: try Self.unsigned(number, "sequence"), bytes: Array(bytes.readableBytesView))
            }
        }
        // Checked after reading as well: the caller chains these frames by sequence.
        var previous = sequence
        for frame in frames {
            guard frame.sequence > previous else {
                throw CofferError(.corrupted, "PostgreSQL returned frames out of order.", sequence: frame.sequence)
            }
            previous = frame.sequence
        }
        guard frames.count <= limit else {
            throw CofferError(.corrupted, "PostgreSQL returned more frames than asked.")
        }
        return frames
    }

    /// Reads one frame, to learn whether a commit whose outcome is unknown landed: compare
    /// the bytes with those sent.
    ///
    /// - Returns: The frame's bytes, or nil when there is no such frame.
    /// - Throws: `CofferError(.invalidInput)` for a bad argument; `.io` when the connection is lost.
    public func frame(vaultID: [UInt8], logGeneration: UInt64, sequence: UInt64) throws -> [UInt8]? {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let number = try Self.bigint(sequence, "the sequence number")
        return try session.read("reading a record") { statements in
            try statements.execute(
                """
                SELECT frame FROM coffer_frames WHERE vault_id = \(ByteBuffer(bytes: vaultID))
                    AND log_generation = \(generation) AND sequence = \(number)
                """
            ).first.map { Array(try Self.decode($0, as: ByteBuffer.self).readableBytesView) }
        }
    }

    /// The last sequence number of a log generation: 0 when it holds no frame.
    ///
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.io` when the
    ///   connection is lost.
    public func lastSequence(vaultID: [UInt8], logGeneration: UInt64) throws -> UInt64 {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let id = ByteBuffer(bytes: vaultID)
        let last = try session.read("reading where the log ends") { statements -> Int64? in
            let rows = try statements.execute(
                """
                SELECT (SELECT COALESCE(MAX(sequence), 0) FROM coffer_frames
                        WHERE vault_id = \(id) AND log_generation = \(generation))
                FROM coffer_vaults WHERE vault_id = \(id)
                """)
            return try rows.first.map { try Self.decode($0, as: Int64.self) }
        }
        guard let last else { throw CofferError(.notFound, "No vault has the id \(Self.hex(vaultID)).") }
        return try Self.unsigned(last, "sequence")
    }

    /// How many bytes the frames of a log generation after `sequence` hold, with the vault's
    /// two generations, in one snapshot: what a reader needs to know how far the log reaches
    /// without reading it. When those frames hold at most ``prefetchBytesMax`` bytes, they
    /// come along (a writer catching up with a few commits of others needs no second round
    /// trip); otherwise `frames` is empty.
    ///
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.corrupted` when the
    ///   rows are not what the store writes; `.io` when the connection is lost.
    public func extent(vaultID: [UInt8], logGeneration: UInt64, after sequence: UInt64) throws
        -> (logGeneration: UInt64, headerGeneration: UInt64, frameBytes: UInt64, frames: [PostgresFrame])
    {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let after = try Self.bigint(sequence, "the sequence number")
        let id = ByteBuffer(bytes: vaultID)
        let rows = try session.read("reading where the log ends") { statements in
            try statements.execute(
                """
                SELECT v.log_generation, v.header_generation, t.bytes, f.sequence, f.frame FROM coffer_vaults v
                CROSS JOIN (SELECT COALESCE(SUM(octet_length(frame)), 0)::bigint AS bytes
                     FROM coffer_frames
                     WHERE vault_id = \(id) AND log_generation = \(generation) AND sequence > \(after)) t
                LEFT JOIN LATERAL (SELECT sequence, frame FROM coffer_frames
                     WHERE vault_id = \(id) AND log_generation = \(generation) AND sequence > \(after)
                     ORDER BY sequence) f ON t.bytes <= \(Int64(Self.prefetchBytesMax))
                WHERE v.vault_id = \(id)
                ORDER BY f.sequence
                """
            ).map { try Self.decode($0, as: (Int64, Int64, Int64, Int64?, ByteBuffer?).self) }
        }
        guard let (log, header, bytes, _, _) = rows.first else {
            throw CofferError(.notFound, "No vault has the id \(Self.hex(vaultID)).")
        }
        var frames: [PostgresFrame] = []
        for (_, _, _, number, frame) in rows {
            guard let number, let frame else { break }
            frames.append(
                PostgresFrame(sequence: try Self.unsigned(number, "sequence"), bytes: Array(frame.readableBytesView)))
        }
        return (
            try Self.unsigned(log, "log generation"), try Self.unsigned(header, "header generation"),
            try Self.unsigned(bytes, "frame bytes"), frames
        )
    }

    // MARK: Compaction

    /// Writes frames into a log generation that is not yet the vault's log (a compaction's
    /// output), in chunks of one transaction each.
    ///
    /// Each chunk checks, holding the vault row `FOR SHARE`, that `logGeneration` is greater
    /// than the current generation, and continues the generation's frames without a gap, so a
    /// write can resume after a failure from ``lastSequence(vaultID:logGeneration:)`` + 1.
    /// Chunks committed before a conflict or a failure stay; ``deleteLogGeneration(vaultID:logGeneration:)``
    /// removes them if the compaction is abandoned. Nothing is notified: no one reads the
    /// generation until ``switchLog(vaultID:from:to:newHeader:expectedHeaderGeneration:)``.
    ///
    /// - Returns: ``PostgresAppendOutcome/appended`` when every chunk was written;
    ///   ``PostgresAppendOutcome/conflict`` when the generation became current or stale, or
    ///   another writer holds one of the sequence numbers.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` for
    ///   an empty list, non-consecutive sequences or a gap; `.io` when the server refuses or the
    ///   connection is lost.
    public func writeFrames(vaultID: [UInt8], logGeneration: UInt64, frames: [PostgresFrame]) throws
        -> PostgresAppendOutcome
    {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        try Self.checkFrames(frames, startingAt: nil)
        let id = ByteBuffer(bytes: vaultID)
        for chunk in Self.chunks(frames[...]) {
            let outcome = try session.transaction("writing a compaction's records") {
                statements -> TransactionEnd<PostgresAppendOutcome> in
                let (current, _, last) = try Self.lockVault(id, vaultID: vaultID, appendingTo: generation, statements)
                guard generation > current else { return .rollback(.conflict) }
                switch try Self.checkContinuation(chunk, after: last) {
                case .continues: break
                case .taken: return .rollback(.conflict)
                }
                do {
                    try Self.insert(chunk, vaultID: id, logGeneration: generation, statements)
                } catch let failure as StatementFailure where failure.isUniqueViolation {
                    return .rollback(.conflict)
                }
                return .commit(.appended)
            }
            if outcome == .conflict { return .conflict }
        }
        return .appended
    }

    /// Makes generation `to` the vault's log and `newHeader` its header, in one transaction:
    /// the end of a compaction.
    ///
    /// Holding the vault row `FOR UPDATE`, it checks that the log generation is still `from`
    /// and the header generation still `expectedHeaderGeneration`, sets the log generation to
    /// `to`, replaces the header (the header generation grows by 1), deletes the frames of
    /// every other generation (the old log, and what any compaction that never switched left), and
    /// notifies the vault's channel. Appends wait for it and then see the new generation.
    ///
    /// - Returns: ``PostgresLogSwitchOutcome/switched``, or ``PostgresLogSwitchOutcome/conflict``
    ///   when either generation moved on.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` when
    ///   `to` is not greater than `from` or the header is empty; `.io` when the server refuses
    ///   or the connection is lost (when the outcome is unknown, ``readVault(vaultID:)`` tells).
    public func switchLog(
        vaultID: [UInt8], from: UInt64, to: UInt64, newHeader: [UInt8], expectedHeaderGeneration: UInt64,
        expectedLastSequence: UInt64? = nil
    ) throws -> PostgresLogSwitchOutcome {
        try Self.checkVaultID(vaultID)
        try Self.checkHeader(newHeader)
        let source = try Self.bigint(from, "the current log generation")
        let target = try Self.bigint(to, "the new log generation")
        let expected = try Self.bigint(expectedHeaderGeneration, "the expected header generation")
        guard target > source else {
            throw CofferError(.invalidInput, "The new log generation must be greater than the current one.")
        }
        let id = ByteBuffer(bytes: vaultID)
        return try session.transaction("switching to the compacted log") {
            statements -> TransactionEnd<PostgresLogSwitchOutcome> in
            let (current, headerGeneration) = try Self.lockVault(id, vaultID: vaultID, mode: "UPDATE", statements)
            guard current == source, headerGeneration == expected, expected < Int64.max else {
                return .rollback(.conflict)
            }
            // Frames appended to the old log after the compaction copied it would be lost.
            if let expectedLastSequence,
                try Self.lastSequence(vaultID: id, logGeneration: source, statements) != Int64(expectedLastSequence)
            {
                return .rollback(.conflict)
            }
            try statements.execute(
                """
                UPDATE coffer_vaults SET log_generation = \(target), header = \(ByteBuffer(bytes: newHeader)),
                    header_generation = \(expected + 1)
                WHERE vault_id = \(id)
                """)
            // Every other generation goes: the old log, and what compactions left that never
            // switched (a compaction cut short, above or below this one). One still running
            // is dropped at its switch, which finds the log replaced, and deletes its rows.
            try statements.execute("DELETE FROM coffer_frames WHERE vault_id = \(id) AND log_generation <> \(target)")
            try statements.execute(
                "DELETE FROM coffer_checkpoints WHERE vault_id = \(id) AND log_generation <> \(target)")
            let last = try Self.lastSequence(vaultID: id, logGeneration: target, statements)
            try Self.notify(
                vaultID: vaultID, logGeneration: target, lastSequence: last, headerGeneration: expected + 1, statements)
            return .commit(.switched)
        }
    }

    /// Deletes the frames of a log generation that is not the vault's log: an abandoned
    /// compaction's output. It is not an error if the generation holds no frame.
    ///
    /// - Returns: How many frames were deleted.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` when
    ///   `logGeneration` is the current log; `.io` when the server refuses or the connection is lost.
    @discardableResult
    public func deleteLogGeneration(vaultID: [UInt8], logGeneration: UInt64) throws -> Int {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let id = ByteBuffer(bytes: vaultID)
        return try session.transaction("deleting an abandoned compaction's records") { statements in
            let (current, _) = try Self.lockVault(id, vaultID: vaultID, mode: "SHARE", statements)
            guard current != generation else {
                throw CofferError(.invalidInput, "Log generation \(generation) is the vault's current log.")
            }
            let result = try statements.execute(
                "DELETE FROM coffer_frames WHERE vault_id = \(id) AND log_generation = \(generation)")
            try statements.execute(
                "DELETE FROM coffer_checkpoints WHERE vault_id = \(id) AND log_generation = \(generation)")
            return .commit(result.metadata.rows ?? 0)
        }
    }

    // MARK: Checkpoints

    /// The index checkpoint kept for a log generation (FORMAT.md F-SHARED-CHECKPOINT), as
    /// stored: the reader authenticates it.
    ///
    /// - Returns: Its bytes, or nil when none is kept.
    /// - Throws: `CofferError(.invalidInput)` for a bad argument; `.io` when the connection is lost.
    public func checkpoint(vaultID: [UInt8], logGeneration: UInt64) throws -> [UInt8]? {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        return try session.read("reading the index checkpoint") { statements in
            try statements.execute(
                """
                SELECT checkpoint FROM coffer_checkpoints WHERE vault_id = \(ByteBuffer(bytes: vaultID))
                    AND log_generation = \(generation)
                """
            ).first.map { Array(try Self.decode($0, as: ByteBuffer.self).readableBytesView) }
        }
    }

    /// Keeps `checkpoint` for a log generation, covering the records through `sequence`, in
    /// one transaction: provided the generation is still the vault's log and no checkpoint
    /// kept for it covers `sequence` or more.
    ///
    /// - Returns: Whether it was written.
    /// - Throws: `CofferError(.notFound)` when the vault does not exist; `.invalidInput` for a
    ///   bad argument; `.io` when the server refuses or the connection is lost (then it may or
    ///   may not have been written: either way a reader checks what it finds).
    public func writeCheckpoint(vaultID: [UInt8], logGeneration: UInt64, sequence: UInt64, checkpoint: [UInt8]) throws
        -> Bool
    {
        try Self.checkVaultID(vaultID)
        let generation = try Self.bigint(logGeneration, "the log generation")
        let covered = try Self.bigint(sequence, "the sequence number")
        guard !checkpoint.isEmpty else { throw CofferError(.invalidInput, "A checkpoint is not empty.") }
        let id = ByteBuffer(bytes: vaultID)
        return try session.transaction("writing the index checkpoint") { statements -> TransactionEnd<Bool> in
            // FOR SHARE: a switch, which deletes this generation's checkpoint, waits for this.
            let (current, _) = try Self.lockVault(id, vaultID: vaultID, mode: "SHARE", statements)
            guard current == generation else { return .rollback(false) }
            let result = try statements.execute(
                """
                INSERT INTO coffer_checkpoints (vault_id, log_generation, sequence, checkpoint)
                VALUES (\(id), \(generation), \(covered), \(ByteBuffer(bytes: checkpoint)))
                ON CONFLICT (vault_id, log_generation) DO UPDATE
                    SET sequence = EXCLUDED.sequence, checkpoint = EXCLUDED.checkpoint
                    WHERE coffer_checkpoints.sequence < EXCLUDED.sequence
                """)
            return .commit((result.metadata.rows ?? 0) > 0)
        }
    }

    // MARK: Statements shared by the operations

    /// Locks the vault row and returns (log generation, header generation).
    private static func lockVault(_ id: ByteBuffer, vaultID: [UInt8], mode: String, _ statements: Statements) throws
        -> (Int64, Int64)
    {
        precondition(mode == "SHARE" || mode == "UPDATE")
        let rows = try statements.execute(
            "SELECT log_generation, header_generation FROM coffer_vaults WHERE vault_id = \(id) FOR \(unescaped: mode)")
        guard let row = rows.first else { throw CofferError(.notFound, "No vault has the id \(hex(vaultID)).") }
        let (log, header) = try decode(row, as: (Int64, Int64).self)
        guard log >= 1, header >= 1 else { throw CofferError(.corrupted, "The vault row has a generation below 1.") }
        return (log, header)
    }

    private static func lastSequence(vaultID id: ByteBuffer, logGeneration: Int64, _ statements: Statements) throws
        -> Int64
    {
        let rows = try statements.execute(
            """
            SELECT COALESCE(MAX(sequence), 0) FROM coffer_frames
            WHERE vault_id = \(id) AND log_generation = \(logGeneration)
            """)
        guard let row = rows.first else { throw CofferError(.corrupted, "PostgreSQL returned no row for MAX.") }
        return try decode(row, as: Int64.self)
    }

    /// Locks the vault row `FOR SHARE` and returns (log generation, header generation, last
    /// sequence of `logGeneration`), in one statement. The last sequence is read in the
    /// statement's snapshot, which includes everything committed before the caller asked; a
    /// frame committed while the lock was awaited shows as a unique violation at the insert.
    private static func lockVault(
        _ id: ByteBuffer, vaultID: [UInt8], appendingTo logGeneration: Int64, _ statements: Statements
    ) throws -> (Int64, Int64, Int64) {
        let rows = try statements.execute(
            """
            SELECT v.log_generation, v.header_generation,
                (SELECT COALESCE(MAX(sequence), 0) FROM coffer_frames
                 WHERE vault_id = \(id) AND log_generation = \(logGeneration))
            FROM coffer_vaults v WHERE v.vault_id = \(id) FOR SHARE
            """)
        guard let row = rows.first else { throw CofferError(.notFound, "No vault has the id \(hex(vaultID)).") }
        let (log, header, last) = try decode(row, as: (Int64, Int64, Int64).self)
        guard log >= 1, header >= 1 else { throw CofferError(.corrupted, "The vault row has a generation below 1.") }
        return (log, header, last)
    }

    private enum Continuation { case continues, taken }

    /// Whether `frames` follow the generation's last frame, `last`. A first sequence at or
    /// below it means another writer got there first; one beyond `last + 1` is a gap, the
    /// caller's error.
    private static func checkContinuation<Frames: Collection<PostgresFrame>>(_ frames: Frames, after last: Int64) throws
        -> Continuation
    {
        let first = Int64(frames.first!.sequence)
        if first <= last { return .taken }
        guard first == last + 1 else {
            throw CofferError(
                .invalidInput, "The frames start at sequence \(first) but the log ends at \(last): that leaves a gap.",
                sequence: UInt64(first))
        }
        return .continues
    }

    /// Inserts the frames, in statements of at most ``framesPerStatementMax`` frames and
    /// ``bytesPerStatementMax`` bytes; the last one also sends `notification`, if any (it is
    /// delivered at commit, and only if the transaction commits).
    private static func insert(
        _ frames: ArraySlice<PostgresFrame>, vaultID id: ByteBuffer, logGeneration: Int64,
        notifying notification: (channel: String, payload: String)? = nil, _ statements: Statements
    ) throws {
        let runs = chunks(frames)
        for (run, chunk) in runs.enumerated() {
            var binds = PostgresBindings(capacity: 4 + 2 * chunk.count)
            binds.append(id)
            binds.append(logGeneration)
            var sql = "INSERT INTO coffer_frames (vault_id, log_generation, sequence, frame) VALUES "
            for (index, frame) in chunk.enumerated() {
                if index > 0 { sql += ", " }
                sql += "($1, $2, $\(binds.count + 1), $\(binds.count + 2))"
                binds.append(Int64(frame.sequence))
                binds.append(ByteBuffer(bytes: frame.bytes))
            }
            if run == runs.count - 1, let notification {
                // A data-modifying WITH runs whether or not the SELECT reads it: one round trip.
                sql = "WITH inserted AS (\(sql)) SELECT pg_notify($\(binds.count + 1), $\(binds.count + 2))"
                binds.append(notification.channel)
                binds.append(notification.payload)
            }
            try statements.execute(PostgresQuery(unsafeSQL: sql, binds: binds))
        }
    }

    /// Splits frames into runs of at most ``framesPerStatementMax`` frames and
    /// ``bytesPerStatementMax`` bytes (a larger frame is a run of its own).
    static func chunks(_ frames: ArraySlice<PostgresFrame>) -> [ArraySlice<PostgresFrame>] {
        var result: [ArraySlice<PostgresFrame>] = []
        var start = frames.startIndex
        var bytes = 0
        for index in frames.indices {
            let size = frames[index].bytes.count
            if index > start && (index - start == framesPerStatementMax || bytes + size > bytesPerStatementMax) {
                result.append(frames[start..<index])
                start = index
                bytes = 0
            }
            bytes += size
        }
        if start < frames.endIndex { result.append(frames[start...]) }
        return result
    }

    private static func notify(
        vaultID: [UInt8], logGeneration: Int64, lastSequence: Int64, headerGeneration: Int64, _ statements: Statements
    ) throws {
        let notification = PostgresLogNotification(
            logGeneration: UInt64(logGeneration), lastSequence: UInt64(lastSequence),
            headerGeneration: UInt64(headerGeneration))
        // NOTIFY inside the transaction is delivered at commit, and only if it commits.
        try statements.execute(
            "SELECT pg_notify(\(channelPrefix + hex(vaultID)), \(notification.payload))")
    }

    private static func vault(from row: PostgresRow) throws -> PostgresVault {
        let (id, name, header, headerGeneration, logGeneration) = try decode(
            row, as: (ByteBuffer, String, ByteBuffer, Int64, Int64).self)
        return PostgresVault(
            vaultID: Array(id.readableBytesView), name: name, header: Array(header.readableBytesView),
            headerGeneration: try unsigned(headerGeneration, "header_generation"),
            logGeneration: try unsigned(logGeneration, "log_generation"))
    }

    // MARK: Checks

    private static func decode<each Column: PostgresDecodable>(
        _ row: PostgresRow, as type: (repeat each Column).Type
    ) throws -> (repeat each Column) {
        do {
            return try row.decode(type)
        } catch {
            // PostgresDecodingError can hold the cell's bytes; it is not passed on.
            throw CofferError(.corrupted, "A row from PostgreSQL does not have the columns the store writes.")
        }
    }

    private static func decode<Column: PostgresDecodable>(_ row: PostgresRow, as type: Column.Type) throws -> Column {
        do {
            return try row.decode(type)
        } catch {
            throw CofferError(.corrupted, "A row from PostgreSQL does not have the columns the store writes.")
        }
    }

    static func checkVaultID(_ vaultID: [UInt8]) throws {
        guard (1...vaultIDBytesMax).contains(vaultID.count) else {
            throw CofferError(.invalidInput, "A vault id must be 1 to \(vaultIDBytesMax) bytes.")
        }
    }

    private static func checkName(_ name: String) throws {
        guard (1...vaultNameBytesMax).contains(name.utf8.count), !name.utf8.contains(0) else {
            throw CofferError(.invalidInput, "A vault name must be 1 to \(vaultNameBytesMax) bytes, without NUL.")
        }
    }

    private static func checkStagingName(_ name: String) throws {
        guard isStagingName(name) else { throw CofferError(.invalidInput, "That is not a staging name.") }
    }

    private static func checkHeader(_ header: [UInt8]) throws {
        guard !header.isEmpty else { throw CofferError(.invalidInput, "The header is empty.") }
    }

    /// Frames must be non-empty, each with bytes, sequences consecutive (from `first` if given).
    private static func checkFrames(_ frames: [PostgresFrame], startingAt first: UInt64?) throws {
        guard let head = frames.first else { throw CofferError(.invalidInput, "No frames were given.") }
        if let first, head.sequence != first {
            throw CofferError(.invalidInput, "The first frame must have sequence \(first).", sequence: head.sequence)
        }
        guard head.sequence >= 1, head.sequence <= UInt64(Int64.max) - UInt64(frames.count) else {
            throw CofferError(
                .invalidInput, "Sequence numbers must be between 1 and 2^63 − 1.", sequence: head.sequence)
        }
        for (offset, frame) in frames.enumerated() {
            guard frame.sequence == head.sequence + UInt64(offset) else {
                throw CofferError(
                    .invalidInput, "The frames' sequence numbers are not consecutive.", sequence: frame.sequence)
            }
            guard !frame.bytes.isEmpty else {
                throw CofferError(.invalidInput, "A frame is empty.", sequence: frame.sequence)
            }
        }
    }

    private static func bigint(_ value: UInt64, _ what: String) throws -> Int64 {
        guard let result = Int64(exactly: value) else {
            throw CofferError(.invalidInput, "\(what.prefix(1).uppercased() + what.dropFirst()) is above 2^63 − 1.")
        }
        return result
    }

    private static func unsigned(_ value: Int64, _ column: String) throws -> UInt64 {
        guard let result = UInt64(exactly: value) else {
            throw CofferError(.corrupted, "PostgreSQL returned a negative \(column).")
        }
        return result
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.unicodeScalars.append(digits[Int(byte >> 4)])
            text.unicodeScalars.append(digits[Int(byte & 0xF)])
        }
        return text
    }
}
