import Coffer
import CofferReferenceModel

/// What ``SequenceRun`` compares after a step.
enum SequenceChecks: Comparable {
    /// The counts of everything: after a step that changed nothing (a refusal, a resolve,
    /// a reveal), so that a refusal that changed something anyway shows.
    case counts
    /// The counts, every organization, project, user, role and assignment, the invariants,
    /// whether every credential exists, the metadata of the credentials of the organization
    /// the step named (all of them when it named none or removed it) and the current values
    /// of those it changed, the API keys when the step could change them, and one resolution
    /// per app in that organization: after a step the engine accepted.
    case step
    /// What ``step`` compares for every credential and API key, and every version of every
    /// credential: after a reopen or a compaction, which rebuild the index from the file
    /// (the index itself is compared with the one before, ``SequenceRun/rebuilt``).
    case rebuilt
    /// All that, and every resolution request of ``SequenceRun/requests(everything:)``: after
    /// the last step.
    case everything
}

/// The comparisons ``SequenceRun`` makes between the vault and the model.
///
/// Checking everything after every step would cost most of each input's time; a disagreement
/// a cheaper check misses stays in the state and is found by the next full check, unless a
/// later step undoes it.
extension SequenceRun {
    mutating func check(_ checks: SequenceChecks) {
        guard let vault else { return }
        let index = vault.read { (index: borrowing VaultIndex) in copy index }
        compareCounts(index)
        guard checks >= .step else { return }
        compareObjects(index)
        let focused = checks >= .rebuilt ? nil : focus.flatMap { model.organizations[$0]?.id }
        for credential in model.credentials {
            if focused == nil || credential.organization == focused {
                compareCredential(credential, index)
            } else if (index.location(of: credential.id) == nil) != credential.isDeleted {
                // Elsewhere only whether it exists, which costs no string.
                disagree("credential \(credential.id) exists: \(!credential.isDeleted) in the model, not in the vault")
            }
        }
        if checks >= .rebuilt || touchesAPIKeys { compareAPIKeys(index, vault) }
        let problems = index.checkInvariants()
        if !problems.isEmpty { disagree("the index breaks invariants: \(problems.joined(separator: " "))") }
        if touchesResolution || checks >= .rebuilt {
            for request in requests(everything: checks == .everything) { compareResolution(request) }
        }
        if checks >= .rebuilt {
            for credential in model.credentials {
                compareReveal(credential, version: nil)
                for version in 0...credential.version + 1 { compareReveal(credential, version: version) }
            }
        } else {
            for id in touched {
                if let credential = model.credentials.first(where: { $0.id == id }) {
                    compareReveal(credential, version: nil)
                }
            }
        }
    }

    /// What the index's queries answer now; `keepingLocations` for a reopen, which must
    /// rebuild the same locations, not for a compaction, which moves every record.
    func snapshot(keepingLocations: Bool) -> QuerySnapshot? {
        vault.map { vault in
            QuerySnapshot(
                vault.read { (index: borrowing VaultIndex) in copy index }, keepingLocations: keepingLocations)
        }
    }

    /// After a reopen or a compaction: the rebuilt index answers every query as the one
    /// before did (OP-COMPACT-EXACT; F-RECOVER rebuilds it from the same log).
    mutating func compareRebuilt(_ before: QuerySnapshot?, keepingLocations: Bool, _ what: String) {
        guard let before, let after = snapshot(keepingLocations: keepingLocations), before != after else { return }
        disagree("after \(what) the index answers queries differently: \(Self.difference(before, after))")
    }

    /// The first part of two snapshots that differs, for the message.
    static func difference(_ before: QuerySnapshot, _ after: QuerySnapshot) -> String {
        if before.retention != after.retention { return "retention \(before.retention) became \(after.retention)" }
        if before.organizations != after.organizations {
            return "organizations \(before.organizations) became \(after.organizations)"
        }
        if before.projects != after.projects { return "projects \(before.projects) became \(after.projects)" }
        if before.users != after.users { return "users \(before.users) became \(after.users)" }
        if before.memberships != after.memberships {
            return "memberships \(before.memberships) became \(after.memberships)"
        }
        if before.assignments != after.assignments {
            return "assignments \(before.assignments) became \(after.assignments)"
        }
        for (one, two) in zip(before.credentials, after.credentials) where one != two {
            return "credential \(one) became \(two)"
        }
        for (one, two) in zip(before.histories, after.histories) where one != two {
            return "history \(one) became \(two)"
        }
        for (one, two) in zip(before.versions, after.versions) where one != two {
            return "versions \(one) became \(two)"
        }
        return "\(before.credentials.count) credentials became \(after.credentials.count)"
    }

    // MARK: - Objects

    /// The index's statistics against the model's counts.
    mutating func compareCounts(_ index: VaultIndex) {
        let live = model.liveCredentials
        let statistics = index.statistics()
        let counts = [
            statistics.organizations, statistics.projects, statistics.users, statistics.memberships,
            statistics.credentials, statistics.revokedCredentials, statistics.defaults, statistics.assignments,
            statistics.retainedVersions, statistics.apiKeys, statistics.activeAPIKeys,
        ]
        let expected = [
            model.organizations.count, model.organizations.values.reduce(0) { $0 + $1.projects.count },
            model.users.count,
            model.roles.count, live.count, live.count { $0.isRevoked }, live.count { $0.isDefault },
            model.assignments.count, live.reduce(0) { $0 + $1.values.count }, model.apiKeys.count { !$0.isDeleted },
            model.apiKeys.count { !$0.isDeleted && !$0.isRevoked },
        ]
        if counts != expected {
            disagree(
                "the vault counts \(counts), the model \(expected) (organizations, projects, users, memberships, credentials, revoked, defaults, assignments, retained versions, API keys, active API keys)"
            )
        }
    }

    /// Organizations, projects, users, roles and assignments, by name.
    mutating func compareObjects(_ index: VaultIndex) {
        for slug in SequenceVocabulary.organizations {
            let organization = model.organizations[slug]
            let found = index.organization(slug)?.id
            if found != organization?.id {
                disagree(
                    "organization \(slug) is \(found.map { "\($0)" } ?? "missing"), the model has \(organization.map { "\($0.id)" } ?? "none")"
                )
            }
            guard let organization else { continue }
            for project in SequenceVocabulary.projects
            where index.project(project, in: organization.id)?.id != organization.projects[project] {
                disagree(
                    "project \(slug)/\(project) differs from the model's \(organization.projects[project].map { "\($0)" } ?? "none")"
                )
            }
            for (handle, user) in model.users {
                let role = index.role(of: user, in: organization.id)
                let expected = model.roles[Model.RoleKey(organization: organization.id, user: user)]
                if role != expected {
                    disagree(
                        "\(handle)'s role in \(slug) is \(role.map { "\($0)" } ?? "none"), the model has \(expected.map { "\($0)" } ?? "none")"
                    )
                }
            }
            let assignments = Set(
                index.assignments(organization: organization.id).map {
                    AssignmentEntry(target: $0.target, app: $0.appKey, credential: $0.credential)
                })
            let modelAssignments = Set(
                model.assignments.filter { $0.key.organization == organization.id }.map {
                    AssignmentEntry(target: $0.key.target, app: $0.key.app, credential: $0.value)
                })
            if assignments != modelAssignments {
                disagree("the assignments of \(slug) are \(assignments), the model has \(modelAssignments)")
            }
        }
        for handle in SequenceVocabulary.users where index.user(handle)?.id != model.users[handle] {
            disagree("user \(handle) differs from the model's \(model.users[handle].map { "\($0)" } ?? "none")")
        }
    }

    struct AssignmentEntry: Hashable, CustomStringConvertible {
        let target: AssignmentTarget
        let app: String
        let credential: CredentialID
        var description: String { "\(target) \(app) → \(credential)" }
    }

    mutating func compareCredential(_ credential: Model.Credential, _ index: VaultIndex) {
        let info = index.credential(id: credential.id)
        guard let info else {
            if !credential.isDeleted {
                disagree("credential \(credential.app)/\(credential.slug) \(credential.id) is missing")
            }
            return
        }
        guard !credential.isDeleted else {
            disagree("credential \(credential.id) is still there after it was deleted")
            return
        }
        let name = "credential \(credential.app)/\(credential.slug) \(credential.id)"
        if info.organization != credential.organization || info.appKey != credential.app || info.slug != credential.slug
            || info.type != credential.type || info.owner != credential.scopeOwner()
        {
            disagree("\(name) is \(info.appKey)/\(info.slug) \(info.type) at \(info.owner)")
        }
        if info.label != credential.label {
            disagree("\(name) has the label \(info.label), the model \(credential.label)")
        }
        if (info.state == .revoked) != credential.isRevoked || info.isDefault != credential.isDefault
            || info.version != credential.version
        {
            disagree(
                "\(name) is \(info.state), default \(info.isDefault), version \(info.version); the model has revoked \(credential.isRevoked), default \(credential.isDefault), version \(credential.version)"
            )
        }
        // The fields of the current version, and the values of the non-secret ones.
        let current = credential.current
        let names = credential.type.fields.map(\.name).filter { current[$0] != nil }
        if info.fields.map(\.name) != names {
            disagree("\(name) shows the fields \(info.fields.map(\.name)), the model has \(names)")
        }
        for field in info.fields
        where !field.isSecret && current[field.name].map({ Array(field.text.utf8) != $0 }) ?? false {
            disagree("\(name) shows another \(field.name)")
        }
        let versions = index.versions(of: credential.id).map(\.version).sorted()
        let retained = credential.values.keys.sorted()
        if versions != retained { disagree("\(name) keeps versions \(versions), the model \(retained)") }
    }

    // MARK: - API keys

    mutating func compareAPIKeys(_ index: VaultIndex, _ vault: Vault) {
        for (position, key) in model.apiKeys.enumerated() {
            let info = index.apiKey(id: key.id)
            if (info == nil) != key.isDeleted
                || (info.map { $0.state == .revoked } ?? false) != (key.isRevoked && !key.isDeleted)
            {
                disagree(
                    "API key \(position) is \(info.map { "\($0.state)" } ?? "missing"); the model has deleted \(key.isDeleted), revoked \(key.isRevoked)"
                )
            }
            let expected = model.check(key)
            switch Result(catching: { () throws(CofferError) in try vault.checkAPIKey(key.secret) }) {
            case .success(let check):
                if check.role != expected || check.apiKey != key.id {
                    disagree(
                        "API key \(position) authenticates as \(check.role); the model expects \(expected.map { "\($0)" } ?? "a refusal")"
                    )
                }
            case .failure(let error):
                if expected != nil || error.code != .permissionDenied {
                    disagree(
                        "API key \(position) is refused with \(error.code); the model expects \(expected.map { "\($0)" } ?? "permission_denied")"
                    )
                }
            }
        }
    }

    // MARK: - Reveal

    /// Reveal: the values of a retained version, byte for byte; `not_found` for a
    /// version let go, never made, or of a deleted credential.
    mutating func compareReveal(_ credential: Model.Credential, version: UInt32?) {
        guard let vault else { return }
        let expected: [String: [UInt8]]? =
            credential.isDeleted ? nil : version.map { credential.values[$0] } ?? credential.current
        let what =
            "reveal of \(credential.app)/\(credential.slug) \(credential.id) version \(version.map { "\($0)" } ?? "current")"
        switch Result(catching: { () throws(CofferError) in try vault.reveal(credential.id, version: version) }) {
        case .success(let fields):
            guard let expected else {
                disagree("\(what) gives \(fields); the model expects not_found")
                return
            }
            let same =
                fields.count == expected.count
                && expected.allSatisfy { name, value in
                    fields[name].map { stored in stored.withUnsafeBytes { Array($0) } == value } ?? false
                }
            if !same {
                disagree("\(what) gives other values: \(fields), the model has fields(\(expected.keys.sorted()))")
            }
        case .failure(let error):
            if expected != nil || error.code != .notFound {
                disagree(
                    "\(what) fails with \(error.code) (\(error.message)); the model expects \(expected == nil ? "not_found" : "values")"
                )
            }
        }
    }

    // MARK: - Resolution

    /// The requests checked after each step: every app in the organization the step named,
    /// in its project `web` when it has one (which tries the project's scope, then the
    /// organization's). With `everything`: every app in every organization, without and with
    /// the project, in other contexts, with pins and consumers, with a project of another
    /// organization, and with an explicit selection of every credential.
    func requests(everything: Bool) -> [Model.Request] {
        var requests: [Model.Request] = []
        let users = model.users
        let organizations = everything ? model.organizations.keys.sorted() : focus.map { [$0] } ?? []
        for slug in organizations {
            guard let organization = model.organizations[slug] else { continue }
            let web = organization.projects["web"]
            for app in SequenceVocabulary.apps {
                let plain = Model.Request(organization: organization.id, app: app)
                guard everything else {
                    requests.append(with(plain) { $0.project = web })
                    continue
                }
                requests.append(plain)
                requests += [
                    with(plain) { $0.project = web },
                    with(plain) {
                        $0.project = organization.projects["data"]
                        $0.user = users["ann"]
                    },
                    with(plain) {
                        $0.pinned = .user
                        $0.user = users["ann"]
                    },
                    with(plain) { $0.pinned = .user },
                    with(plain) { $0.pinned = .project },
                    with(plain) {
                        $0.pinned = .project
                        $0.project = web
                        $0.user = users["bob"]
                    },
                    with(plain) {
                        $0.pinned = .organization
                        $0.user = users["cy"]
                    },
                    // The wildcard alone, the exact consumer first, then either.
                    with(plain) { $0.consumer = SequenceVocabulary.consumer(0) },
                    with(plain) {
                        $0.consumer = SequenceVocabulary.consumer(2)
                        $0.project = web
                    },
                    with(plain) {
                        $0.consumer = SequenceVocabulary.consumer(5)
                        $0.pinned = .user
                        $0.user = users["bob"]
                    },
                    with(plain) {
                        $0.project = model.organizations.values.first { $0.id != organization.id }?.projects["web"]
                    },
                ]
            }
        }
        guard everything else { return requests }
        for (position, credential) in model.credentials.enumerated() {
            guard model.organization(id: credential.organization) != nil else { continue }
            var request = Model.Request(
                organization: credential.organization, app: credential.app, user: users["ann"], selection: credential.id
            )
            if position % 2 == 1 {
                request.app = SequenceVocabulary.apps[position / 2 % SequenceVocabulary.apps.count]
                request.project = model.organization(id: credential.organization)?.projects["web"]
            }
            requests.append(request)
        }
        return requests
    }

    private func with(_ request: Model.Request, _ change: (inout Model.Request) -> Void) -> Model.Request {
        var changed = request
        change(&changed)
        return changed
    }

    /// A request in words, for a message.
    static func describe(_ request: Model.Request, in model: Model) -> String {
        var words = [
            "\(request.app) in \(model.organization(id: request.organization)?.slug ?? "\(request.organization)")"
        ]
        if let project = request.project {
            let owner = model.organizations.values.first { $0.projects.values.contains(project) }
            let slug = owner?.projects.first { $0.value == project }?.key
            words.append("project \(owner?.slug ?? "?")/\(slug ?? "\(project)")")
        }
        if let user = request.user { words.append("user \(model.users.first { $0.value == user }?.key ?? "\(user)")") }
        if let pinned = request.pinned { words.append("pinned \(pinned)") }
        if let consumer = request.consumer { words.append("consumer \(consumer)") }
        if let selection = request.selection { words.append("selection \(selection)") }
        return words.joined(separator: ", ")
    }

    /// One resolution the program asks for. Arguments: organization, app, context (bits 0–1
    /// the project: none, web, data, web of the other organization; bits 2–3 the user: none,
    /// ann, bob, cy; bits 4–5 the pin: none, organization, project, user), consumer (0 none,
    /// else one of six), selection (0 none, else a credential).
    mutating func resolveOnce() {
        let slug = SequenceVocabulary.organizations[program.choose(SequenceVocabulary.organizations.count)]
        let app = SequenceVocabulary.apps[program.choose(SequenceVocabulary.apps.count)]
        let context = program.next()
        let consumer = program.choose(7)
        let selection = program.next()
        guard let organization = model.organizations[slug] else { return }
        var request = Model.Request(organization: organization.id, app: app)
        switch context & 3 {
        case 1: request.project = organization.projects["web"]
        case 2: request.project = organization.projects["data"]
        case 3: request.project = model.organizations.values.first { $0.id != organization.id }?.projects["web"]
        default: break
        }
        let user = (context >> 2) & 3
        if user > 0 { request.user = model.users[SequenceVocabulary.users[user - 1]] }
        request.pinned = [nil, .organization, .project, .user][(context >> 4) & 3]
        if consumer > 0 { request.consumer = SequenceVocabulary.consumer(consumer - 1) }
        if selection > 0, !model.credentials.isEmpty {
            request.selection = model.credentials[(selection - 1) % model.credentials.count].id
        }
        let model = self.model
        note("resolve \(Self.describe(request, in: model)): \(model.resolve(request))")
        compareResolution(request)
    }

    /// The instance, its stage and version, or the refusal with its candidates.
    mutating func compareResolution(_ request: Model.Request) {
        guard let vault else { return }
        let expected = model.resolve(request)
        let actual = Model.Resolved(vault.resolution(request.engineRequest))
        if actual != expected {
            disagree("resolving \(Self.describe(request, in: model)) gives \(actual), the model \(expected)")
        }
    }
}
