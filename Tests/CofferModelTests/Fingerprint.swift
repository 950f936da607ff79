import CofferCrypto
import CofferErrors
import CofferFormat

@testable import CofferModel

/// Everything the public queries of an index answer, rendered as canonical text without
/// record locations: two indexes with the same fingerprint answer every query the same,
/// except where in the log things are. Compaction must preserve it exactly.
///
/// It covers principals and their lookups, memberships and roles, credential listings under
/// every filter, each credential's metadata, previews, history and readable versions,
/// selectors, candidate groups in order and their defaults, assignments by every query,
/// API keys as each user sees them and as their hashes check, statistics, invariants, the
/// compaction estimate, and `resolutions` (or a generated batch) with their traces.
func fingerprint(of index: VaultIndex, resolutions: [ResolutionRequest]? = nil) -> String {
    var lines: [String] = []
    func line(_ text: String) { lines.append(text) }
    func stamp(_ stamp: ChangeStamp) -> String { "\(stamp.timeMilliseconds)@\(stamp.actor)" }
    func outcome<T>(_ body: () throws -> T, _ render: (T) -> String) -> String {
        do { return render(try body()) } catch let error as CofferError {
            return "error \(error.code): \(error.message) [\(error.candidates.joined(separator: "; "))]"
        } catch { return "unexpected \(error)" }
    }

    line("retention \(index.versionRetention)")
    let estimate = index.compactionEstimate
    line("estimate \(estimate.liveOperations) \(estimate.liveVersions) \(estimate.liveHistoryEntries)")
    let statistics = index.statistics()
    line(
        "statistics \(statistics.organizations) \(statistics.projects) \(statistics.users) \(statistics.memberships) "
            + "\(statistics.credentials) \(statistics.revokedCredentials) \(statistics.defaults) "
            + "\(statistics.assignments) \(statistics.retainedVersions) \(statistics.apiKeys) \(statistics.activeAPIKeys) "
            + "types \(statistics.credentialsByType.map { "\($0.key)=\($0.value)" }.sorted()) "
            + "scopes \(statistics.credentialsByScope.map { "\($0.key)=\($0.value)" }.sorted())")
    line("invariants \(index.checkInvariants())")

    let users = index.users()
    for user in users {
        line(
            "user \(user.id) \(user.handle) \(user.displayName) \(stamp(user.created)) "
                + "byHandle \(index.user(user.handle)?.id.description ?? "-") byID \(index.user(id: user.id)?.handle ?? "-")"
        )
        line("  memberships \(index.memberships(of: user.id).map { "\($0.organization) \($0.role)" })")
    }

    var organizationRequests: [ResolutionRequest] = []
    for organization in index.organizations() {
        let org = organization.id
        line(
            "organization \(org) \(organization.slug) \(organization.name) \(stamp(organization.created)) "
                + "bySlug \(index.organization(organization.slug)?.id.description ?? "-") "
                + "byID \(index.organization(id: org)?.slug ?? "-")")
        let projects = index.projects(in: org)
        for project in projects {
            line(
                "  project \(project.id) \(project.organization) \(project.slug) \(project.name) \(stamp(project.created)) "
                    + "bySlug \(index.project(project.slug, in: org)?.id.description ?? "-") "
                    + "byID \(index.project(id: project.id)?.slug ?? "-")")
        }
        line("  members \(index.memberships(in: org).map { "\($0.user) \($0.role)" })")
        line("  roles \(users.map { index.role(of: $0.id, in: org)?.word ?? "-" })")

        let all = index.credentials(matching: CredentialFilter(organization: org))
        let apps = Array(Set(all.map(\.appKey))).sorted() + ["unknown-app"]
        var filters: [(String, CredentialFilter)] = [
            ("all", CredentialFilter(organization: org)),
            ("active", CredentialFilter(organization: org, includesRevoked: false)),
        ]
        for app in apps { filters.append(("app \(app)", CredentialFilter(organization: org, appKey: app))) }
        for scope in CredentialScope.allCases {
            filters.append(("scope \(scope)", CredentialFilter(organization: org, scope: scope)))
        }
        for project in projects {
            filters.append(("project \(project.slug)", CredentialFilter(organization: org, project: project.id)))
        }
        for user in users {
            filters.append(("user \(user.handle)", CredentialFilter(organization: org, user: user.id)))
        }
        for (name, filter) in filters {
            line("  list \(name): \(index.credentials(matching: filter).map(\.id))")
        }

        for listed in all {
            let id = listed.id
            guard let info = index.credential(id: id) else {
                line("  credential \(id) listed but not found")
                continue
            }
            line(
                "  credential \(info.id) \(info.organization) \(info.appKey)/\(info.slug) \"\(info.label)\" \(info.kind) "
                    + "\(info.type) \(info.category) \(info.owner) \(info.state) v\(info.version) "
                    + "default \(info.isDefault) created \(stamp(info.created)) updated \(stamp(info.updated)) "
                    + "rotated \(info.rotated.map(stamp) ?? "-")")
            line("    fields \(info.fields.map { "\($0.name)\($0.isSecret ? "*" : "")=\($0.text)" })")
            for change in index.history(of: id) {
                line("    change \(change.kind) v\(change.version) \(change.changedFields) \(stamp(change.stamp))")
            }
            let versions = index.versions(of: id)
            line("    versions \(versions.map { "v\($0.version) \($0.kind) \(stamp($0.stamp))" })")
            let readable = (0...info.version + 1).filter { index.location(of: id, version: $0) != nil }
            line("    readable \(readable) current \(index.location(of: id) != nil)")
            line("    assignments \(index.assignments(naming: id).map { "\($0.target) \($0.appKey)" })")
            let scopeWord = info.scope == .organization ? "org" : info.scope.word
            for selector in [id.description, info.slug, "\(info.appKey)/\(info.slug)", "\(scopeWord)/\(info.slug)"] {
                line(
                    "    select \(selector): \(outcome({ try index.selectCredential(selector, in: org) }, \.description))"
                )
            }
        }

        var owners: [ScopeOwner] = [.organization(org)]
        owners += projects.map { .project($0.id) }
        owners += users.map { .user($0.id) }
        for app in apps {
            for owner in owners {
                let candidates = index.candidates(organization: org, appKey: app, owner: owner)
                let chosen = index.defaultCredential(organization: org, appKey: app, owner: owner)
                guard !candidates.isEmpty || chosen != nil else { continue }
                line("  group \(app) \(owner): \(candidates) default \(chosen?.description ?? "-")")
            }
        }

        let assignments = index.assignments(organization: org)
        for assignment in assignments {
            let exact = index.assignment(organization: org, target: assignment.target, appKey: assignment.appKey)
            line(
                "  assignment \(assignment.target) \(assignment.appKey) → \(assignment.credential) "
                    + "exact \(exact?.credential.description ?? "-")")
        }
        for kind in TargetKind.allCases {
            line("  assignments \(kind): \(index.assignments(organization: org, kind: kind).count)")
            for slug in Set(assignments.filter { $0.target.kind == kind }.map(\.target.slug)).sorted() {
                let named = index.assignments(organization: org, kind: kind, targetSlug: slug)
                line("    \(slug): \(named.map { "\($0.target.consumer) \($0.appKey) \($0.credential)" })")
            }
        }

        for user in users {
            let visible = outcome(
                { try index.apiKeys(organization: org, visibleTo: user.id) },
                { keys in
                    keys.map {
                        "\($0.id) \($0.organization) \($0.creator) \($0.name) \($0.preview) \($0.state) "
                            + "\(stamp($0.created)) \($0.revoked.map(stamp) ?? "-")"
                    }.description
                })
            line("  keys for \(user.handle): \(visible)")
        }

        let projectIDs: [ProjectID?] = [nil] + projects.map(\.id)
        let userIDs: [UserID?] = [nil] + users.map(\.id)
        let targets = Set(assignments.map(\.target)).flatMap { target -> [AssignmentTarget] in
            var wildcard = target
            wildcard.consumer = AssignmentTarget.everyConsumer
            var other = target
            other.consumer = "other-consumer"
            return [target, wildcard, other]
        }
        let consumers: [AssignmentTarget?] = [nil] + Array(Set(targets)).sorted { $0.description < $1.description }
        for app in apps {
            for project in projectIDs {
                for user in userIDs {
                    for pinned in [nil] + CredentialScope.allCases {
                        for consumer in consumers.prefix(4) {
                            organizationRequests.append(
                                ResolutionRequest(
                                    appKey: app, context: RunContext(organization: org, project: project, user: user),
                                    pinnedScope: pinned, consumer: consumer))
                        }
                    }
                }
            }
        }
        for credential in all.prefix(6) {
            organizationRequests.append(
                ResolutionRequest(
                    appKey: credential.appKey, context: RunContext(organization: org, project: projectIDs.last ?? nil),
                    selection: credential.id))
        }
    }

    for (id, record) in index.tables.apiKeys.sorted(by: { $0.key < $1.key }) {
        let info = index.apiKey(id: id)
        let check = outcome({ try index.checkAPIKey(hash: record.hash) }, { "\($0.apiKey) \($0.user) \($0.role)" })
        line(
            "apiKey \(id) \(Hex.encode(record.hash)) \(info.map { "\($0.name) \($0.state)" } ?? "-") check \(check)")
    }

    for request in resolutions ?? organizationRequests {
        switch index.resolve(request) {
        case .resolved(let resolved, let trace):
            line(
                "resolve \(request): \(resolved.id) \(resolved.appKey) \(resolved.owner) v\(resolved.version) "
                    + "\(resolved.stage)")
            for step in trace { line("  \(step) \(step.candidates)") }
        case .failed(let error, let trace):
            line("resolve \(request): \(error.code) \(error.message) [\(error.candidates.joined(separator: "; "))]")
            for step in trace { line("  \(step) \(step.candidates)") }
        }
    }
    return lines.joined(separator: "\n")
}

/// The first line where two fingerprints differ, for a readable failure message.
func firstDifference(_ lhs: String, _ rhs: String) -> String {
    let left = lhs.split(separator: "\n", omittingEmptySubsequences: false)
    let right = rhs.split(separator: "\n", omittingEmptySubsequences: false)
    for (number, (a, b)) in zip(left, right).enumerated() where a != b {
        return "line \(number + 1):\n- \(a)\n+ \(b)"
    }
    return left.count == right.count ? "none" : "line counts \(left.count) and \(right.count)"
}
