import CofferCrypto
import CofferErrors
import CofferTestSupport
import XCTest

@testable import CofferModel

final class ResolutionTests: XCTestCase {
    /// The credentials every scenario resolves against, with their ids by name.
    struct World {
        var fixture: Fixture
        var ids: [String: CredentialID] = [:]

        init() throws {
            fixture = try Fixture()
            func add(
                _ name: String, _ app: String, _ slug: String, _ scope: ScopeTarget, in organization: String = "acme",
                isDefault: Bool = false
            ) throws {
                ids[name] = try fixture.token(app, slug, at: [scope], in: organization, isDefault: isDefault)[0]
            }
            try add("exa.org", "exa", "main", .organization)
            try add("slack.work", "slack", "work", .organization, isDefault: true)
            try add("slack.ops", "slack", "ops", .organization)
            try add("linear.a", "linear", "a", .organization)
            try add("linear.b", "linear", "b", .organization)
            try add("github.org", "github", "main", .organization)
            try add("github.web", "github", "main", .project("web"))
            try add("github.api.revoked", "github", "old", .project("api"))
            try add("notion.org", "notion", "main", .organization)
            try add("notion.web1", "notion", "one", .project("web"))
            try add("notion.web2", "notion", "two", .project("web"))
            try add("notion.web3", "notion", "three", .project("web"))
            try add("openai.alice", "openai", "mine", .user("alice"))
            try add("anthropic.revoked", "anthropic", "main", .organization)
            try add("globex.exa", "exa", "main", .organization, in: "globex")
            let fanned = try fixture.token("jira", "main", at: [.organization, .project("web"), .project("api")])
            ids["jira.org"] = fanned[0]
            ids["jira.web"] = fanned[1]
            ids["jira.api"] = fanned[2]
            try fixture.vault.commit(
                fixture.vault.planner.revokeCredential(ids["github.api.revoked"]!.description, in: "acme"))
            try fixture.vault.commit(
                fixture.vault.planner.revokeCredential(ids["anthropic.revoked"]!.description, in: "acme"))
            try assign("slack.ops", AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch"))
            try assign("linear.a", AssignmentTarget(kind: .agent, slug: "helper"))
            try assign("linear.b", AssignmentTarget(kind: .agent, slug: "helper", consumer: "search"))
            try assign("github.web", AssignmentTarget(kind: .poll, slug: "sync"))
            try assign("exa.org", AssignmentTarget(kind: .workflow, slug: "report", consumer: "step-1"))
            try assign("notion.web1", AssignmentTarget(kind: .workflow, slug: "gone"))
            try fixture.vault.commit(
                fixture.vault.planner.revokeCredential(ids["notion.web1"]!.description, in: "acme"))
        }

        mutating func assign(_ name: String, _ target: AssignmentTarget) throws {
            try fixture.vault.commit(fixture.vault.planner.assign(ids[name]!.description, to: target, in: "acme"))
        }
    }

    enum Expected {
        case resolved(String, ResolutionStage)
        case failed(CofferError.Code)
    }

    struct Scenario {
        let name: String
        let app: String
        var organization = "acme"
        var project: String? = nil
        var user: String? = nil
        var selection: String? = nil
        var pinned: CredentialScope? = nil
        var consumer: AssignmentTarget? = nil
        let expected: Expected
    }

    static let scenarios: [Scenario] = [
        // Scope chain.
        Scenario(name: "single org instance", app: "exa", expected: .resolved("exa.org", .organizationScope)),
        Scenario(
            name: "project without instances falls to org", app: "exa", project: "web",
            expected: .resolved("exa.org", .organizationScope)),
        Scenario(
            name: "project instance beats org", app: "github", project: "web",
            expected: .resolved("github.web", .projectScope)),
        Scenario(
            name: "revoked project instance is skipped", app: "github", project: "api",
            expected: .resolved("github.org", .organizationScope)),
        Scenario(
            name: "org default among several", app: "slack", expected: .resolved("slack.work", .organizationScope)),
        Scenario(name: "several org instances without default", app: "linear", expected: .failed(.ambiguous)),
        Scenario(
            name: "project ambiguity does not fall through", app: "notion", project: "web",
            expected: .failed(.ambiguous)),
        Scenario(name: "nothing connected", app: "stripe", project: "web", expected: .failed(.credentialMissing)),
        Scenario(name: "only revoked instances", app: "anthropic", expected: .failed(.credentialMissing)),
        Scenario(
            name: "user scope is not in the unpinned chain", app: "openai", user: "alice",
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "fan-out: web instance", app: "jira", project: "web", expected: .resolved("jira.web", .projectScope)),
        Scenario(
            name: "fan-out: api instance", app: "jira", project: "api", expected: .resolved("jira.api", .projectScope)),
        Scenario(name: "fan-out: org instance", app: "jira", expected: .resolved("jira.org", .organizationScope)),
        // Pinned scopes.
        Scenario(
            name: "pinned user with the user", app: "openai", user: "alice", pinned: .user,
            expected: .resolved("openai.alice", .pinnedScope)),
        Scenario(name: "pinned user without a user", app: "openai", pinned: .user, expected: .failed(.noUserActor)),
        Scenario(
            name: "pinned user, another user", app: "openai", user: "bob", pinned: .user,
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "pinned org skips the project", app: "github", project: "web", pinned: .organization,
            expected: .resolved("github.org", .pinnedScope)),
        Scenario(
            name: "pinned project without a project", app: "github", pinned: .project,
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "pinned project does not fall back", app: "exa", project: "web", pinned: .project,
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "pinned project wins", app: "github", project: "web", pinned: .project,
            expected: .resolved("github.web", .pinnedScope)),
        Scenario(name: "pinned org ambiguity", app: "linear", pinned: .organization, expected: .failed(.ambiguous)),
        // Explicit selection.
        Scenario(
            name: "selection beats project", app: "github", project: "web", selection: "github.org",
            expected: .resolved("github.org", .explicitSelection)),
        Scenario(
            name: "selection beats assignment", app: "slack", selection: "slack.work",
            consumer: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch"),
            expected: .resolved("slack.work", .explicitSelection)),
        Scenario(
            name: "selection resolves an ambiguity", app: "linear", selection: "linear.b",
            expected: .resolved("linear.b", .explicitSelection)),
        Scenario(name: "selection of an unknown id", app: "exa", selection: "unknown", expected: .failed(.notFound)),
        Scenario(
            name: "selection of a revoked instance", app: "anthropic", selection: "anthropic.revoked",
            expected: .failed(.credentialRevoked)),
        Scenario(name: "selection of another app", app: "exa", selection: "slack.work", expected: .failed(.wrongApp)),
        Scenario(
            name: "selection from another organization, answered as unknown", app: "exa", selection: "globex.exa",
            expected: .failed(.notFound)),
        Scenario(
            name: "selection of another project's instance", app: "jira", project: "web", selection: "jira.api",
            expected: .failed(.notVisible)),
        Scenario(
            name: "selection of a project instance without project", app: "jira", selection: "jira.web",
            expected: .failed(.notVisible)),
        Scenario(
            name: "selection of another user's instance", app: "openai", user: "bob", selection: "openai.alice",
            expected: .failed(.notVisible)),
        Scenario(
            name: "selection of a user instance without user", app: "openai", selection: "openai.alice",
            expected: .failed(.noUserActor)),
        Scenario(
            name: "selection of the user's own instance", app: "openai", user: "alice", selection: "openai.alice",
            expected: .resolved("openai.alice", .explicitSelection)),
        // Assignments.
        Scenario(
            name: "exact assignment beats default", app: "slack",
            consumer: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch"),
            expected: .resolved("slack.ops", .exactAssignment)),
        Scenario(
            name: "assignment of another consumer does not apply", app: "slack",
            consumer: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "other"),
            expected: .resolved("slack.work", .organizationScope)),
        Scenario(
            name: "assignment of another target kind does not apply", app: "slack",
            consumer: AssignmentTarget(kind: .agent, slug: "triage", consumer: "fetch"),
            expected: .resolved("slack.work", .organizationScope)),
        Scenario(
            name: "wildcard assignment", app: "linear",
            consumer: AssignmentTarget(kind: .agent, slug: "helper", consumer: "write"),
            expected: .resolved("linear.a", .wildcardAssignment)),
        Scenario(
            name: "exact before wildcard", app: "linear",
            consumer: AssignmentTarget(kind: .agent, slug: "helper", consumer: "search"),
            expected: .resolved("linear.b", .exactAssignment)),
        Scenario(
            name: "wildcard consumer asks for wildcard", app: "linear",
            consumer: AssignmentTarget(kind: .agent, slug: "helper"),
            expected: .resolved("linear.a", .wildcardAssignment)),
        Scenario(
            name: "assignment beats pinned scope", app: "exa", pinned: .user,
            consumer: AssignmentTarget(kind: .workflow, slug: "report", consumer: "step-1"),
            expected: .resolved("exa.org", .exactAssignment)),
        Scenario(
            name: "assignment is for its app only", app: "github",
            consumer: AssignmentTarget(kind: .workflow, slug: "report", consumer: "step-1"),
            expected: .resolved("github.org", .organizationScope)),
        Scenario(
            name: "assigned project instance in its project", app: "github", project: "web",
            consumer: AssignmentTarget(kind: .poll, slug: "sync", consumer: "pull"),
            expected: .resolved("github.web", .wildcardAssignment)),
        Scenario(
            name: "assigned project instance in another project", app: "github", project: "api",
            consumer: AssignmentTarget(kind: .poll, slug: "sync", consumer: "pull"), expected: .failed(.notVisible)),
        Scenario(
            name: "assigned instance revoked", app: "notion", project: "web",
            consumer: AssignmentTarget(kind: .workflow, slug: "gone", consumer: "x"),
            expected: .failed(.credentialRevoked)),
        // Isolation.
        Scenario(
            name: "other organization's instance", app: "exa", organization: "globex",
            expected: .resolved("globex.exa", .organizationScope)),
        Scenario(
            name: "other organization has nothing", app: "slack", organization: "globex",
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "assignments are per organization", app: "slack", organization: "globex",
            consumer: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch"),
            expected: .failed(.credentialMissing)),
        Scenario(
            name: "non-member pinned user", app: "openai", organization: "globex", user: "alice", pinned: .user,
            expected: .failed(.invalidInput)),
    ]

    func testScenarioTable() throws {
        let world = try World()
        let index = world.fixture.index
        XCTAssertEqual(index.checkInvariants(), [])
        for scenario in Self.scenarios {
            let organization = try index.organizationID(scenario.organization)
            let context = RunContext(
                organization: organization,
                project: try scenario.project.map { try index.projectID($0, in: organization) },
                user: try scenario.user.map { try index.userID($0) })
            let selection = scenario.selection.map { world.ids[$0] ?? CredentialID(high: 1, low: 2) }
            let request = ResolutionRequest(
                appKey: scenario.app, context: context, selection: selection, pinnedScope: scenario.pinned,
                consumer: scenario.consumer)
            let resolution = index.resolve(request)
            // A run context the model refuses (invalid_input) stops before any step.
            if case .failed(.invalidInput) = scenario.expected {
                XCTAssertTrue(resolution.trace.isEmpty, scenario.name)
            } else {
                XCTAssertFalse(resolution.trace.isEmpty, scenario.name)
            }
            switch (scenario.expected, resolution) {
            case (.resolved(let name, let stage), .resolved(let credential, let trace)):
                XCTAssertEqual(credential.id, world.ids[name], "\(scenario.name): \(trace)")
                XCTAssertEqual(credential.stage, stage, scenario.name)
                XCTAssertEqual(trace.last?.outcome, .won, scenario.name)
                XCTAssertEqual(credential.location, index.credential(id: credential.id)?.currentLocation, scenario.name)
            case (.failed(let code), .failed(let error, let trace)):
                XCTAssertEqual(error.code, code, "\(scenario.name): \(error.message)")
                XCTAssertFalse(error.message.contains("sk-test"), scenario.name)
                if code == .ambiguous {
                    XCTAssertGreaterThan(error.candidates.count, 1, scenario.name)
                    XCTAssertEqual(trace.last?.outcome, .failed, scenario.name)
                }
            default:
                XCTFail("\(scenario.name): expected \(scenario.expected), got \(resolution)")
            }
        }
    }

    func testMessagesTellWhatToDo() throws {
        let world = try World()
        let index = world.fixture.index
        let acme = world.fixture.acme
        let web = world.fixture.web

        let missing = index.resolve(
            ResolutionRequest(appKey: "stripe", context: RunContext(organization: acme, project: web)))
        guard case .failed(let error, _) = missing else { return XCTFail("expected a failure") }
        // No consumer was named: the message speaks of the run, and of the engine, not of an app's pages.
        XCTAssertTrue(error.message.hasPrefix("The run needs the `stripe` credential"), error.message)
        XCTAssertTrue(error.message.contains("project web or organization acme"), error.message)
        XCTAssertFalse(error.message.contains("page") || error.message.contains("credentials set"), error.message)

        let workflow = index.resolve(
            ResolutionRequest(
                appKey: "stripe", context: RunContext(organization: acme),
                consumer: AssignmentTarget(kind: .workflow, slug: "w")))
        guard case .failed(let workflowError, _) = workflow else { return XCTFail("expected a failure") }
        XCTAssertTrue(
            workflowError.message.hasPrefix("This workflow needs the `stripe` credential"), workflowError.message)

        let ambiguous = index.resolve(ResolutionRequest(appKey: "linear", context: RunContext(organization: acme)))
        guard case .failed(let ambiguity, _) = ambiguous else { return XCTFail("expected a failure") }
        XCTAssertTrue(ambiguity.message.hasPrefix("Multiple `linear` credentials are available"), ambiguity.message)
        XCTAssertTrue(ambiguity.message.contains("mark one default, or pass an explicit selection"), ambiguity.message)
        XCTAssertEqual(
            Set(ambiguity.candidates.map { String($0.split(separator: " ")[0]) }),
            [world.ids["linear.a"]!.description, world.ids["linear.b"]!.description])
    }

    func testTraceExplainsEachStep() throws {
        let world = try World()
        let index = world.fixture.index
        let request = ResolutionRequest(
            appKey: "exa", context: RunContext(organization: world.fixture.acme, project: world.fixture.web),
            consumer: AssignmentTarget(kind: .agent, slug: "researcher", consumer: "search"))
        let resolution = index.resolve(request)
        XCTAssertEqual(
            resolution.trace.map(\.stage),
            [.explicitSelection, .exactAssignment, .wildcardAssignment, .projectScope, .organizationScope])
        XCTAssertEqual(resolution.trace.map(\.outcome), [.skipped, .skipped, .skipped, .skipped, .won])
        XCTAssertEqual(resolution.trace.last?.candidates, [world.ids["exa.org"]!])
        XCTAssertTrue(resolution.trace.last!.reason.contains("only active instance"), resolution.trace.last!.reason)

        let defaulted = index.resolve(
            ResolutionRequest(appKey: "slack", context: RunContext(organization: world.fixture.acme)))
        XCTAssertEqual(Set(defaulted.trace.last!.candidates), [world.ids["slack.work"]!, world.ids["slack.ops"]!])
        XCTAssertTrue(defaulted.trace.last!.reason.contains("default"), defaulted.trace.last!.reason)
    }

    func testRunContextMustBeConsistent() throws {
        let fixture = try Fixture()
        let index = fixture.index
        assertThrowsCoffer(.invalidInput) {
            try index.resolveCredential(
                ResolutionRequest(
                    appKey: "exa", context: RunContext(organization: fixture.acme, project: fixture.globexWeb)))
        }
        assertThrowsCoffer(.notFound) {
            try index.resolveCredential(
                ResolutionRequest(appKey: "exa", context: RunContext(organization: OrganizationID(high: 9, low: 9))))
        }
        // A run acts for a member: erin belongs to globex only.
        let outsider = assertThrowsCoffer(.invalidInput) {
            try index.resolveCredential(
                ResolutionRequest(appKey: "exa", context: RunContext(organization: fixture.acme, user: fixture.erin)))
        }
        XCTAssertEqual(outsider?.message.contains("erin is not a member"), true, outsider?.message ?? "")
        // No app key: the caller's mistake, not a missing credential; no step was tried.
        let noApp = ResolutionRequest(appKey: "", context: RunContext(organization: fixture.acme))
        assertThrowsCoffer(.invalidInput) { try index.resolveCredential(noApp) }
        guard case .failed(let error, let trace) = index.resolve(noApp) else {
            return XCTFail("resolved with no app key")
        }
        XCTAssertEqual(error.code, .invalidInput)
        XCTAssertTrue(trace.isEmpty)
    }

    /// OPS-RESOLVE-2: a target no assignment can name is refused, not taken for a consumer
    /// without assignments (the organization's `exa` would otherwise win).
    func testTargetNoAssignmentCanNameIsRefused() throws {
        let world = try World()
        let index = world.fixture.index
        let context = RunContext(organization: world.fixture.acme)
        for target in [
            AssignmentTarget(kind: .workflow, slug: "Bad Name"), AssignmentTarget(kind: .workflow, slug: ""),
            AssignmentTarget(kind: .agent, slug: "helper", consumer: "two words"),
            AssignmentTarget(kind: .agent, slug: "helper", consumer: ""),
        ] {
            let request = ResolutionRequest(appKey: "exa", context: context, consumer: target)
            XCTAssertEqual(
                assertThrowsCoffer(.invalidInput) { try index.resolveCredential(request) }?.code, .invalidInput,
                "\(target)")
            guard case .failed(let error, let trace) = index.resolve(request) else {
                return XCTFail("\(target) resolved")
            }
            XCTAssertEqual(error.code, .invalidInput, "\(target)")
            XCTAssertEqual(trace.last?.outcome, .failed, "\(target)")
        }
        // An exact assignment still wins, and a well-formed target without one falls through.
        let assigned = ResolutionRequest(
            appKey: "linear", context: context,
            consumer: AssignmentTarget(kind: .agent, slug: "helper", consumer: "search"))
        XCTAssertEqual(try index.resolveCredential(assigned).id, world.ids["linear.b"])
        let unassigned = ResolutionRequest(
            appKey: "exa", context: context, consumer: AssignmentTarget(kind: .agent, slug: "other", consumer: "x:y"))
        XCTAssertEqual(try index.resolveCredential(unassigned).id, world.ids["exa.org"])
    }

    func testNewDefaultChangesTheWinner() throws {
        var world = try World()
        try world.fixture.vault.commit(
            world.fixture.vault.planner.updateCredential(
                world.ids["slack.ops"]!.description, in: "acme", CredentialUpdate(isDefault: true),
                reveal: world.fixture.vault.read))
        let index = world.fixture.index
        let resolved = try index.resolveCredential(
            ResolutionRequest(appKey: "slack", context: RunContext(organization: world.fixture.acme)))
        XCTAssertEqual(resolved.id, world.ids["slack.ops"])
        XCTAssertEqual(index.credential(id: world.ids["slack.work"]!)?.isDefault, false)
        XCTAssertEqual(index.checkInvariants(), [])
    }
}
