import CofferCrypto
import CofferErrors
import CofferFormat
import CofferTestSupport
import XCTest

@testable import CofferModel

final class VaultIndexTests: XCTestCase {
    func context(_ sequence: UInt64, actor: String = "test") -> TransactionContext {
        TransactionContext(sequence: sequence, offset: sequence * 1000, timeMilliseconds: sequence * 10, actor: actor)
    }

    func testFailedTransactionLeavesTheIndexUnchanged() throws {
        var fixture = try Fixture()
        let ids = try fixture.token("exa", "main", at: [.organization, .project("web")], isDefault: true)
        try fixture.vault.commit(
            fixture.vault.planner.assign(ids[0].description, to: AssignmentTarget(kind: .agent, slug: "a"), in: "acme"))
        try fixture.vault.commit(fixture.vault.planner.setVersionRetention(2))
        let before = Snapshot(fixture.index)
        // The checkpoint's bytes also hold what no query shows: the interned strings, the free
        // slots, the newest transaction time, each record's texts as the arena holds them.
        let beforeBytes = fixture.index.checkpointEncoding()
        var index = fixture.index
        let newID = CredentialID(high: 42, low: 42)
        let reusingID = CredentialID(high: 43, low: 43)
        // Every kind of write happens before the last operation fails: interning new
        // strings, a new slot, a freed slot and its reuse, history, default marks, assignments,
        // pruning, slug changes (one that makes the credential the head of a list that has one,
        // one that starts a list), whose undo finds a list head whose record has its old slug
        // again.
        let operations: [ModelOperation] = [
            .createCredential(
                NewCredential(
                    CredentialMetadata(
                        id: newID, organization: fixture.acme, appKey: "brand-new-app", slug: "fresh", label: "New",
                        kind: .apiKey,
                        type: .apiToken, category: .custom, owner: .organization(fixture.acme)),
                    fields: fields(["token": "abcdefghijkl"]))),
            .setCredentialFields(
                CredentialFieldsChange(
                    id: newID, reason: .rotate, version: 2, changedFields: ["token"],
                    fields: fields(["token": "zzzzzzzzzzzz"]))),
            .setCredentialFields(
                CredentialFieldsChange(
                    id: newID, reason: .update, version: 3, changedFields: ["token"],
                    fields: fields(["token": "yyyyyyyyyyyy"]))),
            .unassign(organization: fixture.acme, target: AssignmentTarget(kind: .agent, slug: "a"), appKey: "exa"),
            .clearDefault(id: ids[0]),
            .deleteCredential(id: ids[0]),
            // Takes the slot the deletion freed.
            .createCredential(
                NewCredential(
                    CredentialMetadata(
                        id: reusingID, organization: fixture.acme, appKey: "exa", slug: "again", label: "Again",
                        kind: .apiKey, type: .apiToken, category: .custom, owner: .organization(fixture.acme)),
                    fields: fields(["token": "abcdefghijkl"]))),
            .setDefault(id: newID),
            .changeCredentialSlug(id: newID, slug: "main"),
            .changeCredentialSlug(id: ids[1], slug: "moved"),
            .createProject(id: ProjectID(high: 1, low: 1), organization: fixture.acme, slug: "tmp", name: "Tmp"),
            .addMembership(user: fixture.erin, organization: fixture.acme, role: .builder),
            .setVersionRetention(count: 1),
            .removeUser(id: fixture.alice),  // fails: alice is still a member
        ]
        XCTAssertThrowsError(try index.validate(operations, context: context(100)))
        XCTAssertEqual(Snapshot(index), before)
        XCTAssertTrue(index.checkpointEncoding() == beforeBytes)
        let error = assertThrowsCoffer(.invalidInput) { try index.apply(operations, context: context(100)) }
        XCTAssertTrue(error?.message.contains("member") ?? false)
        XCTAssertEqual(Snapshot(index), before)
        XCTAssertTrue(index.checkpointEncoding() == beforeBytes)
        XCTAssertEqual(index.checkInvariants(), [])
        // The same transaction without the failing operation applies, and validate did not
        // change anything on the way.
        try index.validate(Array(operations.dropLast()), context: context(100))
        XCTAssertEqual(Snapshot(index), before)
        XCTAssertTrue(index.checkpointEncoding() == beforeBytes)
        try index.apply(Array(operations.dropLast()), context: context(100))
        XCTAssertNil(index.credential(id: ids[0]))
        XCTAssertEqual(index.credential(id: reusingID)?.slug, "again")
        XCTAssertEqual(index.credential(id: newID)?.isDefault, true)
        XCTAssertEqual(index.versions(of: newID).map(\.version), [3])
        XCTAssertEqual(index.credential(id: newID)?.slug, "main")
        XCTAssertEqual(index.credential(id: ids[1])?.slug, "moved")
        XCTAssertEqual(index.checkInvariants(), [])
    }

    func testApplyEnforcesTheRules() throws {
        var fixture = try Fixture()
        let a = try fixture.token("exa", "a", isDefault: true)[0]
        let b = try fixture.token("exa", "b")[0]
        var index = fixture.index
        let target = AssignmentTarget(kind: .workflow, slug: "w", consumer: "s")
        // OP-CRED-DEFAULT-1: a second default in the same transaction without clearing.
        assertThrowsCoffer(.invalidInput) { try index.apply([.setDefault(id: b)], context: context(50)) }
        XCTAssertNoThrow(try index.validate([.clearDefault(id: a), .setDefault(id: b)], context: context(50)))
        // OP-CRED-DELETE-1 and OP-CRED-REVOKE-1: a default cannot go.
        assertThrowsCoffer(.invalidInput) { try index.apply([.deleteCredential(id: a)], context: context(50)) }
        assertThrowsCoffer(.invalidInput) { try index.apply([.revokeCredential(id: a)], context: context(50)) }
        // OP-CRED-DELETE-1: an assigned credential cannot go.
        try index.apply(
            [.assign(organization: fixture.acme, target: target, appKey: "exa", credential: b)], context: context(51))
        assertThrowsCoffer(.invalidInput) { try index.apply([.deleteCredential(id: b)], context: context(52)) }
        // OP-ASSIGN-SET-1: one assignment per key, same app, same organization.
        assertThrowsCoffer(.alreadyExists) {
            try index.apply(
                [.assign(organization: fixture.acme, target: target, appKey: "exa", credential: a)],
                context: context(52))
        }
        assertThrowsCoffer(.invalidInput) {
            try index.apply(
                [.assign(organization: fixture.globex, target: target, appKey: "exa", credential: a)],
                context: context(52))
        }
        assertThrowsCoffer(.invalidInput) {
            try index.apply(
                [.assign(organization: fixture.acme, target: target, appKey: "slack", credential: a)],
                context: context(52))
        }
        // OP-PROJ-REMOVE-1, OP-ORG-REMOVE-1, OP-MEMBER-REMOVE-1.
        let webToken = try fixture.token("exa", "w", at: [.project("web")])[0]
        let mine = try fixture.token("exa", "mine", at: [.user("bob")])[0]
        index = fixture.index
        assertThrowsCoffer(.invalidInput) { try index.apply([.removeProject(id: fixture.web)], context: context(60)) }
        assertThrowsCoffer(.invalidInput) {
            try index.apply([.removeOrganization(id: fixture.acme)], context: context(60))
        }
        assertThrowsCoffer(.invalidInput) {
            try index.apply([.removeMembership(user: fixture.bob, organization: fixture.acme)], context: context(60))
        }
        XCTAssertNoThrow(
            try index.validate(
                [.deleteCredential(id: webToken), .removeProject(id: fixture.web)], context: context(60)))
        XCTAssertNoThrow(
            try index.validate(
                [.deleteCredential(id: mine), .removeMembership(user: fixture.bob, organization: fixture.acme)],
                context: context(60)))
        // OP-CRED-CREATE-1: owners must match the organization.
        let base = NewCredential(
            CredentialMetadata(
                id: CredentialID(high: 7, low: 7), organization: fixture.acme, appKey: "exa", slug: "x", label: "X",
                kind: .apiKey,
                type: .apiToken, category: .custom, owner: .project(fixture.globexWeb)),
            fields: fields(["token": "abc"]))
        assertThrowsCoffer(.invalidInput) { try index.apply([.createCredential(base)], context: context(61)) }
        var userOwned = base
        userOwned.owner = .user(fixture.erin)
        assertThrowsCoffer(.invalidInput) { try index.apply([.createCredential(userOwned)], context: context(61)) }
        var orgOwned = base
        orgOwned.owner = .organization(fixture.globex)
        assertThrowsCoffer(.invalidInput) { try index.apply([.createCredential(orgOwned)], context: context(61)) }
        // OP-CRED-CREATE-2: slug unique per app and owner; fine at another owner.
        var duplicate = base
        duplicate.owner = .organization(fixture.acme)
        duplicate.slug = "a"
        assertThrowsCoffer(.alreadyExists) { try index.apply([.createCredential(duplicate)], context: context(61)) }
        duplicate.owner = .project(fixture.api)
        XCTAssertNoThrow(try index.validate([.createCredential(duplicate)], context: context(61)))
        // OP-CRED-VERSION-1: versions go up by one.
        let skipped = CredentialFieldsChange(
            id: a, reason: .update, version: 5, changedFields: ["token"], fields: fields(["token": "abc"]))
        assertThrowsCoffer(.invalidInput) { try index.apply([.setCredentialFields(skipped)], context: context(62)) }
        let unnamed = CredentialFieldsChange(
            id: a, reason: .update, version: 2, changedFields: [], fields: fields(["token": "abc"]))
        assertThrowsCoffer(.invalidInput) { try index.apply([.setCredentialFields(unnamed)], context: context(62)) }
        // OP-TXN: bad actors are refused.
        assertThrowsCoffer(.invalidInput) {
            try index.apply([], context: TransactionContext(sequence: 1, offset: 1, timeMilliseconds: 1, actor: "a\nb"))
        }
        XCTAssertEqual(index.checkInvariants(), [])
    }

    func testSelectors() throws {
        var fixture = try Fixture()
        let work = try fixture.token("linear", "work")[0]
        let webWork = try fixture.token("linear", "work", at: [.project("web")])[0]
        let slackWork = try fixture.token("slack", "work")[0]
        let unique = try fixture.token("slack", "ops")[0]
        _ = try fixture.token("exa", "work", in: "globex")
        let index = fixture.index
        XCTAssertEqual(try index.selectCredential(work.description, in: fixture.acme), work)
        XCTAssertEqual(try index.selectCredential("ops", in: fixture.acme), unique)
        XCTAssertEqual(try index.selectCredential("slack/work", in: fixture.acme), slackWork)
        XCTAssertEqual(try index.selectCredential("project/work", in: fixture.acme), webWork)
        let ambiguous = assertThrowsCoffer(.ambiguous) { try index.selectCredential("work", in: fixture.acme) }
        XCTAssertEqual(ambiguous?.candidates.count, 3)
        XCTAssertTrue(ambiguous?.candidates.first?.hasPrefix("cred_") ?? false)
        assertThrowsCoffer(.ambiguous) { try index.selectCredential("org/work", in: fixture.acme) }
        assertThrowsCoffer(.ambiguous) { try index.selectCredential("linear/work", in: fixture.acme) }
        assertThrowsCoffer(.notFound) { try index.selectCredential("user/work", in: fixture.acme) }
        assertThrowsCoffer(.notFound) { try index.selectCredential("nothing", in: fixture.acme) }
        assertThrowsCoffer(.notFound) { try index.selectCredential(work.description, in: fixture.globex) }
        assertThrowsCoffer(.invalidInput) { try index.selectCredential("a/b/c", in: fixture.acme) }
        XCTAssertEqual(try index.organizationID("acme"), fixture.acme)
        XCTAssertEqual(try index.organizationID(fixture.acme.description), fixture.acme)
        XCTAssertEqual(try index.projectID("web", in: fixture.globex), fixture.globexWeb)
        assertThrowsCoffer(.notFound) { try index.projectID(fixture.web.description, in: fixture.globex) }
    }

    /// OP-CRED-SLUG-1 and OP-CRED-REINSTATE-1: a new slug is found by selectors at once and the
    /// old one no more; a slug taken at the scope, an unchanged or malformed slug, and the
    /// reinstatement of an active credential are refused and change nothing.
    func testSlugChangesAndReinstatement() throws {
        var fixture = try Fixture()
        let work = try fixture.token("linear", "work")[0]
        let other = try fixture.token("linear", "other")[0]
        let slackProduction = try fixture.token("slack", "production")[0]
        func apply(_ operations: [ModelOperation]) throws { try fixture.vault.commit(operations: operations) }
        func refused(_ code: CofferError.Code, _ operation: ModelOperation, line: UInt = #line) {
            let before = fingerprint(of: fixture.index)
            assertThrowsCoffer(code, line: line) { try apply([operation]) }
            XCTAssertEqual(fingerprint(of: fixture.index), before, line: line)
        }
        refused(.alreadyExists, .changeCredentialSlug(id: work, slug: "other"))
        refused(.invalidInput, .changeCredentialSlug(id: work, slug: "work"))
        refused(.invalidInput, .changeCredentialSlug(id: work, slug: "Not A Slug"))
        refused(.notFound, .changeCredentialSlug(id: CredentialID(high: 9, low: 9), slug: "fresh"))
        refused(.invalidInput, .reinstateCredential(id: work))
        try apply([.changeCredentialSlug(id: work, slug: "production")])
        XCTAssertEqual(try fixture.index.selectCredential("linear/production", in: fixture.acme), work)
        assertThrowsCoffer(.notFound) { try fixture.index.selectCredential("linear/work", in: fixture.acme) }
        let both = assertThrowsCoffer(.ambiguous) { try fixture.index.selectCredential("production", in: fixture.acme) }
        XCTAssertEqual(both?.candidates.count, 2)
        // The slug's lookup list keeps creation order, newest first, as a compacted log has it.
        let key = SlugKey(
            organization: fixture.index.tables.organizationHandle(fixture.acme)!,
            slug: fixture.index.tables.stringHandle("production")!)
        XCTAssertEqual(
            fixture.index.tables.slugGroup(key).map { fixture.index.tables.credential($0).id }, [slackProduction, work])
        XCTAssertEqual(fixture.index.history(of: work).last?.kind, .slugChanged)
        // A revoked credential can change its slug and be reinstated; it resolves again.
        try apply([.revokeCredential(id: other)])
        // Creating over a revoked credential's slug says it can be reinstated.
        let taken = assertThrowsCoffer(.alreadyExists) { try fixture.token("linear", "other") }
        XCTAssertTrue(taken?.message.contains("reinstate") ?? false, taken?.message ?? "")
        // A transaction that moves a slug and then fails leaves every lookup list as it was.
        let beforeFailure = fingerprint(of: fixture.index)
        assertThrowsCoffer(.invalidInput) {
            try apply([.changeCredentialSlug(id: other, slug: "fresh"), .setDefault(id: other)])
        }
        XCTAssertEqual(fingerprint(of: fixture.index), beforeFailure)
        XCTAssertEqual(fixture.index.checkInvariants(), [])
        try apply([.changeCredentialSlug(id: other, slug: "work")])
        refused(.invalidInput, .setDefault(id: other))
        try apply([.reinstateCredential(id: other)])
        XCTAssertEqual(fixture.index.credential(id: other)?.state, .active)
        XCTAssertEqual(
            fixture.index.history(of: other).map(\.kind), [.created, .revoked, .slugChanged, .reinstated])
        XCTAssertEqual(fixture.index.checkInvariants(), [])
        XCTAssertEqual(fingerprint(of: try fixture.vault.replayed()), fingerprint(of: fixture.index))
    }

    /// OP-CRED-CREATE-2 and OP-CRED-SLUG-1 through `IndexTables.groupMember`, which walks a
    /// candidate group and a slug's list side by side and stops at the end of the shorter:
    /// its answer is the candidate group's own, whichever list is longer and wherever the
    /// slug's holder lies in them; a create or a slug change is refused exactly then.
    func testASlugsHolderIsFoundWhicheverListIsLonger() throws {
        let seed: UInt64 = 11
        var fixture = try Fixture(seed: seed)
        let random = SplitMix64(seed: seed)
        let apps = ["exa", "slack", "linear"]
        let owners: [(ScopeTarget, ScopeOwner)] = [
            (.organization, .organization(fixture.acme)), (.project("web"), .project(fixture.web)),
        ]
        let shared = (0..<6).map { "s\($0)" }
        // A group of one, whose credential is the oldest of those with its slug (its holder is
        // last in the slug's list); then long groups of slugs held once, and slugs held in
        // most groups.
        try fixture.token("linear", "s0")
        for number in 1..<90 {
            let app = apps[Int(random.next() % 2)]
            let slug = number % 3 == 0 ? shared[Int(random.next() % UInt64(shared.count))] : "g\(number)"
            _ = try? fixture.token(app, slug, at: [owners[Int(random.next() % 2)].0])
        }
        let index = fixture.index
        let tables = index.tables
        func refusal(of operation: ModelOperation) -> CofferError.Code? {
            var copy = index
            do throws(CofferError) {
                try copy.validate([operation], context: context(500))
                return nil
            } catch {
                return error.code
            }
        }
        var found = 0
        for app in apps {
            for (_, owner) in owners {
                guard let key = index.candidateKey(organization: fixture.acme, appKey: app, owner: owner) else {
                    continue
                }
                let group = tables.group(key)
                for slug in shared + (0..<90).map({ "g\($0)" }) {
                    let tag = "seed \(seed), \(app) at \(owner), slug \(slug)"
                    // Slugs no credential took are not interned: nothing holds them.
                    let handle = tables.stringHandle(slug)
                    let holder = group.first { tables.credential($0).slug == handle }
                    if let handle { XCTAssertEqual(tables.groupMember(key, slug: handle), holder, tag) }
                    let create = ModelOperation.createCredential(
                        NewCredential(
                            CredentialMetadata(
                                id: CredentialID(high: 77, low: 77), organization: fixture.acme, appKey: app,
                                slug: slug, label: "New", kind: .apiKey, type: .apiToken, category: .custom,
                                owner: owner),
                            fields: fields(["token": "abcdefghijkl"])))
                    let expected: CofferError.Code? = holder == nil ? nil : .alreadyExists
                    XCTAssertEqual(refusal(of: create), expected, tag)
                    if holder != nil { found += 1 }
                    guard let other = group.first(where: { tables.credential($0).slug != handle }) else { continue }
                    let change = ModelOperation.changeCredentialSlug(id: tables.credential(other).id, slug: slug)
                    XCTAssertEqual(refusal(of: change), expected, tag)
                }
            }
        }
        XCTAssertGreaterThan(found, 60, "seed \(seed)")
    }

    /// Planner.steps: dependent changes in one transaction, later steps seeing earlier ones;
    /// a step that fails abandons them all.
    func testDependentStepsInOneTransaction() throws {
        var fixture = try Fixture()
        let transactions = fixture.vault.log.count
        let (organization, project, credentials) = try fixture.vault.commit(
            fixture.vault.planner.steps { steps in
                let organization = try steps.add { try $0.createOrganization(slug: "initech", name: "Initech") }
                let project = try steps.add { try $0.createProject(in: "initech", slug: "tps", name: "TPS") }
                let credentials = try steps.add {
                    try $0.createCredential(
                        in: "initech",
                        CredentialDraft(
                            appKey: "exa", slug: "main", label: "Exa", type: .apiToken,
                            fields: fields(["token": "sk-initech-0123456789"])),
                        scopes: [.project("tps")])
                }
                try steps.add {
                    try $0.assign(
                        credentials[0].description, to: AssignmentTarget(kind: .agent, slug: "bot"), in: "initech")
                }
                return (organization, project, credentials)
            })
        XCTAssertEqual(fixture.vault.log.count, transactions + 1, "one transaction")
        XCTAssertEqual(fixture.index.organization("initech")?.id, organization)
        XCTAssertEqual(try fixture.index.projectID("tps", in: organization), project)
        XCTAssertEqual(fixture.index.credential(id: credentials[0])?.owner, .project(project))
        XCTAssertEqual(fixture.index.checkInvariants(), [])
        // A failing step: no plan comes back, so nothing can be committed.
        assertThrowsCoffer(.notFound) {
            try fixture.vault.planner.steps { steps in
                try steps.add { try $0.createOrganization(slug: "hooli", name: "Hooli") }
                try steps.add { try $0.createProject(in: "nowhere", slug: "x", name: "X") }
            }
        }
        // A step that rotates what an earlier step created reads it through the steps.
        let read = fixture.vault.read
        let rotated = try fixture.vault.commit(
            fixture.vault.planner.steps { steps in
                let ids = try steps.add {
                    try $0.createCredential(
                        in: "initech",
                        CredentialDraft(
                            appKey: "mail", slug: "main", label: "Mail", type: .usernamePassword,
                            fields: fields(["username": "bot", "password": "first-password-1"])))
                }
                return try steps.add {
                    try $0.rotateCredential(
                        ids[0].description, in: "initech", fields: fields(["password": "second-password-2"]),
                        reveal: steps.reader(over: read))
                }
            })
        XCTAssertEqual(try fixture.vault.revealed(rotated), ["username": "bot", "password": "second-password-2"])
        XCTAssertEqual(fixture.index.credential(id: rotated)?.version, 2)
    }

    func testIdentifiers() {
        let random = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let id = CredentialID.random { random.bytes($0) }
            XCTAssertEqual(CredentialID(id.description), id)
            XCTAssertEqual(CredentialID(bytes: id.bytes), id)
            XCTAssertEqual(id.bytes.withUnsafeBytes { CredentialID(bytes: $0) }, id, "read from a view")
            XCTAssertNil(id.bytes.dropLast().withUnsafeBytes { CredentialID(bytes: $0) })
            let owners: [ScopeOwner] = [
                .organization(OrganizationID(high: id.high, low: id.low)),
                .project(ProjectID(high: id.high, low: id.low)),
                .user(UserID(high: id.high, low: id.low)),
            ]
            for owner in owners {
                XCTAssertEqual(ScopeOwner(scope: owner.scope, ownerBytes: owner.ownerBytes), owner)
                XCTAssertEqual(
                    owner.ownerBytes.withUnsafeBytes { ScopeOwner(scope: owner.scope, ownerBytes: $0) }, owner)
                XCTAssertNil(ScopeOwner(scope: owner.scope, ownerBytes: owner.ownerBytes + [0]))
                XCTAssertNil(
                    owner.ownerBytes.dropFirst().withUnsafeBytes { ScopeOwner(scope: owner.scope, ownerBytes: $0) })
            }
            XCTAssertTrue(id.description.hasPrefix("cred_"))
            XCTAssertEqual(id.description.count, 5 + 26)
        }
        let id = CredentialID(high: .max, low: .max)
        XCTAssertEqual(id.description, "cred_7" + String(repeating: "z", count: 25))
        XCTAssertNil(CredentialID("cred_8" + String(repeating: "z", count: 25)), "padding bits must be zero")
        XCTAssertNil(CredentialID("cred_7" + String(repeating: "Z", count: 25)), "only the canonical spelling")
        XCTAssertNil(CredentialID("prj_7" + String(repeating: "z", count: 25)), "the prefix names the kind")
        XCTAssertNil(CredentialID("cred_7" + String(repeating: "z", count: 24)))
        XCTAssertNil(CredentialID("cred_7" + String(repeating: "u", count: 25)), "u is not a digit")
        XCTAssertEqual(OrganizationID(high: 0, low: 0).description, "org_" + String(repeating: "0", count: 26))
        XCTAssertEqual(Base32.encode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), "zzzzzzzz")
        XCTAssertEqual(Base32.encode([0x00, 0x44, 0x32, 0x14, 0xC7]), "01234567")
    }

    func testNamesAreChecked() throws {
        var fixture = try Fixture()
        for slug in [
            "", "Acme", "-x", "a b", "a/b", String(repeating: "a", count: 65),
            "org_" + String(repeating: "0", count: 26),
        ] {
            assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.createOrganization(slug: slug, name: "N") }
        }
        assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.createOrganization(slug: "ok", name: " ") }
        assertThrowsCoffer(.alreadyExists) { try fixture.vault.planner.createOrganization(slug: "acme", name: "Again") }
        XCTAssertNoThrow(try fixture.token("OPENAI_API_KEY", "main"))
        assertThrowsCoffer(.invalidInput) { try fixture.token("bad app", "main") }
        let plan = try fixture.vault.planner.renameOrganization("acme", slug: "acme-inc")
        try fixture.vault.commit(plan)
        XCTAssertEqual(fixture.index.organization(id: fixture.acme)?.slug, "acme-inc")
        XCTAssertNil(fixture.index.organization("acme"))
        XCTAssertTrue(try fixture.vault.planner.renameOrganization("acme-inc", slug: "acme-inc").isEmpty)
    }

    func testQueriesAndStatistics() throws {
        var fixture = try Fixture()
        try fixture.token("exa", "main", at: [.organization, .project("web"), .user("bob")])
        let draft = CredentialDraft(
            appKey: "mail", slug: "out", label: "Mail", type: .smtp, category: .communication,
            fields: fields(SchemaTests.valid[.smtp]!))
        try fixture.vault.commit(fixture.vault.planner.createCredential(in: "acme", draft))
        let index = fixture.index
        XCTAssertEqual(index.credentials(matching: CredentialFilter(organization: fixture.acme)).count, 4)
        XCTAssertEqual(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, appKey: "exa")).count, 3)
        XCTAssertEqual(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, scope: .organization)).count, 2)
        XCTAssertEqual(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, project: fixture.web)).count, 1)
        XCTAssertEqual(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, user: fixture.bob)).count, 1)
        XCTAssertEqual(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, appKey: "nope")).count, 0)
        XCTAssertEqual(index.credentials(matching: CredentialFilter(organization: fixture.globex)).count, 0)
        let mail = try XCTUnwrap(
            index.credentials(matching: CredentialFilter(organization: fixture.acme, appKey: "mail")).first)
        XCTAssertEqual(mail.fields.map(\.name), ["host", "port", "username", "password", "encryption"])
        XCTAssertEqual(mail.fields.filter(\.isSecret).map(\.text), ["••••"], "a password shows no character")
        XCTAssertEqual(mail.created.actor, "cli")
        XCTAssertEqual(
            index.history(of: mail.id).first?.changedFields, ["host", "port", "username", "password", "encryption"])
        let statistics = index.statistics()
        XCTAssertEqual(statistics.credentials, 4)
        XCTAssertEqual(statistics.credentialsByType[.apiToken], 3)
        XCTAssertEqual(statistics.credentialsByType[.smtp], 1)
        XCTAssertEqual(statistics.credentialsByScope[.user], 1)
        XCTAssertEqual(statistics.organizations, 2)
        XCTAssertEqual(statistics.memberships, 5)
        XCTAssertEqual(index.projects(in: fixture.acme).map(\.slug), ["api", "web"])
        XCTAssertEqual(index.memberships(in: fixture.acme).map(\.role), [.owner, .builder, .admin, .builder])
        XCTAssertEqual(index.memberships(of: fixture.erin).map(\.organization), [fixture.globex])
        XCTAssertEqual(index.versionRetention, 10)
    }

    func testReplayGivesTheSameIndex() throws {
        var fixture = try Fixture()
        let ids = try fixture.token("exa", "main", at: [.organization, .project("web")], isDefault: true)
        try fixture.vault.commit(
            fixture.vault.planner.rotateCredential(
                ids[0].description, in: "acme", fields: fields(["token": "rotated-value-1234"]),
                reveal: fixture.vault.read))
        try fixture.vault.commit(fixture.vault.planner.deleteCredential(ids[1].description, in: "acme"))
        try fixture.token("exa", "again", at: [.project("web")])
        XCTAssertEqual(Snapshot(try fixture.vault.replayed()), Snapshot(fixture.index))
    }

    /// Reports the per-instance memory of the index (see `CredentialRecord`'s layout
    /// comment) and measures it on a populated index.
    func testPerInstanceMemory() throws {
        // CredentialRecord: id 16 + label and display 8 (one text reference) + 11 handles × 4 + 3
        // one-byte fields + scope, state and default mark in one = 72 bytes, stride 72.
        // HistoryEntry: time 8 + sequence and offset 12 + 3 × 4 + 2 + 2 = 36, stride 36.
        let recordStride = MemoryLayout<CredentialRecord>.stride
        let historyStride = MemoryLayout<HistoryEntry>.stride
        print("CredentialRecord stride \(recordStride) bytes, HistoryEntry stride \(historyStride) bytes")
        XCTAssertEqual(recordStride, 72)
        XCTAssertEqual(historyStride, 36)
        // Per instance, excluding interned strings: the record in the slot array, its 8-byte
        // bucket in the slots by id and, when it is alone in them, in the candidate-group and
        // slug-group heads, and its creation history entry: 72 + 3 × 8 + 36 = 132 bytes, before
        // its texts in the arena and the spare capacity of arrays and hash tables.
        XCTAssertLessThan(recordStride + 3 * 8 + historyStride, 300)

        let measured = try measureTablesPerInstance(count: 20_000)
        print("measured index tables per credential instance (with spare capacity): \(measured) bytes")
        XCTAssertLessThan(measured, 400, "per-instance index memory grew")
    }

    /// A history entry keeps 48 bits of its record's sequence number and offset: each reads
    /// back whole (patterns that differ in every half, and the largest), with the time beside
    /// them; a context past them is refused with an error, never a trap (a library caller
    /// chooses the context), and so is a checkpoint entry past them.
    func testARecordLocationReadsBackWholeAndOnePastTheLimitIsRefused() throws {
        var index = VaultIndex()
        let organization = OrganizationID(high: 1, low: 1)
        try index.apply([.createOrganization(id: organization, slug: "acme", name: "Acme")], context: context(1))
        func create(_ number: UInt64) -> ModelOperation {
            .createCredential(
                NewCredential(
                    CredentialMetadata(
                        id: CredentialID(high: 7, low: number), organization: organization, appKey: "app",
                        slug: "s\(number)", label: "L", kind: .apiKey, type: .apiToken, category: .custom,
                        owner: .organization(organization)),
                    fields: fields(["token": "sk-0123456789abcdef"])))
        }
        for past in [
            TransactionContext(sequence: VaultIndex.locationMax + 1, offset: 0, timeMilliseconds: 1, actor: "test"),
            TransactionContext(sequence: 1, offset: VaultIndex.locationMax + 1, timeMilliseconds: 1, actor: "test"),
        ] {
            XCTAssertThrowsError(try index.apply([create(0)], context: past)) {
                XCTAssertEqual(($0 as? CofferError)?.code, .invalidInput)
            }
        }
        let patterned = TransactionContext(
            sequence: 0x1234_5678_9ABC, offset: 0xFEDC_BA98_7654, timeMilliseconds: 0x0123_4567_89AB_CDEF,
            actor: "test")
        let largest = TransactionContext(
            sequence: VaultIndex.locationMax, offset: VaultIndex.locationMax, timeMilliseconds: UInt64.max,
            actor: "test")
        for (number, context) in [(1, patterned), (2, largest)] as [(UInt64, TransactionContext)] {
            try index.apply([create(number)], context: context)
            let change = try XCTUnwrap(index.history(of: CredentialID(high: 7, low: number)).first)
            XCTAssertEqual(
                change.location, RecordLocation(sequence: context.sequence, offset: context.offset, operationIndex: 0))
            XCTAssertEqual(change.stamp.timeMilliseconds, context.timeMilliseconds)
        }
        let encoding = index.checkpointEncoding()
        XCTAssertEqual(try VaultIndex(checkpointEncoding: encoding).checkpointEncoding(), encoding)
        // The patterned entry's sequence number, as the encoding writes it (u64, little-endian),
        // one past the limit: refused; at the limit: taken.
        let written = withUnsafeBytes(of: patterned.sequence.littleEndian) { Array($0) }
        let at = try XCTUnwrap(
            encoding.indices.first { encoding[$0..<min($0 + 8, encoding.count)].elementsEqual(written) })
        for (sequence, isTaken) in [(VaultIndex.locationMax + 1, false), (VaultIndex.locationMax, true)] {
            var patched = encoding
            patched.replaceSubrange(at..<at + 8, with: withUnsafeBytes(of: sequence.littleEndian) { Array($0) })
            XCTAssertEqual((try? VaultIndex(checkpointEncoding: patched)) != nil, isTaken, "sequence \(sequence)")
        }
    }

    /// Labels and display texts live in one arena: a relabel or new version leaves the old
    /// text as waste, given back once it outweighs the texts in use; a failed or validated
    /// transaction leaves the arena as it was.
    func testReplacedTextsAreReclaimedAndUndoneTextsDropped() throws {
        var index = VaultIndex()
        let organization = OrganizationID(high: 1, low: 1)
        try index.apply([.createOrganization(id: organization, slug: "acme", name: "Acme")], context: context(1))
        let ids = (0..<40).map { CredentialID(high: 7, low: UInt64($0)) }
        try index.apply(
            ids.enumerated().map { number, id in
                .createCredential(
                    NewCredential(
                        CredentialMetadata(
                            id: id, organization: organization, appKey: "app", slug: "s\(number)",
                            label: "first \(number)",
                            kind: .apiKey, type: .apiToken, category: .custom, owner: .organization(organization)),
                        fields: fields(["token": "sk-0123456789abcdef\(number)"])))
            }, context: context(2))
        var sequence: UInt64 = 3
        var largest = 0
        for round in 0..<20 {
            try index.apply(
                ids.map { .relabelCredential(id: $0, label: String(repeating: "label \(round) ", count: 20)) },
                context: context(sequence))
            sequence += 1
            largest = max(largest, index.tables.texts.count)
        }
        // 40 labels of about 200 bytes, replaced 20 times: 160 kB written, far less kept.
        XCTAssertLessThan(largest, 100_000, "replaced texts were never reclaimed")
        XCTAssertLessThan(index.tables.texts.wasteBytes, 1 << 16)
        for id in ids {
            XCTAssertEqual(index.credential(id: id)?.label, String(repeating: "label 19 ", count: 20))
        }
        XCTAssertEqual(
            try VaultIndex(checkpointEncoding: index.checkpointEncoding()).checkpointEncoding(),
            index.checkpointEncoding())

        let before = index.tables.texts
        XCTAssertThrowsError(
            try index.apply(
                [
                    .relabelCredential(id: ids[0], label: "kept only if all apply"),
                    .relabelCredential(id: ids[1], label: ""),
                ], context: context(sequence)))
        try index.validate(
            [.relabelCredential(id: ids[0], label: "validated, not applied")], context: context(sequence))
        XCTAssertEqual(index.tables.texts.bytes, before.bytes)
        XCTAssertEqual(index.tables.texts.wasteBytes, before.wasteBytes)
        XCTAssertEqual(index.credential(id: ids[0])?.label, String(repeating: "label 19 ", count: 20))
    }

    /// Builds an index of `count` instances, each alone in its candidate and slug group (the
    /// worst case), and sums the allocated capacity of the per-credential tables: arrays at
    /// `capacity × stride`, handle tables at their buckets' bytes.
    private func measureTablesPerInstance(count: Int) throws -> Int {
        var index = VaultIndex()
        let organization = OrganizationID(high: 1, low: 1)
        try index.apply([.createOrganization(id: organization, slug: "acme", name: "Acme")], context: context(1))
        let value = fields(["token": "sk-0123456789abcdef"])
        var sequence: UInt64 = 2
        for chunk in stride(from: 0, to: count, by: 1000) {
            let operations = (chunk..<min(chunk + 1000, count)).map { number in
                ModelOperation.createCredential(
                    NewCredential(
                        CredentialMetadata(
                            id: CredentialID(high: 9, low: UInt64(number)), organization: organization,
                            appKey: "app\(number % 200)",
                            slug: "s\(number / 200)", label: "L", kind: .apiKey, type: .apiToken, category: .custom,
                            owner: .organization(organization)), fields: value))
            }
            try index.apply(operations, context: context(sequence))
            sequence += 1
        }
        let tables = index.tables
        func array<Element>(_ array: [Element]) -> Int {
            array.capacity * MemoryLayout<Element>.stride
        }
        let total =
            array(tables.credentials) + tables.credentialSlots.allocatedBytes + tables.candidateHeads.allocatedBytes
            + tables.slugHeads.allocatedBytes + array(tables.history) + array(tables.texts.bytes)
        return total / count
    }
}
