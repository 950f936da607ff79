import CofferCrypto
import CofferTestSupport
import PostgresNIO
import XCTest

@testable import CofferPostgres

final class PostgresFrameStoreTests: XCTestCase {
    private var stores: [PostgresFrameStore] = []

    override func tearDown() {
        for store in stores { store.close() }
        stores = []
        super.tearDown()
    }

    private func makeStore() throws -> PostgresFrameStore {
        let store = try TestDatabase.store()
        stores.append(store)
        return store
    }

    /// A new vault with `frames` frames in generation 1.
    private func makeVault(
        _ store: PostgresFrameStore, frames count: UInt64 = 0, name: String = uniqueVaultName()
    ) throws -> (id: [UInt8], name: String, frames: [PostgresFrame]) {
        let id = randomBytes(16)
        let frames = count == 0 ? [] : makeFrames(1...count)
        try store.createVault(name: name, vaultID: id, header: randomBytes(8192), firstFrames: frames)
        return (id, name, frames)
    }

    // MARK: Schema and session

    func testEnsureSchemaIsIdempotentAndSafeConcurrently() throws {
        let store = try makeStore()
        try store.ensureSchema()
        try store.ensureSchema()
        let location = try TestDatabase.location()
        let threads = (0..<3).map { _ in
            TestThread {
                let other = try PostgresFrameStore(location: location)
                defer { other.close() }
                try other.ensureSchema()
            }
        }
        for thread in threads { try thread.join() }
    }

    func testSessionsCommitSynchronously() throws {
        let store = try makeStore()
        let setting = try store.session.read("test") {
            try $0.execute("SHOW synchronous_commit").first!.decode(String.self)
        }
        XCTAssertEqual(setting, "on")
    }

    // MARK: Vaults

    func testCreateAndReadVault() throws {
        let store = try makeStore()
        let id = randomBytes(16)
        let header = randomBytes(8192)
        let name = uniqueVaultName()
        let frames = makeFrames(1...3)
        try store.createVault(name: name, vaultID: id, header: header, firstFrames: frames)

        let vault = try store.readVault(name: name)
        XCTAssertEqual(vault.vaultID, id)
        XCTAssertEqual(vault.name, name)
        XCTAssertEqual(vault.header, header)
        XCTAssertEqual(vault.headerGeneration, 1)
        XCTAssertEqual(vault.logGeneration, 1)
        XCTAssertEqual(try store.readVault(vaultID: id), vault)
        XCTAssertEqual(try store.readFrames(vaultID: id, logGeneration: 1, after: 0, limit: 10), frames)
        XCTAssertEqual(try store.lastSequence(vaultID: id, logGeneration: 1), 3)
        XCTAssertFalse(vault.description.contains("\(header.prefix(4))"))

        let listed = try store.listVaults().filter { $0.name == name }
        XCTAssertEqual(listed, [PostgresVaultSummary(vaultID: id, name: name, headerGeneration: 1, logGeneration: 1)])
    }

    func testCreateVaultRejectsTakenNameOrID() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        assertThrowsCoffer(.alreadyExists) {
            try store.createVault(name: vault.name, vaultID: randomBytes(16), header: [1])
        }
        assertThrowsCoffer(.alreadyExists) {
            try store.createVault(name: uniqueVaultName(), vaultID: vault.id, header: [1])
        }
        // The store is still usable after the rolled-back transactions.
        XCTAssertEqual(try store.readVault(name: vault.name).vaultID, vault.id)
    }

    func testCreateVaultChecksItsArguments() throws {
        let store = try makeStore()
        assertThrowsCoffer(.invalidInput) { try store.createVault(name: "", vaultID: randomBytes(16), header: [1]) }
        assertThrowsCoffer(.invalidInput) {
            try store.createVault(name: uniqueVaultName(), vaultID: randomBytes(29), header: [1])
        }
        assertThrowsCoffer(.invalidInput) { try store.createVault(name: uniqueVaultName(), vaultID: [], header: [1]) }
        assertThrowsCoffer(.invalidInput) {
            try store.createVault(name: uniqueVaultName(), vaultID: randomBytes(16), header: [])
        }
        assertThrowsCoffer(.invalidInput) {
            try store.createVault(
                name: uniqueVaultName(), vaultID: randomBytes(16), header: [1], firstFrames: makeFrames(2...3))
        }
        assertThrowsCoffer(.invalidInput) {
            try store.createVault(
                name: uniqueVaultName(), vaultID: randomBytes(16), header: [1],
                firstFrames: [PostgresFrame(sequence: 1, bytes: [1]), PostgresFrame(sequence: 3, bytes: [1])])
        }
        XCTAssertEqual(PostgresFrameStore.vaultIDBytesMax, 28)
        XCTAssertEqual(
            try PostgresFrameStore.notificationChannel(vaultID: [UInt8](repeating: 0xAB, count: 28)).utf8.count, 63)
    }

    func testMissingVaultsAreNotFound() throws {
        let store = try makeStore()
        let id = randomBytes(16)
        assertThrowsCoffer(.notFound) { try store.readVault(name: uniqueVaultName()) }
        assertThrowsCoffer(.notFound) { try store.readVault(vaultID: id) }
        assertThrowsCoffer(.notFound) { try store.lastSequence(vaultID: id, logGeneration: 1) }
        assertThrowsCoffer(.notFound) { try store.append(vaultID: id, logGeneration: 1, frames: makeFrames(1...1)) }
        assertThrowsCoffer(.notFound) { try store.replaceHeader(vaultID: id, expectedGeneration: 1, newHeader: [1]) }
        assertThrowsCoffer(.notFound) { try store.dropVault(name: uniqueVaultName()) }
        XCTAssertEqual(try store.readFrames(vaultID: id, logGeneration: 1, after: 0, limit: 5), [])
        XCTAssertNil(try store.frame(vaultID: id, logGeneration: 1, sequence: 1))
    }

    func testDropVaultRemovesItsFrames() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 5)
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...2)), .appended)
        try store.dropVault(name: vault.name)
        assertThrowsCoffer(.notFound) { try store.readVault(name: vault.name) }
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), [])
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 2, after: 0, limit: 10), [])
        XCTAssertFalse(try store.listVaults().contains { $0.name == vault.name })
        // The name and id are free again.
        try store.createVault(name: vault.name, vaultID: vault.id, header: [1])
    }

    // MARK: The header

    func testReplaceHeaderIsACompareAndSwap() throws {
        let store = try makeStore()
        let vault = try makeVault(store)
        XCTAssertTrue(try store.replaceHeader(vaultID: vault.id, expectedGeneration: 1, newHeader: [2, 2]))
        XCTAssertFalse(try store.replaceHeader(vaultID: vault.id, expectedGeneration: 1, newHeader: [3, 3]))
        let after = try store.readVault(vaultID: vault.id)
        XCTAssertEqual(after.header, [2, 2])
        XCTAssertEqual(after.headerGeneration, 2)
        XCTAssertEqual(after.logGeneration, 1)
        XCTAssertTrue(try store.replaceHeader(vaultID: vault.id, expectedGeneration: 2, newHeader: [4]))
        XCTAssertEqual(try store.readVault(vaultID: vault.id).headerGeneration, 3)
    }

    func testTwoHeaderContendersExactlyOneWins() throws {
        let setup = try makeStore()
        for round in 0..<10 {
            let vault = try makeVault(setup)
            let contenders = [try makeStore(), try makeStore()]
            let threads = contenders.enumerated().map { index, store in
                TestThread {
                    try store.replaceHeader(vaultID: vault.id, expectedGeneration: 1, newHeader: [UInt8(index + 1)])
                }
            }
            let wins = try threads.map { try $0.join() }
            XCTAssertEqual(wins.filter { $0 }.count, 1, "round \(round): \(wins)")
            let after = try setup.readVault(vaultID: vault.id)
            XCTAssertEqual(after.headerGeneration, 2)
            XCTAssertEqual(after.header, [UInt8(wins.firstIndex(of: true)! + 1)])
        }
    }

    // MARK: Appends

    func testAppendExtendsTheLog() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 2)
        let more = makeFrames(3...5)
        XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: more), .appended)
        XCTAssertEqual(
            try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 100), vault.frames + more)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 1), 5)
    }

    func testAppendOfATakenSequenceIsAConflictAndWritesNothing() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 3)
        // Frames 3 and 4: 3 is taken, so 4 must not land either.
        let attempt = [PostgresFrame(sequence: 3, bytes: [9]), PostgresFrame(sequence: 4, bytes: [9])]
        XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: attempt), .conflict)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 1), 3)
        XCTAssertEqual(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 3), vault.frames[2].bytes)
    }

    func testAppendWithAGapOrBadSequencesIsInvalidInput() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 3)
        assertThrowsCoffer(.invalidInput) {
            try store.append(vaultID: vault.id, logGeneration: 1, frames: makeFrames(5...5))
        }
        assertThrowsCoffer(.invalidInput) { try store.append(vaultID: vault.id, logGeneration: 1, frames: []) }
        assertThrowsCoffer(.invalidInput) {
            try store.append(
                vaultID: vault.id, logGeneration: 1,
                frames: [PostgresFrame(sequence: 4, bytes: [1]), PostgresFrame(sequence: 4, bytes: [2])])
        }
        assertThrowsCoffer(.invalidInput) {
            try store.append(vaultID: vault.id, logGeneration: 1, frames: [PostgresFrame(sequence: 4, bytes: [])])
        }
        assertThrowsCoffer(.invalidInput) {
            try store.append(vaultID: vault.id, logGeneration: 1, frames: [PostgresFrame(sequence: 0, bytes: [1])])
        }
        assertThrowsCoffer(.invalidInput) {
            try store.append(vaultID: vault.id, logGeneration: UInt64.max, frames: makeFrames(4...4))
        }
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 1), 3)
    }

    func testTwoConnectionsAppendingTheSameSequenceExactlyOneLands() throws {
        let setup = try makeStore()
        let vault = try makeVault(setup)
        let contenders = [try makeStore(), try makeStore()]
        for sequence in UInt64(1)...20 {
            let attempts = contenders.map { store in
                let frame = PostgresFrame(sequence: sequence, bytes: randomBytes(48))
                return (frame, TestThread { try store.append(vaultID: vault.id, logGeneration: 1, frames: [frame]) })
            }
            let outcomes = try attempts.map { try $0.1.join() }
            XCTAssertEqual(outcomes.filter { $0 == .appended }.count, 1, "sequence \(sequence): \(outcomes)")
            XCTAssertEqual(outcomes.filter { $0 == .conflict }.count, 1, "sequence \(sequence): \(outcomes)")
            let winner = attempts[outcomes.firstIndex(of: .appended)!].0
            XCTAssertEqual(try setup.frame(vaultID: vault.id, logGeneration: 1, sequence: sequence), winner.bytes)
        }
        XCTAssertEqual(try setup.lastSequence(vaultID: vault.id, logGeneration: 1), 20)
    }

    /// The unique violation path: the other writer's insert is uncommitted when this append
    /// checks the last sequence, so the append inserts, waits, and then hits the key.
    func testAppendRacingAnUncommittedInsertOfTheSameSequence() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        let raw = try RawConnection(TestDatabase.location())
        let pid = try store.backendPID()
        for commitsFirst in [true, false] {
            let sequence = try store.lastSequence(vaultID: vault.id, logGeneration: 1) + 1
            try raw.execute("BEGIN")
            try raw.execute(
                """
                INSERT INTO coffer_frames (vault_id, log_generation, sequence, frame)
                VALUES (\(ByteBuffer(bytes: vault.id)), 1, \(Int64(sequence)), \(ByteBuffer(bytes: [7])))
                """)
            let frame = PostgresFrame(sequence: sequence, bytes: [8])
            let append = TestThread { try store.append(vaultID: vault.id, logGeneration: 1, frames: [frame]) }
            try raw.waitUntilBlocked(pid)
            try raw.execute(commitsFirst ? "COMMIT" : "ROLLBACK")
            XCTAssertEqual(try append.join(), commitsFirst ? .conflict : .appended)
            XCTAssertEqual(
                try store.frame(vaultID: vault.id, logGeneration: 1, sequence: sequence), commitsFirst ? [7] : [8])
        }
    }

    // MARK: Reading

    func testReadFramesIsOrderedAndLimited() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        var all = vault.frames
        for range in [UInt64(2)...4, 5...5, 6...10] {
            let frames = makeFrames(range, size: Int(range.lowerBound) * 10)
            XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: frames), .appended)
            all += frames
        }
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 4), Array(all[0..<4]))
        XCTAssertEqual(
            try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 4, limit: 100), Array(all[4...]))
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 9, limit: 1), [all[9]])
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 10, limit: 5), [])
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 2, after: 0, limit: 5), [])
        assertThrowsCoffer(.invalidInput) {
            try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 0)
        }
    }

    /// The extent carries the frames after the sequence when they are few, none otherwise,
    /// and counts their bytes either way.
    func testExtentCarriesTheFramesAfterTheSequenceWhenTheyAreFew() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 5)
        let few = try store.extent(vaultID: vault.id, logGeneration: 1, after: 2)
        XCTAssertEqual(few.frames, Array(vault.frames[2...]))
        XCTAssertEqual(few.frameBytes, 3 * 64)
        let none = try store.extent(vaultID: vault.id, logGeneration: 1, after: 5)
        XCTAssertEqual(none.frames, [])
        XCTAssertEqual(none.frameBytes, 0)
        let big = PostgresFrame(sequence: 6, bytes: randomBytes(PostgresFrameStore.prefetchBytesMax))
        XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: [big]), .appended)
        let many = try store.extent(vaultID: vault.id, logGeneration: 1, after: 4)
        XCTAssertEqual(many.frames, [])
        XCTAssertEqual(many.frameBytes, UInt64(64 + big.bytes.count))
        XCTAssertEqual(try store.extent(vaultID: vault.id, logGeneration: 1, after: 5).frames, [big])
    }

    func testFrameBytesRoundTripExactly() throws {
        let store = try makeStore()
        let vault = try makeVault(store)
        let everyByte = PostgresFrame(sequence: 1, bytes: (0...255).map { UInt8($0) } + [0, 0, 0])
        let large = PostgresFrame(sequence: 2, bytes: randomBytes(1 << 20))
        let single = PostgresFrame(sequence: 3, bytes: [0])
        XCTAssertEqual(
            try store.append(vaultID: vault.id, logGeneration: 1, frames: [everyByte, large, single]), .appended)
        XCTAssertEqual(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 1), everyByte.bytes)
        XCTAssertEqual(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 2), large.bytes)
        XCTAssertEqual(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 3), [0])
        XCTAssertNil(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 4))
        XCTAssertNil(try store.frame(vaultID: vault.id, logGeneration: 2, sequence: 1))
        // A description names the frame's sequence and size, never its bytes.
        XCTAssertEqual(large.description, "SharedFrame(sequence: 2, 1048576 bytes)")
    }

    // MARK: Compaction

    func testAppendAfterALogSwitchIsAConflict() throws {
        let store = try makeStore()
        let other = try makeStore()
        let vault = try makeVault(store, frames: 3)
        let compacted = makeFrames(1...2)
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: compacted), .appended)
        // Until the switch, the current log is untouched and readers still see generation 1.
        XCTAssertEqual(try other.readVault(vaultID: vault.id).logGeneration, 1)
        XCTAssertEqual(try other.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), vault.frames)

        XCTAssertEqual(
            try store.switchLog(vaultID: vault.id, from: 1, to: 2, newHeader: [5, 5], expectedHeaderGeneration: 1),
            .switched)
        // A writer that still believes in generation 1 is refused, whatever its sequence.
        XCTAssertEqual(try other.append(vaultID: vault.id, logGeneration: 1, frames: makeFrames(4...4)), .conflict)
        XCTAssertEqual(try other.append(vaultID: vault.id, logGeneration: 2, frames: makeFrames(3...3)).self, .appended)

        let after = try other.readVault(vaultID: vault.id)
        XCTAssertEqual(after.logGeneration, 2)
        XCTAssertEqual(after.headerGeneration, 2)
        XCTAssertEqual(after.header, [5, 5])
        XCTAssertEqual(try other.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), [])
        XCTAssertEqual(
            try other.readFrames(vaultID: vault.id, logGeneration: 2, after: 0, limit: 10).prefix(2), compacted[...])
    }

    // MARK: Checkpoints

    /// F-SHARED-CHECKPOINT: one row per log generation, replaced only by one covering more,
    /// written only for the vault's log, deleted with its generation by a switch or a discard.
    func testACheckpointIsKeptPerGenerationAndReplacedOnlyByANewerOne() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 3)
        XCTAssertNil(try store.checkpoint(vaultID: vault.id, logGeneration: 1))
        XCTAssertTrue(try store.writeCheckpoint(vaultID: vault.id, logGeneration: 1, sequence: 2, checkpoint: [2, 2]))
        XCTAssertEqual(try store.checkpoint(vaultID: vault.id, logGeneration: 1), [2, 2])
        // One covering as much, or less, leaves the kept one; one covering more replaces it.
        XCTAssertFalse(try store.writeCheckpoint(vaultID: vault.id, logGeneration: 1, sequence: 2, checkpoint: [7]))
        XCTAssertFalse(try store.writeCheckpoint(vaultID: vault.id, logGeneration: 1, sequence: 1, checkpoint: [1]))
        XCTAssertEqual(try store.checkpoint(vaultID: vault.id, logGeneration: 1), [2, 2])
        XCTAssertTrue(
            try store.writeCheckpoint(vaultID: vault.id, logGeneration: 1, sequence: 3, checkpoint: [3, 3, 3]))
        XCTAssertEqual(try store.checkpoint(vaultID: vault.id, logGeneration: 1), [3, 3, 3])
        // Not for a generation that is not the vault's log.
        XCTAssertFalse(try store.writeCheckpoint(vaultID: vault.id, logGeneration: 2, sequence: 1, checkpoint: [9]))
        XCTAssertNil(try store.checkpoint(vaultID: vault.id, logGeneration: 2))
        assertThrowsCoffer(.invalidInput) {
            try store.writeCheckpoint(vaultID: vault.id, logGeneration: 1, sequence: 4, checkpoint: [])
        }
        // The switch deletes the old generation's checkpoint with its frames.
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...1)), .appended)
        XCTAssertEqual(
            try store.switchLog(vaultID: vault.id, from: 1, to: 2, newHeader: [5], expectedHeaderGeneration: 1),
            .switched)
        XCTAssertNil(try store.checkpoint(vaultID: vault.id, logGeneration: 1))
        XCTAssertTrue(try store.writeCheckpoint(vaultID: vault.id, logGeneration: 2, sequence: 1, checkpoint: [1]))
        XCTAssertEqual(try store.checkpoint(vaultID: vault.id, logGeneration: 2), [1])
        // Dropping the vault drops its checkpoints.
        try store.dropVault(name: vault.name)
        XCTAssertNil(try store.checkpoint(vaultID: vault.id, logGeneration: 2))
    }

    func testSwitchLogConflictsChangeNothing() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 2)
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...1)), .appended)
        XCTAssertTrue(try store.replaceHeader(vaultID: vault.id, expectedGeneration: 1, newHeader: [1, 1]))
        // The header moved on since the compaction began.
        XCTAssertEqual(
            try store.switchLog(vaultID: vault.id, from: 1, to: 2, newHeader: [9], expectedHeaderGeneration: 1),
            .conflict)
        // The log is not the generation given.
        XCTAssertEqual(
            try store.switchLog(vaultID: vault.id, from: 3, to: 4, newHeader: [9], expectedHeaderGeneration: 2),
            .conflict)
        assertThrowsCoffer(.invalidInput) {
            try store.switchLog(vaultID: vault.id, from: 2, to: 2, newHeader: [9], expectedHeaderGeneration: 2)
        }
        let after = try store.readVault(vaultID: vault.id)
        XCTAssertEqual(after.logGeneration, 1)
        XCTAssertEqual(after.header, [1, 1])
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), vault.frames)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 2), 1)
    }

    /// The switch waits for an append in flight, and a switch that dies half-way changes nothing.
    func testSwitchLogIsAtomic() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 4)
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...3)), .appended)
        let raw = try RawConnection(TestDatabase.location())
        let pid = try store.backendPID()

        // An append in flight holds the vault row FOR SHARE, as the store's appends do.
        try raw.execute("BEGIN")
        try raw.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(ByteBuffer(bytes: vault.id)) FOR SHARE")
        let doomed = TestThread {
            try store.switchLog(vaultID: vault.id, from: 1, to: 2, newHeader: [6], expectedHeaderGeneration: 1)
        }
        try raw.waitUntilBlocked(pid)
        // Kill the switch's connection while it waits: its transaction dies with it.
        try raw.terminate(pid)
        let error = assertThrowsIO { try doomed.join() }
        XCTAssertTrue(error?.message.contains("nothing was written") ?? false, "\(String(describing: error))")
        try raw.execute("ROLLBACK")

        let untouched = try store.readVault(vaultID: vault.id)  // reconnects
        XCTAssertEqual(untouched.logGeneration, 1)
        XCTAssertEqual(untouched.headerGeneration, 1)
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), vault.frames)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 2), 3)
        XCTAssertEqual(store.connectionsOpened, 2)

        // Again, and this time the append in flight finishes: the switch then goes through whole.
        let newPID = try store.backendPID()
        try raw.execute("BEGIN")
        try raw.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(ByteBuffer(bytes: vault.id)) FOR SHARE")
        let switching = TestThread {
            try store.switchLog(vaultID: vault.id, from: 1, to: 2, newHeader: [6], expectedHeaderGeneration: 1)
        }
        try raw.waitUntilBlocked(newPID)
        // While it waits, readers see the old state, whole.
        let reader = try makeStore()
        XCTAssertEqual(try reader.readVault(vaultID: vault.id).logGeneration, 1)
        XCTAssertEqual(try reader.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), vault.frames)
        try raw.execute("COMMIT")
        XCTAssertEqual(try switching.join(), .switched)
        let switched = try reader.readVault(vaultID: vault.id)
        XCTAssertEqual(switched.logGeneration, 2)
        XCTAssertEqual(switched.header, [6])
        XCTAssertEqual(try reader.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), [])
        XCTAssertEqual(try reader.lastSequence(vaultID: vault.id, logGeneration: 2), 3)
    }

    func testWriteFramesInChunksAndResumes() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        let compacted = makeFrames(1...2500, size: 32)
        XCTAssertEqual(
            try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: Array(compacted[0..<2400])), .appended)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 2), 2400)
        // Resuming from the last sequence written.
        XCTAssertEqual(
            try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: Array(compacted[2400...])), .appended)
        var read: [PostgresFrame] = []
        while read.count < compacted.count {
            let page = try store.readFrames(
                vaultID: vault.id, logGeneration: 2, after: read.last?.sequence ?? 0, limit: 1000)
            XCTAssertFalse(page.isEmpty)
            read += page
        }
        XCTAssertEqual(read, compacted)
        // Sequences already written are a conflict; a gap is the caller's error.
        XCTAssertEqual(
            try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(2500...2501)), .conflict)
        assertThrowsCoffer(.invalidInput) {
            try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(2600...2601))
        }
        // The current generation, or an older one, cannot be written this way.
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 1, frames: makeFrames(2...2)), .conflict)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 1), 1)
        // Untouched by all this: the current log.
        XCTAssertEqual(try store.readVault(vaultID: vault.id).logGeneration, 1)
    }

    func testChunksRespectFrameAndByteLimits() {
        let small = makeFrames(1...2500, size: 1)
        XCTAssertEqual(PostgresFrameStore.chunks(small[...]).map(\.count), [1000, 1000, 500])
        let big = (1...5).map { PostgresFrame(sequence: UInt64($0), bytes: [UInt8](repeating: 1, count: 7 << 20)) }
        XCTAssertEqual(PostgresFrameStore.chunks(big[...]).map(\.count), [2, 2, 1])
        let huge =
            [PostgresFrame(sequence: 1, bytes: [UInt8](repeating: 1, count: 17 << 20))] + makeFrames(2...3, size: 1)
        XCTAssertEqual(PostgresFrameStore.chunks(huge[...]).map(\.count), [1, 2])
        XCTAssertEqual(PostgresFrameStore.chunks([][...]).count, 0)
    }

    func testDeleteLogGenerationOfAnAbandonedCompaction() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 2)
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...5)), .appended)
        assertThrowsCoffer(.invalidInput) { try store.deleteLogGeneration(vaultID: vault.id, logGeneration: 1) }
        XCTAssertEqual(try store.deleteLogGeneration(vaultID: vault.id, logGeneration: 2), 5)
        XCTAssertEqual(try store.deleteLogGeneration(vaultID: vault.id, logGeneration: 2), 0)
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 2), 0)
        XCTAssertEqual(try store.readFrames(vaultID: vault.id, logGeneration: 1, after: 0, limit: 10), vault.frames)
        // The generation number can be used again.
        XCTAssertEqual(try store.writeFrames(vaultID: vault.id, logGeneration: 2, frames: makeFrames(1...1)), .appended)
    }

    // MARK: Connections

    func testAConnectionLostMidTransactionReportsNothingWrittenAndTheNextCallReconnects() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        let raw = try RawConnection(TestDatabase.location())
        let pid = try store.backendPID()
        try raw.execute("BEGIN")
        try raw.execute("SELECT 1 FROM coffer_vaults WHERE vault_id = \(ByteBuffer(bytes: vault.id)) FOR UPDATE")
        let frame = PostgresFrame(sequence: 2, bytes: randomBytes(40))
        let append = TestThread { try store.append(vaultID: vault.id, logGeneration: 1, frames: [frame]) }
        try raw.waitUntilBlocked(pid)
        try raw.terminate(pid)
        let error = assertThrowsIO { try append.join() }
        XCTAssertTrue(error?.message.contains("nothing was written") ?? false, "\(String(describing: error))")
        try raw.execute("ROLLBACK")

        // Did it land? The readback says no, and the retry lands.
        XCTAssertNil(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 2))
        XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: [frame]), .appended)
        XCTAssertEqual(try store.frame(vaultID: vault.id, logGeneration: 1, sequence: 2), frame.bytes)
        XCTAssertEqual(store.connectionsOpened, 2)
    }

    func testAnIdleConnectionKilledByTheServerIsReplacedTransparently() throws {
        let store = try makeStore()
        let vault = try makeVault(store, frames: 1)
        let raw = try RawConnection(TestDatabase.location())
        try raw.terminate(try store.backendPID())
        // Whether or not the client noticed the close yet, the next call works.
        XCTAssertEqual(try store.append(vaultID: vault.id, logGeneration: 1, frames: makeFrames(2...2)), .appended)
        try raw.terminate(try store.backendPID())
        XCTAssertEqual(try store.lastSequence(vaultID: vault.id, logGeneration: 1), 2)
        XCTAssertEqual(store.connectionsOpened, 3)
    }

    func testAClosedStoreRefusesCalls() throws {
        let store = try TestDatabase.store()
        store.close()
        assertThrowsCoffer(.closed) { try store.listVaults() }
        store.close()
    }

    func testUnreachableServerIsIOWithoutThePassword() throws {
        let location = try PostgresLocation(
            parsing: "postgres://u:Pa55word@/db?host=/nonexistent-coffer-dir", environmentPassword: nil)
        let error = assertThrowsCoffer(.io(errno: ENOENT)) { try PostgresFrameStore(location: location) }
        XCTAssertFalse(error?.description.contains("Pa55word") ?? true)
        XCTAssertTrue(error?.message.contains("/nonexistent-coffer-dir") ?? false, "\(String(describing: error))")
    }

    func testUnknownDatabaseIsNotFound() throws {
        let location = try TestDatabase.location()
        let missing = try PostgresLocation(
            endpoint: location.endpoint, user: location.user, password: nil, database: "coffer_no_such_db",
            vaultName: nil)
        assertThrowsCoffer(.notFound) { try PostgresFrameStore(location: missing) }
    }
}
