import Coffer

/// The reference model of ``FuzzTarget/operationSequence``: what must be true of a vault
/// after each step, kept in plain dictionaries and arrays and written from FORMAT.md §9
/// rather than from the engine's code, so that the two can disagree.
///
/// Each operation returns an ``Outcome``: the error code the engine must refuse with, or how
/// the model changes when the engine accepts (given what the engine returned: new ids, a new
/// key). The model never looks at the engine's state.
struct SequenceModel {
    /// What the engine must do with one step.
    enum Outcome<Value> {
        /// Refuse with this code.
        case refused(CofferError.Code)
        /// Accept; the closure brings the model up to date with what the engine returned, and
        /// returns a disagreement when the returned value is wrong.
        case accepted((inout SequenceModel, Value) -> String?)
    }

    /// A refusal the model predicts, as an error for `Result`.
    struct Refusal: Error {
        let code: CofferError.Code
    }

    struct Organization {
        let slug: String
        let id: OrganizationID
        var projects: [String: ProjectID] = [:]
    }

    enum Owner: Hashable {
        case organization
        case project(ProjectID)
        case user(UserID)

        var scope: CredentialScope {
            switch self {
            case .organization: .organization
            case .project: .project
            case .user: .user
            }
        }
    }

    struct Credential {
        let id: CredentialID
        let organization: OrganizationID
        let app: String
        var slug: String
        var label: String
        let type: CredentialType
        let owner: Owner
        var isRevoked = false
        var isDefault = false
        var version: UInt32 = 1
        /// The values of every readable version.
        var values: [UInt32: [String: [UInt8]]]
        var isDeleted = false

        var current: [String: [UInt8]] { values[version] ?? [:] }

        func scopeOwner() -> ScopeOwner {
            switch owner {
            case .organization: .organization(organization)
            case .project(let id): .project(id)
            case .user(let id): .user(id)
            }
        }
    }

    struct RoleKey: Hashable {
        let organization: OrganizationID
        let user: UserID
    }

    struct AssignmentKey: Hashable {
        let organization: OrganizationID
        let target: AssignmentTarget
        let app: String
    }

    struct APIKey {
        let id: APIKeyID
        let organization: OrganizationID
        let creator: UserID
        let secret: SecureBytes
        var isRevoked = false
        var isDeleted = false
    }

    /// How a step names a credential (OPS-SELECTOR).
    enum Selector {
        case id(CredentialID)
        case appSlug(String, String)
        case slug(String)
        case scopeSlug(CredentialScope, String)

        var text: String {
            switch self {
            case .id(let id): id.description
            case .appSlug(let app, let slug): "\(app)/\(slug)"
            case .slug(let slug): slug
            case .scopeSlug(let scope, let slug): "\(scope == .organization ? "org" : scope.word)/\(slug)"
            }
        }
    }

    var organizations: [String: Organization] = [:]
    var users: [String: UserID] = [:]
    var roles: [RoleKey: Role] = [:]
    /// Every credential ever created, deleted ones included, in creation order.
    var credentials: [Credential] = []
    var assignments: [AssignmentKey: CredentialID] = [:]
    /// Every API key ever created, in creation order.
    var apiKeys: [APIKey] = []
    var retention = Int(VaultIndex.versionRetentionDefault)
    /// Keyslot ids and the vocabulary secret each holds.
    var slots: [(id: UInt16, secret: Int)] = [(1, 0)]
    /// The key epochs in the file, oldest first: the first one a new vault has.
    var epochs: [UInt32] = [1]

    // MARK: - Lookups

    func organization(id: OrganizationID) -> Organization? {
        organizations.values.first { $0.id == id }
    }

    func live(_ id: CredentialID) -> Int? {
        credentials.firstIndex { $0.id == id && !$0.isDeleted }
    }

    var liveCredentials: [Credential] { credentials.filter { !$0.isDeleted } }

    /// The live instances of one candidate group: one app at one scope owner of one
    /// organization.
    func group(_ organization: OrganizationID, _ app: String, _ owner: Owner) -> [Int] {
        credentials.indices.filter {
            let credential = credentials[$0]
            return !credential.isDeleted && credential.organization == organization && credential.app == app
                && credential.owner == owner
        }
    }

    func isMember(_ user: UserID, of organization: OrganizationID) -> Bool {
        roles[RoleKey(organization: organization, user: user)] != nil
    }

    /// OPS-SELECTOR: the one live credential of `organization` the selector names.
    func select(_ selector: Selector, in organizationSlug: String) -> Result<Int, Refusal> {
        guard let organization = organizations[organizationSlug] else { return .failure(Refusal(code: .notFound)) }
        let matches = credentials.indices.filter {
            let credential = credentials[$0]
            guard !credential.isDeleted, credential.organization == organization.id else { return false }
            switch selector {
            case .id(let id): return credential.id == id
            case .appSlug(let app, let slug): return credential.app == app && credential.slug == slug
            case .slug(let slug): return credential.slug == slug
            case .scopeSlug(let scope, let slug): return credential.owner.scope == scope && credential.slug == slug
            }
        }
        if matches.isEmpty { return .failure(Refusal(code: .notFound)) }
        if matches.count > 1 { return .failure(Refusal(code: .ambiguous)) }
        return .success(matches[0])
    }

    // MARK: - Changes the cascades share

    /// OPS-CASCADE "delete a credential": its assignments and default mark go with it.
    mutating func delete(_ index: Int) {
        let id = credentials[index].id
        assignments = assignments.filter { $0.value != id }
        credentials[index].isDefault = false
        credentials[index].isDeleted = true
    }

    /// OPS-CASCADE "remove a membership".
    mutating func removeMembership(_ user: UserID, _ organization: OrganizationID) {
        for index in credentials.indices
        where !credentials[index].isDeleted && credentials[index].organization == organization
            && credentials[index].owner == .user(user)
        {
            delete(index)
        }
        for index in apiKeys.indices
        where !apiKeys[index].isDeleted && apiKeys[index].organization == organization && apiKeys[index].creator == user
        {
            apiKeys[index].isRevoked = true
        }
        roles[RoleKey(organization: organization, user: user)] = nil
    }

    /// OP-CRED-VERSION-2: only the newest `retention` versions stay readable; a let-go
    /// version never comes back.
    mutating func prune(_ index: Int) {
        let oldestKept = Int64(credentials[index].version) - Int64(retention)
        credentials[index].values = credentials[index].values.filter { Int64($0.key) > oldestKept }
    }

    /// Makes `index` the default of its group, clearing the group's old default.
    mutating func makeDefault(_ index: Int) {
        let credential = credentials[index]
        for other in group(credential.organization, credential.app, credential.owner) {
            credentials[other].isDefault = false
        }
        credentials[index].isDefault = true
    }

    // MARK: - Organizations, projects, users, memberships

    func createOrganization(_ slug: String) -> Outcome<OrganizationID> {
        guard organizations[slug] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.organizations[slug] = Organization(slug: slug, id: id)
            return nil
        }
    }

    func createProject(_ slug: String, in organizationSlug: String) -> Outcome<ProjectID> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        guard organization.projects[slug] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.organizations[organizationSlug]?.projects[slug] = id
            return nil
        }
    }

    func createUser(_ handle: String) -> Outcome<UserID> {
        guard users[handle] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.users[handle] = id
            return nil
        }
    }

    /// Adds a membership, or with `change` changes its role.
    func setRole(_ role: Role, of handle: String, in organizationSlug: String, change: Bool) -> Outcome<Void> {
        guard let organization = organizations[organizationSlug], let user = users[handle] else {
            return .refused(.notFound)
        }
        let key = RoleKey(organization: organization.id, user: user)
        if change, roles[key] == nil { return .refused(.notFound) }
        if !change, roles[key] != nil { return .refused(.alreadyExists) }
        // OP-MEMBER-CHANGE-2: an organization's last owner keeps the role.
        if change, roles[key] == .owner, role != .owner,
            !roles.contains(where: { $0.key.organization == organization.id && $0.key.user != user && $0.value == .owner })
        {
            return .refused(.invalidInput)
        }
        return .accepted { model, _ in
            model.roles[key] = role
            return nil
        }
    }

    func removeMember(_ handle: String, from organizationSlug: String) -> Outcome<Impact> {
        guard let organization = organizations[organizationSlug], let user = users[handle],
            isMember(user, of: organization.id)
        else { return .refused(.notFound) }
        return .accepted { model, _ in
            model.removeMembership(user, organization.id)
            return nil
        }
    }

    func removeUser(_ handle: String) -> Outcome<Impact> {
        guard let user = users[handle] else { return .refused(.notFound) }
        return .accepted { model, _ in
            for key in model.roles.keys where key.user == user { model.removeMembership(user, key.organization) }
            model.users[handle] = nil
            return nil
        }
    }

    func removeProject(_ slug: String, in organizationSlug: String) -> Outcome<Impact> {
        guard let organization = organizations[organizationSlug], let project = organization.projects[slug] else {
            return .refused(.notFound)
        }
        return .accepted { model, _ in
            for index in model.credentials.indices
            where !model.credentials[index].isDeleted && model.credentials[index].owner == .project(project) {
                model.delete(index)
            }
            model.organizations[organizationSlug]?.projects[slug] = nil
            return nil
        }
    }

    /// OP-ORG-REMOVE-1 and its cascade: without `cascade` it must hold nothing, revoked
    /// credentials and API keys included.
    func removeOrganization(_ slug: String, cascade: Bool) -> Outcome<Impact> {
        guard let organization = organizations[slug] else { return .refused(.notFound) }
        let id = organization.id
        let holds =
            !organization.projects.isEmpty || roles.keys.contains { $0.organization == id }
            || credentials.contains { !$0.isDeleted && $0.organization == id }
            || assignments.keys.contains { $0.organization == id }
            || apiKeys.contains { !$0.isDeleted && $0.organization == id }
        if holds, !cascade { return .refused(.invalidInput) }
        return .accepted { model, _ in
            for index in model.credentials.indices
            where !model.credentials[index].isDeleted && model.credentials[index].organization == id {
                model.delete(index)
            }
            for index in model.apiKeys.indices where model.apiKeys[index].organization == id {
                model.apiKeys[index].isDeleted = true
            }
            model.roles = model.roles.filter { $0.key.organization != id }
            model.organizations[slug] = nil
            return nil
        }
    }

    // MARK: - Credentials

    /// What a step gives for a credential's fields: for each field of the type, its value,
    /// empty for blank ("not given", OPS-FIELD-NONEMPTY).
    typealias GivenFields = [String: [UInt8]]

    static func nonBlank(_ given: GivenFields) -> GivenFields { given.filter { !$0.value.isEmpty } }

    /// OPS-SCHEMA: every value follows its field's rule, and every required field is there.
    static func satisfiesSchema(_ fields: GivenFields, of type: CredentialType) -> Bool {
        fields.allSatisfy { SequenceVocabulary.isValid($0.key, $0.value) }
            && type.fields.allSatisfy { !$0.isRequired || fields[$0.name] != nil }
    }

    func createCredential(
        in organizationSlug: String, app: String, slug: String, type: CredentialType, fields given: GivenFields,
        scopes: [ScopeTarget], isDefault: Bool
    ) -> Outcome<[CredentialID]> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        let fields = Self.nonBlank(given)
        guard Self.satisfiesSchema(fields, of: type) else { return .refused(.invalidInput) }
        var owners: [Owner] = []
        for scope in scopes.isEmpty ? [.organization] : scopes {
            switch scope {
            case .organization:
                owners.append(.organization)
            case .project(let slug):
                guard let project = organization.projects[slug] else { return .refused(.notFound) }
                owners.append(.project(project))
            case .user(let handle):
                guard let user = users[handle] else { return .refused(.notFound) }
                guard isMember(user, of: organization.id) else { return .refused(.invalidInput) }
                owners.append(.user(user))
            }
        }
        // OP-CRED-CREATE-2
        for owner in owners where group(organization.id, app, owner).contains(where: { credentials[$0].slug == slug }) {
            return .refused(.alreadyExists)
        }
        return .accepted { model, ids in
            guard ids.count == owners.count else { return "created \(ids.count) instances for \(owners.count) scopes" }
            for (owner, id) in zip(owners, ids) {
                model.credentials.append(
                    Credential(
                        id: id, organization: organization.id, app: app, slug: slug, label: "\(app) \(slug)",
                        type: type,
                        owner: owner, values: [1: fields]))
                if isDefault { model.makeDefault(model.credentials.count - 1) }
            }
            return nil
        }
    }

    /// The new version's values after giving `given` and clearing `cleared`, and the changed
    /// field names; `.invalidInput` for an unknown, required-and-cleared or given-and-cleared
    /// field (OP-CRED-VERSION-1, OPS-FIELD-NONEMPTY).
    static func merge(_ credential: Credential, given: GivenFields, cleared: Set<String>) -> Result<
        (fields: GivenFields, changed: [String]), Refusal
    > {
        let names = credential.type.fields.map(\.name)
        guard given.keys.allSatisfy(names.contains), cleared.allSatisfy(names.contains) else {
            return .failure(Refusal(code: .invalidInput))
        }
        for field in credential.type.fields where cleared.contains(field.name) {
            if field.isRequired || given[field.name] != nil { return .failure(Refusal(code: .invalidInput)) }
        }
        var fields = credential.current
        var changed: [String] = []
        for name in names {
            if let value = given[name] {
                if fields[name] != value { changed.append(name) }
                fields[name] = value
            } else if cleared.contains(name), fields[name] != nil {
                changed.append(name)
                fields[name] = nil
            }
        }
        return .success((fields, changed))
    }

    /// Adds version `version + 1` with `fields` and lets go of the oldest beyond retention.
    mutating func addVersion(_ index: Int, _ fields: GivenFields) {
        credentials[index].version += 1
        credentials[index].values[credentials[index].version] = fields
        prune(index)
    }

    func updateCredential(
        _ selector: Selector, in organizationSlug: String, label: String?, isDefault: Bool?, fields given: GivenFields,
        cleared: Set<String>
    ) -> Outcome<CredentialID> {
        let index: Int
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let found): index = found
        }
        let credential = credentials[index]
        let fields = Self.nonBlank(given)
        var newVersion: GivenFields?
        if !fields.isEmpty || !cleared.isEmpty {
            guard !credential.isRevoked else { return .refused(.invalidInput) }
            switch Self.merge(credential, given: fields, cleared: cleared) {
            case .failure(let refusal): return .refused(refusal.code)
            case .success(let merged) where !merged.changed.isEmpty:
                guard Self.satisfiesSchema(merged.fields, of: credential.type) else { return .refused(.invalidInput) }
                newVersion = merged.fields
            case .success: break
            }
        }
        if isDefault == true, !credential.isDefault, credential.isRevoked { return .refused(.invalidInput) }
        return .accepted { model, id in
            guard id == credential.id else { return "updated \(id), not \(credential.id)" }
            if let label { model.credentials[index].label = label }
            if let newVersion { model.addVersion(index, newVersion) }
            if isDefault == true, !credential.isDefault { model.makeDefault(index) }
            if isDefault == false { model.credentials[index].isDefault = false }
            return nil
        }
    }

    /// A rotation: a new version that changes at least one secret field.
    func rotateCredential(_ selector: Selector, in organizationSlug: String, fields given: GivenFields) -> Outcome<
        CredentialID
    > {
        let index: Int
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let found): index = found
        }
        let credential = credentials[index]
        let fields = Self.nonBlank(given)
        let secrets = Set(credential.type.fields.filter(\.isSecret).map(\.name))
        guard !credential.isRevoked, fields.keys.contains(where: secrets.contains) else {
            return .refused(.invalidInput)
        }
        guard case .success(let merged) = Self.merge(credential, given: fields, cleared: []),
            merged.changed.contains(where: secrets.contains), Self.satisfiesSchema(merged.fields, of: credential.type)
        else { return .refused(.invalidInput) }
        return .accepted { model, id in
            guard id == credential.id else { return "rotated \(id), not \(credential.id)" }
            model.addVersion(index, merged.fields)
            return nil
        }
    }

    func revokeCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<CredentialID> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            guard !credentials[index].isRevoked else { return .refused(.invalidInput) }
            let expected = credentials[index].id
            return .accepted { model, id in
                guard id == expected else { return "revoked \(id), not \(expected)" }
                model.credentials[index].isDefault = false
                model.credentials[index].isRevoked = true
                return nil
            }
        }
    }

    /// Reinstating makes a revoked credential active again, without its default mark.
    func reinstateCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<CredentialID> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            guard credentials[index].isRevoked else { return .refused(.invalidInput) }
            let expected = credentials[index].id
            return .accepted { model, id in
                guard id == expected else { return "reinstated \(id), not \(expected)" }
                model.credentials[index].isRevoked = false
                return nil
            }
        }
    }

    /// A new slug must be free among the credentials of the same app and scope owner; the
    /// same slug again changes nothing.
    func changeSlug(_ selector: Selector, to slug: String, in organizationSlug: String) -> Outcome<CredentialID> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            let credential = credentials[index]
            if credential.slug != slug,
                group(credential.organization, credential.app, credential.owner).contains(where: {
                    credentials[$0].slug == slug
                })
            {
                return .refused(.alreadyExists)
            }
            return .accepted { model, id in
                guard id == credential.id else { return "changed the slug of \(id), not \(credential.id)" }
                model.credentials[index].slug = slug
                return nil
            }
        }
    }

    func deleteCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<Impact> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            let expected = credentials[index].id
            return .accepted { model, impact in
                guard impact.deletedCredentials == [expected] else {
                    return "deleted \(impact.deletedCredentials), not \(expected)"
                }
                model.delete(index)
                return nil
            }
        }
    }

    /// Assigning replaces the consumer's assignment for the credential's app; assigning the
    /// same credential again changes nothing.
    func assign(_ selector: Selector, to target: AssignmentTarget, in organizationSlug: String) -> Outcome<
        AssignmentInfo
    > {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            let credential = credentials[index]
            guard !credential.isRevoked else { return .refused(.invalidInput) }
            return .accepted { model, info in
                guard info.credential == credential.id, info.appKey == credential.app else {
                    return "assigned \(info.credential) for \(info.appKey), not \(credential.id) for \(credential.app)"
                }
                model.assignments[
                    AssignmentKey(organization: credential.organization, target: target, app: credential.app)] =
                    credential.id
                return nil
            }
        }
    }

    func unassign(_ target: AssignmentTarget, app: String, in organizationSlug: String) -> Outcome<Void> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        let key = AssignmentKey(organization: organization.id, target: target, app: app)
        guard assignments[key] != nil else { return .refused(.notFound) }
        return .accepted { model, _ in
            model.assignments[key] = nil
            return nil
        }
    }

    func setRetention(_ count: Int) -> Outcome<Void> {
        .accepted { model, _ in
            model.retention = count
            for index in model.credentials.indices where !model.credentials[index].isDeleted { model.prune(index) }
            return nil
        }
    }

    // MARK: - API keys

    /// OPS-APIKEY-VISIBILITY: any member creates keys.
    func createAPIKey(in organizationSlug: String, creator handle: String) -> Outcome<CreatedAPIKey> {
        guard let organization = organizations[organizationSlug], let user = users[handle] else {
            return .refused(.notFound)
        }
        guard isMember(user, of: organization.id) else { return .refused(.permissionDenied) }
        return .accepted { model, created in
            model.apiKeys.append(
                APIKey(id: created.id, organization: organization.id, creator: user, secret: created.secret))
            return nil
        }
    }

    /// OPS-APIKEY-VISIBILITY: owners and admins revoke any key of the organization, a
    /// builder only the keys it created.
    func revokeAPIKey(_ index: Int, in organizationSlug: String, actingUser handle: String) -> Outcome<Void> {
        guard let organization = organizations[organizationSlug], let user = users[handle] else {
            return .refused(.notFound)
        }
        guard let role = roles[RoleKey(organization: organization.id, user: user)] else {
            return .refused(.permissionDenied)
        }
        let key = apiKeys[index]
        guard !key.isDeleted, key.organization == organization.id else { return .refused(.notFound) }
        guard role != .builder || key.creator == user else { return .refused(.permissionDenied) }
        guard !key.isRevoked else { return .refused(.invalidInput) }
        return .accepted { model, _ in
            model.apiKeys[index].isRevoked = true
            return nil
        }
    }

    /// What checking an API key gives: its creator's current role, or `nil` when it does not
    /// authenticate (deleted, revoked, or its creator no longer a member).
    func check(_ key: APIKey) -> Role? {
        guard !key.isDeleted, !key.isRevoked else { return nil }
        return roles[RoleKey(organization: key.organization, user: key.creator)]
    }

    // MARK: - Keys and the file

    func addKeyslot(secret: Int) -> Outcome<UInt16> {
        // F-SLOT: at most 8 slots; a new slot takes the next id.
        guard slots.count < 8 else { return .refused(.invalidInput) }
        let expected = (slots.map(\.id).max() ?? 0) + 1
        return .accepted { model, id in
            guard id == expected else { return "the new keyslot has id \(id), not \(expected)" }
            model.slots.append((id, secret))
            return nil
        }
    }

    func removeKeyslot(id: UInt16) -> Outcome<Void> {
        guard let index = slots.firstIndex(where: { $0.id == id }) else { return .refused(.notFound) }
        guard slots.count > 1 else { return .refused(.invalidInput) }
        return .accepted { model, _ in
            model.slots.remove(at: index)
            return nil
        }
    }

    func rotateDataKey() -> Outcome<UInt32> {
        let expected = epochs.last! + 1
        return .accepted { model, epoch in
            guard epoch == expected else { return "the data-key rotation started epoch \(epoch), not \(expected)" }
            model.epochs.append(epoch)
            return nil
        }
    }

    /// F-COMPACT: without re-encryption every epoch is carried; with it, every epoch in the
    /// file is retired and one new epoch, later than all of them, is carried.
    func compact(reencrypt: Bool) -> Outcome<CompactionReport> {
        let epochs = self.epochs
        return .accepted { model, report in
            let retired = reencrypt ? epochs : []
            let current = reencrypt ? epochs.last! + 1 : epochs.last!
            guard report.retiredEpochs == retired, report.currentEpoch == current else {
                return
                    "compaction retired \(report.retiredEpochs) and is at epoch \(report.currentEpoch), not \(retired) and \(current)"
            }
            if reencrypt { model.epochs = [current] }
            return nil
        }
    }

    // MARK: - Resolution

    /// A resolution request in the model's terms.
    struct Request {
        var organization: OrganizationID
        var app: String
        var project: ProjectID?
        var user: UserID?
        var selection: CredentialID?
        var pinned: CredentialScope?
        var consumer: AssignmentTarget?
    }

    enum Resolved: Equatable {
        case credential(CredentialID, ResolutionStage, version: UInt32)
        case failed(CofferError.Code)
    }

    /// OPS-RESOLVE, written from the spec's steps.
    func resolve(_ request: Request) -> Resolved {
        guard organization(id: request.organization) != nil else { return .failed(.notFound) }
        if let project = request.project {
            guard let owner = organizations.values.first(where: { $0.projects.values.contains(project) }) else {
                return .failed(.notFound)
            }
            guard owner.id == request.organization else { return .failed(.invalidInput) }
        }
        if let user = request.user, !users.values.contains(user) { return .failed(.notFound) }
        if let user = request.user, !isMember(user, of: request.organization) { return .failed(.invalidInput) }

        // 1. Explicit selection.
        if let selection = request.selection {
            guard let index = live(selection) else { return .failed(.notFound) }
            return pick(index, request, .explicitSelection)
        }
        // 2. Assignment: the exact consumer, then `*`.
        if var consumer = request.consumer {
            if consumer.consumer != AssignmentTarget.everyConsumer,
                let id = assignments[
                    AssignmentKey(organization: request.organization, target: consumer, app: request.app)]
            {
                return pick(live(id)!, request, .exactAssignment)
            }
            consumer.consumer = AssignmentTarget.everyConsumer
            if let id = assignments[
                AssignmentKey(organization: request.organization, target: consumer, app: request.app)]
            {
                return pick(live(id)!, request, .wildcardAssignment)
            }
        }
        // 3. A pinned scope, alone.
        if let pinned = request.pinned {
            let owner: Owner
            switch pinned {
            case .organization: owner = .organization
            case .project:
                guard let project = request.project else { return .failed(.credentialMissing) }
                owner = .project(project)
            case .user:
                guard let user = request.user else { return .failed(.noUserActor) }
                owner = .user(user)
            }
            return attempt(request, owner, .pinnedScope) ?? .failed(.credentialMissing)
        }
        // 4. The project, 5. the organization, 6. missing.
        if let project = request.project, let found = attempt(request, .project(project), .projectScope) {
            return found
        }
        return attempt(request, .organization, .organizationScope) ?? .failed(.credentialMissing)
    }

    /// OPS-RESOLVE-PICKED: a selected or assigned instance is used only if the run can see it,
    /// it is of the app, and it is active.
    func pick(_ index: Int, _ request: Request, _ stage: ResolutionStage) -> Resolved {
        let credential = credentials[index]
        // Another organization's credential is answered as one that does not exist.
        if credential.organization != request.organization { return .failed(.notFound) }
        switch credential.owner {
        case .organization: break
        case .project(let project): if project != request.project { return .failed(.notVisible) }
        case .user(let user):
            guard let runUser = request.user else { return .failed(.noUserActor) }
            if user != runUser { return .failed(.notVisible) }
        }
        if credential.app != request.app { return .failed(.wrongApp) }
        if credential.isRevoked { return .failed(.credentialRevoked) }
        return .credential(credential.id, stage, version: credential.version)
    }

    /// OPS-RESOLVE-SCOPE: the only active instance, or the default among several; several
    /// without a default is ambiguous; none is `nil` (the step is skipped).
    func attempt(_ request: Request, _ owner: Owner, _ stage: ResolutionStage) -> Resolved? {
        let active = group(request.organization, request.app, owner).filter { !credentials[$0].isRevoked }
        if active.isEmpty { return nil }
        if active.count == 1 {
            return .credential(credentials[active[0]].id, stage, version: credentials[active[0]].version)
        }
        guard let chosen = active.first(where: { credentials[$0].isDefault }) else { return .failed(.ambiguous) }
        return .credential(credentials[chosen].id, stage, version: credentials[chosen].version)
    }
}
