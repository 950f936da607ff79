import CofferSimulation
import CofferStorage
import CofferTestSupport
import Dispatch
import XCTest

@testable import Coffer

/// Group commit in the engine (``CommitQueue``, ``CommitPipeline``): mutations from many
/// threads are planned in batches and share syncs, each is planned against every one queued
/// before it, and readers see a transaction only once it is durable.
final class GroupCommitTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8($0 * 5) })

    func makeVault(on storage: any StorageSystem) throws -> Vault {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: storage))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        return vault
    }

    /// A vault whose syncs are held, with a first mutation (creating project `slug`) started
    /// on another thread and waiting in its sync.
    fileprivate func vaultWithAHeldCommit(creating slug: String) throws -> (GatedStorage, Vault, BackgroundWriters) {
        let storage = GatedStorage(SimulatedDisk())
        let vault = try makeVault(on: storage)
        storage.holdSyncs()
        let writers = BackgroundWriters(vault)
        writers.createProject(slug)
        waitUntil("the first commit is syncing") { storage.syncsWaiting == 1 }
        return (storage, vault, writers)
    }

    func reopen(on storage: GatedStorage) throws -> Vault {
        try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: storage))
    }

    func projects(_ vault: Vault) -> [String] {
        vault.read { index in
            index.organization("acme").map { index.projects(in: $0.id).map(\.slug).sorted() } ?? []
        }
    }

    func projectInfos(_ vault: Vault) -> [ProjectInfo] {
        vault.read { index in
            index.organization("acme").map { index.projects(in: $0.id).sorted { $0.slug < $1.slug } } ?? []
        }
    }

    /// Waits until `condition` holds, polling; fails the test after 10 seconds.
    func waitUntil(_ what: String, _ condition: () -> Bool) {
        let deadline = DispatchTime.now() + .seconds(10)
        while !condition() {
            guard DispatchTime.now() < deadline else { return XCTFail("timed out waiting until \(what)") }
            usleep(200)
        }
    }

    func testAQueuedTransactionIsInvisibleToReadersButSeenByTheNextWriter() throws {
        let (storage, vault, writers) = try vaultWithAHeldCommit(creating: "web")
        let create = writers.createProject

        // Not durable: readers do not see it, and the head does not count it.
        XCTAssertEqual(projects(vault), [])
        XCTAssertEqual(vault.head.sequence, 2)
        // The next writer plans against it: the same slug is taken, and a project under it
        // queues behind it.
        XCTAssertThrowsCode(
            .alreadyExists, try vault.mutate(actor: "b") { try $0.createProject(in: "acme", slug: "web", name: "Web") })
        create("data")
        waitUntil("the second commit is queued") { vault.store.queuedHead.sequence == 4 }
        XCTAssertEqual(projects(vault), [])

        storage.releaseSyncs()
        XCTAssertEqual(writers.finish(), [])
        XCTAssertEqual(projects(vault), ["data", "web"])
        XCTAssertEqual(vault.head.sequence, 4)
        vault.close()
        let reopened = try reopen(on: storage)
        XCTAssertEqual(projects(reopened), ["data", "web"])
    }

    /// Creates the SMTP credential `mail/out` in `acme`, password `first-password`, durably.
    func createMailCredential(_ vault: Vault) throws {
        let fields: [String: String] = [
            "host": "smtp.example.com", "port": "587", "encryption": "starttls", "username": "bot",
            "password": "first-password",
        ]
        var values = FieldValues()
        for (name, value) in fields { values[name] = SecureBytes(copying: Array(value.utf8)) }
        let created = CredentialDraft(
            appKey: "mail", slug: "out", label: "Mail", type: .smtp, category: .communication, fields: values)
        try vault.mutate(actor: "setup") { try $0.createCredential(in: "acme", created) }
    }

    /// A planner that merges an edit with a version a queued transaction made reads that
    /// version once it is durable, instead of failing as if it did not exist (found by the
    /// random engine crash suite under load: an update planned on top of a queued rotation
    /// failed with not_found).
    func testAnEditOnTopOfAQueuedVersionReadsItOnceDurable() throws {
        let storage = GatedStorage(SimulatedDisk())
        let vault = try makeVault(on: storage)
        try createMailCredential(vault)
        storage.holdSyncs()
        let writers = BackgroundWriters(vault)
        writers.rotateMailPassword()
        waitUntil("the rotation is syncing") { storage.syncsWaiting == 1 }
        // The edit plans on top of the queued rotation while its sync is held.
        let editPlanning = DispatchSemaphore(value: 0)
        writers.editMailHost(started: { editPlanning.signal() })
        editPlanning.wait()
        storage.releaseSyncs()
        XCTAssertEqual(writers.finish(), [])
        let id = try vault.read { try $0.selectCredential("mail/out", in: try $0.organizationID("acme")) }
        let revealed = try vault.reveal(id)
        XCTAssertEqual(
            revealed["password"], SecureBytes(copying: Array("second-password".utf8)), "the rotation is kept")
        XCTAssertEqual(revealed["host"], SecureBytes(copying: Array("mail.example.org".utf8)))
        XCTAssertEqual(vault.read { $0.credential(id: id)?.version }, 3)
    }

    func testCommitsQueuedDuringASyncShareTheNextOne() throws {
        let (storage, vault, writers) = try vaultWithAHeldCommit(creating: "p0")
        let create = writers.createProject
        let syncsBefore = storage.syncs
        for number in 1...5 { create("p\(number)") }
        waitUntil("five more are queued") { vault.store.queuedHead.sequence == 2 + 6 }
        storage.releaseSyncs()
        XCTAssertEqual(writers.finish(), [])
        // The first sync, then one for the five queued behind it.
        XCTAssertEqual(storage.syncs - syncsBefore, 1)
        XCTAssertEqual(projects(vault), (0...5).map { "p\($0)" })
        vault.close()
        XCTAssertEqual(
            projects(try reopen(on: storage)),
            (0...5).map { "p\($0)" })
    }

    func testAFailedSyncFailsEveryQueuedCommitAndPublishesNone() throws {
        let (storage, vault, writers) = try vaultWithAHeldCommit(creating: "p0")
        let create = writers.createProject
        for number in 1...3 { create("p\(number)") }
        waitUntil("three more are queued") { vault.store.queuedHead.sequence == 2 + 4 }
        storage.failSyncs()
        storage.releaseSyncs()
        // The first fails with the sync's error; the three behind it fail as the stopped writer's.
        let failed = writers.finishWithCodes()
        XCTAssertEqual(failed.count, 4, "every commit fails, none is acknowledged")
        let counted = Dictionary(failed.compactMap { $0 }.map { ($0, 1) }, uniquingKeysWith: +)
        XCTAssertEqual(counted, [.io(errno: EIO): 1, .writerStopped: 3])
        XCTAssertEqual(projects(vault), [])
        XCTAssertThrowsCode(
            .writerStopped,
            try vault.mutate(actor: "w") { try $0.createProject(in: "acme", slug: "late", name: "Late") })
        XCTAssertEqual(projects(vault), [])
    }

    /// Starts a mutation of `vault` (creating project `lead`) on another thread and returns
    /// while it is being planned: its plan waits until the returned semaphore is signalled.
    fileprivate func startPlanningALeader(
        _ vault: Vault
    ) -> (BackgroundWriters, release: DispatchSemaphore) {
        let writers = BackgroundWriters(vault)
        let planning = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        writers.run("lead") { vault in
            _ = try vault.mutate(actor: "w") { planner in
                planning.signal()
                release.wait()
                return try planner.createProject(in: "acme", slug: "lead", name: "Lead")
            }
        }
        planning.wait()
        return (writers, release)
    }

    func testCallersQueuedWhileABatchIsPlannedArePlannedTogetherAndFailAlone() throws {
        let storage = GatedStorage(SimulatedDisk())
        let vault = try makeVault(on: storage)
        let (writers, release) = startPlanningALeader(vault)
        let syncsBefore = storage.syncs
        // The thread each of the four plans ran on.
        let planners = Locked<[String: pthread_t]>([:])
        let record: @Sendable (String) -> Void = { name in planners.withLock { $0[name] = pthread_self() } }
        for slug in ["p1", "p3"] {
            writers.run(slug) { vault in
                _ = try vault.mutate(actor: "w") { planner in
                    record(slug)
                    return try planner.createProject(in: "acme", slug: slug, name: slug)
                }
            }
        }
        writers.run("missing organization") { vault in
            _ = try vault.mutate(actor: "w") { planner in
                record("p2")
                return try planner.createProject(in: "nowhere", slug: "p2", name: "P2")
            }
        }
        writers.run("empty") { vault in
            let value = try vault.mutate(actor: "w") { _ in
                record("empty")
                return Plan(operations: [], value: 7)
            }
            XCTAssertEqual(value, 7, "an empty plan's value comes back to its caller")
        }
        waitUntil("four callers are queued behind the leader") { vault.commitQueue.queuedCount == 4 }
        // The leader's sync is held: the four are planned meanwhile, and two of them queued.
        storage.holdSyncs()
        release.signal()
        waitUntil("the next batch is queued while the leader's sync waits") {
            storage.syncsWaiting == 1 && vault.store.queuedHead.sequence == 2 + 3
        }
        storage.releaseSyncs()
        let failed = writers.finishWithCodes()
        XCTAssertEqual(failed, [.notFound], "only the plan that threw fails")
        let threads = planners.withLock { $0 }
        XCTAssertEqual(threads.keys.sorted(), ["empty", "p1", "p2", "p3"])
        XCTAssertEqual(Set(threads.values.map(UInt.init)).count, 1, "one caller planned the whole batch")
        XCTAssertEqual(projects(vault), ["lead", "p1", "p3"])
        // The leader's transaction, then (with it, when queued before its sync began) the batch's two.
        XCTAssertLessThanOrEqual(storage.syncs - syncsBefore, 2)
        vault.close()
        XCTAssertEqual(projects(try reopen(on: storage)), ["lead", "p1", "p3"])
    }

    func testABatchSplitBetweenTwoSyncsPublishesWhatTheFirstWroteWhenTheSecondFails() throws {
        let storage = GatedStorage(SimulatedDisk())
        let vault = try makeVault(on: storage)
        try createMailCredential(vault)
        let (writers, release) = startPlanningALeader(vault)
        // A batch of two: a rotation, then an edit, which reads the version the rotation
        // queued once it is durable: so the rotation is synced alone, and then syncs fail.
        writers.rotateMailPassword()
        waitUntil("the rotation's caller is queued") { vault.commitQueue.queuedCount == 1 }
        writers.editMailHost(planned: { storage.failSyncs() })
        waitUntil("the edit's caller is queued") { vault.commitQueue.queuedCount == 2 }
        release.signal()
        let failed = writers.finish()
        XCTAssertEqual(failed.count, 1, "only the edit fails: \(failed)")
        XCTAssertTrue(failed.first?.hasPrefix("edit:") ?? false, "only the edit fails: \(failed)")
        // The rotation landed: readers see it.
        let id = try vault.read { try $0.selectCredential("mail/out", in: try $0.organizationID("acme")) }
        let version = vault.read { $0.credential(id: id)?.version }
        XCTAssertEqual(version, 2, "the rotation is visible")
        XCTAssertEqual(
            try vault.reveal(id)["password"], SecureBytes(copying: Array("second-password".utf8)))
        XCTAssertEqual(projects(vault), ["lead"])
        guard version == 2 else { return }  // else the queue is stuck behind the unpublished rotation
        XCTAssertThrowsCode(
            .writerStopped,
            try vault.mutate(actor: "w") { try $0.createProject(in: "acme", slug: "late", name: "Late") })
    }

    /// The spin of a mutation waiting behind another batch's sync is the caller's to get wrong.
    func testASyncWaitSpinOutsideItsRangeIsRefused() throws {
        let disk = SimulatedDisk()
        var options = Vault.Options(storage: disk)
        options.syncWaitSpin = .microseconds(-300)
        XCTAssertThrowsCode(.invalidInput, try Vault.create(path: path, unlock: .keyFile(key), options: options))
        XCTAssertFalse(disk.exists(path))
        try makeVault(on: disk).close()
        options.syncWaitSpin = .seconds(1)
        XCTAssertThrowsCode(.invalidInput, try Vault.open(path: path, unlock: .keyFile(key), options: options))
    }

    func testManyThreadsCommitAndTheIndexMatchesTheLog() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        let storage = GatedStorage(SimulatedDisk())
        storage.syncDelayMicroseconds = 200
        let vault = try makeVault(on: storage)
        let syncsBefore = storage.syncs
        let threads = 8
        let perThread = 20
        // Each thread creates its projects, renames some and deletes others, so that later
        // transactions depend on earlier ones of the same thread.
        let plans = (0..<threads).map { _ in (0..<perThread).map { _ in Int.random(in: 0..<3, using: &generator) } }
        let failures = Locked<[String]>([])
        runConcurrently(threads) { thread in
            for (number, action) in plans[thread].enumerated() {
                let slug = "t\(thread)-\(number)"
                do {
                    try vault.mutate(actor: "w\(thread)") { try $0.createProject(in: "acme", slug: slug, name: slug) }
                    if action == 1 {
                        try vault.mutate(actor: "w\(thread)") {
                            try $0.renameProject(slug, in: "acme", name: "renamed \(slug)")
                        }
                    } else if action == 2 {
                        try vault.mutate(actor: "w\(thread)") { try $0.removeProject(slug, in: "acme") }
                    }
                } catch { failures.withLock { $0.append("seed \(seed) \(slug): \(error)") } }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [], "seed \(seed)")
        let expected = (0..<threads).flatMap { thread in
            plans[thread].enumerated().compactMap { number, action in action == 2 ? nil : "t\(thread)-\(number)" }
        }.sorted()
        XCTAssertEqual(projects(vault), expected, "seed \(seed)")
        // Every mutation is a commit of its own; sharing syncs is what group commit is.
        let commits = threads * perThread + plans.joined().filter { $0 != 0 }.count
        XCTAssertLessThan(storage.syncs - syncsBefore, commits, "seed \(seed): no two commits shared a sync")
        let live = projectInfos(vault)
        XCTAssertEqual(
            live.filter { $0.name.hasPrefix("renamed") }.count, plans.joined().filter { $0 == 1 }.count, "seed \(seed)")
        let statistics = vault.read { $0.statistics() }
        vault.close()
        let reopened = try reopen(on: storage)
        XCTAssertEqual(projectInfos(reopened), live, "seed \(seed)")
        XCTAssertEqual(reopened.read { $0.statistics() }, statistics, "seed \(seed)")
    }
}

/// A storage system over another whose syncs can be held until released, delayed or made to
/// fail, and counted.
final class GatedStorage: ForwardingStorage, @unchecked Sendable {
    private let lock = Lock()
    private var holding = false
    private var failing = false
    private var waiting = 0
    private var count = 0
    var syncDelayMicroseconds: UInt32 = 0

    var syncs: Int { lock.withLock { count } }
    var syncsWaiting: Int { lock.withLock { waiting } }
    func holdSyncs() { lock.withLock { holding = true } }
    func failSyncs() { lock.withLock { failing = true } }
    func releaseSyncs() {
        lock.withLock {
            holding = false
            lock.broadcast()
        }
    }

    func sync(_ file: any StorageFile) -> Result<Void, SystemError> {
        let fails = lock.withLock { () -> Bool in
            count += 1
            waiting += 1
            while holding { lock.wait() }
            waiting -= 1
            return failing
        }
        if syncDelayMicroseconds > 0 { usleep(syncDelayMicroseconds) }
        return fails ? .failure(.ioError) : file.sync()
    }

    override func wrap(_ file: any StorageFile) -> any StorageFile { GatedFile(storage: self, file: file) }
}

/// A file whose syncs go through its ``GatedStorage``.
final class GatedFile: ForwardingFile, @unchecked Sendable {
    let storage: GatedStorage

    init(storage: GatedStorage, file: any StorageFile) {
        self.storage = storage
        super.init(file)
    }

    override func sync() -> Result<Void, SystemError> { storage.sync(file) }
}

/// Mutations run on other threads (creating projects, rotating and editing `mail/out`), for
/// tests that hold their syncs.
private final class BackgroundWriters: Sendable {
    let vault: Vault
    private let group = DispatchGroup()
    private let failures = Locked<[(slug: String, error: any Error)]>([])

    init(_ vault: Vault) { self.vault = vault }

    /// Starts a mutation that creates project `slug` in `acme`.
    @Sendable func createProject(_ slug: String) {
        DispatchQueue.global().async(group: group) { [self] in
            do {
                try vault.mutate(actor: "w") { try $0.createProject(in: "acme", slug: slug, name: slug) }
            } catch { failures.withLock { $0.append((slug, error)) } }
        }
    }

    /// Starts a mutation that rotates the password of `mail/out` to `second-password`.
    @Sendable func rotateMailPassword() {
        run("rotate") { vault in
            _ = try vault.mutate(actor: "w") { planner in
                var given = FieldValues()
                given["password"] = SecureBytes(copying: Array("second-password".utf8))
                return try planner.rotateCredential("mail/out", in: "acme", fields: given) {
                    location throws(CofferError) in
                    try vault.readOperation(at: location)
                }
            }
        }
    }

    /// Starts a mutation that sets the host of `mail/out` to `mail.example.org`, calling
    /// `started` when its plan starts and `planned` once it is planned.
    @Sendable func editMailHost(
        started: @escaping @Sendable () -> Void = {}, planned: @escaping @Sendable () -> Void = {}
    ) {
        run("edit") { vault in
            _ = try vault.mutate(actor: "w") { planner in
                started()
                var given = FieldValues()
                given["host"] = SecureBytes(copying: Array("mail.example.org".utf8))
                let plan = try planner.updateCredential("mail/out", in: "acme", CredentialUpdate(fields: given)) {
                    location throws(CofferError) in try vault.readOperation(at: location)
                }
                planned()
                return plan
            }
        }
    }

    /// Starts `body` on another thread, recording its failure under `name`.
    @Sendable func run(_ name: String, _ body: @escaping @Sendable (Vault) throws -> Void) {
        DispatchQueue.global().async(group: group) { [self] in
            do { try body(vault) } catch { failures.withLock { $0.append((name, error)) } }
        }
    }

    /// Waits for every mutation started; returns the ones that failed, with their errors.
    func finish() -> [String] {
        group.wait()
        return failures.withLock { $0 }.map { "\($0.slug): \($0.error)" }
    }

    /// Waits for every mutation started; returns the code of each that failed (`nil` for an
    /// error that is not a `CofferError`).
    func finishWithCodes() -> [CofferError.Code?] {
        group.wait()
        return failures.withLock { $0 }.map { ($0.error as? CofferError)?.code }
    }
}
