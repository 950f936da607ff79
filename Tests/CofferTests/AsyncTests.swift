import CofferSimulation
import CofferStorage
import CofferTestSupport
import Dispatch
import XCTest

@testable import Coffer

/// The `async` API: blocking work stays off Swift's cooperative pool, cancellation stops only
/// what can stop safely, and resolve-and-reveal is one checked step.
final class AsyncTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8($0 * 7) })

    func makeVault(on storage: any StorageSystem) throws -> Vault {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: storage))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        return vault
    }

    func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    /// Creates a credential in `acme` at organization scope; its id.
    @discardableResult
    func create(
        _ app: String, _ type: CredentialType, _ fields: [String: String], isDefault: Bool = false, in vault: Vault
    ) throws -> CredentialID {
        let values = FieldValues(fields.mapValues { secret($0) })
        return try vault.mutate(actor: "ops") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(appKey: app, slug: "main", label: app, type: type, fields: values, isDefault: isDefault)
            )
        }[0]
    }

    /// Runs `body` in a task and waits for it on this (non-pool) thread, up to `seconds`.
    func run<Value: Sendable>(
        _ what: String, seconds: Int = 20, _ body: @escaping @Sendable () async throws -> Value
    ) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<Result<Value, any Error>?>(nil)
        Task {
            let outcome: Result<Value, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        guard done.wait(timeout: .now() + .seconds(seconds)) == .success else {
            XCTFail("timed out: \(what)")
            throw CofferError(.cancelled, "timed out")
        }
        return try result.withLock { $0! }.get()
    }

    /// The measurement, made deterministic: more mutating tasks than the cooperative
    /// pool has threads, all held in their sync; a task that only resolves still runs.
    func testMutationsWaitingForASyncLeaveTheCooperativePoolFree() throws {
        let storage = GatedStorage(SimulatedDisk())
        let vault = try makeVault(on: storage)
        storage.holdSyncs()
        // A failure must not leave writers blocked for the rest of the run.
        defer { storage.releaseSyncs() }
        let writers = 2 * ProcessInfo.processInfo.activeProcessorCount + 2
        let finished = Locked(0)
        for number in 0..<writers {
            Task {
                try await vault.mutate(actor: "writer") {
                    try $0.createProject(in: "acme", slug: "p\(number)", name: "Project \(number)")
                }
                finished.withLock { $0 += 1 }
            }
        }
        let deadline = DispatchTime.now() + .seconds(10)
        while storage.syncsWaiting == 0 && DispatchTime.now() < deadline { usleep(500) }
        XCTAssertEqual(storage.syncsWaiting, 1, "a commit waits in its sync")
        // Every writer is queued or syncing on the vault's threads: the pool still runs tasks.
        let organizations = try run("a task that reads while every writer waits", seconds: 10) {
            await Task.yield()
            return vault.read { $0.organizations().count }
        }
        XCTAssertEqual(organizations, 1)
        XCTAssertEqual(finished.withLock { $0 }, 0, "no commit is acknowledged before its sync")
        storage.releaseSyncs()
        while finished.withLock({ $0 }) < writers && DispatchTime.now() < deadline + .seconds(10) { usleep(500) }
        XCTAssertEqual(finished.withLock { $0 }, writers)
        XCTAssertEqual(vault.read { index in index.projects(in: index.organization("acme")!.id).count }, writers)
    }

    /// The code `work` fails with when its task is cancelled `after` it started (nil when it
    /// succeeds; a `CancellationError` from a sleep counts as `.cancelled`).
    func codeWhenCancelled<Value: Sendable>(
        _ what: String, after delay: Duration, _ work: @escaping @Sendable () async throws -> Value
    ) throws -> CofferError.Code? {
        try run(what) { () -> CofferError.Code? in
            let task = Task { try await work() }
            try await Task.sleep(for: delay)
            task.cancel()
            do {
                _ = try await task.value
                return nil
            } catch let error as CofferError {
                return error.code
            } catch is CancellationError {
                return .cancelled
            }
        }
    }

    /// A task cancelled before its mutation is planned changes nothing; one that waits for a
    /// sequence that never comes, or for the writer lock, stops when cancelled.
    func testCancellationStopsOnlyWhatCanStop() throws {
        let disk = SimulatedDisk()
        let vault = try makeVault(on: disk)
        let head = vault.head
        let cancelledMutation = try codeWhenCancelled("a cancelled mutation", after: .zero) {
            withUnsafeCurrentTask { $0?.cancel() }  // cancelled before its plan runs
            return try await vault.mutate(actor: "late") { try $0.createOrganization(slug: "late", name: "Late") }
        }
        XCTAssertEqual(cancelledMutation, .cancelled)
        XCTAssertEqual(vault.head, head, "nothing written")
        let waited = try codeWhenCancelled("a cancelled refresh(atLeast:)", after: .milliseconds(20)) {
            try await vault.refresh(atLeast: head.sequence + 100, timeout: .seconds(60))
        }
        XCTAssertEqual(waited, .cancelled)
        // A second writer waiting for the lock the first one holds.
        let path = self.path
        let key = self.key
        let opened = try codeWhenCancelled("a cancelled open waiting for the writer lock", after: .milliseconds(50)) {
            try await Vault.open(
                path: path, unlock: .keyFile(key), options: .init(storage: disk, lockWait: .seconds(60)))
        }
        XCTAssertEqual(opened, .cancelled)
        vault.close()
    }

    /// Vault-level edits read the stored values themselves: no reader to pass; typed ids work
    /// as selectors do.
    func testCredentialEditsWithoutAReader() throws {
        let vault = try makeVault(on: SimulatedDisk())
        let ids = [
            try create("mail", .usernamePassword, ["username": "bot", "password": "first-password-1"], in: vault)
        ]
        let acme = try XCTUnwrap(vault.read { $0.organization("acme")?.id })
        try vault.updateCredential(
            "mail/main", in: "acme", CredentialUpdate(fields: FieldValues(["username": secret("robot")])), actor: "ops")
        let rotated = FieldValues(["password": secret("second-password-2")])
        let id = ids[0]
        _ = try run("an async rotation by typed ids") {
            try await vault.rotateCredential(id, in: acme, fields: rotated, actor: "ops")
        }
        let fields = try vault.reveal(ids[0])
        XCTAssertEqual(fields["username"], secret("robot"))
        XCTAssertEqual(fields["password"], secret("second-password-2"))
        XCTAssertEqual(vault.read { $0.credential(id: ids[0])?.version }, 3)

        // Typed fields: shown ones as Swift values, secrets as SecureBytes.
        try create(
            "smtp", .smtp,
            [
                "host": "smtp.example.com", "port": "587", "encryption": "starttls", "username": "mailer",
                "password": "smtp-password-1",
            ], isDefault: true, in: vault)
        let mail = try vault.resolveAndReveal(
            ResolutionRequest(appKey: "smtp", context: RunContext(organization: acme)))
        guard case .smtp(let smtp) = try mail.typed else { return XCTFail("not smtp") }
        XCTAssertEqual(smtp.host, "smtp.example.com")
        XCTAssertEqual(smtp.port, 587)
        XCTAssertEqual(smtp.username, "mailer")
        XCTAssertEqual(smtp.password, secret("smtp-password-1"))
        guard case .usernamePassword(let username, _) = try TypedFields(fields, type: .usernamePassword) else {
            return XCTFail("not username_password")
        }
        XCTAssertEqual(username, "robot")
        // Fields a caller gives that are not the type's: its input, not damage.
        assertThrowsCoffer(.invalidInput) { try TypedFields(FieldValues(), type: .apiToken) }
        assertThrowsCoffer(.invalidInput) { try TypedFields(FieldValues(["port": self.secret("x")]), type: .smtp) }
        // A revealed credential whose stored fields are not its type's would be damage.
        let wrong = RevealedCredential(credential: mail.credential, type: .apiToken, fields: FieldValues())
        assertThrowsCoffer(.corrupted) { _ = try wrong.typed }
    }

    /// A bulk load without syncs, then sync() and durable commits, without reopening.
    func testABulkLoadThenDurableCommitsWithoutReopening() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(
            path: path, unlock: .keyFile(key), options: .init(storage: disk, durability: .unsafeNoSync))
        try vault.mutate(actor: "load") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for number in 0..<20 {
            try vault.mutate(actor: "load") { try $0.createProject(in: "acme", slug: "p\(number)", name: "P") }
        }
        XCTAssertNotEqual(disk.durableContents(of: path), disk.contents(of: path), "the load is not synced")
        try vault.sync()
        XCTAssertEqual(disk.durableContents(of: path), disk.contents(of: path), "sync() made it durable")
        try vault.mutate(actor: "load") { try $0.createProject(in: "acme", slug: "late", name: "Late") }
        XCTAssertNotEqual(disk.durableContents(of: path), disk.contents(of: path))
        try vault.setDurability(.synchronous)
        XCTAssertEqual(disk.durableContents(of: path), disk.contents(of: path), "switching synced what came before")
        try vault.mutate(actor: "ops") { try $0.createProject(in: "acme", slug: "durable", name: "Durable") }
        XCTAssertEqual(
            disk.durableContents(of: path), disk.contents(of: path), "a synchronous commit is durable at once")
        // A compaction keeps the durability chosen, not the one the vault was opened with.
        try vault.compact(CompactionOptions(reencrypt: true))
        try vault.mutate(actor: "ops") { try $0.createProject(in: "acme", slug: "after", name: "After") }
        XCTAssertEqual(disk.durableContents(of: path), disk.contents(of: path), "still synchronous after a compaction")
        vault.close()
        var generator = SeededGenerator(seed: 5)
        disk.crash(mode: .loseAllUnsynced, using: &generator)
        let reopened = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        XCTAssertEqual(reopened.read { index in index.projects(in: index.organization("acme")!.id).count }, 23)
        reopened.close()
    }

    /// A failed sync() stops the writer (F-APPEND-STOP): nothing later is acknowledged.
    func testAFailedSyncStopsTheWriter() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(
            path: path, unlock: .keyFile(key), options: .init(storage: disk, durability: .unsafeNoSync))
        defer { vault.close() }
        try vault.mutate(actor: "load") { try $0.createOrganization(slug: "acme", name: "Acme") }
        disk.faultPlan = FaultPlan([.fail(operation: .sync, atCall: disk.callCounts()[.sync] ?? 0, error: .ioError)])
        assertThrowsCoffer(.io(errno: EIO)) { try vault.sync() }
        assertThrowsCoffer(.writerStopped) {
            try vault.mutate(actor: "load") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
        }
        assertThrowsCoffer(.writerStopped) { try vault.sync() }
        assertThrowsCoffer(.writerStopped) { try vault.setDurability(.synchronous) }
    }

    struct PlanRefused: Error, Equatable { let reason: String }

    /// An error the planning closure throws comes back as it was thrown, nothing written.
    func testTheCallersOwnErrorComesBackUnchanged() throws {
        let vault = try makeVault(on: SimulatedDisk())
        let head = vault.head
        let caught = try run("a mutation whose plan throws the caller's error") { () -> PlanRefused? in
            do {
                try await vault.mutate(actor: "ops") { _ -> Plan<Void> in throw PlanRefused(reason: "quota") }
                return nil
            } catch let error as PlanRefused {
                return error
            }
        }
        XCTAssertEqual(caught, PlanRefused(reason: "quota"))
        XCTAssertEqual(vault.head, head)
        let planner = try run("a planner error stays a CofferError") { () -> CofferError.Code? in
            do {
                try await vault.mutate(actor: "ops") { try $0.createOrganization(slug: "acme", name: "Again") }
                return nil
            } catch let error as CofferError {
                return error.code
            }
        }
        XCTAssertEqual(planner, .alreadyExists)
    }

    /// A vault let go of without `close()` after async calls is released when the caller lets
    /// it go: the thread that ran its last call holds nothing of it while it waits for the
    /// next job (it held the job, and so the vault, for its ten idle seconds).
    func testAVaultLetGoOfAfterAsyncCallsIsReleased() throws {
        weak var released: Vault?
        do {
            let vault = try makeVault(on: SimulatedDisk())
            released = vault
            try run("an async mutation") {
                try await vault.mutate(actor: "ops") { try $0.createOrganization(slug: "other", name: "Other") }
            }
        }
        // The job's thread lets go of it as soon as its job returns: well within the ten
        // seconds it then waits for another.
        let deadline = ContinuousClock.now + .seconds(5)
        while released != nil, ContinuousClock.now < deadline { usleep(1_000) }
        XCTAssertNil(released, "a worker thread still holds the vault")
    }

    /// resolveAndReveal reads the version it resolved under the same read of the index; a
    /// reveal of an earlier answer is that version, refused once revoked, deleted or no
    /// longer what its request resolves to.
    func testResolveAndRevealIsOneCheckedStep() throws {
        let vault = try makeVault(on: SimulatedDisk())
        let ids = [try create("exa", .apiToken, ["token": "exa-token-version-1"], isDefault: true, in: vault)]
        let other = [try create("slack", .apiToken, ["token": "slack-token-1"], isDefault: true, in: vault)]
        let acme = try XCTUnwrap(vault.read { $0.organization("acme")?.id })
        let request = ResolutionRequest(appKey: "exa", context: RunContext(organization: acme))
        let revealed = try run("async resolve and reveal") { try await vault.resolveAndReveal(request) }
        XCTAssertEqual(revealed.credential.id, ids[0])
        XCTAssertEqual(revealed.credential.version, 1)
        XCTAssertEqual(revealed.fields["token"], secret("exa-token-version-1"))
        guard case .apiToken(let typedToken) = try revealed.typed else { return XCTFail("not an api_token") }
        XCTAssertEqual(typedToken, secret("exa-token-version-1"))

        // Rotated since: the answer still reveals the version it resolved.
        let answer = revealed.credential
        try vault.mutate(actor: "ops") {
            try $0.rotateCredential(
                "exa/main", in: "acme", fields: FieldValues(["token": secret("exa-token-version-2")]),
                reveal: { location throws(CofferError) in try vault.readOperation(at: location) })
        }
        XCTAssertEqual(try vault.reveal(answer)["token"], secret("exa-token-version-1"))
        XCTAssertEqual(try vault.resolveAndReveal(request).fields["token"], secret("exa-token-version-2"))
        // An answer whose id was changed names a credential its request does not resolve to.
        var forged = answer
        forged.id = other[0]
        assertThrowsCoffer(.conflict) { try vault.reveal(forged) }
        var made = answer
        made.request = nil
        assertThrowsCoffer(.invalidInput) { try vault.reveal(made) }
        // Revoked since: refused.
        try vault.mutate(actor: "ops") { try $0.revokeCredential("exa/main", in: "acme") }
        assertThrowsCoffer(.credentialRevoked) { try vault.reveal(answer) }
        assertThrowsCoffer(.credentialMissing) { try vault.resolveAndReveal(request) }
        try vault.mutate(actor: "ops") { try $0.deleteCredential("exa/main", in: "acme") }
        assertThrowsCoffer(.notFound) { try vault.reveal(answer) }
    }
}
