import CofferCrypto
import CofferTestSupport
import XCTest

@testable import CofferModel

final class CascadeTests: XCTestCase {
    /// Everything removable, as sets, to compare an impact with what really went away.
    struct Contents: Equatable {
        var credentials: Set<CredentialID> = []
        var assignments: Set<AssignmentInfo> = []
        var defaults: Set<CredentialID> = []
        var activeKeys: Set<APIKeyID> = []
        var keys: Set<APIKeyID> = []
        var memberships: Set<MembershipInfo> = []
        var projects: Set<ProjectID> = []

        init(_ index: VaultIndex) {
            for organization in index.organizations() {
                let listed = index.credentials(matching: CredentialFilter(organization: organization.id))
                credentials.formUnion(listed.map(\.id))
                defaults.formUnion(listed.filter(\.isDefault).map(\.id))
                assignments.formUnion(index.assignments(organization: organization.id))
                memberships.formUnion(index.memberships(in: organization.id))
                projects.formUnion(index.projects(in: organization.id).map(\.id))
                let keys = index.tables.apiKeys.values.filter {
                    index.tables.organization($0.organization).id == organization.id
                }
                self.keys.formUnion(keys.map(\.id))
                activeKeys.formUnion(keys.filter { $0.state == .active }.map(\.id))
            }
        }
    }

    /// Commits a removal plan and checks that its impact is exactly what disappeared.
    func assertImpactMatches(
        _ plan: Plan<Impact>, in vault: inout TestVault, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let before = Contents(vault.index)
        try vault.commit(plan)
        let after = Contents(vault.index)
        let impact = plan.value
        XCTAssertEqual(
            Set(impact.deletedCredentials), before.credentials.subtracting(after.credentials), file: file, line: line)
        XCTAssertEqual(
            Set(impact.removedAssignments), before.assignments.subtracting(after.assignments), file: file, line: line)
        XCTAssertEqual(Set(impact.clearedDefaults), before.defaults.subtracting(after.defaults), file: file, line: line)
        XCTAssertEqual(
            Set(impact.revokedAPIKeys), before.activeKeys.subtracting(after.activeKeys).intersection(after.keys),
            file: file, line: line)
        XCTAssertEqual(Set(impact.deletedAPIKeys), before.keys.subtracting(after.keys), file: file, line: line)
        XCTAssertEqual(
            Set(impact.removedMemberships), before.memberships.subtracting(after.memberships), file: file, line: line)
        XCTAssertEqual(Set(impact.removedProjects), before.projects.subtracting(after.projects), file: file, line: line)
        XCTAssertEqual(vault.index.checkInvariants(), [], file: file, line: line)
    }

    /// Acme with credentials at every scope, defaults, assignments and API keys.
    func populated() throws -> Fixture {
        var fixture = try Fixture()
        let org = try fixture.token("exa", "main", isDefault: true)[0]
        let web = try fixture.token("exa", "main", at: [.project("web")], isDefault: true)[0]
        try fixture.token("exa", "other", at: [.project("web")])
        let bob = try fixture.token("slack", "mine", at: [.user("bob")], isDefault: true)[0]
        try fixture.token("slack", "mine", at: [.user("alice")])
        for (id, target) in [
            (org, AssignmentTarget(kind: .agent, slug: "helper")),
            (web, AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch")),
            (web, AssignmentTarget(kind: .poll, slug: "sync")),
            (bob, AssignmentTarget(kind: .agent, slug: "helper", consumer: "dm")),
        ] {
            try fixture.vault.commit(fixture.vault.planner.assign(id.description, to: target, in: "acme"))
        }
        let hashKey = SecureBytes(randomCount: 32)
        for creator in ["alice", "bob", "bob"] {
            try fixture.vault.commit(
                fixture.vault.planner.createAPIKey(in: "acme", creator: creator, name: "key", hashKey: hashKey))
        }
        return fixture
    }

    func testDeleteImpactEqualsWhatDeleteRemoves() throws {
        var fixture = try populated()
        let web = try fixture.index.selectCredential("project/main", in: fixture.acme)
        let impact = try fixture.vault.planner.deletionImpact(of: web.description, in: "acme")
        XCTAssertEqual(impact.removedAssignments.count, 2)
        XCTAssertEqual(impact.clearedDefaults, [web])
        XCTAssertEqual(impact.deletedCredentials, [web])
        let plan = try fixture.vault.planner.deleteCredential(web.description, in: "acme")
        XCTAssertEqual(plan.value, impact)
        try assertImpactMatches(plan, in: &fixture.vault)
        XCTAssertTrue(fixture.index.assignments(organization: fixture.acme, kind: .poll).isEmpty)
        // With the project default gone, the remaining project instance resolves alone.
        let resolved = try fixture.index.resolveCredential(
            ResolutionRequest(appKey: "exa", context: RunContext(organization: fixture.acme, project: fixture.web)))
        XCTAssertEqual(resolved.id, try fixture.index.selectCredential("other", in: fixture.acme))
    }

    func testRemovingAProjectRemovesItsCredentials() throws {
        var fixture = try populated()
        let plan = try fixture.vault.planner.removeProject("web", in: "acme")
        XCTAssertEqual(plan.value.deletedCredentials.count, 2)
        XCTAssertEqual(plan.value.removedProjects, [fixture.web])
        try assertImpactMatches(plan, in: &fixture.vault)
        XCTAssertNil(fixture.index.project(id: fixture.web))
        XCTAssertEqual(
            fixture.index.credentials(matching: CredentialFilter(organization: fixture.acme, scope: .project)).count, 0)
    }

    func testRemovingAUserRemovesItsCredentialsAndRevokesItsKeys() throws {
        var fixture = try populated()
        let plan = try fixture.vault.planner.removeUser("bob")
        XCTAssertEqual(plan.value.deletedCredentials.count, 1)
        XCTAssertEqual(plan.value.revokedAPIKeys.count, 2)
        XCTAssertEqual(plan.value.removedMemberships.map(\.user), [fixture.bob])
        try assertImpactMatches(plan, in: &fixture.vault)
        XCTAssertNil(fixture.index.user(id: fixture.bob))
        // Revoked keys stay listed for owners, with the removed creator's id.
        let keys = try fixture.index.apiKeys(organization: fixture.acme, visibleTo: fixture.alice)
        XCTAssertEqual(keys.filter { $0.creator == fixture.bob }.map(\.state), [.revoked, .revoked])
        // Alice's user credential is untouched.
        XCTAssertEqual(
            fixture.index.credentials(matching: CredentialFilter(organization: fixture.acme, user: fixture.alice))
                .count, 1)
    }

    func testRemovingAMembership() throws {
        var fixture = try populated()
        // Alice is acme's only owner: she is not removed, alone or with her user
        // (OP-MEMBER-REMOVE-2), until another member owns it.
        assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.removeMember("alice", from: "acme") }
        assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.removeUser("alice") }
        try fixture.vault.commit(try fixture.vault.planner.changeRole(of: "bob", in: "acme", to: .owner))
        try assertImpactMatches(try fixture.vault.planner.removeMember("alice", from: "acme"), in: &fixture.vault)
        XCTAssertNil(fixture.index.role(of: fixture.alice, in: fixture.acme))
        XCTAssertNotNil(fixture.index.user(id: fixture.alice))
        assertThrowsCoffer(.notFound) { try fixture.vault.planner.removeMember("alice", from: "acme") }
    }

    func testRemovingAnOrganizationRefusesOrCascades() throws {
        var fixture = try populated()
        let refusal = assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.removeOrganization("acme") }
        XCTAssertTrue(refusal?.message.contains("2 projects") ?? false, refusal?.message ?? "")
        let plan = try fixture.vault.planner.removeOrganization("acme", cascade: true)
        XCTAssertEqual(plan.value.deletedAPIKeys.count, 3)
        try assertImpactMatches(plan, in: &fixture.vault)
        XCTAssertNil(fixture.index.organization("acme"))
        XCTAssertNotNil(fixture.index.organization("globex"))
        XCTAssertEqual(fixture.index.statistics().credentials, 0)
        // An empty organization goes without cascade.
        try fixture.vault.commit(fixture.vault.planner.createOrganization(slug: "empty", name: "Empty"))
        try assertImpactMatches(try fixture.vault.planner.removeOrganization("empty"), in: &fixture.vault)
    }

    func testRevokeKeepsTheInstanceListedAndClearsItsDefault() throws {
        var fixture = try populated()
        let org = try fixture.index.selectCredential("org/main", in: fixture.acme)
        try fixture.vault.commit(fixture.vault.planner.revokeCredential(org.description, in: "acme"))
        let info = try XCTUnwrap(fixture.index.credential(id: org))
        XCTAssertEqual(info.state, .revoked)
        XCTAssertFalse(info.isDefault)
        XCTAssertEqual(fixture.index.history(of: org).suffix(2).map(\.kind), [.defaultCleared, .revoked])
        // Its assignment stays and now fails loudly.
        let resolution = fixture.index.resolve(
            ResolutionRequest(
                appKey: "exa", context: RunContext(organization: fixture.acme),
                consumer: AssignmentTarget(kind: .agent, slug: "helper", consumer: "x")))
        guard case .failed(let error, _) = resolution else { return XCTFail("expected a failure") }
        XCTAssertEqual(error.code, .credentialRevoked)
        assertThrowsCoffer(.invalidInput) { try fixture.vault.planner.revokeCredential(org.description, in: "acme") }
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.updateCredential(
                org.description, in: "acme", CredentialUpdate(fields: fields(["token": "new-value-123"])),
                reveal: fixture.vault.read)
        }
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.assign(org.description, to: AssignmentTarget(kind: .agent, slug: "b"), in: "acme")
        }
        XCTAssertEqual(fixture.index.checkInvariants(), [])
    }

    func testAssignReplacesAndUnassignRemoves() throws {
        var fixture = try populated()
        let other = try fixture.index.selectCredential("other", in: fixture.acme)
        let target = AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch")
        let plan = try fixture.vault.planner.assign(other.description, to: target, in: "acme")
        XCTAssertEqual(plan.operations.map(\.code), [.unassign, .assign])
        try fixture.vault.commit(plan)
        XCTAssertEqual(
            fixture.index.assignment(organization: fixture.acme, target: target, appKey: "exa")?.credential, other)
        XCTAssertTrue(try fixture.vault.planner.assign(other.description, to: target, in: "acme").isEmpty)
        try fixture.vault.commit(fixture.vault.planner.unassign(target, appKey: "exa", in: "acme"))
        XCTAssertNil(fixture.index.assignment(organization: fixture.acme, target: target, appKey: "exa"))
        assertThrowsCoffer(.notFound) { try fixture.vault.planner.unassign(target, appKey: "exa", in: "acme") }
        XCTAssertEqual(fixture.index.checkInvariants(), [])
    }

    func testFanOutCreatesSeparateInstances() throws {
        var fixture = try Fixture()
        let ids = try fixture.token(
            "exa", "main", at: [.organization, .project("web"), .project("api"), .user("carol")],
            value: "sk-fan-out-0001")
        XCTAssertEqual(Set(ids).count, 4)
        for id in ids {
            XCTAssertEqual(try fixture.vault.revealed(id)["token"], "sk-fan-out-0001")
        }
        XCTAssertEqual(
            Set(ids.compactMap { fixture.index.credential(id: $0)?.owner }),
            [.organization(fixture.acme), .project(fixture.web), .project(fixture.api), .user(fixture.carol)])
        assertThrowsCoffer(.alreadyExists) { try fixture.token("exa", "main", at: [.project("web")]) }
        assertThrowsCoffer(.invalidInput) { try fixture.token("exa", "dup", at: [.project("web"), .project("web")]) }
        assertThrowsCoffer(.invalidInput) { try fixture.token("exa", "x", at: [.user("erin")]) }
        assertThrowsCoffer(.notFound) { try fixture.token("exa", "x", at: [.project("nope")]) }
    }
}
