import CofferFormat
import CofferSimulation
import CofferTestSupport
import Dispatch
import Foundation
import XCTest

@testable import Coffer
@testable import CofferStorage

/// Compaction, data-key and master-key rotation at the engine level: the state survives
/// exactly, old keys leave the file, writers beside it lose nothing, and a crash at any call
/// of it leaves one complete vault.
final class CompactionTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8(200 - $0) })
    static func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    /// A vault with churn: credentials created, rotated, updated, deleted, revoked, defaults,
    /// assignments, a removed project, API keys.
    func makeChurnedVault(on disk: SimulatedDisk, seed: UInt64 = 7) throws -> Vault {
        try makeChurnedVault(at: path, options: .init(storage: disk), seed: seed)
    }

    /// The churned vault, at `path` opened with `options`.
    func makeChurnedVault(at path: String, options: Vault.Options, seed: UInt64 = 7) throws -> Vault {
        var random = SeededGenerator(seed: seed)
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: options)
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for project in ["web", "data", "old"] {
            try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: project, name: project) }
        }
        for user in ["alice", "bob"] {
            try vault.mutate(actor: "setup") { try $0.createUser(handle: user, displayName: user.capitalized) }
            try vault.mutate(actor: "setup") {
                try $0.addMember(user, to: "acme", role: user == "alice" ? .owner : .builder)
            }
        }
        for index in 0..<30 {
            let app = ["exa", "slack", "linear", "github"][index % 4]
            let scope: ScopeTarget = [.organization, .project("web"), .project("old"), .user("bob")][
                Int(random.next() % 4)]
            let draft = CredentialDraft(
                appKey: app, slug: "s\(index)", label: "\(app) \(index)", type: .apiToken,
                fields: FieldValues(["token": Self.secret("token-\(index)-\(random.next())")]),
                isDefault: index % 3 == 0)
            _ = try vault.mutate(actor: index % 2 == 0 ? "alice" : "bob") {
                try $0.createCredential(in: "acme", draft, scopes: [scope])
            }
        }
        let ids = vault.read { index in
            index.organization("acme").map {
                index.credentials(matching: CredentialFilter(organization: $0.id)).map(\.id)
            } ?? []
        }
        for (position, id) in ids.enumerated() {
            switch position % 6 {
            case 0, 1:
                for round in 0..<3 {
                    try vault.mutate(actor: "alice") {
                        try $0.rotateCredential(
                            id.description, in: "acme",
                            fields: FieldValues(["token": Self.secret("rotated-\(round)-\(position)")]),
                            reveal: vault.readOperation)
                    }
                }
            case 2: _ = try vault.mutate(actor: "alice") { try $0.deleteCredential(id.description, in: "acme") }
            case 3: try vault.mutate(actor: "bob") { try $0.revokeCredential(id.description, in: "acme") }
            case 4:
                try vault.mutate(actor: "alice") {
                    try $0.assign(
                        id.description, to: AssignmentTarget(kind: .agent, slug: "triage", consumer: "c\(position)"),
                        in: "acme")
                }
            default:
                try vault.mutate(actor: "alice") {
                    try $0.updateCredential(
                        id.description, in: "acme", CredentialUpdate(label: "relabeled \(position)"),
                        reveal: vault.readOperation)
                }
            }
        }
        _ = try vault.mutate(actor: "alice") { try $0.removeProject("old", in: "acme") }
        let key = try vault.createAPIKey(in: "acme", creator: "bob", name: "ci")
        _ = try vault.createAPIKey(in: "acme", creator: "alice", name: "ops")
        try vault.mutate(actor: "alice") { try $0.revokeAPIKey(key.id, in: "acme", actingUser: "alice") }
        return vault
    }

    /// Everything a caller can see, rendered canonically, record locations left out; every
    /// retained version revealed (as a digest, so no secret lands in a failure message).
    func fingerprint(_ vault: Vault) throws -> [String] {
        var lines: [String] = []
        let snapshot = vault.read { index -> [(CredentialID, [UInt32])] in
            for organization in index.organizations() {
                lines.append("org \(organization)")
                for project in index.projects(in: organization.id) { lines.append("project \(project)") }
                for membership in index.memberships(in: organization.id) { lines.append("member \(membership)") }
                for assignment in index.assignments(organization: organization.id) {
                    lines.append("assignment \(assignment)")
                }
                for user in index.users() {
                    if let keys = try? index.apiKeys(organization: organization.id, visibleTo: user.id) {
                        lines.append("keys for \(user.handle): \(keys)")
                    }
                }
            }
            for user in index.users() { lines.append("user \(user)") }
            var credentials: [(CredentialID, [UInt32])] = []
            for organization in index.organizations() {
                let filter = CredentialFilter(organization: organization.id, includesRevoked: true)
                for credential in index.credentials(matching: filter) {
                    lines.append("credential \(credential)")
                    for change in index.history(of: credential.id) { lines.append("  change \(change)") }
                    let versions = index.versions(of: credential.id)
                    lines.append("  versions \(versions.map { "\($0.version) \($0.kind) \($0.stamp)" })")
                    credentials.append((credential.id, versions.map(\.version)))
                }
            }
            let statistics = index.statistics()
            // Dictionaries print in no fixed order; sort them.
            lines.append(
                "statistics \(statistics.organizations) \(statistics.projects) \(statistics.users) \(statistics.memberships) "
                    + "\(statistics.credentials) \(statistics.revokedCredentials) \(statistics.defaults) \(statistics.assignments) "
                    + "\(statistics.retainedVersions) \(statistics.apiKeys) \(statistics.activeAPIKeys) "
                    + "\(statistics.credentialsByType.map { "\($0.key)=\($0.value)" }.sorted()) "
                    + "\(statistics.credentialsByScope.map { "\($0.key)=\($0.value)" }.sorted())")
            return credentials
        }
        for (id, versions) in snapshot {
            for version in versions {
                let fields = try vault.reveal(id, version: version)
                let digest = fields.names.map { name in
                    "\(name)=" + Hex.encode(fields[name]!.withUnsafeBytes { Blake2b.hash(Array($0)) })
                }
                lines.append("reveal \(id) v\(version) \(digest)")
            }
        }
        // Record locations change with the file; everything else must not.
        let location = try Regex(#", (currentLocation|location): [0-9]+@[0-9]+#[0-9]+"#)
        return lines.map { $0.replacing(location, with: "") }
    }

    /// Compares fingerprints and names the first difference, instead of printing them whole.
    func assertSameState(
        _ actual: [String], _ expected: [String], _ context: String = "", file: StaticString = #filePath,
        line: UInt = #line
    ) {
        guard actual != expected else { return }
        let index =
            zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(actual.count, expected.count)
        XCTFail(
            "state differs at line \(index) of \(expected.count) (\(actual.count) now) \(context): expected «\(index < expected.count ? expected[index] : "end")», found «\(index < actual.count ? actual[index] : "end")»",
            file: file, line: line)
    }

    /// A walk over the live state (statistics, compaction) whose credentials keep an older
    /// version in a big compacted record and the current one in a small record of its own goes
    /// back and forth between them: each record must be opened about once, not once per
    /// credential (which made `inspect` on a 100k vault take half a minute).
    func testAWalkOpensEachRecordAboutOnce() throws {
        let disk = SimulatedDisk()
        var vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let count = 300
        for index in 0..<count {
            let draft = CredentialDraft(
                appKey: "app\(index)", slug: "main", label: "App \(index)", type: .apiToken,
                fields: FieldValues(["token": Self.secret("token-\(index)-first-value")]))
            try vault.mutate(actor: "setup") { try $0.createCredential(in: "acme", draft) }
        }
        _ = try vault.compact()
        for index in 0..<count {
            try vault.mutate(actor: "setup") {
                try $0.rotateCredential(
                    "app\(index)/main", in: "acme", fields: FieldValues(["token": Self.secret("token-\(index)-second")])
                ) { location throws(CofferError) in try vault.readOperation(at: location) }
            }
        }
        vault.close()
        vault = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        defer { vault.close() }
        let records = Int(vault.head.sequence)
        let before = disk.callCounts()[.read, default: 0]
        let statistics = try vault.statistics()
        let reads = disk.callCounts()[.read, default: 0] - before
        print("statistics over \(records) records read the disk \(reads) times")
        XCTAssertGreaterThan(statistics.liveBytes, 0)
        // Each record is a read or two (header, body); with one record cached the compacted
        // records were read again for every credential, about \(count) more.
        XCTAssertLessThan(reads, 2 * records + 20, "records were opened again and again")
    }

    /// A compaction with nothing to reclaim leaves the vault as it is when asked to; one that
    /// is cancelled stops before its switch and removes its new file; progress goes forward.
    func testSkipCancelAndProgress() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        defer { vault.close() }
        // A churned vault shrinks, and reports its progress up to the estimate.
        let seen = Locked<[CompactionProgress]>([])
        let first = try vault.compact(
            CompactionOptions(skipsUnlessSmaller: true, progress: { p in seen.withLock { $0.append(p) } }))
        XCTAssertFalse(first.skipped)
        XCTAssertLessThan(first.bytesAfter, first.bytesBefore)
        let steps = seen.withLock { $0 }
        XCTAssertFalse(steps.isEmpty)
        XCTAssertEqual(steps.map(\.records), Array(1...UInt64(steps.count)))
        XCTAssertEqual(steps.last?.operations, steps.last?.operationsTotal)
        XCTAssertEqual(steps.last?.bytes, first.bytesAfter)
        // Compacted just now: nothing to reclaim, the file stays byte for byte.
        let compacted = disk.contents(of: path)
        let second = try vault.compact(CompactionOptions(skipsUnlessSmaller: true))
        XCTAssertTrue(second.skipped)
        XCTAssertEqual(second.head, vault.head)
        XCTAssertEqual(disk.contents(of: path), compacted)
        // Beside the vault: only the index checkpoint the first compaction wrote.
        XCTAssertEqual(
            disk.paths().filter { $0 != path }, [path + ".checkpoint"], "a skipped compaction left its new file")
        // Re-encryption always rewrites.
        XCTAssertFalse(try vault.compact(CompactionOptions(reencrypt: true, skipsUnlessSmaller: true)).skipped)
        // Cancelled after the first record: nothing changes, the new file goes, writes go on.
        let before = disk.contents(of: path)
        let calls = Locked(0)
        let error = try XCTUnwrap(
            assertThrowsCoffer(.cancelled) {
                try vault.compact(
                    CompactionOptions(isCancelled: {
                        calls.withLock {
                            $0 += 1
                            return $0 > 1
                        }
                    }))
            })
        XCTAssertTrue(error.message.contains("as it was"))
        XCTAssertEqual(disk.contents(of: path), before)
        XCTAssertEqual(
            disk.paths().filter { $0 != path }, [path + ".checkpoint"], "a cancelled compaction left its new file")
        try vault.mutate(actor: "after") { try $0.createOrganization(slug: "later", name: "Later") }
    }

    func testCompactionKeepsTheStateExactlyAndShrinksTheFile() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        let before = try fingerprint(vault)
        let statisticsBefore = try vault.statistics()
        XCTAssertGreaterThan(statisticsBefore.deadShare, 0.2)
        let report = try vault.compact()
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore)
        assertSameState(try fingerprint(vault), before)
        let head = vault.head
        XCTAssertEqual(report.head, head)
        vault.close()
        let reopened = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        assertSameState(try fingerprint(reopened), before)
        XCTAssertEqual(try reopened.statistics().deadBytes, 0)
        XCTAssertTrue(try Vault.verify(path: path, unlock: .keyFile(key), expectedHead: head, storage: disk).isClean)
    }

    /// The file a compaction renames over the vault, and the checkpoint beside it, take the
    /// vault's owner's and group's permission bits (never others'), and its owner and group
    /// where this process may give them (as root): a service user that opened the vault before
    /// still opens it after an operator's compaction.
    func testACompactedVaultAndItsCheckpointKeepTheVaultsOwnerAndMode() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("team.coffer")
        try makeChurnedVault(at: path, options: Vault.Options()).close()
        XCTAssertEqual(chmod(path, 0o640), 0)
        let isRoot = geteuid() == 0
        // `nobody`, or this process's own user when it cannot give a file away.
        let owner: (uid_t, gid_t) = isRoot ? (65534, 65534) : (geteuid(), getegid())
        XCTAssertEqual(chown(path, owner.0, owner.1), 0)
        func assertOwnerAndMode(_ file: String, _ step: String) {
            var information = stat()
            XCTAssertEqual(stat(file, &information), 0, step)
            XCTAssertEqual(information.st_mode & 0o777, 0o640, "\(step): mode of \(file)")
            XCTAssertEqual(information.st_uid, owner.0, "\(step): owner of \(file)")
            XCTAssertEqual(information.st_gid, owner.1, "\(step): group of \(file)")
        }
        let vault = try Vault.open(path: path, unlock: .keyFile(key))
        defer { vault.close() }
        _ = try vault.checkpoint()
        assertOwnerAndMode(path + ".checkpoint", "checkpoint")
        _ = try vault.compact()
        assertOwnerAndMode(path, "compaction")
        assertOwnerAndMode(path + ".checkpoint", "compaction's checkpoint")
        _ = try vault.compact(CompactionOptions(newMasterKey: true))
        assertOwnerAndMode(path, "master key rotation")
        // Others' bits are never kept: a world-readable vault comes out readable by its group.
        XCTAssertEqual(chmod(path, 0o644), 0)
        _ = try vault.compact()
        assertOwnerAndMode(path, "a compaction of a world-readable vault")
    }

    /// A vault that maps its file (`mapsLog`) reveals every version a vault reading the file
    /// reveals, before and after a compaction (whose new file it maps in turn), and after
    /// commits on top of that.
    func testAVaultMappingItsFileRevealsWhatAVaultReadingItReveals() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("team.coffer")
        var options = Vault.Options()
        options.mapsLog = true
        let vault = try makeChurnedVault(at: path, options: options)
        defer { vault.close() }
        func assertSameAsAReaderOfTheFile(_ step: String) throws {
            let reader = try Vault.open(path: path, unlock: .keyFile(key), options: .init(readOnly: true))
            defer { reader.close() }
            assertSameState(try fingerprint(vault), try fingerprint(reader), step)
            // The mapped vault's reveals (the fingerprint reveals every version) came through
            // its mapping, not the file: its cache of sealed frames holds none of them.
            let store = vault.store
            XCTAssertNotNil(store.mapping, step)
            let locations = vault.read { index in
                index.organizations().flatMap { organization in
                    let filter = CredentialFilter(organization: organization.id, includesRevoked: true)
                    return index.credentials(matching: filter).flatMap { credential in
                        index.versions(of: credential.id).compactMap {
                            index.location(of: credential.id, version: $0.version)
                        }
                    }
                }
            }
            XCTAssertFalse(locations.isEmpty, step)
            for location in locations {
                XCTAssertTrue(
                    store.frameCache.frame(at: location.offset) == nil, "\(step): \(location) read from the file")
            }
        }
        try assertSameAsAReaderOfTheFile("churned")
        _ = try vault.compact()
        try assertSameAsAReaderOfTheFile("compacted")
        let id = try XCTUnwrap(
            vault.read { index in
                index.organization("acme").flatMap {
                    index.credentials(matching: CredentialFilter(organization: $0.id)).first?.id
                }
            })
        try vault.mutate(actor: "alice") {
            try $0.rotateCredential(
                id.description, in: "acme", fields: FieldValues(["token": Self.secret("after the compaction")]),
                reveal: vault.readOperation)
        }
        try assertSameAsAReaderOfTheFile("rotated after the compaction")
        XCTAssertEqual(try vault.reveal(id)["token"], Self.secret("after the compaction"))
    }

    func testRotationThenReencryptingCompactionRetiresTheOldEpochAndErasesItsKey() throws {
        let disk = SimulatedDisk()
        let vault = try makeChurnedVault(on: disk)
        // The key of epoch 1, learnt as an attacker holding the master key would.
        var oldKey: [UInt8] = []
        let store = vault.store
        try store.forEachRecord { record in
            if record.type == .keyEpoch, let payload = KeyEpochPayload.decode(record.payload!), payload.epoch == 1 {
                oldKey = payload.dataKey.withUnsafeBytes { Array($0) }
            }
        }
        XCTAssertEqual(oldKey.count, 32)
        XCTAssertEqual(try vault.rotateDataKey(), 2)
        let before = try fingerprint(vault)
        let report = try vault.compact(CompactionOptions(reencrypt: true))
        XCTAssertEqual(report.retiredEpochs, [1, 2])
        XCTAssertEqual(report.currentEpoch, 3)
        assertSameState(try fingerprint(vault), before)
        let statistics = try vault.statistics()
        for epoch in statistics.epochs where epoch.state == .retired { XCTAssertEqual(epoch.liveRecords, 0) }
        XCTAssertEqual(statistics.epochs.map(\.state), [.retired, .retired, .current])
        XCTAssertFalse(contains(disk.contents(of: path)!, oldKey), "the retired epoch's key is still in the file")
        vault.close()
        XCTAssertTrue(try Vault.verify(path: path, unlock: .keyFile(key), storage: disk).isClean)
    }

    func testMasterKeyRotationKeepsEveryUnlockSecretAndAPIKey() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try vault.mutate(actor: "setup") { try $0.createUser(handle: "alice", displayName: "Alice") }
        try vault.mutate(actor: "setup") { try $0.addMember("alice", to: "acme", role: .owner) }
        let apiKey = try vault.createAPIKey(in: "acme", creator: "alice", name: "ci")
        let passphrase = Vault.Unlock.passphrase(Self.secret("correct horse"))
        try vault.addKeyslot(passphrase, cost: .minimum)
        let before = try fingerprint(vault)
        _ = try vault.compact(CompactionOptions(newMasterKey: true))
        XCTAssertNoThrow(try vault.checkAPIKey(apiKey.secret))
        vault.close()
        for unlock in [Vault.Unlock.keyFile(key), passphrase] {
            let reopened = try Vault.open(path: path, unlock: unlock, options: .init(storage: disk, readOnly: true))
            assertSameState(try fingerprint(reopened), before)
            XCTAssertEqual(
                try reopened.checkAPIKey(apiKey.secret).organization, reopened.read { $0.organization("acme")!.id })
        }
    }

    func testWritersBesideACompactionLoseNothing() throws {
        let directory = "/tmp/coffer-compaction-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        defer {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                unlink("\(directory)/\(name)")
            }
            rmdir(directory)
        }
        let vault = try Vault.create(path: "\(directory)/v.coffer", unlock: .keyFile(key))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        for index in 0..<200 {
            _ = try vault.mutate(actor: "setup") {
                try $0.createCredential(
                    in: "acme",
                    CredentialDraft(
                        appKey: "app\(index % 9)", slug: "pre\(index)", label: "x", type: .apiToken,
                        fields: FieldValues(["token": Self.secret("t\(index)")])))
            }
        }
        let acme = vault.read { $0.organization("acme")!.id }
        let written = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            switch worker {
            case 0:
                for round in 0..<3 {
                    do { _ = try vault.compact() } catch { XCTFail("compaction \(round): \(error)") }
                }
            case 1, 2:
                for index in 0..<60 {
                    let slug = "w\(worker)-\(index)"
                    do {
                        _ = try vault.mutate(actor: "w") {
                            try $0.createCredential(
                                in: "acme",
                                CredentialDraft(
                                    appKey: "live", slug: slug, label: "x", type: .apiToken,
                                    fields: FieldValues(["token": CompactionTests.secret(slug)])))
                        }
                        written.withLock { $0.append(slug) }
                    } catch { XCTFail("writer \(worker): \(error)") }
                }
            default:
                for _ in 0..<300 {
                    let count = vault.read { $0.credentials(matching: CredentialFilter(organization: acme)).count }
                    XCTAssertGreaterThanOrEqual(count, 200)
                }
            }
        }
        let slugs = Set(
            vault.read { $0.credentials(matching: CredentialFilter(organization: acme, appKey: "live")).map(\.slug) })
        XCTAssertEqual(slugs, Set(written.withLock { $0 }))
        vault.close()
        let reopened = try Vault.open(
            path: "\(directory)/v.coffer", unlock: .keyFile(key), options: .init(readOnly: true))
        XCTAssertEqual(
            reopened.read { $0.credentials(matching: CredentialFilter(organization: acme)).count }, 200 + 120)
        let selected = try reopened.read { (index: borrowing VaultIndex) throws(CofferError) in
            try index.selectCredential("live/w1-59", in: acme)
        }
        XCTAssertEqual(try reopened.reveal(selected)["token"], Self.secret("w1-59"))
    }

    /// A crash after every write, sync, rename and directory sync a compaction makes, in every
    /// crash mode: the vault opens with the state from before or after (the same state), the
    /// temporary file is gone, verification is clean.
    func testACrashAtEveryCallOfACompactionLeavesOneCompleteVault() throws {
        var states = 0
        for options in [
            CompactionOptions(reencrypt: true), CompactionOptions(newMasterKey: true),
            CompactionOptions(newUnlockKey: true),
        ] {
            let probe = SimulatedDisk()
            let vault = try makeChurnedVault(on: probe)
            let start = probe.callCounts()
            _ = try vault.compact(options)
            let end = probe.callCounts()
            vault.close()
            for operation in [SimulatedDisk.Operation.write, .sync, .rename, .syncDirectory, .open] {
                let calls = (end[operation] ?? 0) - (start[operation] ?? 0)
                for call in 0..<calls {
                    for mode in CrashMode.allCases {
                        var random = SeededGenerator(seed: UInt64(call) &* 31 &+ UInt64(states))
                        let disk = SimulatedDisk()
                        let churned = try makeChurnedVault(on: disk)
                        let expected = try fingerprint(churned)
                        disk.armCrash(after: operation, atCall: (start[operation] ?? 0) + call)
                        _ = try? churned.compact(options)
                        churned.close()
                        disk.crash(mode: mode, using: &random)
                        let context =
                            "crash after \(operation) #\(call) of the compaction (new master key: \(options.newMasterKey), new unlock key: \(options.newUnlockKey)), \(mode)"
                        let reopened = try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk))
                        assertSameState(try fingerprint(reopened), expected, context)
                        XCTAssertEqual(disk.paths().filter { $0.contains(".compact-") }, [], context)
                        reopened.close()
                        XCTAssertTrue(
                            try Vault.verify(path: path, unlock: .keyFile(key), storage: disk).isClean, context)
                        states += 1
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(states, 40)
        print("compaction crash states tried: \(states)")
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }
}
