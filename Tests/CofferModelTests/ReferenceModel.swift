import CofferCrypto
import CofferErrors

@testable import CofferModel

/// A deliberately naive model of the vault: arrays and linear scans, written from the rules
/// in FORMAT.md without looking at the index. The randomized test runs the
/// same actions against it and the real index and compares every answer.
struct ReferenceModel {
    struct Credential {
        var id: CredentialID
        var organization: OrganizationID
        var app: String
        var slug: String
        var label: String
        var owner: ScopeOwner
        var state: CredentialState = .active
        var version: UInt32 = 1
        var isDefault = false
        var token: String
        var versions: [UInt32] = [1]
        var history: [ChangeKind] = [.created]
    }

    struct Assignment: Hashable {
        var organization: OrganizationID
        var target: AssignmentTarget
        var app: String
        var credential: CredentialID
    }

    struct Key {
        var id: APIKeyID
        var organization: OrganizationID
        var creator: UserID
        var secret: SecureBytes
        var isActive = true
    }

    struct Member: Hashable {
        var user: UserID
        var organization: OrganizationID
        var role: Role
    }

    var organizations: [(id: OrganizationID, slug: String)] = []
    var projects: [(id: ProjectID, organization: OrganizationID, slug: String)] = []
    var users: [(id: UserID, handle: String)] = []
    var members: [Member] = []
    var credentials: [Credential] = []
    var assignments: [Assignment] = []
    var keys: [Key] = []
    var retention = 10

    func role(_ user: UserID, _ organization: OrganizationID) -> Role? {
        members.first { $0.user == user && $0.organization == organization }?.role
    }

    func credential(_ id: CredentialID) -> Credential? {
        credentials.first { $0.id == id }
    }

    mutating func modify(_ id: CredentialID, _ change: (inout Credential) -> Void) {
        let index = credentials.firstIndex { $0.id == id }!
        change(&credentials[index])
    }

    // MARK: - Mutations (the caller has checked the preconditions)

    mutating func newVersion(_ id: CredentialID, token: String, rotated: Bool) {
        let retention = self.retention
        modify(id) {
            $0.version += 1
            $0.token = token
            $0.versions.insert($0.version, at: 0)
            $0.versions = Array($0.versions.prefix(retention))
            $0.history.append(rotated ? .rotated : .fieldsUpdated)
        }
    }

    mutating func setRetention(_ count: Int) {
        retention = count
        for index in credentials.indices {
            credentials[index].versions = Array(credentials[index].versions.prefix(count))
        }
    }

    mutating func clearDefault(_ id: CredentialID) {
        modify(id) {
            $0.isDefault = false
            $0.history.append(.defaultCleared)
        }
    }

    mutating func makeDefault(_ id: CredentialID) {
        let chosen = credential(id)!
        if let current = credentials.first(where: {
            $0.isDefault && $0.organization == chosen.organization && $0.app == chosen.app && $0.owner == chosen.owner
        }) {
            clearDefault(current.id)
        }
        modify(id) {
            $0.isDefault = true
            $0.history.append(.defaultSet)
        }
    }

    mutating func revoke(_ id: CredentialID) {
        if credential(id)!.isDefault { clearDefault(id) }
        modify(id) {
            $0.state = .revoked
            $0.history.append(.revoked)
        }
    }

    mutating func reinstate(_ id: CredentialID) {
        modify(id) {
            $0.state = .active
            $0.history.append(.reinstated)
        }
    }

    mutating func delete(_ id: CredentialID) {
        assignments.removeAll { $0.credential == id }
        credentials.removeAll { $0.id == id }
    }

    mutating func assign(_ id: CredentialID, _ target: AssignmentTarget) {
        let chosen = credential(id)!
        assignments.removeAll { $0.organization == chosen.organization && $0.target == target && $0.app == chosen.app }
        assignments.append(
            Assignment(organization: chosen.organization, target: target, app: chosen.app, credential: id))
    }

    mutating func removeMember(_ user: UserID, _ organization: OrganizationID) {
        for credential in credentials where credential.organization == organization && credential.owner == .user(user) {
            delete(credential.id)
        }
        for index in keys.indices where keys[index].organization == organization && keys[index].creator == user {
            keys[index].isActive = false
        }
        members.removeAll { $0.user == user && $0.organization == organization }
    }

    mutating func removeUser(_ user: UserID) {
        for member in members where member.user == user { removeMember(user, member.organization) }
        users.removeAll { $0.id == user }
    }

    mutating func removeProject(_ project: ProjectID) {
        for credential in credentials where credential.owner == .project(project) { delete(credential.id) }
        projects.removeAll { $0.id == project }
    }

    mutating func removeOrganization(_ organization: OrganizationID) {
        assignments.removeAll { $0.organization == organization }
        credentials.removeAll { $0.organization == organization }
        keys.removeAll { $0.organization == organization }
        members.removeAll { $0.organization == organization }
        projects.removeAll { $0.organization == organization }
        organizations.removeAll { $0.id == organization }
    }

    // MARK: - Resolution, straight from the rules

    enum Outcome: Equatable, CustomStringConvertible {
        case resolved(CredentialID)
        case failed(CofferError.Code, Set<CredentialID>)

        var description: String {
            switch self {
            case .resolved(let id): "resolved \(id)"
            case .failed(let code, let candidates): "failed \(code) \(candidates.sorted())"
            }
        }
    }

    func resolve(_ request: ResolutionRequest) -> Outcome {
        let context = request.context
        let app = request.appKey
        if let project = context.project,
            projects.first(where: { $0.id == project })?.organization != context.organization
        {
            return .failed(.invalidInput, [])
        }
        if let user = context.user, role(user, context.organization) == nil { return .failed(.invalidInput, []) }
        func usable(_ chosen: Credential) -> Outcome {
            if chosen.organization != context.organization { return .failed(.notFound, []) }
            switch chosen.owner {
            case .project(let project) where project != context.project: return .failed(.notVisible, [])
            case .user where context.user == nil: return .failed(.noUserActor, [])
            case .user(let user) where user != context.user: return .failed(.notVisible, [])
            default: break
            }
            if chosen.app != app { return .failed(.wrongApp, []) }
            if chosen.state != .active { return .failed(.credentialRevoked, []) }
            return .resolved(chosen.id)
        }
        if let selection = request.selection {
            guard let chosen = credential(selection) else { return .failed(.notFound, []) }
            return usable(chosen)
        }
        if let consumer = request.consumer {
            for name in consumer.isWildcard ? ["*"] : [consumer.consumer, "*"] {
                var target = consumer
                target.consumer = name
                if let assignment = assignments.first(where: {
                    $0.organization == context.organization && $0.target == target && $0.app == app
                }) {
                    return usable(credential(assignment.credential)!)
                }
            }
        }
        func scope(_ owner: ScopeOwner) -> Outcome? {
            let active = credentials.filter {
                $0.organization == context.organization && $0.app == app && $0.owner == owner && $0.state == .active
            }
            if active.count == 1 { return .resolved(active[0].id) }
            if active.isEmpty { return nil }
            let defaults = active.filter(\.isDefault)
            if defaults.count == 1 { return .resolved(defaults[0].id) }
            return .failed(.ambiguous, Set(active.map(\.id)))
        }
        let missing = Outcome.failed(.credentialMissing, [])
        switch request.pinnedScope {
        case .organization?:
            return scope(.organization(context.organization)) ?? missing
        case .project?:
            guard let project = context.project else { return missing }
            return scope(.project(project)) ?? missing
        case .user?:
            guard let user = context.user else { return .failed(.noUserActor, []) }
            return scope(.user(user)) ?? missing
        case nil:
            if let project = context.project, let outcome = scope(.project(project)) { return outcome }
            return scope(.organization(context.organization)) ?? missing
        }
    }
}
