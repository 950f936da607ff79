import CofferCrypto
import CofferErrors
import CofferFormat
import CofferTestSupport
import XCTest

@testable import CofferModel

/// Compaction in the model: the transactions `compactionTransactions` streams, replayed into
/// an empty index, rebuild the index exactly (every query, every revealed value), and only
/// the live state.
final class CompactionTests: XCTestCase {
    /// A compacted vault: its index and log, and what the stream looked like.
    struct Compacted {
        var vault: TestVault
        var transactions: [[ModelOperation]] = []
        var payloadBytes: [Int] = []
        /// Reads done before the first transaction was handed over, and in all.
        var readsBeforeFirstTransaction = 0
        var reads = 0

        var operations: [ModelOperation] { transactions.flatMap { $0 } }
    }

    /// Compacts `source` as the engine does: every transaction is encoded, its operations
    /// decoded again and applied to a fresh index at their new locations. Checks the size
    /// target on the way.
    static func compact(
        _ source: TestVault, bytesTarget: Int = VaultIndex.compactionTransactionBytesTarget,
        operationsMax: Int = VaultIndex.operationsPerTransactionMax,
        createdTogetherMin: Int = VaultIndex.compactionCreatedTogetherMin, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> Compacted {
        var compacted = Compacted(vault: TestVault(seed: 0))
        compacted.vault.time = source.time
        var reads = 0
        let reader: OperationReader = { location throws(CofferError) in
            reads += 1
            return try source.read(location)
        }
        try source.index.compactionTransactions(
            reader: reader, transactionBytesTarget: bytesTarget, operationsPerTransactionMax: operationsMax,
            createdTogetherMin: createdTogetherMin
        ) { transaction throws(CofferError) in
            if compacted.transactions.isEmpty { compacted.readsBeforeFirstTransaction = reads }
            // OP-COMPACT-CREATED: credentials created together keep their own stamp, and
            // nothing else shares their transactions.
            let createdTogether = transaction.operations.allSatisfy {
                if case .createCredential = $0 { true } else { false }
            }
            if !createdTogether {
                XCTAssertEqual(transaction.actor, VaultIndex.compactionActor, file: file, line: line)
            }
            let encoded = transaction.operations.map { $0.encode() }
            let payload = TransactionPayload(
                timeMilliseconds: transaction.timeMilliseconds, actor: transaction.actor, operations: encoded
            ).encode()!
            XCTAssertTrue(
                payload.count <= (createdTogether ? VaultIndex.compactionCreatedTogetherBytesTarget : bytesTarget)
                    || transaction.operations.count == 1,
                "a payload of \(payload.count) bytes and \(transaction.operations.count) operations", file: file,
                line: line)
            XCTAssertLessThanOrEqual(transaction.operations.count, operationsMax, file: file, line: line)
            for (operation, bytes) in zip(transaction.operations, encoded) {
                XCTAssertEqual(operation.encodedBodyByteCount, bytes.body.count, "\(operation)", file: file, line: line)
            }
            var decoded: [ModelOperation] = []
            for operation in encoded { decoded.append(try ModelOperation.decode(operation).get()) }
            XCTAssertEqual(decoded, transaction.operations, file: file, line: line)
            let sequence = UInt64(compacted.vault.log.count + 1)
            let context = TransactionContext(
                sequence: sequence, offset: 8192 + sequence * 4096, timeMilliseconds: transaction.timeMilliseconds,
                actor: transaction.actor)
            try compacted.vault.index.apply(decoded, context: context)
            compacted.vault.log.append(encoded)
            compacted.vault.contexts.append(context)
            compacted.transactions.append(transaction.operations)
            compacted.payloadBytes.append(payload.count)
        }
        compacted.reads = reads
        return compacted
    }

    /// Asserts that two vaults answer every query the same and reveal the same values for
    /// every retained version.
    static func assertSameState(
        _ compacted: TestVault, _ original: TestVault, _ tag: String, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let expected = fingerprint(of: original.index)
        let actual = fingerprint(of: compacted.index)
        XCTAssertTrue(
            actual == expected, "\(tag): fingerprints differ at \(firstDifference(expected, actual))", file: file,
            line: line)
        var revealed = 0
        for organization in original.index.organizations() {
            for credential in original.index.credentials(matching: CredentialFilter(organization: organization.id)) {
                for version in original.index.versions(of: credential.id) {
                    let before = try original.revealed(credential.id, version: version.version)
                    let after = try compacted.revealed(credential.id, version: version.version)
                    XCTAssertTrue(
                        before == after, "\(tag): version \(version.version) of \(credential.id) reveals differently",
                        file: file, line: line)
                    revealed += 1
                }
                XCTAssertTrue(
                    try original.revealed(credential.id) == compacted.revealed(credential.id),
                    "\(tag): the current version of \(credential.id) reveals differently", file: file, line: line)
            }
        }
        XCTAssertEqual(revealed, original.index.statistics().retainedVersions, tag, file: file, line: line)
    }

    /// Asserts that the compacted log holds only the live state: no operation names an
    /// identifier that is not live any more, the index keeps no unreachable history or free
    /// slot, and no version let go left its values.
    static func assertNoTrace(_ compacted: Compacted, of original: TestVault, _ tag: String) throws {
        var everCreated: [[UInt8]: String] = [:]
        for transaction in original.log {
            for encoded in transaction {
                switch try ModelOperation.decode(encoded).get() {
                case .createOrganization(let id, _, _): everCreated[id.bytes] = "\(id)"
                case .createProject(let id, _, _, _): everCreated[id.bytes] = "\(id)"
                case .createUser(let id, _, _): everCreated[id.bytes] = "\(id)"
                case .createCredential(let new): everCreated[new.id.bytes] = "\(new.id)"
                case .createAPIKey(let new): everCreated[new.id.bytes] = "\(new.id)"
                default: break
                }
            }
        }
        let index = original.index
        // A revoked API key keeps its creator's id after the user is removed, for the audit
        // trail: that id is live data.
        for key in index.tables.apiKeys.values { everCreated[key.creator.bytes] = nil }
        let dead = everCreated.filter { bytes, _ in
            index.organization(id: OrganizationID(bytes: bytes)!) == nil
                && index.project(id: ProjectID(bytes: bytes)!) == nil
                && index.user(id: UserID(bytes: bytes)!) == nil
                && index.credential(id: CredentialID(bytes: bytes)!) == nil
                && index.apiKey(id: APIKeyID(bytes: bytes)!) == nil
        }
        for transaction in compacted.vault.log {
            for operation in transaction {
                let body = operation.body.withUnsafeBytes { Array($0) }
                for (bytes, name) in dead where contains(body, bytes) {
                    XCTFail("\(tag): the compacted log names \(name), which is gone")
                }
            }
        }
        let tables = compacted.vault.index.tables
        XCTAssertEqual(tables.history.count, tables.liveHistoryCount, "\(tag): unreachable history entries")
        XCTAssertTrue(tables.freeSlots.isEmpty, "\(tag): free credential slots")
        // One readable version per restore credential or restore version operation, and
        // nothing else carries values.
        let valueCarriers = compacted.operations.count {
            switch $0 {
            case .restoreCredential, .restoreVersion, .createCredential: true
            default: false
            }
        }
        XCTAssertEqual(valueCarriers, index.statistics().retainedVersions, tag)
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }

    // MARK: - Random workloads

    /// The randomized workload of `RandomizedModelTests` (every kind of change, cascades,
    /// retention lowered and raised, revoked keys of removed users, assignments of revoked
    /// credentials), compacted at the default target and at a tiny one that splits
    /// histories; then compacted again, and then driven further on both sides.
    func testRandomWorkloadsCompactExactly() throws {
        for seed: UInt64 in [11, 12, 13, 0xC0FFEE] {
            var run = RandomizedModelTests.start(seed: seed)
            for step in 0..<300 {
                run.step = step
                RandomizedModelTests.randomAction(&run)
            }
            let original = run.vault
            // Credentials with changes before their current version: at a target too small for
            // more than the newest stretch, each has its history split.
            let longer = original.index.organizations().flatMap {
                original.index.credentials(matching: CredentialFilter(organization: $0.id))
            }.count { (original.index.history(of: $0.id).lastIndex { $0.kind.makesVersion } ?? 0) > 0 }
            for (bytesTarget, createdTogetherMin) in [
                (VaultIndex.compactionTransactionBytesTarget, VaultIndex.compactionCreatedTogetherMin),
                (100, VaultIndex.compactionCreatedTogetherMin), (VaultIndex.compactionTransactionBytesTarget, 1),
                (200, 2),
            ] {
                let tag = "seed \(seed) target \(bytesTarget) created together \(createdTogetherMin)"
                let compacted = try Self.compact(
                    original, bytesTarget: bytesTarget, createdTogetherMin: createdTogetherMin)
                try Self.assertSameState(compacted.vault, original, tag)
                try Self.assertNoTrace(compacted, of: original, tag)
                XCTAssertEqual(
                    fingerprint(of: try compacted.vault.replayed()), fingerprint(of: compacted.vault.index), tag)
                let estimate = original.index.compactionEstimate
                XCTAssertLessThanOrEqual(estimate.liveOperations, compacted.operations.count, tag)
                if bytesTarget == VaultIndex.compactionTransactionBytesTarget {
                    // With room for every history, the estimate is the exact operation count.
                    XCTAssertEqual(estimate.liveOperations, compacted.operations.count, tag)
                } else if bytesTarget == 100 {
                    let histories = compacted.operations.count {
                        if case .restoreCredentialHistory = $0 { true } else { false }
                    }
                    XCTAssertGreaterThanOrEqual(histories, longer, "\(tag): histories were not split")
                }
                // Compacting the compacted vault writes the same operations: the restored
                // state is the state, and restore operations reveal like the originals.
                let again = try Self.compact(
                    compacted.vault, bytesTarget: bytesTarget, createdTogetherMin: createdTogetherMin)
                XCTAssertEqual(again.transactions, compacted.transactions, "\(tag): a second compaction differs")
                print(
                    "\(tag): \(original.log.count) transactions, \(original.log.joined().count) operations → "
                        + "\(compacted.transactions.count) transactions, \(compacted.operations.count) operations")
            }

            // The compacted index goes on exactly like the original: later transactions apply
            // to both and leave them equal.
            var compacted = try Self.compact(original).vault
            run.action = "after compaction"
            for step in 300..<450 {
                run.step = step
                let before = run.vault.log.count
                RandomizedModelTests.randomAction(&run)
                for (operations, context) in zip(run.vault.log[before...], run.vault.contexts[before...]) {
                    let sequence = UInt64(compacted.log.count + 1)
                    let moved = TransactionContext(
                        sequence: sequence, offset: 8192 + sequence * 4096, timeMilliseconds: context.timeMilliseconds,
                        actor: context.actor)
                    try compacted.index.apply(operations.map { try ModelOperation.decode($0).get() }, context: moved)
                    compacted.log.append(operations)
                    compacted.contexts.append(moved)
                }
            }
            try Self.assertSameState(compacted, run.vault, "seed \(seed) after further changes")
        }
    }

    // MARK: - Every kind of credential, long histories

    /// Every credential type with partial edits and rotations (multi-field change masks),
    /// retention lowered and raised (versions let go below kept ones), a long history, revoked
    /// credentials still assigned, defaults at several scopes, keys of a removed user.
    static func richVault() throws -> Fixture {
        var fixture = try Fixture(seed: 21)
        func commit<Value>(_ plan: (Planner) throws -> Plan<Value>, actor: String = "cli") throws -> Value {
            try fixture.vault.commit(plan(fixture.vault.planner), actor: actor)
        }
        let smtp = try commit(
            {
                try $0.createCredential(
                    in: "acme",
                    CredentialDraft(
                        appKey: "mail", slug: "out", label: "Outbound", type: .smtp, category: .communication,
                        fields: fields([
                            "host": "smtp.example.com", "port": "587", "username": "bot", "password": "pw-0000000001",
                            "encryption": "starttls",
                        ]), isDefault: true), scopes: [.organization, .project("web")])
            }, actor: "alice")
        let oauth = try commit(
            {
                try $0.createCredential(
                    in: "acme",
                    CredentialDraft(
                        appKey: "linear", slug: "team", label: "Linear", kind: .oauthManaged, type: .oauth2,
                        category: .mcpService,
                        fields: fields([
                            "client_id": "client-1", "client_secret": "cs-000000000001",
                            "access_token": "at-00000000001",
                            "refresh_token": "rt-00000000001", "scopes": "read write",
                        ])), scopes: [.user("bob")])
            }, actor: "bob")
        let custom = try commit({
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "vendor", slug: "json", label: "Vendor", type: .custom,
                    fields: fields(["json": #"{"api_key": "k-0001", "region": "eu"}"#])), scopes: [.project("web")])
        })
        let ssh = try commit(
            {
                try $0.createCredential(
                    in: "globex",
                    CredentialDraft(
                        appKey: "deploy", slug: "key", label: "Deploy key", type: .sshKey, category: .runtime,
                        fields: fields([
                            "private_key":
                                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
                            "public_key": "ssh-ed25519 AAAAC3Nz deploy",
                        ])))
            }, actor: "erin")
        // Partial edits and rotations on the SMTP credential: change masks of one and two fields.
        for round in 1...6 {
            var update = CredentialUpdate(fields: fields(["password": "pw-\(round)-abcdefgh"]))
            if round % 2 == 0 { update.fields["port"] = secret("\(2500 + round)") }
            _ = try commit(
                {
                    try $0.updateCredential(smtp[0].description, in: "acme", update, reveal: fixture.vault.read)
                }, actor: round % 2 == 0 ? "carol" : "alice")
        }
        _ = try commit(
            {
                try $0.rotateCredential(
                    oauth[0].description, in: "acme",
                    fields: fields(["access_token": "at-00000000002", "refresh_token": "rt-00000000002"]),
                    reveal: fixture.vault.read)
            }, actor: "bob")
        _ = try commit({
            try $0.updateCredential(
                oauth[0].description, in: "acme", CredentialUpdate(clearedFields: ["scopes"]),
                reveal: fixture.vault.read)
        })
        // Retention down to 2 and back up to 5: older versions stay let go below new ones.
        _ = try commit({ try $0.setVersionRetention(2) })
        _ = try commit({ try $0.setVersionRetention(5) })
        for round in 1...3 {
            _ = try commit(
                {
                    try $0.rotateCredential(
                        smtp[1].description, in: "acme", fields: fields(["password": "pw-web-\(round)-xyzxyz"]),
                        reveal: fixture.vault.read)
                }, actor: "dave")
        }
        // A long history of labels, defaults and versions on the custom credential.
        for round in 1...240 {
            let plan: (Planner) throws -> Plan<CredentialID>
            switch round % 4 {
            case 0:
                plan = {
                    try $0.updateCredential(
                        custom[0].description, in: "acme", CredentialUpdate(label: "Vendor \(round)"),
                        reveal: fixture.vault.read)
                }
            case 1:
                plan = {
                    try $0.updateCredential(
                        custom[0].description, in: "acme", CredentialUpdate(isDefault: round % 8 == 1),
                        reveal: fixture.vault.read)
                }
            case 2:
                plan = {
                    try $0.rotateCredential(
                        custom[0].description, in: "acme",
                        fields: fields(["json": #"{"api_key": "k-\#(round)", "region": "eu"}"#]),
                        reveal: fixture.vault.read)
                }
            default:
                plan = {
                    try $0.updateCredential(
                        custom[0].description, in: "acme", CredentialUpdate(label: "Vendor"),
                        reveal: fixture.vault.read)
                }
            }
            _ = try commit(plan, actor: "user-\(round % 3)")
        }
        // Revoked but still assigned; a wildcard and an exact assignment.
        _ = try commit({
            try $0.assign(smtp[1].description, to: AssignmentTarget(kind: .workflow, slug: "send"), in: "acme")
        })
        _ = try commit({
            try $0.assign(
                smtp[0].description, to: AssignmentTarget(kind: .agent, slug: "helper", consumer: "mail"), in: "acme")
        })
        _ = try commit({ try $0.revokeCredential(smtp[1].description, in: "acme") }, actor: "carol")
        _ = try commit({
            try $0.updateCredential(
                smtp[1].description, in: "acme", CredentialUpdate(label: "Old web mail"), reveal: fixture.vault.read)
        })
        _ = try commit({ try $0.revokeCredential(ssh[0].description, in: "globex") }, actor: "erin")
        // API keys: one revoked, one of a member removed later (revoked by the cascade).
        let hashKey = SecureBytes(copying: Array(repeating: 7, count: 32))
        let first = try commit({ try $0.createAPIKey(in: "acme", creator: "alice", name: "CI", hashKey: hashKey) })
        _ = try commit({ try $0.createAPIKey(in: "acme", creator: "dave", name: "Dave's", hashKey: hashKey) })
        _ = try commit({ try $0.createAPIKey(in: "globex", creator: "erin", name: "Ops", hashKey: hashKey) })
        _ = try commit({ try $0.revokeAPIKey(first.id, in: "acme", actingUser: "carol") }, actor: "carol")
        _ = try commit({ try $0.removeUser("dave") })
        // Deleted things leave nothing behind.
        let gone = try fixture.token("exa", "gone", at: [.organization, .project("api")])
        _ = try commit({ try $0.deleteCredential(gone[0].description, in: "acme") })
        _ = try commit({ try $0.removeProject("api", in: "acme") })
        return fixture
    }

    func testEveryKindOfCredentialCompactsExactly() throws {
        let fixture = try Self.richVault()
        let original = fixture.vault
        for bytesTarget in [65536, 4096, 300, 1] {
            let tag = "target \(bytesTarget)"
            let compacted = try Self.compact(original, bytesTarget: bytesTarget)
            try Self.assertSameState(compacted.vault, original, tag)
            try Self.assertNoTrace(compacted, of: original, tag)
            let again = try Self.compact(compacted.vault, bytesTarget: bytesTarget)
            XCTAssertEqual(again.transactions, compacted.transactions, tag)
            let histories = compacted.operations.count {
                if case .restoreCredentialHistory = $0 { true } else { false }
            }
            if bytesTarget <= 4096 { XCTAssertGreaterThan(histories, 0, "\(tag): the long history was not split") }
            if bytesTarget == 1 { XCTAssertTrue(compacted.transactions.allSatisfy { $0.count == 1 }, tag) }
        }
        // Edits planned on the compacted vault merge with values read from restore operations
        // (the current version of a restore credential, of a restore version after a rotation).
        var compacted = try Self.compact(original, bytesTarget: 300).vault
        var continued = original
        let outbound = try original.index.selectCredential("org/out", in: fixture.acme)
        let linear = try original.index.selectCredential("linear/team", in: fixture.acme)
        let edit = try compacted.planner.updateCredential(
            outbound.description, in: "acme", CredentialUpdate(fields: fields(["port": "2600"])), reveal: compacted.read
        )
        XCTAssertEqual(edit.operations.count, 1)
        try compacted.commit(edit)
        try continued.commit(operations: edit.operations)
        let rotation = try compacted.planner.rotateCredential(
            linear.description, in: "acme", fields: fields(["access_token": "at-00000000003"]), reveal: compacted.read)
        try compacted.commit(rotation)
        try continued.commit(operations: rotation.operations)
        try Self.assertSameState(compacted, continued, "after edits planned on the compacted vault")
        XCTAssertEqual(try continued.revealed(outbound)["password"], "pw-6-abcdefgh")

        // The long history reads the same, with its original times and actors.
        let custom = try original.index.selectCredential("vendor/json", in: fixture.acme)
        XCTAssertGreaterThanOrEqual(original.index.history(of: custom).count, 240)
        XCTAssertEqual(Set(original.index.history(of: custom).map(\.stamp.actor)).count, 4)
    }

    // MARK: - Grouping and streaming

    func testTransactionsStayUnderTheTargetExceptOneLargeOperation() throws {
        var fixture = try Fixture()
        for number in 0..<40 { try fixture.token("app\(number % 5)", "s\(number)", value: "sk-\(number)-0123456789") }
        // A 60 KB value: its operation is larger than a 4 KiB target, so it is alone.
        let big = "{\"blob\": \"" + String(repeating: "x", count: 60_000) + "\"}"
        try fixture.vault.commit(
            fixture.vault.planner.createCredential(
                in: "acme",
                CredentialDraft(appKey: "big", slug: "one", label: "Big", type: .custom, fields: fields(["json": big])))
        )
        for bytesTarget in [VaultIndex.compactionTransactionBytesTarget, 4096, 512] {
            let compacted = try Self.compact(fixture.vault, bytesTarget: bytesTarget)
            try Self.assertSameState(compacted.vault, fixture.vault, "target \(bytesTarget)")
            let oversized = zip(compacted.payloadBytes, compacted.transactions).filter { $0.0 > bytesTarget }
            XCTAssertEqual(oversized.count, bytesTarget < 60_000 ? 1 : 0, "target \(bytesTarget)")
            XCTAssertTrue(oversized.allSatisfy { $0.1.count == 1 }, "target \(bytesTarget)")
            // Transactions are filled: any two neighbours together would pass the target.
            for (first, second) in zip(compacted.payloadBytes, compacted.payloadBytes.dropFirst()) {
                let header = 8 + 2 + VaultIndex.compactionActor.utf8.count + 4
                XCTAssertGreaterThan(first + second - header, bytesTarget, "target \(bytesTarget): underfilled")
            }
        }
        // The default target packs this vault in one transaction besides the large value.
        XCTAssertEqual(try Self.compact(fixture.vault).transactions.count, 2)
        // The operation cap splits too.
        let capped = try Self.compact(fixture.vault, operationsMax: 3)
        XCTAssertTrue(capped.transactions.allSatisfy { $0.count <= 3 })
        XCTAssertEqual(capped.operations, try Self.compact(fixture.vault).operations)
    }

    /// OP-COMPACT-CREATED: credentials created in one transaction and never changed since are
    /// written as the create operations that made them, under their original stamp, when enough
    /// of them are consecutive; a changed, default or revoked one breaks the run and is restored.
    func testCredentialsCreatedTogetherKeepTheirTransactionStamp() throws {
        var fixture = try Fixture()
        try fixture.token("early", "one")
        var creations: [ModelOperation] = []
        var ids: [CredentialID] = []
        for number in 0..<12 {
            let plan = try fixture.vault.planner.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "bulk\(number % 3)", slug: "s\(number)", label: "Bulk \(number)", type: .apiToken,
                    fields: fields(["token": "sk-bulk-\(number)-0123456789"])))
            creations += plan.operations
            ids += plan.value
        }
        try fixture.vault.commit(operations: creations, actor: "import")
        let importTime = fixture.vault.time
        // Breaks the run after the fourth and the eighth: a new version, a default, a revocation.
        try fixture.vault.commit(
            fixture.vault.planner.updateCredential(
                ids[4].description, in: "acme", CredentialUpdate(fields: fields(["token": "sk-bulk-new-0123456789"])),
                reveal: fixture.vault.read))
        try fixture.vault.commit(operations: [.setDefault(id: ids[8])])
        try fixture.vault.commit(fixture.vault.planner.revokeCredential(ids[9].description, in: "acme"))
        try fixture.token("late", "one")

        let restoredOneByOne = try Self.compact(fixture.vault, createdTogetherMin: Int.max)
        let compacted = try Self.compact(fixture.vault, createdTogetherMin: 3)
        try Self.assertSameState(compacted.vault, fixture.vault, "created together")
        try Self.assertNoTrace(compacted, of: fixture.vault, "created together")
        // Runs of 4 (0–3), 3 (5–7) and 2 (10–11): the last is too short and is restored.
        let runs = zip(compacted.transactions, compacted.vault.contexts).filter { operations, _ in
            operations.allSatisfy { if case .createCredential = $0 { true } else { false } }
        }
        XCTAssertEqual(runs.map(\.0.count), [4, 3])
        for (_, context) in runs {
            XCTAssertEqual(context.actor, "import")
            XCTAssertEqual(context.timeMilliseconds, importTime)
        }
        let history = compacted.vault.index.history(of: ids[0])
        XCTAssertEqual(history.map(\.stamp), fixture.vault.index.history(of: ids[0]).map(\.stamp))
        XCTAssertLessThan(compacted.payloadBytes.reduce(0, +), restoredOneByOne.payloadBytes.reduce(0, +))
        // The newest time of the index is not moved back by the older stamp.
        XCTAssertEqual(
            compacted.vault.index.tables.newestTransactionTime, fixture.vault.index.tables.newestTransactionTime)
        let again = try Self.compact(compacted.vault, createdTogetherMin: 3)
        XCTAssertEqual(again.transactions, compacted.transactions)
    }

    func testCompactionStreams() throws {
        var fixture = try Fixture()
        for number in 0..<300 { try fixture.token("app\(number % 7)", "s\(number)", value: "sk-\(number)-0123456789") }
        let compacted = try Self.compact(fixture.vault, bytesTarget: 2048)
        // Values are read as transactions fill, not all up front.
        XCTAssertEqual(compacted.reads, 300)
        XCTAssertLessThan(compacted.readsBeforeFirstTransaction, 20)
        XCTAssertGreaterThan(compacted.transactions.count, 10)
    }

    func testReaderErrorsAndMismatchesStopCompaction() throws {
        var fixture = try Fixture()
        let ids = try fixture.token("exa", "one")
        let index = fixture.index
        var visited = 0
        // The reader's own error passes through.
        assertThrowsCoffer(.io(errno: 5)) {
            try index.compactionTransactions(reader: { _ throws(CofferError) in
                throw CofferError(.io(errno: 5), "disk")
            }) { _ throws(CofferError) in visited += 1 }
        }
        // An operation that is not the version asked for is corruption.
        let wrong = ModelOperation.createCredential(
            NewCredential(
                CredentialMetadata(
                    id: CredentialID(high: 1, low: 1), organization: fixture.acme, appKey: "exa", slug: "x", label: "X",
                    kind: .apiKey, type: .apiToken, category: .custom, owner: .organization(fixture.acme)),
                fields: fields(["token": "other"]))
        ).encode()
        let error = assertThrowsCoffer(.corrupted) {
            try index.compactionTransactions(reader: { _ throws(CofferError) in wrong }) { _ throws(CofferError) in }
        }
        XCTAssertTrue(error?.message.contains(ids[0].description) ?? false)
        XCTAssertFalse(error?.message.contains("other") ?? true)
        XCTAssertEqual(visited, 0, "nothing after the first failure was handed over")
    }

    func testEstimateCountsWhatCompactionKeeps() throws {
        let fixture = try Self.richVault()
        let index = fixture.index
        let estimate = index.compactionEstimate
        let statistics = index.statistics()
        XCTAssertEqual(estimate.liveVersions, statistics.retainedVersions)
        var history = 0
        for organization in index.organizations() {
            for credential in index.credentials(matching: CredentialFilter(organization: organization.id)) {
                history += index.history(of: credential.id).count
            }
        }
        XCTAssertEqual(estimate.liveHistoryEntries, history)
        XCTAssertEqual(
            estimate.liveOperations,
            1 + statistics.organizations + statistics.projects + statistics.users + statistics.memberships
                + statistics.retainedVersions + statistics.assignments + statistics.apiKeys)
        XCTAssertLessThan(estimate.liveOperations, fixture.vault.log.joined().count)
        XCTAssertEqual(try Self.compact(fixture.vault).operations.count, estimate.liveOperations)
        XCTAssertEqual(
            VaultIndex().compactionEstimate,
            CompactionEstimate(liveOperations: 1, liveVersions: 0, liveHistoryEntries: 0))
    }

    func testEmptyIndexCompactsToItsRetention() throws {
        let compacted = try Self.compact(TestVault())
        XCTAssertEqual(compacted.operations, [.setVersionRetention(count: VaultIndex.versionRetentionDefault)])
        try Self.assertSameState(compacted.vault, TestVault(), "empty")
    }

    // MARK: - Restore rules

    /// Applying any restore operation (or the membership a compaction writes) again, onto
    /// the index it rebuilt, finds its entity there and changes nothing.
    func testRestoreOperationsRejectExistingEntities() throws {
        let fixture = try Self.richVault()
        let compacted = try Self.compact(fixture.vault, bytesTarget: 300)
        var index = compacted.vault.index
        let before = fingerprint(of: index)
        var kinds: Set<OperationCode> = []
        for operation in compacted.operations {
            if case .setVersionRetention = operation { continue }
            let context = TransactionContext(sequence: 999, offset: 0, timeMilliseconds: 1, actor: "again")
            assertThrowsCoffer(.alreadyExists) { try index.apply([operation], context: context) }
            kinds.insert(operation.code)
        }
        XCTAssertEqual(
            kinds,
            [
                .restoreOrganization, .restoreProject, .restoreUser, .addMembership, .restoreCredential,
                .restoreCredentialHistory, .restoreVersion, .restoreAssignment, .restoreAPIKey,
            ])
        XCTAssertEqual(fingerprint(of: index), before)
    }

    func testRestoreRules() throws {
        let fixture = try Fixture()
        let organization = fixture.acme
        let stamp = ChangeStamp(timeMilliseconds: 1_600_000_000_000, actor: "alice")
        func change(_ kind: ChangeKind, _ version: UInt32, _ mask: UInt8 = 0) -> RestoredChange {
            RestoredChange(kind: kind, version: version, changedFieldMask: mask, stamp: stamp)
        }
        func credential(
            _ low: UInt64, _ changes: [RestoredChange], state: CredentialState = .active, isDefault: Bool = false,
            owner: ScopeOwner? = nil, slug: String? = nil, token: String = "sk-restored-0123456789"
        ) -> ModelOperation {
            .restoreCredential(
                RestoredCredential(
                    CredentialMetadata(
                        id: CredentialID(high: 77, low: low), organization: organization, appKey: "exa",
                        slug: slug ?? "r\(low)", label: "Restored", kind: .apiKey, type: .apiToken, category: .custom,
                        owner: owner ?? .organization(organization)), state: state, isDefault: isDefault,
                    changes: changes,
                    fields: fields(["token": token])))
        }
        var index = fixture.index
        func refuses(_ code: CofferError.Code, _ operations: [ModelOperation], line: UInt = #line) {
            let before = Snapshot(index)
            assertThrowsCoffer(code, line: line) {
                try index.apply(
                    operations, context: TransactionContext(sequence: 900, offset: 0, timeMilliseconds: 5, actor: "t"))
            }
            XCTAssertEqual(Snapshot(index), before, "a refused restore changed the index", line: line)
        }
        func accepts(_ operations: [ModelOperation], line: UInt = #line) {
            XCTAssertNoThrow(
                try index.apply(
                    operations, context: TransactionContext(sequence: 901, offset: 0, timeMilliseconds: 5, actor: "t")),
                line: line)
            XCTAssertEqual(index.checkInvariants(), [], line: line)
        }
        // OP-RESTORE-CRED-2: changes.
        refuses(.invalidInput, [credential(1, [])])
        refuses(.invalidInput, [credential(1, [change(.relabeled, 1)])])  // no version among them
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1), change(.rotated, 3, 1)])])
        refuses(.invalidInput, [credential(1, [change(.created, 2, 1)])])
        refuses(.invalidInput, [credential(1, [change(.fieldsUpdated, 1, 1)])])
        refuses(.invalidInput, [credential(1, [change(.rotated, 2, 1), change(.created, 1, 1)])])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 0b10)])])  // api_token has one field
        refuses(.invalidInput, [credential(1, [change(.created, 1, 0)])])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1), change(.relabeled, 1, 1)])])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1), change(.defaultSet, 2)])])
        let badActor = ChangeStamp(timeMilliseconds: 1, actor: "bad\u{7}")
        refuses(
            .invalidInput,
            [credential(1, [RestoredChange(kind: .created, version: 1, changedFieldMask: 1, stamp: badActor)])])
        // State and default agree with the changes and the group.
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1)], state: .revoked)])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1), change(.revoked, 1)])])
        refuses(
            .invalidInput,
            [credential(1, [change(.created, 1, 1), change(.revoked, 1), change(.rotated, 2, 1)], state: .revoked)])
        refuses(
            .invalidInput,
            [credential(1, [change(.created, 1, 1), change(.revoked, 1)], state: .revoked, isDefault: true)])
        // OP-RESTORE-CRED-1: the rules of a create.
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1)], owner: .user(fixture.erin))])
        refuses(.notFound, [credential(1, [change(.created, 1, 1)], owner: .user(UserID(high: 1, low: 1)))])
        refuses(.notFound, [credential(1, [change(.created, 1, 1)], owner: .project(ProjectID(high: 4, low: 4)))])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1)], token: "")])
        refuses(.invalidInput, [credential(1, [change(.created, 1, 1)], slug: "Not A Slug")])
        // A history that starts later, a default, and a revoked credential with a relabel after.
        accepts([
            credential(
                1, [change(.defaultSet, 1), change(.rotated, 2, 1), change(.relabeled, 2)], isDefault: true),
            credential(2, [change(.created, 1, 1), change(.revoked, 1), change(.relabeled, 1)], state: .revoked),
        ])
        // A credential revoked and reinstated: each change needs the state the one before left.
        accepts([
            credential(
                5, [change(.created, 1, 1), change(.revoked, 1), change(.reinstated, 1), change(.slugChanged, 1)])
        ])
        refuses(
            .invalidInput,
            [credential(6, [change(.created, 1, 1), change(.revoked, 1), change(.reinstated, 1)], state: .revoked)])
        refuses(.invalidInput, [credential(6, [change(.created, 1, 1), change(.reinstated, 1)])])
        refuses(
            .invalidInput,
            [credential(6, [change(.created, 1, 1), change(.revoked, 1), change(.revoked, 1)], state: .revoked)])
        refuses(.invalidInput, [credential(6, [change(.rotated, 2, 1), change(.reinstated, 2)])])
        // An older stretch leaves the state the history restored before it starts from.
        let later = CredentialID(high: 77, low: 7)
        accepts([credential(7, [change(.fieldsUpdated, 2, 1)])])
        refuses(
            .invalidInput,
            [.restoreCredentialHistory(id: later, changes: [change(.created, 1, 1), change(.revoked, 1)])])
        accepts([.restoreCredentialHistory(id: later, changes: [change(.reinstated, 1)])])
        refuses(.invalidInput, [.restoreCredentialHistory(id: later, changes: [change(.created, 1, 1)])])
        accepts([.restoreCredentialHistory(id: later, changes: [change(.created, 1, 1), change(.revoked, 1)])])
        XCTAssertEqual(index.history(of: later).map(\.kind), [.created, .revoked, .reinstated, .fieldsUpdated])
        refuses(.invalidInput, [credential(3, [change(.created, 1, 1)], isDefault: true)])  // group has a default
        refuses(.alreadyExists, [credential(4, [change(.created, 1, 1)], slug: "r1")])  // OP-CRED-CREATE-2
        let first = CredentialID(high: 77, low: 1)
        // OP-RESTORE-HISTORY-1: older changes join the history restored before them.
        refuses(
            .notFound, [.restoreCredentialHistory(id: CredentialID(high: 5, low: 5), changes: [change(.created, 1, 1)])]
        )
        refuses(
            .invalidInput,
            [.restoreCredentialHistory(id: first, changes: [change(.created, 1, 1), change(.relabeled, 2)])])
        refuses(.invalidInput, [.restoreCredentialHistory(id: first, changes: [change(.revoked, 1)])])
        refuses(.invalidInput, [.restoreCredentialHistory(id: first, changes: [])])
        accepts([.restoreCredentialHistory(id: first, changes: [change(.relabeled, 1)])])
        accepts([.restoreCredentialHistory(id: first, changes: [change(.created, 1, 1)])])
        refuses(.alreadyExists, [.restoreCredentialHistory(id: first, changes: [change(.created, 1, 1)])])
        XCTAssertEqual(
            index.history(of: first).map(\.kind), [.created, .relabeled, .defaultSet, .rotated, .relabeled])
        XCTAssertEqual(index.credential(id: first)?.created.timeMilliseconds, stamp.timeMilliseconds)
        XCTAssertNotNil(index.credential(id: first)?.rotated)
        // OP-RESTORE-VERSION-1: in the history, not readable yet, newest first, within retention.
        XCTAssertEqual(index.versions(of: first).map(\.version), [2])
        refuses(.alreadyExists, [.restoreVersion(id: first, version: 2, fields: fields(["token": "x"]))])
        refuses(.notFound, [.restoreVersion(id: first, version: 7, fields: fields(["token": "x"]))])
        refuses(.invalidInput, [.restoreVersion(id: first, version: 1, fields: fields(["nope": "x"]))])
        accepts([.restoreVersion(id: first, version: 1, fields: fields(["token": "version-one"]))])
        XCTAssertEqual(index.versions(of: first).map(\.version), [2, 1])
        // Versions are restored newest first, and no more than the retention.
        let third = CredentialID(high: 77, low: 9)
        accepts([
            .setVersionRetention(count: 2),
            credential(9, [change(.created, 1, 1), change(.rotated, 2, 1), change(.rotated, 3, 1)]),
        ])
        refuses(.invalidInput, [.restoreVersion(id: third, version: 1, fields: fields(["token": "x"]))])
        accepts([.restoreVersion(id: third, version: 2, fields: fields(["token": "two"]))])
        refuses(.invalidInput, [.restoreVersion(id: third, version: 1, fields: fields(["token": "x"]))])
        // OP-RESTORE-ASSIGN-1: a revoked credential may be assigned by a restore only.
        let target = AssignmentTarget(kind: .agent, slug: "helper")
        let revoked = CredentialID(high: 77, low: 2)
        refuses(
            .invalidInput, [.assign(organization: organization, target: target, appKey: "exa", credential: revoked)])
        accepts([.restoreAssignment(organization: organization, target: target, appKey: "exa", credential: revoked)])
        refuses(
            .alreadyExists,
            [.restoreAssignment(organization: organization, target: target, appKey: "exa", credential: first)])
        refuses(
            .invalidInput,
            [.restoreAssignment(organization: fixture.globex, target: target, appKey: "exa", credential: first)])
        // OP-RESTORE-APIKEY-1: an active key's creator is a member; a revoked key's need not exist.
        func key(_ low: UInt64, creator: UserID, revoked: Bool, hash: UInt8) -> ModelOperation {
            .restoreAPIKey(
                RestoredAPIKey(
                    APIKeyMetadata(
                        id: APIKeyID(high: 88, low: low), organization: organization, creator: creator, name: "K",
                        hash: Array(repeating: hash, count: 32), preview: "ck_live_••••abcd"), created: stamp,
                    revoked: revoked ? ChangeStamp(timeMilliseconds: 2, actor: "carol") : nil))
        }
        refuses(.invalidInput, [key(1, creator: fixture.erin, revoked: false, hash: 1)])
        refuses(.invalidInput, [key(1, creator: UserID(high: 9, low: 9), revoked: false, hash: 1)])
        accepts([
            key(1, creator: UserID(high: 9, low: 9), revoked: true, hash: 1),
            key(2, creator: fixture.alice, revoked: false, hash: 2),
        ])
        refuses(.alreadyExists, [key(3, creator: fixture.alice, revoked: false, hash: 2)])  // same tag
        XCTAssertEqual(index.apiKey(id: APIKeyID(high: 88, low: 1))?.revoked?.actor, "carol")
        XCTAssertEqual(index.apiKey(id: APIKeyID(high: 88, low: 2))?.created, stamp)
        // Principals: the create rules, with the given stamp.
        refuses(
            .alreadyExists,
            [.restoreOrganization(id: OrganizationID(high: 3, low: 3), slug: "acme", name: "A", created: stamp)])
        refuses(
            .notFound,
            [
                .restoreProject(
                    id: ProjectID(high: 3, low: 3), organization: OrganizationID(high: 3, low: 3), slug: "p", name: "P",
                    created: stamp)
            ])
        refuses(
            .invalidInput,
            [
                .restoreUser(
                    id: UserID(high: 3, low: 3), handle: "zed", displayName: "Zed",
                    created: ChangeStamp(timeMilliseconds: 1, actor: "a\u{0}b"))
            ])
        accepts([.restoreUser(id: UserID(high: 3, low: 3), handle: "zed", displayName: "Zed", created: stamp)])
        XCTAssertEqual(index.user("zed")?.created, stamp)
    }
}
