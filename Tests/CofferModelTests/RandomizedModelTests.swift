import CofferCrypto
import CofferErrors
import CofferReferenceModel
import XCTest

@testable import CofferModel

/// Random actions against the index (through the planner, the encoding and apply, as the
/// engine runs them) and against `ReferenceModel`, the model the operation-sequence fuzz
/// target runs against the public vault too: every action must be accepted or refused (with
/// which code) as the model predicts; after every step every query and a batch of resolutions
/// must agree, and at the end a replay of the log must give the same index.
final class RandomizedModelTests: XCTestCase {
    static let apps = ["exa", "slack", "linear"]
    static let slugs = ["a", "b", "c"]
    static let targets: [AssignmentTarget] = TargetKind.allCases.flatMap { kind in
        ["t1", "t2"].flatMap { slug in ["c1", "c2", "*"].map { AssignmentTarget(kind: kind, slug: slug, consumer: $0) }
        }
    }

    func testRandomOperationsAgreeWithTheReferenceModel() throws {
        for seed: UInt64 in [1, 2, 3, 4, 5, 0xDEAD_BEEF] {
            try run(seed: seed, steps: 250)
        }
    }

    struct Run {
        let seed: UInt64
        let random: SplitMix64
        var vault: TestVault
        /// Every value the run gives is a token its field's rule accepts.
        var model = ReferenceModel(acceptsValue: { _, _ in true })
        let hashKey = SecureBytes(randomCount: 32)
        var step = 0
        var action = ""

        var tag: String { "seed \(seed) step \(step) \(action)" }
    }

    /// A run with two organizations and four users, ready for random actions.
    static func start(seed: UInt64) -> Run {
        var run = Run(seed: seed, random: SplitMix64(seed: seed ^ 0x5EED), vault: TestVault(seed: seed))
        for slug in ["o1", "o2"] { createOrganization(&run, slug) }
        for handle in ["u1", "u2", "u3", "u4"] { createUser(&run, handle) }
        return run
    }

    func run(seed: UInt64, steps: Int) throws {
        var run = Self.start(seed: seed)
        for step in 0..<steps {
            run.step = step
            Self.randomAction(&run)
            try compare(run)
            if step % 100 == 99 { sweepResolutions(run) }
        }
        sweepResolutions(run)
        print(
            "seed \(seed): \(run.vault.log.count) transactions, \(run.model.liveCredentials.count) credentials, "
                + "\(run.model.assignments.count) assignments, \(run.model.apiKeys.count { !$0.isDeleted }) API keys "
                + "at the end")
        // Replaying the whole log gives the same index and the same answers.
        let replayed = try run.vault.replayed()
        XCTAssertEqual(Snapshot(replayed), Snapshot(run.vault.index), "seed \(seed): replay differs")
        var replayRun = run
        replayRun.vault.index = replayed
        replayRun.action = "after replay"
        try compare(replayRun)
    }

    // MARK: - Actions

    /// Runs `body` on the index and compares its outcome with the model's prediction: the same
    /// refusal, or an acceptance the model then takes in, checking what the index returned.
    static func settle<Value>(
        _ expected: ReferenceModel.Outcome<Value>, in run: inout Run, _ body: (inout TestVault) throws -> Value
    ) {
        let actual: Result<Value, CofferError>
        do {
            actual = .success(try body(&run.vault))
        } catch let error as CofferError {
            actual = .failure(error)
        } catch {
            XCTFail("\(run.tag): unexpected \(error)")
            return
        }
        switch (expected, actual) {
        case (.refused(let code), .failure(let error)):
            XCTAssertEqual(error.code, code, "\(run.tag): \(error.message)")
        case (.refused(let code), .success):
            XCTFail("\(run.tag): accepted; the model expects \(code)")
        case (.accepted, .failure(let error)):
            XCTFail("\(run.tag): refused with \(error.code) (\(error.message)); the model expects success")
        case (.accepted(let commit), .success(let value)):
            if let problem = commit(&run.model, value) { XCTFail("\(run.tag): \(problem)") }
        }
    }

    static func createOrganization(_ run: inout Run, _ slug: String) {
        run.action = "createOrganization \(slug)"
        settle(run.model.createOrganization(slug), in: &run) {
            try $0.commit($0.planner.createOrganization(slug: slug, name: slug.uppercased()))
        }
    }

    static func createUser(_ run: inout Run, _ handle: String) {
        run.action = "createUser \(handle)"
        settle(run.model.createUser(handle), in: &run) {
            try $0.commit($0.planner.createUser(handle: handle, displayName: handle))
        }
    }

    /// One random action. The model names organizations, projects and users by slug and
    /// handle; the planner is given their ids, as a service gives them.
    static func randomAction(_ run: inout Run) {
        let random = run.random
        let model = run.model
        let organizations = model.organizationsBySlug
        guard !organizations.isEmpty else { return createOrganization(&run, random.pick(["o1", "o2", "o3"])) }
        let organization = random.pick(organizations)
        let org = organization.id
        let orgRef = org.description
        let slug = organization.slug
        let credentials = model.liveCredentials.filter { $0.organization == org }
        let chosen = credentials.isEmpty ? nil : random.pick(credentials)
        let users = model.usersByHandle
        let user = users.isEmpty ? nil : random.pick(users)
        let roll = random.below(100)
        switch roll {
        case 0..<3:
            createOrganization(&run, random.pick(["o1", "o2", "o3"]))
        case 3..<4 where organizations.count > 1:
            run.action = "removeOrganization \(slug)"
            settle(model.removeOrganization(slug, cascade: true), in: &run) {
                try $0.commit($0.planner.removeOrganization(orgRef, cascade: true))
            }
        case 4..<8:
            let project = random.pick(["p1", "p2", "p3"])
            run.action = "createProject \(project) in \(slug)"
            settle(model.createProject(project, in: slug), in: &run) {
                try $0.commit($0.planner.createProject(in: orgRef, slug: project, name: project))
            }
        case 8..<10:
            guard let project = organization.projects.min(by: { $0.key < $1.key }) else { return }
            run.action = "removeProject \(project.key)"
            settle(model.removeProject(project.key, in: slug), in: &run) {
                try $0.commit($0.planner.removeProject(project.value.description, in: orgRef))
            }
        case 10..<13:
            createUser(&run, random.pick(["u1", "u2", "u3", "u4", "u5", "u6"]))
        case 13..<14:
            guard let user else { return }
            run.action = "removeUser \(user.handle)"
            settle(model.removeUser(user.handle), in: &run) {
                try $0.commit($0.planner.removeUser(user.id.description))
            }
        case 14..<22:
            guard let user else { return }
            let role = random.pick(Role.allCases)
            if random.chance(60) {
                run.action = "addMember \(user.handle) \(role)"
                settle(model.setRole(role, of: user.handle, in: slug, change: false), in: &run) {
                    try $0.commit($0.planner.addMember(user.id.description, to: orgRef, role: role))
                }
            } else if random.chance(50) {
                run.action = "changeRole \(user.handle) \(role)"
                settle(model.setRole(role, of: user.handle, in: slug, change: true), in: &run) {
                    try $0.commit($0.planner.changeRole(of: user.id.description, in: orgRef, to: role))
                }
            } else {
                run.action = "removeMember \(user.handle)"
                settle(model.removeMember(user.handle, from: slug), in: &run) {
                    try $0.commit($0.planner.removeMember(user.id.description, from: orgRef))
                }
            }
        case 22..<40:
            createCredential(&run, in: organization)
        case 40..<42:
            guard let chosen else { return }
            run.action = "reinstate \(chosen.id)"
            settle(model.reinstateCredential(.id(chosen.id), in: slug), in: &run) {
                try $0.commit($0.planner.reinstateCredential(chosen.id.description, in: orgRef))
            }
        case 42..<44:
            guard let chosen else { return }
            let newSlug = random.pick(Self.slugs)
            run.action = "change the slug of \(chosen.id) to \(newSlug)"
            settle(model.changeSlug(.id(chosen.id), to: newSlug, in: slug), in: &run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(slug: newSlug), reveal: $0.read))
            }
        case 44..<46:
            guard let chosen else { return }
            let label = random.pick(["L1", "L2"])
            run.action = "relabel \(chosen.id)"
            let expected = model.updateCredential(
                .id(chosen.id), in: slug, label: label, isDefault: nil, fields: [:], cleared: [])
            settle(expected, in: &run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(label: label), reveal: $0.read))
            }
        case 46..<54:
            guard let chosen else { return }
            let makeDefault = random.chance(70)
            run.action = "setDefault \(makeDefault) \(chosen.id)"
            let expected = model.updateCredential(
                .id(chosen.id), in: slug, label: nil, isDefault: makeDefault, fields: [:], cleared: [])
            settle(expected, in: &run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(isDefault: makeDefault), reveal: $0.read))
            }
        case 54..<62:
            guard let chosen else { return }
            let rotates = random.chance(50)
            let token = random.chance(20) ? Self.token(of: chosen) : "tok-\(random.next() % 1_000_000_000)"
            run.action = "\(rotates ? "rotate" : "update") \(chosen.id)"
            let given = ["token": Array(token.utf8)]
            let expected =
                rotates
                ? model.rotateCredential(.id(chosen.id), in: slug, fields: given)
                : model.updateCredential(
                    .id(chosen.id), in: slug, label: nil, isDefault: nil, fields: given, cleared: [])
            settle(expected, in: &run) {
                let values = fields(["token": token])
                let plan =
                    rotates
                    ? try $0.planner.rotateCredential(
                        chosen.id.description, in: orgRef, fields: values, reveal: $0.read)
                    : try $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(fields: values), reveal: $0.read)
                return try $0.commit(plan)
            }
        case 62..<66:
            guard let chosen else { return }
            run.action = "revoke \(chosen.id)"
            settle(model.revokeCredential(.id(chosen.id), in: slug), in: &run) {
                try $0.commit($0.planner.revokeCredential(chosen.id.description, in: orgRef))
            }
        case 66..<70:
            guard let chosen else { return }
            run.action = "delete \(chosen.id)"
            // The model checks the impact: the credential, its assignments, its default mark.
            settle(model.deleteCredential(.id(chosen.id), in: slug), in: &run) {
                try $0.commit($0.planner.deleteCredential(chosen.id.description, in: orgRef))
            }
        case 70..<80:
            guard let chosen else { return }
            let target = random.pick(Self.targets)
            run.action = "assign \(chosen.id) to \(target)"
            settle(model.assign(.id(chosen.id), to: target, in: slug), in: &run) {
                try $0.commit($0.planner.assign(chosen.id.description, to: target, in: orgRef))
            }
        case 80..<84:
            let target = random.pick(Self.targets)
            let app = random.pick(Self.apps)
            run.action = "unassign \(target) \(app)"
            settle(model.unassign(target, app: app, in: slug), in: &run) {
                try $0.commit($0.planner.unassign(target, appKey: app, in: orgRef))
            }
        case 84..<90:
            guard let user else { return }
            run.action = "createAPIKey by \(user.handle)"
            let hashKey = run.hashKey
            settle(model.createAPIKey(in: slug, creator: user.handle), in: &run) {
                try $0.commit(
                    $0.planner.createAPIKey(in: orgRef, creator: user.id.description, name: "k", hashKey: hashKey))
            }
        case 90..<95:
            guard let user, let key = model.apiKeys.firstIndex(where: { !$0.isDeleted && $0.organization == org })
            else { return }
            let id = model.apiKeys[key].id
            run.action = "revokeAPIKey \(id) by \(user.handle)"
            settle(model.revokeAPIKey(key, in: slug, actingUser: user.handle), in: &run) {
                try $0.commit($0.planner.revokeAPIKey(id, in: orgRef, actingUser: user.id.description))
            }
        default:
            let count = 1 + random.below(4)
            run.action = "setRetention \(count)"
            settle(model.setRetention(count), in: &run) { try $0.commit($0.planner.setVersionRetention(count)) }
        }
    }

    /// A token credential at one to three scopes, among them users who are not members.
    static func createCredential(_ run: inout Run, in organization: ReferenceModel.Organization) {
        let random = run.random
        let model = run.model
        let app = random.pick(Self.apps)
        let slug = random.pick(Self.slugs)
        // Each scope as the planner is given it (by id) and as the model names it.
        typealias Scope = (engine: ScopeTarget, model: ScopeTarget)
        var pool: [Scope] = [(.organization, .organization)]
        pool += organization.projects.sorted { $0.key < $1.key }.map { project -> Scope in
            (.project(project.value.description), .project(project.key))
        }
        pool += model.usersByHandle.filter { random.chance(15) || model.isMember($0.id, of: organization.id) }.map {
            user -> Scope in (.user(user.id.description), .user(user.handle))
        }
        var scopes: [Scope] = []
        for _ in 0..<(1 + random.below(3)) {
            let scope = random.pick(pool)
            if !scopes.contains(where: { $0.engine == scope.engine }) { scopes.append(scope) }
        }
        let isDefault = random.chance(30)
        let token = "tok-\(random.next() % 1_000_000_000)"
        run.action = "createCredential \(app)/\(slug) at \(scopes.map(\.model)) default \(isDefault)"
        let draft = CredentialDraft(
            appKey: app, slug: slug, label: "L1", type: .apiToken, fields: fields(["token": token]),
            isDefault: isDefault)
        let expected = model.createCredential(
            in: organization.slug, app: app, slug: slug, label: draft.label, type: .apiToken,
            fields: ["token": Array(token.utf8)], scopes: scopes.map(\.model), isDefault: isDefault)
        settle(expected, in: &run) {
            try $0.commit(
                $0.planner.createCredential(in: organization.id.description, draft, scopes: scopes.map(\.engine)))
        }
    }

    /// The current token of a credential of the run, all of which are `api_token`s.
    static func token(of credential: ReferenceModel.Credential) -> String {
        String(decoding: credential.current["token"] ?? [], as: UTF8.self)
    }

    // MARK: - Comparing

    func compare(_ run: Run) throws {
        let index = run.vault.index
        let model = run.model
        let tag = run.tag
        XCTAssertEqual(index.checkInvariants(), [], tag)
        XCTAssertEqual(Set(index.organizations().map(\.id)), Set(model.organizations.values.map(\.id)), tag)
        XCTAssertEqual(Set(index.users().map(\.id)), Set(model.users.values), tag)
        for organization in model.organizationsBySlug {
            let org = organization.id
            XCTAssertEqual(Set(index.projects(in: org).map(\.id)), Set(organization.projects.values), tag)
            XCTAssertEqual(
                Set(index.memberships(in: org)),
                Set(
                    model.roles.filter { $0.key.organization == org }.map {
                        MembershipInfo(user: $0.key.user, organization: org, role: $0.value)
                    }),
                tag)
            let listed = index.credentials(matching: CredentialFilter(organization: org))
            let expected = model.liveCredentials.filter { $0.organization == org }
            XCTAssertEqual(Set(listed.map(\.id)), Set(expected.map(\.id)), tag)
            for credential in expected {
                guard let info = index.credential(id: credential.id) else { continue }
                XCTAssertEqual(info.appKey, credential.app, tag)
                XCTAssertEqual(info.slug, credential.slug, tag)
                XCTAssertEqual(info.label, credential.label, tag)
                XCTAssertEqual(info.owner, credential.scopeOwner(), tag)
                XCTAssertEqual(info.state, credential.isRevoked ? .revoked : .active, tag)
                XCTAssertEqual(info.version, credential.version, tag)
                XCTAssertEqual(info.isDefault, credential.isDefault, tag)
                let token = Self.token(of: credential)
                XCTAssertEqual(info.fields.first?.text, Preview.of(secret(token)), tag)
                XCTAssertEqual(index.versions(of: credential.id).map(\.version), credential.retainedVersions, tag)
                XCTAssertEqual(index.history(of: credential.id).map(\.kind), credential.history, tag)
                // The engine's reveal reads back exactly the stored token.
                let revealed = try run.vault.revealed(credential.id)
                XCTAssertTrue(revealed["token"] == token, "\(tag): revealed token differs")
            }
            XCTAssertEqual(Set(index.assignments(organization: org)), model.assignments(in: org), tag)
        }
        for credential in model.credentials where credential.isDeleted {
            XCTAssertNil(index.credential(id: credential.id), "\(tag): \(credential.id) was deleted")
        }
        // Deleted and revoked keys, and keys of creators no longer members, do not authenticate.
        for key in model.apiKeys {
            let check = try? index.checkAPIKey(key.secret, hashKey: run.hashKey)
            let role = model.check(key)
            XCTAssertEqual(check?.apiKey, role == nil ? nil : key.id, tag)
            XCTAssertEqual(check?.role, role, tag)
        }
        try compareResolutions(run)
    }

    /// Every combination of app, project, user, pinned scope and consumer in every
    /// organization (selections are sampled in `compareResolutions`).
    func sweepResolutions(_ run: Run) {
        let model = run.model
        let consumers: [AssignmentTarget?] = [nil, Self.targets[0], Self.targets[4], Self.targets[8]]
        for organization in model.organizationsBySlug {
            let projects: [ProjectID?] = [nil] + organization.projects.values.sorted()
            let users: [UserID?] = [nil] + model.usersByHandle.map(\.id)
            for app in Self.apps + ["unknown-app"] {
                for project in projects {
                    for user in users {
                        for pinned in [nil] + CredentialScope.allCases {
                            for consumer in consumers {
                                let request = ReferenceModel.Request(
                                    organization: organization.id, app: app, project: project, user: user,
                                    pinned: pinned, consumer: consumer)
                                XCTAssertEqual(
                                    outcome(run.vault.index, request.engineRequest), model.resolve(request),
                                    "\(run.tag): \(request.engineRequest)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The outcome of resolving with the explain trace, checked against the form without it:
    /// the same instance and stage, or the same error word for word.
    func outcome(_ index: VaultIndex, _ request: ResolutionRequest) -> ReferenceModel.Resolved {
        let untraced = Result { () throws(CofferError) in try index.resolveCredential(request) }
        let resolution = index.resolve(request)
        switch resolution {
        case .resolved(let credential, _):
            XCTAssertEqual(try untraced.get(), credential, "\(request)")
        case .failed(let error, _):
            if case .failure(let untracedError) = untraced {
                XCTAssertEqual(untracedError.code, error.code, "\(request)")
                XCTAssertEqual(untracedError.message, error.message, "\(request)")
                XCTAssertEqual(untracedError.candidates, error.candidates, "\(request)")
            } else {
                XCTFail("resolveCredential resolved what resolve refused: \(request)")
            }
        }
        return ReferenceModel.Resolved(resolution)
    }

    /// Random requests: projects of other organizations now and then, selections of deleted
    /// credentials and of an id that never existed.
    func compareResolutions(_ run: Run) throws {
        let random = run.random
        let model = run.model
        let organizations = model.organizationsBySlug
        guard !organizations.isEmpty else { return }
        let everyProject = organizations.flatMap { organization in
            organization.projects.sorted { $0.key < $1.key }.map { (organization: organization.id, id: $0.value) }
        }
        for _ in 0..<12 {
            let org = random.pick(organizations).id
            let projects = everyProject.filter { $0.organization == org || random.chance(5) }.map(\.id)
            let project = projects.isEmpty || random.chance(30) ? nil : random.pick(projects)
            let users = model.usersByHandle
            let user = users.isEmpty || random.chance(40) ? nil : random.pick(users).id
            let selection =
                random.chance(15) && !model.credentials.isEmpty
                ? random.pick(model.credentials).id : random.chance(3) ? CredentialID(high: 5, low: 5) : nil
            let pinned = random.chance(35) ? random.pick(CredentialScope.allCases) : nil
            let consumer = random.chance(40) ? random.pick(Self.targets) : nil
            let app = random.chance(5) ? "unknown-app" : random.pick(Self.apps)
            let request = ReferenceModel.Request(
                organization: org, app: app, project: project, user: user, selection: selection, pinned: pinned,
                consumer: consumer)
            XCTAssertEqual(
                outcome(run.vault.index, request.engineRequest), model.resolve(request),
                "\(run.tag): \(request.engineRequest)")
        }
    }
}

extension ReferenceModel {
    /// The organizations in slug order: a dictionary's order changes from process to process,
    /// and a seed must pick the same ones every time.
    var organizationsBySlug: [Organization] { organizations.values.sorted { $0.slug < $1.slug } }

    /// The users in handle order, for the same reason.
    var usersByHandle: [(handle: String, id: UserID)] {
        users.sorted { $0.key < $1.key }.map { (handle: $0.key, id: $0.value) }
    }
}
