import CofferCrypto
import CofferModel
import CofferStorage
import CofferTestSupport
import Dispatch
import Foundation
import MetricsTestKit
import PostgresNIO
import Synchronization
import XCTest

@testable import Coffer
@testable import CofferPostgres

/// The engine on a vault shared through PostgreSQL: several instances, each with its own
/// connection, writing, following, compacting and changing keyslots on one log.
final class SharedVaultTests: XCTestCase {
    let key = SecureBytes(copying: (0..<32).map { UInt8(90 + $0) })

    /// An instance of the shared vault `name`: its own backend and connection, counted by
    /// `metrics` when given, the backend wrapped by `backend` when given.
    func instance(
        _ name: String, create: Bool = false, readOnly: Bool = false, metrics: TestMetrics? = nil,
        backend wrap: (PostgresSharedLog) -> any SharedLogBackend = { $0 }
    ) throws -> Vault {
        let location = try TestDatabase.location().naming(vault: name)
        let storage = SharedLogStorage(
            backend: wrap(try PostgresSharedLog(location: location)), path: location.description)
        var options = Vault.Options(storage: storage, readOnly: readOnly)
        options.metricsFactory = metrics
        if create {
            return try Vault.create(path: storage.path, unlock: .keyFile(key), cost: .interactive, options: options)
        }
        return try Vault.open(path: storage.path, unlock: .keyFile(key), options: options)
    }

    /// `coffer verify` on the shared vault: every record, the chain, the header, the invariants.
    func assertVerifies(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let location = try TestDatabase.location().naming(vault: name)
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        let storage = SharedLogStorage(backend: log, path: location.description)
        let report = try Vault.verify(path: storage.path, unlock: .keyFile(key), storage: storage)
        XCTAssertEqual(report.problems, [], file: file, line: line)
    }

    func projectSlugs(_ vault: Vault) -> Set<String> {
        vault.read { index in
            guard let organization = index.organization("acme") else { return [] }
            return Set(index.projects(in: organization.id).map(\.slug))
        }
    }

    /// Issue 23 #3, issue 22 #5: an instance observing a shared vault sees every commit
    /// another instance makes, in order, without calling refresh: the server's notifications
    /// feed the stream (its fallback look every minute is far beyond the test's 30 s wait).
    func testAnObserverSeesAnotherInstancesCommits() throws {
        let name = uniqueVaultName()
        let writer = try instance(name, create: true)
        defer { writer.close() }
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let observer = try instance(name)
        defer { observer.close() }
        let changes = observer.changes(pollingEvery: .seconds(60))
        let commits = 10
        for number in 0..<commits {
            try writer.mutate(actor: "other") { try $0.createProject(in: "acme", slug: "p\(number)", name: "P") }
        }
        let done = DispatchSemaphore(value: 0)
        let seen = Locked<[UInt64]>([])
        let task = Task {
            for try await change in changes where change.actor == "other" {
                if seen.withLock({
                    $0.append(change.sequence)
                    return $0.count
                }) == commits {
                    break
                }
            }
            done.signal()
        }
        if done.wait(timeout: .now() + 30) == .timedOut { task.cancel() }
        let sequences = seen.withLock { $0 }
        XCTAssertEqual(sequences.count, commits)
        XCTAssertEqual(sequences, sequences.sorted())
        XCTAssertEqual(sequences.last, writer.head.sequence)
    }

    func testASecondInstanceSeesTheFirstsCommitsAndWritesAfterThem() throws {
        let name = uniqueVaultName()
        let first = try instance(name, create: true)
        try first.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let second = try instance(name)
        XCTAssertEqual(second.head, first.head)
        XCTAssertNotNil(second.read { $0.organization("acme") })

        // The second writes; the first, behind, writes too: its append conflicts, it catches
        // up and plans again.
        try second.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        try first.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "data", name: "Data") }
        XCTAssertEqual(projectSlugs(first), ["web", "data"])
        try second.refresh()
        XCTAssertEqual(projectSlugs(second), ["web", "data"])
        XCTAssertEqual(first.head, second.head)
        // A precondition checked again after the catch-up: the slug is taken now.
        try first.refresh()
        XCTAssertThrowsError(
            try second.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "data", name: "Again") }
        ) {
            XCTAssertEqual(($0 as? CofferError)?.code, .alreadyExists)
        }
        try assertVerifies(name)
    }

    func testFourInstancesWritingConcurrentlyLoseNothing() throws {
        let name = uniqueVaultName()
        let creator = try instance(name, create: true)
        try creator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let instances = try (0..<4).map { _ in try instance(name) }
        defer { for vault in instances + [creator] { vault.close() } }
        let expected = createDistinctProjects(threads: instances.count, perThread: 15) { instances[$0] }
        for vault in instances + [creator] { try vault.refresh() }
        for vault in instances + [creator] {
            XCTAssertEqual(projectSlugs(vault), expected)
            XCTAssertEqual(vault.head, creator.head)
        }
        // One organization record and one per project: nothing applied twice.
        XCTAssertEqual(creator.head.sequence, 1 + 1 + UInt64(expected.count))
    }

    /// Issue 22 #1: instances that all change the one default of an app take turns through
    /// the database, so none of them has to plan again, let alone give up; two threads per
    /// instance make batches planned after catching up with the other instances.
    func testContendingInstancesTakeTurnsAndNeverConflict() throws {
        let name = uniqueVaultName()
        let creator = try instance(name, create: true)
        defer { creator.close() }
        try creator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let metrics = (0..<4).map { _ in TestMetrics() }
        let instances = try metrics.map { try instance(name, metrics: $0) }
        defer { for vault in instances { vault.close() } }
        let perInstance = 12
        let failures = Locked<[String]>([])
        runConcurrently(instances.count * 2) { thread in
            let number = thread % instances.count
            for step in (0..<perInstance).filter({ $0 % 2 == thread / instances.count }) {
                let slug = "c\(number)-\(step)"
                let draft = CredentialDraft(
                    appKey: "exa", slug: slug, label: slug, type: .apiToken,
                    fields: FieldValues(["token": SecureBytes(copying: Array("token-\(slug)".utf8))]), isDefault: true)
                do {
                    try instances[number].mutate(actor: "writer\(number)") {
                        try $0.createCredential(in: "acme", draft, scopes: [.organization])
                    }
                } catch {
                    failures.withLock { $0.append("instance \(number) step \(step): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        for (number, factory) in metrics.enumerated() {
            XCTAssertEqual(
                try factory.expectCounter("coffer_conflicts_total").totalValue, 0, "instance \(number) planned again")
            XCTAssertEqual(try factory.expectCounter("coffer_commits_total").totalValue, Int64(perInstance))
        }
        try creator.refresh()
        XCTAssertEqual(creator.head.sequence, 2 + UInt64(instances.count * perInstance))
        // A plan over a stale view would accept a taken slug.
        let slugs = try createSameProjects(on: Array(instances.prefix(2)))
        try creator.refresh()
        XCTAssertEqual(projectSlugs(creator), Set(slugs))
        try assertVerifies(name)
    }

    /// Eight threads on each of `instances` try to create the same 20 projects: batches of
    /// several plans over the writers' view, racing the other instances. Each project must be
    /// made once, by one of them, since every plan saw what the others had made; the slugs.
    func createSameProjects(on instances: [Vault], file: StaticString = #filePath, line: UInt = #line) throws
        -> [String]
    {
        let slugs = (0..<20).map { "shared-\($0)" }
        let made = Locked<[String: Int]>([:])
        let failures = Locked<[String]>([])
        runConcurrently(8 * instances.count) { thread in
            for slug in slugs {
                do {
                    try instances[thread % instances.count].mutate(actor: "thread\(thread)") {
                        try $0.createProject(in: "acme", slug: slug, name: "Shared")
                    }
                    made.withLock { $0[slug, default: 0] += 1 }
                } catch let error as CofferError where error.code == .alreadyExists {
                } catch {
                    failures.withLock { $0.append("thread \(thread) \(slug): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [], file: file, line: line)
        XCTAssertEqual(
            made.withLock { $0 }, Dictionary(uniqueKeysWithValues: slugs.map { ($0, 1) }), file: file, line: line)
        return slugs
    }

    /// `threads` threads each create projects `<prefix><thread>-<step>` for `perThread` steps on
    /// `vault(thread)`, running `afterEach(thread, step)` after each; any error is a failure.
    /// Returns the slugs made.
    func createDistinctProjects(
        threads: Int, perThread: Int, prefix: String = "p", on vault: @escaping @Sendable (Int) -> Vault,
        afterEach: @escaping @Sendable (Int, Int) throws -> Void = { _, _ in },
        file: StaticString = #filePath, line: UInt = #line
    ) -> Set<String> {
        let failures = Locked<[String]>([])
        runConcurrently(threads) { thread in
            for step in 0..<perThread {
                do {
                    try vault(thread).mutate(actor: "thread\(thread)") {
                        try $0.createProject(in: "acme", slug: "\(prefix)\(thread)-\(step)", name: "P")
                    }
                    try afterEach(thread, step)
                } catch {
                    failures.withLock { $0.append("thread \(thread) step \(step): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [], file: file, line: line)
        return Set((0..<threads).flatMap { thread in (0..<perThread).map { "\(prefix)\(thread)-\($0)" } })
    }

    /// Issue 22 #2: concurrent mutations of one instance share a turn, a catch-up and one
    /// INSERT transaction, as they share a sync on a file: fewer database transactions than
    /// commits, every commit there once, a mutation whose plan fails alone fails alone.
    func testConcurrentMutationsOfOneInstanceShareAppends() throws {
        let name = uniqueVaultName()
        let vault = try instance(name, create: true)
        defer { vault.close() }
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let expected = createDistinctProjects(
            threads: 8, perThread: 25, on: { _ in vault },
            afterEach: { thread, step in
                // One taken slug per thread, planned in some batch beside the others: only it fails.
                guard step == 3 else { return }
                do {
                    try vault.mutate(actor: "thread\(thread)") {
                        try $0.createProject(in: "acme", slug: "p\(thread)-0", name: "again")
                    }
                } catch let error as CofferError where error.code == .alreadyExists {
                    return
                }
                XCTFail("thread \(thread): a taken slug was accepted")
            })
        XCTAssertEqual(projectSlugs(vault), expected)
        XCTAssertEqual(vault.head.sequence, 2 + UInt64(expected.count))
        // Each INSERT transaction stamps the rows it writes with its transaction id.
        let raw = try RawConnection(TestDatabase.location())
        let log = try PostgresSharedLog(location: TestDatabase.location().naming(vault: name))
        defer { log.close() }
        let vaultID = try XCTUnwrap(try log.state()).vaultID
        let transactions = try raw.execute(
            "SELECT count(DISTINCT xmin::text) FROM coffer_frames WHERE vault_id = \(ByteBuffer(bytes: vaultID))"
        ).first!.decode(Int.self)
        XCTAssertLessThan(transactions, expected.count, "no two commits shared an append")
        try assertVerifies(name)
        let reopened = try instance(name, readOnly: true)
        defer { reopened.close() }
        XCTAssertEqual(projectSlugs(reopened), expected)
    }

    /// Writers whose turns are lost (here: never taken, as by an older reader) still lose
    /// nothing: a batch whose append conflicts is planned again over the newer state.
    func testBatchesWhoseTurnIsLostArePlannedAgain() throws {
        let name = uniqueVaultName()
        let creator = try instance(name, create: true)
        defer { creator.close() }
        try creator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let metrics = (0..<2).map { _ in TestMetrics() }
        let instances = try metrics.map { try instance(name, metrics: $0, backend: WithoutTurns.init) }
        defer { for vault in instances { vault.close() } }
        let expected = createDistinctProjects(threads: 8, perThread: 10) { instances[$0 % 2] }
        let conflicts = try metrics.map { try $0.expectCounter("coffer_conflicts_total").totalValue }.reduce(0, +)
        XCTAssertGreaterThan(conflicts, 0, "the two instances never collided: the test tested nothing")
        try creator.refresh()
        XCTAssertEqual(projectSlugs(creator), expected)
        XCTAssertEqual(creator.head.sequence, 2 + UInt64(expected.count))
        // The same slugs from both: a batch that conflicts after another instance made one of
        // its projects must not apply that instance's record over its own failed plans.
        let shared = try createSameProjects(on: instances)
        try creator.refresh()
        XCTAssertEqual(projectSlugs(creator), expected.union(shared))
        try assertVerifies(name)
    }

    /// Two vaults opened on one backend share its writer-turn connection: they take turns in
    /// the process instead of one of them finding the turn's transaction held.
    func testTwoVaultsOnOneBackendTakeTurns() throws {
        let name = uniqueVaultName()
        let creator = try instance(name, create: true)
        defer { creator.close() }
        try creator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let location = try TestDatabase.location().naming(vault: name)
        let backend = try PostgresSharedLog(location: location)
        defer { backend.close() }
        let vaults = try (0..<2).map { _ in
            try Vault.open(
                path: location.description, unlock: .keyFile(key),
                options: .init(storage: SharedLogStorage(backend: backend, path: location.description)))
        }
        defer { for vault in vaults { vault.close() } }
        let made = createDistinctProjects(threads: 4, perThread: 6, prefix: "t") { vaults[$0 % 2] }
        try creator.refresh()
        XCTAssertEqual(projectSlugs(creator), made)
        try assertVerifies(name)
    }

    func testAFollowerAtLeastAsFreshAsACommitElsewhere() throws {
        let name = uniqueVaultName()
        let writer = try instance(name, create: true)
        let follower = try instance(name, readOnly: true)
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let head = writer.head
        XCTAssertNil(follower.read { $0.organization("acme") })
        XCTAssertEqual(try follower.refresh(atLeast: head.sequence), head)
        XCTAssertNotNil(follower.read { $0.organization("acme") })
        XCTAssertThrowsError(try follower.refresh(atLeast: head.sequence + 5, timeout: .milliseconds(30))) {
            XCTAssertEqual(($0 as? CofferError)?.code, .conflict)
        }
    }

    func testCompactionByOneInstanceIsNoticedByTheOthers() throws {
        let name = uniqueVaultName()
        let compactor = try instance(name, create: true)
        try compactor.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for step in 0..<10 {
            try compactor.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "p\(step)", name: "P") }
        }
        for step in 0..<5 {
            try compactor.mutate(actor: "setup") { try $0.removeProject("p\(step)", in: "acme") }
        }
        let other = try instance(name)
        let report = try compactor.compact(CompactionOptions(reencrypt: true))
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore)
        // The other instance's next write finds the log replaced, reopens it and carries on.
        try other.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "after", name: "After") }
        try compactor.refresh()
        let expected: Set<String> = ["p5", "p6", "p7", "p8", "p9", "after"]
        XCTAssertEqual(projectSlugs(other), expected)
        XCTAssertEqual(projectSlugs(compactor), expected)
        XCTAssertEqual(compactor.head, other.head)
        // A third instance opened now sees the compacted log.
        let third = try instance(name)
        XCTAssertEqual(projectSlugs(third), expected)
        try assertVerifies(name)
    }

    /// F-SHARED-CHECKPOINT: an instance keeps the index checkpoint in the database; the next
    /// open, by any instance, resumes from it and replays only what follows; one covering less
    /// never replaces it; a compaction keeps one for its new log only.
    func testTheIndexCheckpointInTheDatabaseLetsEveryInstanceResume() throws {
        let name = uniqueVaultName()
        let first = try instance(name, create: true)
        try first.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for step in 0..<6 {
            try first.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "p\(step)", name: "P") }
        }
        let covered = try first.checkpoint()
        XCTAssertEqual(covered, first.head.sequence)
        let second = try instance(name)
        XCTAssertEqual(second.recovery.checkpoint, .resumed(sequence: covered))
        try second.mutate(actor: "setup") { try $0.removeProject("p0", in: "acme") }
        try second.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "after", name: "After") }
        let later = try second.checkpoint()
        XCTAssertGreaterThan(later, covered)
        // The first instance has not caught up: its checkpoint covers less and is not kept.
        XCTAssertEqual(try first.checkpoint(), covered)
        let third = try instance(name)
        XCTAssertEqual(third.recovery.checkpoint, .resumed(sequence: later))
        let expected: Set<String> = ["p1", "p2", "p3", "p4", "p5", "after"]
        XCTAssertEqual(projectSlugs(third), expected)
        try assertVerifies(name)

        // A compaction keeps a checkpoint for its new log; the old generation's is gone.
        let report = try third.compact()
        XCTAssertFalse(report.skipped)
        let fourth = try instance(name)
        XCTAssertEqual(fourth.recovery.checkpoint, .resumed(sequence: fourth.head.sequence))
        XCTAssertEqual(projectSlugs(fourth), expected)
        let location = try TestDatabase.location().naming(vault: name)
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        let state = try XCTUnwrap(try log.state())
        XCTAssertNotNil(try log.checkpoint(logGeneration: state.logGeneration))
        XCTAssertNil(try log.store.checkpoint(vaultID: state.vaultID, logGeneration: 1))
        try assertVerifies(name)
        for vault in [first, second, third, fourth] { vault.close() }
    }

    /// A checkpoint row that does not authenticate is ignored with its reason: the open
    /// replays the log and answers as before, and verify reports the row.
    func testADamagedCheckpointRowIsIgnoredAndTheLogReplayed() throws {
        let name = uniqueVaultName()
        let writer = try instance(name, create: true)
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try writer.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        let covered = try writer.checkpoint()
        let location = try TestDatabase.location().naming(vault: name)
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        let state = try XCTUnwrap(try log.state())
        var damaged = try XCTUnwrap(try log.checkpoint(logGeneration: state.logGeneration))
        damaged[damaged.count - 1] ^= 1
        XCTAssertTrue(
            try log.store.writeCheckpoint(
                vaultID: state.vaultID, logGeneration: state.logGeneration, sequence: covered + 1, checkpoint: damaged))
        let reader = try instance(name)
        guard case .ignored(let reason) = reader.recovery.checkpoint else {
            return XCTFail("the damaged checkpoint was not ignored: \(reader.recovery.checkpoint)")
        }
        XCTAssertTrue(reason.contains("authenticate"), reason)
        XCTAssertEqual(projectSlugs(reader), ["web"])
        let report = try Vault.verify(
            path: location.description, unlock: .keyFile(key),
            storage: SharedLogStorage(backend: log, path: location.description))
        XCTAssertEqual(report.problems.map(\.kind), [.checkpoint])
        writer.close()
        reader.close()
    }

    /// F-UNLOCK-ROTATE on a shared log: the other instances hold the old unlock key and must
    /// open the vault again with a secret; one that does sees everything.
    func testAnUnlockKeyRotationMakesOtherInstancesOpenAgain() throws {
        let name = uniqueVaultName()
        let rotator = try instance(name, create: true)
        try rotator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let other = try instance(name)
        _ = try rotator.compact(CompactionOptions(newUnlockKey: true))
        try rotator.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "after", name: "After") }
        XCTAssertThrowsError(
            try other.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "lost", name: "Lost") }
        ) { XCTAssertEqual(($0 as? CofferError)?.code, .wrongKey) }
        other.close()
        let again = try instance(name)
        XCTAssertEqual(projectSlugs(again), ["after"])
        try assertVerifies(name)
    }

    func testKeyslotChangesReachOtherInstances() throws {
        let name = uniqueVaultName()
        let first = try instance(name, create: true)
        let second = try instance(name)
        let passphrase = SecureBytes(copying: Array("correct horse".utf8))
        try first.addKeyslot(.passphrase(passphrase), cost: .interactive)
        // The second's header is behind: its own change is made again on the newer header.
        try second.addKeyslot(.passphrase(SecureBytes(copying: Array("battery staple".utf8))), cost: .interactive)
        try first.refresh()
        XCTAssertEqual(first.keyslots.count, 3)
        XCTAssertEqual(second.keyslots.count, 3)
        let location = try TestDatabase.location().naming(vault: name)
        let log = try PostgresSharedLog(location: location)
        defer { log.close() }
        let storage = SharedLogStorage(backend: log, path: location.description)
        let reopened = try Vault.open(
            path: storage.path, unlock: .passphrase(passphrase), options: .init(storage: storage))
        XCTAssertEqual(reopened.head, first.head)
    }

    func testAFollowerSeesCommitsWithoutBeingAsked() throws {
        let name = uniqueVaultName()
        let writer = try instance(name, create: true)
        let reader = try instance(name, readOnly: true)
        let follower = try PostgresFollower(
            location: try TestDatabase.location().naming(vault: name), interval: .seconds(30)
        ) {
            _ = try? reader.refresh()
        }
        defer { follower.stop() }
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        // Woken by the notification, not the 30-second interval; the wait only bounds a hang.
        var waited = 0
        while reader.read({ $0.organization("acme") }) == nil && waited < 10_000 {
            usleep(2_000)
            waited += 2
        }
        XCTAssertEqual(reader.head, writer.head)
    }

    /// A reader of a database where no vault was ever made finds no vault and creates
    /// nothing (no right to create tables needed); the first vault's creation makes the tables.
    func testAReaderOfADatabaseWithoutTablesFindsNoVaultAndCreatesNothing() throws {
        let location = try TestDatabase.location()
        let database = "coffer_empty_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try RawConnection(location)
        try admin.execute(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"))
        defer { _ = try? admin.execute(PostgresQuery(unsafeSQL: "DROP DATABASE \(database) WITH (FORCE)")) }
        let empty = try PostgresLocation(
            endpoint: location.endpoint, user: location.user, password: nil, database: database, vaultName: "team")
        do {
            let storage = SharedLogStorage(backend: try PostgresSharedLog(location: empty), path: empty.description)
            assertThrowsCoffer(.notFound) {
                try Vault.open(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage))
            }
            let look = try RawConnection(empty)
            let tables = try look.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'coffer%'").first!
                .decode(Int64.self)
            XCTAssertEqual(tables, 0, "a reader created tables")
            try Vault.create(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage)).close()
        }
        let reopened = SharedLogStorage(backend: try PostgresSharedLog(location: empty), path: empty.description)
        try Vault.open(path: reopened.path, unlock: .keyFile(key), options: .init(storage: reopened)).close()
    }

    /// A copy into PostgreSQL that fails at its last step (the rename lost with the
    /// connection) leaves no vault under the name and none staged: it can be made again.
    func testACopyThatFailsAtItsRenameLeavesNothing() throws {
        let (directory, vault) = try fileVaultToCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = vault.path
        vault.close()
        let vaultID = try VaultFileInfo.read(path: original).header.vaultID
        let location = try TestDatabase.location().naming(vault: uniqueVaultName())
        let failing = SharedLogStorage(
            backend: LosesTheRename(try PostgresSharedLog(location: location)), path: location.description)
        XCTAssertThrowsError(try VaultStore.copy(from: original, on: PosixStorage(), to: failing.path, on: failing)) {
            XCTAssertEqual(($0 as? CofferError)?.code, .io(errno: ECONNRESET))
        }
        let raw = try RawConnection(TestDatabase.location())
        let rows = try raw.execute("SELECT count(*) FROM coffer_vaults WHERE vault_id = \(ByteBuffer(bytes: vaultID))")
            .first!.decode(Int64.self)
        XCTAssertEqual(rows, 0, "a failed copy left a row")
        let shared = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        XCTAssertThrowsError(try Vault.open(path: shared.path, unlock: .keyFile(key), options: .init(storage: shared)))
        _ = try VaultStore.copy(from: original, on: PosixStorage(), to: shared.path, on: shared)
        try Vault.open(path: shared.path, unlock: .keyFile(key), options: .init(storage: shared)).close()
    }

    /// An open or a verification that meets a compaction's switch (the log it reads replaced
    /// meanwhile) starts again on the new log, instead of failing the command with `conflict`.
    func testAnOpenThatMeetsACompactionOpensAgain() throws {
        let name = uniqueVaultName()
        let vault = try instance(name, create: true)
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let head = vault.head
        vault.close()
        for readOnly in [true, false] {
            var raced: ReplacedWhileOpening?
            let opened = try instance(name, readOnly: readOnly) { log in
                let wrapped = ReplacedWhileOpening(log)
                raced = wrapped
                return wrapped
            }
            XCTAssertEqual(opened.head, head)
            XCTAssertLessThan(raced?.replacements.load(ordering: .relaxed) ?? 0, 0, "no open met the switch")
            opened.close()
        }
        // verify too.
        let location = try TestDatabase.location().naming(vault: name)
        let raced = ReplacedWhileOpening(try PostgresSharedLog(location: location))
        let storage = SharedLogStorage(backend: raced, path: location.description)
        XCTAssertEqual(try Vault.verify(path: storage.path, unlock: .keyFile(key), storage: storage).problems, [])
        XCTAssertLessThan(raced.replacements.load(ordering: .relaxed), 0, "no verification met the switch")
    }

    /// A shared vault's open reads its head witness before the log: another instance that
    /// compacts or commits between the two leaves a head the log read is as new as. (Read
    /// after the log, the witness could be ahead of it: readers and writers saw false
    /// `head_mismatch` beside compactions.) A witness of another vault is still refused.
    func testAWitnessMovedDuringAnOpenIsNoRollback() throws {
        let name = uniqueVaultName()
        let directory = TemporaryDirectory()
        let file = HeadWitnessFile(path: directory.file("head"))
        let location = try TestDatabase.location().naming(vault: name)
        func options(_ witness: any HeadWitness, readOnly: Bool = false) throws -> Vault.Options {
            Vault.Options(
                storage: SharedLogStorage(
                    backend: try PostgresSharedLog(location: location), path: location.description),
                readOnly: readOnly, headWitness: witness)
        }
        let writer = try Vault.create(
            path: location.description, unlock: .keyFile(key), cost: .interactive, options: options(file))
        defer { writer.close() }
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for readOnly in [true, false] {
            let witness = CompactingWitness(file) { () throws(CofferError) in _ = try writer.compact() }
            let opened = try Vault.open(
                path: location.description, unlock: .keyFile(key), options: options(witness, readOnly: readOnly))
            XCTAssertEqual(witness.reads, 1, "readOnly \(readOnly): one open, no second try")
            XCTAssertEqual(opened.head, writer.head, "readOnly \(readOnly)")
            opened.close()
        }
        // A witness of another vault fails every try.
        let otherName = uniqueVaultName()
        let otherLocation = try TestDatabase.location().naming(vault: otherName)
        let otherFile = HeadWitnessFile(path: directory.file("other"))
        try Vault.create(
            path: otherLocation.description, unlock: .keyFile(key), cost: .interactive,
            options: Vault.Options(
                storage: SharedLogStorage(
                    backend: try PostgresSharedLog(location: otherLocation), path: otherLocation.description),
                headWitness: otherFile)
        ).close()
        XCTAssertThrowsCode(
            .headMismatch,
            try Vault.open(
                path: location.description, unlock: .keyFile(key), options: options(otherFile, readOnly: true)))
    }

    /// A compaction's switch deletes every other log generation: what compactions cut short
    /// left, above its own number or below it (F-SHARED-COMPACT), not only the old log.
    func testACompactionDeletesWhatCompactionsCutShortLeft() throws {
        let name = uniqueVaultName()
        let vault = try instance(name, create: true)
        defer { vault.close() }
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        let log = try PostgresSharedLog(location: try TestDatabase.location().naming(vault: name))
        defer { log.close() }
        let current = try XCTUnwrap(try log.state()).logGeneration
        for leftover in [current + 1, current + (1 << 40)] {
            XCTAssertTrue(try log.stage(logGeneration: leftover, frames: [SharedFrame(sequence: 1, bytes: [1, 2, 3])]))
        }
        _ = try vault.compact()
        let switched = try XCTUnwrap(try log.state()).logGeneration
        XCTAssertNotEqual(switched, current)
        let raw = try RawConnection(TestDatabase.location())
        let generations = try raw.execute(
            """
            SELECT DISTINCT f.log_generation FROM coffer_frames f JOIN coffer_vaults v ON f.vault_id = v.vault_id
            WHERE v.name = \(name)
            """
        ).map { try $0.decode(Int64.self) }
        XCTAssertEqual(generations, [Int64(switched)])
        try assertVerifies(name)
    }

    /// A shared vault with a damaged frame is salvaged straight into a file: the records
    /// before the damage, which open as a vault of their own.
    func testADamagedSharedVaultIsSalvagedIntoAFile() throws {
        let name = uniqueVaultName()
        let vault = try instance(name, create: true)
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        let kept = vault.head.sequence
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "data", name: "Data") }
        vault.close()
        let raw = try RawConnection(TestDatabase.location())
        try raw.execute(
            """
            UPDATE coffer_frames f SET frame = overlay(frame PLACING '\\xff'::bytea FROM 100 FOR 1)
            FROM coffer_vaults v WHERE f.vault_id = v.vault_id AND v.name = \(name) AND f.sequence = \(Int64(kept + 1))
            """)
        let location = try TestDatabase.location().naming(vault: name)
        let shared = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        XCTAssertThrowsError(try Vault.open(path: shared.path, unlock: .keyFile(key), options: .init(storage: shared)))
        let output = NSTemporaryDirectory() + "coffer-salvaged-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).coffer"
        defer { unlink(output) }
        let report = try VaultStore.salvage(
            path: shared.path, on: shared, secret: .keyFile(key), output: output, on: PosixStorage())
        XCTAssertEqual(report.recordsKept, kept)
        XCTAssertEqual(report.problem?.sequence, kept + 1)
        let salvaged = try Vault.open(path: output, unlock: .keyFile(key))
        defer { salvaged.close() }
        XCTAssertEqual(salvaged.read { $0.projects(in: try! $0.organizationID("acme")).map(\.slug) }, ["web"])
    }

    /// A new directory and, in it, a vault file with organization `acme`, to copy into
    /// PostgreSQL; the caller removes the directory.
    func fileVaultToCopy() throws -> (directory: String, vault: Vault) {
        let directory = NSTemporaryDirectory() + "coffer-copy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o700), 0)
        let vault = try Vault.create(path: directory + "/original.coffer", unlock: .keyFile(key), cost: .interactive)
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        return (directory, vault)
    }

    func testCopyFileToPostgresAndBackIsByteIdentical() throws {
        let (directory, vault) = try fileVaultToCopy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = vault.path
        for step in 0..<40 {
            try vault.mutate(actor: "setup") {
                try $0.createProject(in: "acme", slug: "p\(step)", name: String(repeating: "n", count: 1 + step * 4))
            }
        }
        try vault.rotateDataKey()
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "last", name: "Last") }
        try vault.addKeyslot(.passphrase(SecureBytes(copying: Array("copy me".utf8))), cost: .interactive)
        let head = vault.head
        vault.close()

        let location = try TestDatabase.location().naming(vault: uniqueVaultName())
        let shared = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        // F-SHARED-COPY: what a copy cut short left (staged under no name) is no vault, and the
        // next copy of the same vault drops it first.
        let store = try PostgresFrameStore(location: location)
        defer { store.close() }
        let vaultID = try VaultFileInfo.read(path: original).header.vaultID
        let headerBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: original)).prefix(8192))
        let leftover = PostgresFrameStore.stagingName(for: vaultID, token: [1, 2, 3])
        try store.createStagedVault(
            stagingID: randomBytes(16), for: vaultID, stagingName: leftover, header: headerBytes)
        XCTAssertFalse(try store.listVaults().contains { $0.vaultID == vaultID }, "a staged copy is listed")
        XCTAssertThrowsError(try Vault.open(path: shared.path, unlock: .keyFile(key), options: .init(storage: shared)))
        {
            XCTAssertEqual(($0 as? CofferError)?.code, .notFound)
        }
        let there = try VaultStore.copy(from: original, on: PosixStorage(), to: shared.path, on: shared)
        XCTAssertEqual(there.head, head)
        XCTAssertThrowsError(try store.readStagedVault(stagingName: leftover), "what the cut-short copy left is gone")
        // Two copies of one vault: the second replaces the first's staged row, and the first's
        // rename then finds nothing of its own to name; it never names the second's.
        let other = try TestDatabase.location().naming(vault: uniqueVaultName("other")).vaultName!
        let first = PostgresFrameStore.stagingName(for: [9, 9, 9], token: [1])
        let second = PostgresFrameStore.stagingName(for: [9, 9, 9], token: [2])
        let (firstID, secondID) = (randomBytes(16), randomBytes(16))
        try store.createStagedVault(
            stagingID: firstID, for: [9, 9, 9], stagingName: first, header: headerBytes, firstFrames: makeFrames(1...2))
        try store.createStagedVault(
            stagingID: secondID, for: [9, 9, 9], stagingName: second, header: headerBytes,
            firstFrames: makeFrames(1...2))
        // The first copy's next frames reach nothing of the second's: its rows are gone.
        XCTAssertThrowsError(try store.append(vaultID: firstID, logGeneration: 1, frames: makeFrames(3...3)))
        XCTAssertThrowsError(
            try store.publishStagedVault(stagingID: firstID, stagingName: first, as: [9, 9, 9], name: other)
        ) {
            XCTAssertEqual(($0 as? CofferError)?.code, .conflict)
        }
        XCTAssertTrue(
            try store.publishStagedVault(stagingID: secondID, stagingName: second, as: [9, 9, 9], name: other))
        XCTAssertEqual(try store.readFrames(vaultID: [9, 9, 9], logGeneration: 1, after: 0, limit: 10).count, 2)
        try store.dropVault(name: other)
        // Through the backend the engine uses: the removed copy's next write is a conflict.
        let copyName = try TestDatabase.location().naming(vault: uniqueVaultName("copy"))
        let (copyA, copyB) = (try PostgresSharedLog(location: copyName), try PostgresSharedLog(location: copyName))
        defer { (copyA.close(), copyB.close()) }
        XCTAssertTrue(try copyA.createStaged(vaultID: [8, 8, 8], header: headerBytes, frames: []))
        XCTAssertTrue(try copyB.createStaged(vaultID: [8, 8, 8], header: headerBytes, frames: []))
        XCTAssertThrowsError(try copyA.append(logGeneration: 1, frames: [SharedFrame(sequence: 1, bytes: [1])])) {
            XCTAssertEqual(($0 as? CofferError)?.code, .conflict)
        }
        XCTAssertTrue(try copyB.publishStaged())
        XCTAssertEqual(try copyB.state()?.vaultID, [8, 8, 8])
        try store.dropVault(name: copyName.vaultName!)
        XCTAssertTrue(try store.listVaults().contains { $0.vaultID == vaultID })
        let back = directory + "/back.coffer"
        let returned = try VaultStore.copy(from: shared.path, on: shared, to: back)
        XCTAssertEqual(returned.head, head)
        // The log byte for byte; the original's free space after it (F-FREE) is not copied.
        let originalBytes = try Data(contentsOf: URL(fileURLWithPath: original))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: back)), originalBytes.prefix(Int(there.bytes)))
        XCTAssertTrue(originalBytes.dropFirst(Int(there.bytes)).allSatisfy { $0 == 0 })
        // The copy in PostgreSQL opens with the passphrase added before the copy, and says no twice.
        let opened = try Vault.open(
            path: shared.path, unlock: .passphrase(SecureBytes(copying: Array("copy me".utf8))),
            options: .init(storage: shared))
        XCTAssertEqual(opened.head, head)
        XCTAssertThrowsError(try VaultStore.copy(from: original, on: PosixStorage(), to: shared.path, on: shared)) {
            XCTAssertEqual(($0 as? CofferError)?.code, .alreadyExists)
        }
        XCTAssertThrowsError(try VaultStore.copy(from: shared.path, on: shared, to: back)) {
            XCTAssertEqual(($0 as? CofferError)?.code, .alreadyExists)
        }
    }

    func testADataKeyRotationByOneInstanceSealsTheOthersLaterRecords() throws {
        let name = uniqueVaultName()
        let first = try instance(name, create: true)
        let second = try instance(name)
        XCTAssertEqual(try first.rotateDataKey(), 2)
        // The second is behind: its append conflicts, it reads the new epoch and seals under it.
        try second.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        XCTAssertEqual(second.store.currentEpoch, 2)
        XCTAssertEqual(try second.rotateDataKey(), 3)
        try first.refresh()
        XCTAssertEqual(first.store.currentEpoch, 3)
        try assertVerifies(name)
    }

    func testAFollowerThatMissedTheNotificationsCatchesUpBySequence() throws {
        let name = uniqueVaultName()
        let writer = try instance(name, create: true)
        let reader = try instance(name, readOnly: true)
        // Commits while no one listens: their notifications are gone.
        try writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for step in 0..<5 {
            try writer.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "p\(step)", name: "P") }
        }
        // A follower started now hears nothing; its interval's refresh catches up by sequence.
        let follower = try PostgresFollower(
            location: try TestDatabase.location().naming(vault: name), interval: .milliseconds(50)
        ) {
            _ = try? reader.refresh()
        }
        defer { follower.stop() }
        var waited = 0
        while reader.head != writer.head && waited < 10_000 {
            usleep(5_000)
            waited += 5
        }
        XCTAssertEqual(reader.head, writer.head)
        XCTAssertEqual(projectSlugs(reader), ["p0", "p1", "p2", "p3", "p4"])
    }
}

/// A shared log that passes every call to another, for a test to change one of them.
class ForwardingBackend: SharedLogBackend, @unchecked Sendable {
    let inner: any SharedLogBackend

    init(_ inner: PostgresSharedLog) { self.inner = inner }

    var displayName: String { inner.displayName }
    func state() throws(CofferError) -> SharedLogState? { try inner.state() }
    func extent(logGeneration: UInt64, after sequence: UInt64) throws(CofferError) -> SharedLogExtent {
        try inner.extent(logGeneration: logGeneration, after: sequence)
    }
    func create(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool {
        try inner.create(vaultID: vaultID, header: header, frames: frames)
    }
    func createStaged(vaultID: [UInt8], header: [UInt8], frames: [SharedFrame]) throws(CofferError) -> Bool {
        try inner.createStaged(vaultID: vaultID, header: header, frames: frames)
    }
    func publishStaged() throws(CofferError) -> Bool { try inner.publishStaged() }
    func dropStaged() throws(CofferError) { try inner.dropStaged() }
    func frames(logGeneration: UInt64, after sequence: UInt64, limit: Int) throws(CofferError) -> [SharedFrame] {
        try inner.frames(logGeneration: logGeneration, after: sequence, limit: limit)
    }
    func append(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool {
        try inner.append(logGeneration: logGeneration, frames: frames)
    }
    func stage(logGeneration: UInt64, frames: [SharedFrame]) throws(CofferError) -> Bool {
        try inner.stage(logGeneration: logGeneration, frames: frames)
    }
    func replaceHeader(expectedGeneration: UInt64, header: [UInt8]) throws(CofferError) -> Bool {
        try inner.replaceHeader(expectedGeneration: expectedGeneration, header: header)
    }
    func switchLog(
        from: UInt64, lastSequence: UInt64, to: UInt64, header: [UInt8], expectedHeaderGeneration: UInt64
    ) throws(CofferError) -> Bool {
        try inner.switchLog(
            from: from, lastSequence: lastSequence, to: to, header: header,
            expectedHeaderGeneration: expectedHeaderGeneration)
    }
    func discard(logGeneration: UInt64) throws(CofferError) { try inner.discard(logGeneration: logGeneration) }
    func checkpoint(logGeneration: UInt64) throws(CofferError) -> [UInt8]? {
        try inner.checkpoint(logGeneration: logGeneration)
    }
    func writeCheckpoint(_ bytes: [UInt8], logGeneration: UInt64, sequence: UInt64) throws(CofferError) -> Bool {
        try inner.writeCheckpoint(bytes, logGeneration: logGeneration, sequence: sequence)
    }
    func beginWriterTurn() throws(CofferError) { try inner.beginWriterTurn() }
    func endWriterTurn() { inner.endWriterTurn() }
    func follow(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> any SharedLogFollower {
        try inner.follow(interval: interval, onChange)
    }
}

/// A shared log whose writers never take turns, as an older reader's do: only the conditional
/// append orders them.
final class WithoutTurns: ForwardingBackend, @unchecked Sendable {
    override func beginWriterTurn() throws(CofferError) {}
    override func endWriterTurn() {}
}

/// A shared log whose first reads of where the log ends say that another instance's
/// compaction has just replaced it, as a race with one does.
final class ReplacedWhileOpening: ForwardingBackend, @unchecked Sendable {
    let replacements = Atomic<Int>(2)

    override func extent(logGeneration: UInt64, after sequence: UInt64) throws(CofferError) -> SharedLogExtent {
        let found = try inner.extent(logGeneration: logGeneration, after: sequence)
        guard replacements.subtract(1, ordering: .relaxed).oldValue > 0 else { return found }
        return SharedLogExtent(
            logGeneration: found.logGeneration + 1, headerGeneration: found.headerGeneration, frameBytes: 0, frames: [])
    }
}

/// A shared log whose copy's rename is lost with the connection, before it reaches the server.
final class LosesTheRename: ForwardingBackend, @unchecked Sendable {
    override func publishStaged() throws(CofferError) -> Bool {
        throw CofferError(.io(errno: ECONNRESET), "The connection to PostgreSQL was lost while naming the copy.")
    }
}

/// A head witness whose first read first runs `move` (another instance's compaction, which
/// leaves its head in the file): the race between an open's read of the witness and of the log.
private final class CompactingWitness: HeadWitness, @unchecked Sendable {
    private let file: HeadWitnessFile
    private let move: () throws(CofferError) -> Void
    private let moved = Mutex(0)

    init(_ file: HeadWitnessFile, move: @escaping () throws(CofferError) -> Void) {
        self.file = file
        self.move = move
    }

    var reads: Int { moved.withLock { $0 } }

    func read() throws(CofferError) -> WitnessedHead? {
        if moved.withLock({ count in
            count += 1
            return count == 1
        }) {
            try move()
        }
        return try file.read()
    }

    func record(_ witnessed: WitnessedHead) throws(CofferError) { try file.record(witnessed) }
}
