import CofferCrypto
import CofferErrors
import XCTest

@testable import CofferModel

/// Random actions against the index (through the planner, the encoding and apply, as the
/// engine runs them) and against `ReferenceModel`; after every step every query and a batch
/// of resolutions must agree, and at the end a replay of the log must give the same index.
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
        var model = ReferenceModel()
        let hashKey = SecureBytes(randomCount: 32)
        var step = 0
        var action = ""

        var tag: String { "seed \(seed) step \(step) \(action)" }
    }

    /// A run with two organizations and four users, ready for random actions.
    static func start(seed: UInt64) throws -> Run {
        var run = Run(seed: seed, random: SplitMix64(seed: seed ^ 0x5EED), vault: TestVault(seed: seed))
        for slug in ["o1", "o2"] { try createOrganization(&run, slug) }
        for handle in ["u1", "u2", "u3", "u4"] { try createUser(&run, handle) }
        return run
    }

    func run(seed: UInt64, steps: Int) throws {
        var run = try Self.start(seed: seed)
        for step in 0..<steps {
            run.step = step
            try Self.randomAction(&run)
            try compare(run)
            if step % 100 == 99 { sweepResolutions(run) }
        }
        sweepResolutions(run)
        print(
            "seed \(seed): \(run.vault.log.count) transactions, \(run.model.credentials.count) credentials, "
                + "\(run.model.assignments.count) assignments, \(run.model.keys.count) API keys at the end")
        // Replaying the whole log gives the same index and the same answers.
        let replayed = try run.vault.replayed()
        XCTAssertEqual(Snapshot(replayed), Snapshot(run.vault.index), "seed \(seed): replay differs")
        var replayRun = run
        replayRun.vault.index = replayed
        replayRun.action = "after replay"
        try compare(replayRun)
    }

    // MARK: - Actions

    /// Runs `body` on the real side; returns the error code it failed with, if any.
    static func attempt(_ run: inout Run, _ body: (inout TestVault) throws -> Void) -> CofferError.Code? {
        do {
            try body(&run.vault)
            return nil
        } catch let error as CofferError {
            return error.code
        } catch {
            XCTFail("\(run.tag): unexpected \(error)")
            return nil
        }
    }

    static func expect(_ run: Run, _ actual: CofferError.Code?, _ expected: CofferError.Code?) -> Bool {
        XCTAssertEqual(actual, expected, run.tag)
        return actual == nil && expected == nil
    }

    static func createOrganization(_ run: inout Run, _ slug: String) throws {
        run.action = "createOrganization \(slug)"
        var id: OrganizationID?
        let code = attempt(&run) {
            id = try $0.commit($0.planner.createOrganization(slug: slug, name: slug.uppercased()))
        }
        let expected: CofferError.Code? = run.model.organizations.contains { $0.slug == slug } ? .alreadyExists : nil
        if expect(run, code, expected), let id { run.model.organizations.append((id, slug)) }
    }

    static func createUser(_ run: inout Run, _ handle: String) throws {
        run.action = "createUser \(handle)"
        var id: UserID?
        let code = attempt(&run) { id = try $0.commit($0.planner.createUser(handle: handle, displayName: handle)) }
        let expected: CofferError.Code? = run.model.users.contains { $0.handle == handle } ? .alreadyExists : nil
        if expect(run, code, expected), let id { run.model.users.append((id, handle)) }
    }

    static func randomAction(_ run: inout Run) throws {
        let random = run.random
        guard let organization = run.model.organizations.isEmpty ? nil : random.pick(run.model.organizations) else {
            return try createOrganization(&run, random.pick(["o1", "o2", "o3"]))
        }
        let org = organization.id
        let orgRef = org.description
        let credentials = run.model.credentials.filter { $0.organization == org }
        let chosen = credentials.isEmpty ? nil : random.pick(credentials)
        let user = run.model.users.isEmpty ? nil : random.pick(run.model.users)
        let roll = random.below(100)
        switch roll {
        case 0..<3:
            try createOrganization(&run, random.pick(["o1", "o2", "o3"]))
        case 3..<4 where run.model.organizations.count > 1:
            run.action = "removeOrganization \(organization.slug)"
            let code = attempt(&run) { try $0.commit($0.planner.removeOrganization(orgRef, cascade: true)) }
            if expect(run, code, nil) { run.model.removeOrganization(org) }
        case 4..<8:
            let slug = random.pick(["p1", "p2", "p3"])
            run.action = "createProject \(slug) in \(organization.slug)"
            var id: ProjectID?
            let code = attempt(&run) {
                id = try $0.commit($0.planner.createProject(in: orgRef, slug: slug, name: slug))
            }
            let taken = run.model.projects.contains { $0.organization == org && $0.slug == slug }
            if expect(run, code, taken ? .alreadyExists : nil), let id { run.model.projects.append((id, org, slug)) }
        case 8..<10:
            guard let project = run.model.projects.filter({ $0.organization == org }).first else { return }
            run.action = "removeProject \(project.slug)"
            let code = attempt(&run) { try $0.commit($0.planner.removeProject(project.id.description, in: orgRef)) }
            if expect(run, code, nil) { run.model.removeProject(project.id) }
        case 10..<13:
            try createUser(&run, random.pick(["u1", "u2", "u3", "u4", "u5", "u6"]))
        case 13..<14:
            guard let user else { return }
            run.action = "removeUser \(user.handle)"
            let code = attempt(&run) { try $0.commit($0.planner.removeUser(user.id.description)) }
            if expect(run, code, nil) { run.model.removeUser(user.id) }
        case 14..<22:
            guard let user else { return }
            let role = random.pick(Role.allCases)
            let current = run.model.role(user.id, org)
            if random.chance(60) {
                run.action = "addMember \(user.handle) \(role)"
                let code = attempt(&run) {
                    try $0.commit($0.planner.addMember(user.id.description, to: orgRef, role: role))
                }
                if expect(run, code, current != nil ? .alreadyExists : nil) {
                    run.model.members.append(ReferenceModel.Member(user: user.id, organization: org, role: role))
                }
            } else if random.chance(50) {
                run.action = "changeRole \(user.handle) \(role)"
                let code = attempt(&run) {
                    try $0.commit($0.planner.changeRole(of: user.id.description, in: orgRef, to: role))
                }
                // OP-MEMBER-CHANGE-2: the last owner keeps the role.
                let lastOwner =
                    current == .owner && role != .owner
                    && !run.model.members.contains { $0.organization == org && $0.user != user.id && $0.role == .owner }
                if expect(run, code, current == nil ? .notFound : lastOwner ? .invalidInput : nil) {
                    let index = run.model.members.firstIndex { $0.user == user.id && $0.organization == org }!
                    run.model.members[index].role = role
                }
            } else {
                run.action = "removeMember \(user.handle)"
                let code = attempt(&run) { try $0.commit($0.planner.removeMember(user.id.description, from: orgRef)) }
                if expect(run, code, current == nil ? .notFound : nil) { run.model.removeMember(user.id, org) }
            }
        case 22..<40:
            try createCredential(&run, in: org)
        case 40..<42:
            guard let chosen else { return }
            run.action = "reinstate \(chosen.id)"
            let code = attempt(&run) { try $0.commit($0.planner.reinstateCredential(chosen.id.description, in: orgRef)) }
            if expect(run, code, chosen.state == .active ? .invalidInput : nil) { run.model.reinstate(chosen.id) }
        case 42..<44:
            guard let chosen else { return }
            let slug = random.pick(Self.slugs)
            run.action = "change the slug of \(chosen.id) to \(slug)"
            let code = attempt(&run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(slug: slug), reveal: $0.read))
            }
            let taken = run.model.credentials.contains {
                $0.id != chosen.id && $0.organization == org && $0.app == chosen.app && $0.owner == chosen.owner
                    && $0.slug == slug
            }
            if expect(run, code, taken ? .alreadyExists : nil), slug != chosen.slug {
                run.model.modify(chosen.id) {
                    $0.slug = slug
                    $0.history.append(.slugChanged)
                }
            }
        case 44..<46:
            guard let chosen else { return }
            let label = random.pick(["L1", "L2"])
            run.action = "relabel \(chosen.id)"
            let code = attempt(&run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(label: label), reveal: $0.read))
            }
            if expect(run, code, nil), label != chosen.label {
                run.model.modify(chosen.id) {
                    $0.label = label
                    $0.history.append(.relabeled)
                }
            }
        case 46..<54:
            guard let chosen else { return }
            let makeDefault = random.chance(70)
            run.action = "setDefault \(makeDefault) \(chosen.id)"
            let code = attempt(&run) {
                try $0.commit(
                    $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(isDefault: makeDefault), reveal: $0.read))
            }
            let revokedDefault = makeDefault && !chosen.isDefault && chosen.state == .revoked
            if expect(run, code, revokedDefault ? .invalidInput : nil) {
                if makeDefault && !chosen.isDefault { run.model.makeDefault(chosen.id) }
                if !makeDefault && chosen.isDefault { run.model.clearDefault(chosen.id) }
            }
        case 54..<62:
            guard let chosen else { return }
            let rotates = random.chance(50)
            let token = random.chance(20) ? chosen.token : "tok-\(random.next() % 1_000_000_000)"
            run.action = "\(rotates ? "rotate" : "update") \(chosen.id)"
            let code = attempt(&run) {
                let values = fields(["token": token])
                let plan =
                    rotates
                    ? try $0.planner.rotateCredential(
                        chosen.id.description, in: orgRef, fields: values, reveal: $0.read)
                    : try $0.planner.updateCredential(
                        chosen.id.description, in: orgRef, CredentialUpdate(fields: values), reveal: $0.read)
                try $0.commit(plan)
            }
            let same = token == chosen.token
            let expected: CofferError.Code? = chosen.state == .revoked || (rotates && same) ? .invalidInput : nil
            if expect(run, code, expected), !same { run.model.newVersion(chosen.id, token: token, rotated: rotates) }
        case 62..<66:
            guard let chosen else { return }
            run.action = "revoke \(chosen.id)"
            let code = attempt(&run) { try $0.commit($0.planner.revokeCredential(chosen.id.description, in: orgRef)) }
            if expect(run, code, chosen.state == .revoked ? .invalidInput : nil) { run.model.revoke(chosen.id) }
        case 66..<70:
            guard let chosen else { return }
            run.action = "delete \(chosen.id)"
            var impact: Impact?
            let code = attempt(&run) {
                impact = try $0.commit($0.planner.deleteCredential(chosen.id.description, in: orgRef))
            }
            if expect(run, code, nil) {
                let expectedAssignments = run.model.assignments.filter { $0.credential == chosen.id }
                XCTAssertEqual(impact?.removedAssignments.count, expectedAssignments.count, run.tag)
                XCTAssertEqual(impact?.clearedDefaults, chosen.isDefault ? [chosen.id] : [], run.tag)
                run.model.delete(chosen.id)
            }
        case 70..<80:
            guard let chosen else { return }
            let target = random.pick(Self.targets)
            run.action = "assign \(chosen.id) to \(target)"
            let code = attempt(&run) { try $0.commit($0.planner.assign(chosen.id.description, to: target, in: orgRef)) }
            if expect(run, code, chosen.state == .revoked ? .invalidInput : nil) { run.model.assign(chosen.id, target) }
        case 80..<84:
            let target = random.pick(Self.targets)
            let app = random.pick(Self.apps)
            run.action = "unassign \(target) \(app)"
            let code = attempt(&run) { try $0.commit($0.planner.unassign(target, appKey: app, in: orgRef)) }
            let exists = run.model.assignments.contains {
                $0.organization == org && $0.target == target && $0.app == app
            }
            if expect(run, code, exists ? nil : .notFound) {
                run.model.assignments.removeAll { $0.organization == org && $0.target == target && $0.app == app }
            }
        case 84..<90:
            guard let user else { return }
            run.action = "createAPIKey by \(user.handle)"
            var created: CreatedAPIKey?
            let hashKey = run.hashKey
            let code = attempt(&run) {
                created = try $0.commit(
                    $0.planner.createAPIKey(in: orgRef, creator: user.id.description, name: "k", hashKey: hashKey))
            }
            if expect(run, code, run.model.role(user.id, org) == nil ? .permissionDenied : nil), let created {
                run.model.keys.append(
                    ReferenceModel.Key(id: created.id, organization: org, creator: user.id, secret: created.secret))
            }
        case 90..<95:
            guard let user, let key = run.model.keys.filter({ $0.organization == org }).first else { return }
            run.action = "revokeAPIKey \(key.id) by \(user.handle)"
            let code = attempt(&run) {
                try $0.commit($0.planner.revokeAPIKey(key.id, in: orgRef, actingUser: user.id.description))
            }
            let role = run.model.role(user.id, org)
            let expected: CofferError.Code? =
                if role == nil || (role == .builder && key.creator != user.id) {
                    .permissionDenied
                } else if !key.isActive { .invalidInput } else { nil }
            if expect(run, code, expected) {
                let index = run.model.keys.firstIndex { $0.id == key.id }!
                run.model.keys[index].isActive = false
            }
        default:
            let count = 1 + random.below(4)
            run.action = "setRetention \(count)"
            let code = attempt(&run) { try $0.commit($0.planner.setVersionRetention(count)) }
            if expect(run, code, nil) { run.model.setRetention(count) }
        }
    }

    static func createCredential(_ run: inout Run, in org: OrganizationID) throws {
        let random = run.random
        let app = random.pick(Self.apps)
        let slug = random.pick(Self.slugs)
        var pool: [ScopeOwner] = [.organization(org)]
        pool += run.model.projects.filter { $0.organization == org }.map { .project($0.id) }
        pool += run.model.users.filter { random.chance(15) || run.model.role($0.id, org) != nil }.map { .user($0.id) }
        var owners: [ScopeOwner] = []
        for _ in 0..<(1 + random.below(3)) {
            let owner = random.pick(pool)
            if !owners.contains(owner) { owners.append(owner) }
        }
        let isDefault = random.chance(30)
        let token = "tok-\(random.next() % 1_000_000_000)"
        run.action = "createCredential \(app)/\(slug) at \(owners) default \(isDefault)"
        let scopes: [ScopeTarget] = owners.map {
            switch $0 {
            case .organization: .organization
            case .project(let id): .project(id.description)
            case .user(let id): .user(id.description)
            }
        }
        var ids: [CredentialID] = []
        let draft = CredentialDraft(
            appKey: app, slug: slug, label: "L1", type: .apiToken, fields: fields(["token": token]),
            isDefault: isDefault)
        let code = attempt(&run) {
            ids = try $0.commit($0.planner.createCredential(in: org.description, draft, scopes: scopes))
        }
        let nonMember = owners.contains {
            if case .user(let user) = $0 { return run.model.role(user, org) == nil }
            return false
        }
        let taken = owners.contains { owner in
            run.model.credentials.contains {
                $0.organization == org && $0.app == app && $0.owner == owner && $0.slug == slug
            }
        }
        let expected: CofferError.Code? = nonMember ? .invalidInput : taken ? .alreadyExists : nil
        guard expect(run, code, expected) else { return }
        XCTAssertEqual(ids.count, owners.count, run.tag)
        for (id, owner) in zip(ids, owners) {
            run.model.credentials.append(
                ReferenceModel.Credential(
                    id: id, organization: org, app: app, slug: slug, label: "L1", owner: owner, token: token,
                    versions: Array([UInt32(1)].prefix(run.model.retention))))
            if isDefault { run.model.makeDefault(id) }
        }
    }

    // MARK: - Comparing

    func compare(_ run: Run) throws {
        let index = run.vault.index
        let model = run.model
        let tag = run.tag
        XCTAssertEqual(index.checkInvariants(), [], tag)
        XCTAssertEqual(Set(index.organizations().map(\.id)), Set(model.organizations.map(\.id)), tag)
        XCTAssertEqual(Set(index.users().map(\.id)), Set(model.users.map(\.id)), tag)
        for organization in model.organizations {
            let org = organization.id
            XCTAssertEqual(
                Set(index.projects(in: org).map(\.id)), Set(model.projects.filter { $0.organization == org }.map(\.id)),
                tag)
            XCTAssertEqual(
                Set(index.memberships(in: org)),
                Set(
                    model.members.filter { $0.organization == org }.map {
                        MembershipInfo(user: $0.user, organization: org, role: $0.role)
                    }),
                tag)
            let listed = index.credentials(matching: CredentialFilter(organization: org))
            let expected = model.credentials.filter { $0.organization == org }
            XCTAssertEqual(Set(listed.map(\.id)), Set(expected.map(\.id)), tag)
            for credential in expected {
                guard let info = index.credential(id: credential.id) else { continue }
                XCTAssertEqual(info.appKey, credential.app, tag)
                XCTAssertEqual(info.slug, credential.slug, tag)
                XCTAssertEqual(info.label, credential.label, tag)
                XCTAssertEqual(info.owner, credential.owner, tag)
                XCTAssertEqual(info.state, credential.state, tag)
                XCTAssertEqual(info.version, credential.version, tag)
                XCTAssertEqual(info.isDefault, credential.isDefault, tag)
                XCTAssertEqual(info.fields.first?.text, Preview.of(secret(credential.token)), tag)
                XCTAssertEqual(index.versions(of: credential.id).map(\.version), credential.versions, tag)
                XCTAssertEqual(index.history(of: credential.id).map(\.kind), credential.history, tag)
                // The engine's reveal reads back exactly the stored token.
                let revealed = try run.vault.revealed(credential.id)
                XCTAssertTrue(revealed["token"] == credential.token, "\(tag): revealed token differs")
            }
            let assignments = index.assignments(organization: org).map {
                ReferenceModel.Assignment(
                    organization: org, target: $0.target, app: $0.appKey, credential: $0.credential)
            }
            XCTAssertEqual(Set(assignments), Set(model.assignments.filter { $0.organization == org }), tag)
        }
        for key in model.keys {
            let check = try? index.checkAPIKey(key.secret, hashKey: run.hashKey)
            XCTAssertEqual(check?.apiKey, key.isActive ? key.id : nil, tag)
            if let check { XCTAssertEqual(check.role, model.role(key.creator, key.organization), tag) }
        }
        try compareResolutions(run)
    }

    /// Every combination of app, project, user, pinned scope and consumer in every
    /// organization (selections are sampled in `compareResolutions`).
    func sweepResolutions(_ run: Run) {
        let model = run.model
        let consumers: [AssignmentTarget?] = [nil, Self.targets[0], Self.targets[4], Self.targets[8]]
        for organization in model.organizations {
            let projects: [ProjectID?] = [nil] + model.projects.filter { $0.organization == organization.id }.map(\.id)
            let users: [UserID?] = [nil] + model.users.map(\.id)
            for app in Self.apps + ["unknown-app"] {
                for project in projects {
                    for user in users {
                        for pinned in [nil] + CredentialScope.allCases {
                            for consumer in consumers {
                                let request = ResolutionRequest(
                                    appKey: app,
                                    context: RunContext(organization: organization.id, project: project, user: user),
                                    pinnedScope: pinned, consumer: consumer)
                                XCTAssertEqual(
                                    outcome(run.vault.index, request), model.resolve(request), "\(run.tag): \(request)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The outcome of resolving with the explain trace, checked against the form without it:
    /// the same instance and stage, or the same error word for word.
    func outcome(_ index: VaultIndex, _ request: ResolutionRequest) -> ReferenceModel.Outcome {
        let untraced = Result { () throws(CofferError) in try index.resolveCredential(request) }
        switch index.resolve(request) {
        case .resolved(let credential, _):
            XCTAssertEqual(try untraced.get(), credential, "\(request)")
            return .resolved(credential.id)
        case .failed(let error, _):
            if case .failure(let untracedError) = untraced {
                XCTAssertEqual(untracedError.code, error.code, "\(request)")
                XCTAssertEqual(untracedError.message, error.message, "\(request)")
                XCTAssertEqual(untracedError.candidates, error.candidates, "\(request)")
            } else {
                XCTFail("resolveCredential resolved what resolve refused: \(request)")
            }
            let candidates = error.candidates.compactMap { CredentialID(String($0.split(separator: " ")[0])) }
            return .failed(error.code, Set(candidates))
        }
    }

    func compareResolutions(_ run: Run) throws {
        let random = run.random
        let model = run.model
        guard !model.organizations.isEmpty else { return }
        for _ in 0..<12 {
            let org = random.pick(model.organizations).id
            let projects = model.projects.filter { $0.organization == org || random.chance(5) }.map(\.id)
            let project = projects.isEmpty || random.chance(30) ? nil : random.pick(projects)
            let user = model.users.isEmpty || random.chance(40) ? nil : random.pick(model.users).id
            let selection =
                random.chance(15) && !model.credentials.isEmpty
                ? random.pick(model.credentials).id : random.chance(3) ? CredentialID(high: 5, low: 5) : nil
            let pinned = random.chance(35) ? random.pick(CredentialScope.allCases) : nil
            let consumer = random.chance(40) ? random.pick(Self.targets) : nil
            let app = random.chance(5) ? "unknown-app" : random.pick(Self.apps)
            let request = ResolutionRequest(
                appKey: app, context: RunContext(organization: org, project: project, user: user), selection: selection,
                pinnedScope: pinned, consumer: consumer)
            XCTAssertEqual(outcome(run.vault.index, request), model.resolve(request), "\(run.tag): \(request)")
        }
    }
}
