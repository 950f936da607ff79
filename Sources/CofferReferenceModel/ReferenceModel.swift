import CofferCrypto
import CofferErrors
import CofferModel

/// What a reference model predicts the engine does with one step.
package enum Prediction<Model, Value> {
    /// Refuse with this code.
    case refused(CofferError.Code)
    /// Accept; the closure brings the model up to date with what the engine returned, and
    /// returns a disagreement when the returned value is wrong.
    case accepted((inout Model, Value) -> String?)
}

/// The one reference model of the credential rules: what must be true of a vault's
/// organizations, projects, users, memberships, credentials, versions, assignments and API
/// keys after each step, kept in plain dictionaries and arrays and written from FORMAT.md §9
/// rather than from the engine's code, so that the two can disagree.
///
/// Two drivers run it beside the engine and compare every answer: the randomized model tests
/// (`RandomizedModelTests`, against the index through the planner, as the engine commits) and
/// the fuzz target `operationSequence` (`SequenceRun`, against the public `Vault`, through
/// reopens and compactions). Each operation returns an ``Outcome``: the error code the engine
/// must refuse with, or how the model changes when the engine accepts (given what the engine
/// returned: new ids, a new key, an impact). The model never looks at the engine's state.
package struct ReferenceModel {
    package typealias Outcome<Value> = Prediction<ReferenceModel, Value>

    /// A refusal the model predicts, as an error for `Result`.
    package struct Refusal: Error {
        package let code: CofferError.Code
    }

    package struct Organization {
        package let slug: String
        package let id: OrganizationID
        package var projects: [String: ProjectID] = [:]
    }

    package enum Owner: Hashable {
        case organization
        case project(ProjectID)
        case user(UserID)

        package var scope: CredentialScope {
            switch self {
            case .organization: .organization
            case .project: .project
            case .user: .user
            }
        }
    }

    package struct Credential {
        package let id: CredentialID
        package let organization: OrganizationID
        package let app: String
        package var slug: String
        package var label: String
        package let type: CredentialType
        package let owner: Owner
        package var isRevoked = false
        package var isDefault = false
        package var version: UInt32 = 1
        /// The values of every readable version.
        package var values: [UInt32: [String: [UInt8]]]
        /// The kind of every change, oldest first. One update that changes several things
        /// records them in an order FORMAT.md leaves to the writer (here: label, fields,
        /// default); the randomized model tests, which compare histories, change one thing
        /// per update.
        package var history: [ChangeKind] = [.created]
        package var isDeleted = false

        package var current: [String: [UInt8]] { values[version] ?? [:] }

        /// The readable versions, newest first, as the index lists them.
        package var retainedVersions: [UInt32] { values.keys.sorted(by: >) }

        package func scopeOwner() -> ScopeOwner {
            switch owner {
            case .organization: .organization(organization)
            case .project(let id): .project(id)
            case .user(let id): .user(id)
            }
        }
    }

    package struct RoleKey: Hashable {
        package let organization: OrganizationID
        package let user: UserID

        package init(organization: OrganizationID, user: UserID) {
            self.organization = organization
            self.user = user
        }
    }

    package struct AssignmentKey: Hashable {
        package let organization: OrganizationID
        package let target: AssignmentTarget
        package let app: String
    }

    package struct APIKey {
        package let id: APIKeyID
        package let organization: OrganizationID
        package let creator: UserID
        package let secret: SecureBytes
        package var isRevoked = false
        package var isDeleted = false
    }

    /// How a step names a credential (OPS-SELECTOR).
    package enum Selector {
        case id(CredentialID)
        case appSlug(String, String)
        case slug(String)
        case scopeSlug(CredentialScope, String)

        package var text: String {
            switch self {
            case .id(let id): id.description
            case .appSlug(let app, let slug): "\(app)/\(slug)"
            case .slug(let slug): slug
            case .scopeSlug(let scope, let slug): "\(scope == .organization ? "org" : scope.word)/\(slug)"
            }
        }
    }

    package var organizations: [String: Organization] = [:]
    package var users: [String: UserID] = [:]
    package var roles: [RoleKey: Role] = [:]
    /// Every credential ever created, deleted ones included, in creation order.
    package var credentials: [Credential] = []
    package var assignments: [AssignmentKey: CredentialID] = [:]
    /// Every API key ever created, in creation order.
    package var apiKeys: [APIKey] = []
    package var retention = Int(VaultIndex.versionRetentionDefault)
    /// Whether a field's rule (OPS-FIELD-TEXT and the rule of each field, §9.7) accepts a
    /// non-blank value. The model does not restate those rules, which have tests of their own
    /// (SchemaTests): each driver gives only values whose fate it knows (the fuzz vocabulary
    /// has one refused value per field) and says which.
    package let acceptsValue: (_ field: String, _ value: [UInt8]) -> Bool

    /// An empty vault, as `Vault.create` makes it.
    package init(acceptsValue: @escaping (_ field: String, _ value: [UInt8]) -> Bool) {
        self.acceptsValue = acceptsValue
    }

    // MARK: - Lookups

    package func organization(id: OrganizationID) -> Organization? {
        organizations.values.first { $0.id == id }
    }

    package func live(_ id: CredentialID) -> Int? {
        credentials.firstIndex { $0.id == id && !$0.isDeleted }
    }

    package var liveCredentials: [Credential] { credentials.filter { !$0.isDeleted } }

    /// The live instances of one candidate group: one app at one scope owner of one
    /// organization.
    package func group(_ organization: OrganizationID, _ app: String, _ owner: Owner) -> [Int] {
        credentials.indices.filter {
            let credential = credentials[$0]
            return !credential.isDeleted && credential.organization == organization && credential.app == app
                && credential.owner == owner
        }
    }

    package func role(of user: UserID, in organization: OrganizationID) -> Role? {
        roles[RoleKey(organization: organization, user: user)]
    }

    package func isMember(_ user: UserID, of organization: OrganizationID) -> Bool {
        role(of: user, in: organization) != nil
    }

    /// The assignments of `organization`, as the index lists them.
    package func assignments(in organization: OrganizationID) -> Set<AssignmentInfo> {
        Set(
            assignments.filter { $0.key.organization == organization }.map {
                AssignmentInfo(
                    organization: organization, target: $0.key.target, appKey: $0.key.app, credential: $0.value)
            })
    }

    /// OPS-SELECTOR: the one live credential of `organization` the selector names.
    package func select(_ selector: Selector, in organizationSlug: String) -> Result<Int, Refusal> {
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
        clearDefault(index)
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

    /// OP-CRED-DEFAULT-1: makes `index` the default of its group, clearing the group's old
    /// default first.
    mutating func makeDefault(_ index: Int) {
        let credential = credentials[index]
        for other in group(credential.organization, credential.app, credential.owner) where other != index {
            clearDefault(other)
        }
        credentials[index].isDefault = true
        credentials[index].history.append(.defaultSet)
    }

    /// OP-CRED-DEFAULT-2: clears the mark of a default; nothing for another credential.
    mutating func clearDefault(_ index: Int) {
        guard credentials[index].isDefault else { return }
        credentials[index].isDefault = false
        credentials[index].history.append(.defaultCleared)
    }

    // MARK: - Organizations, projects, users, memberships

    package func createOrganization(_ slug: String) -> Outcome<OrganizationID> {
        guard organizations[slug] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.organizations[slug] = Organization(slug: slug, id: id)
            return nil
        }
    }

    package func createProject(_ slug: String, in organizationSlug: String) -> Outcome<ProjectID> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        guard organization.projects[slug] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.organizations[organizationSlug]?.projects[slug] = id
            return nil
        }
    }

    package func createUser(_ handle: String) -> Outcome<UserID> {
        guard users[handle] == nil else { return .refused(.alreadyExists) }
        return .accepted { model, id in
            model.users[handle] = id
            return nil
        }
    }

    /// OP-MEMBER-REMOVE-2: whether `user` owns `organization` and no other member does.
    private func isLastOwner(_ user: UserID, of organization: OrganizationID) -> Bool {
        roles[RoleKey(organization: organization, user: user)] == .owner
            && !roles.contains { $0.key.organization == organization && $0.key.user != user && $0.value == .owner }
    }

    /// Adds a membership, or with `change` changes its role.
    package func setRole(_ role: Role, of handle: String, in organizationSlug: String, change: Bool) -> Outcome<Void> {
        guard let organization = organizations[organizationSlug], let user = users[handle] else {
            return .refused(.notFound)
        }
        let key = RoleKey(organization: organization.id, user: user)
        if change, roles[key] == nil { return .refused(.notFound) }
        if !change, roles[key] != nil { return .refused(.alreadyExists) }
        // OP-MEMBER-CHANGE-2: an organization's last owner keeps the role.
        if change, roles[key] == .owner, role != .owner,
            !roles.contains(where: {
                $0.key.organization == organization.id && $0.key.user != user && $0.value == .owner
            })
        {
            return .refused(.invalidInput)
        }
        return .accepted { model, _ in
            model.roles[key] = role
            return nil
        }
    }

    package func removeMember(_ handle: String, from organizationSlug: String) -> Outcome<Impact> {
        guard let organization = organizations[organizationSlug], let user = users[handle],
            isMember(user, of: organization.id)
        else { return .refused(.notFound) }
        if isLastOwner(user, of: organization.id) { return .refused(.invalidInput) }
        return .accepted { model, _ in
            model.removeMembership(user, organization.id)
            return nil
        }
    }

    package func removeUser(_ handle: String) -> Outcome<Impact> {
        guard let user = users[handle] else { return .refused(.notFound) }
        if roles.keys.contains(where: { $0.user == user && isLastOwner(user, of: $0.organization) }) {
            return .refused(.invalidInput)
        }
        return .accepted { model, _ in
            for key in model.roles.keys where key.user == user { model.removeMembership(user, key.organization) }
            model.users[handle] = nil
            return nil
        }
    }

    package func removeProject(_ slug: String, in organizationSlug: String) -> Outcome<Impact> {
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
    package func removeOrganization(_ slug: String, cascade: Bool) -> Outcome<Impact> {
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
    package typealias GivenFields = [String: [UInt8]]

    static func nonBlank(_ given: GivenFields) -> GivenFields { given.filter { !$0.value.isEmpty } }

    /// OPS-FIELD-UNKNOWN, before blanks are dropped: every name given, blank or not, is a field
    /// of `type` (a custom object's members are free, OPS-FIELD-CUSTOM).
    static func namesBelong(_ given: GivenFields, to type: CredentialType) -> Bool {
        type == .custom || given.keys.allSatisfy { name in type.fields.contains { $0.name == name } }
    }

    /// OPS-SCHEMA: every value follows its field's rule, and every required field is there.
    func satisfiesSchema(_ fields: GivenFields, of type: CredentialType) -> Bool {
        fields.allSatisfy { acceptsValue($0.key, $0.value) }
            && type.fields.allSatisfy { !$0.isRequired || fields[$0.name] != nil }
    }

    /// OP-CRED-CREATE: one instance per scope (the organization's when none is given); a
    /// user scope needs a member.
    package func createCredential(
        in organizationSlug: String, app: String, slug: String, label: String, type: CredentialType,
        fields given: GivenFields, scopes: [ScopeTarget], isDefault: Bool
    ) -> Outcome<[CredentialID]> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        guard Self.namesBelong(given, to: type) else { return .refused(.invalidInput) }
        let fields = Self.nonBlank(given)
        guard satisfiesSchema(fields, of: type) else { return .refused(.invalidInput) }
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
                        id: id, organization: organization.id, app: app, slug: slug, label: label, type: type,
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
    mutating func addVersion(_ index: Int, _ fields: GivenFields, _ kind: ChangeKind) {
        credentials[index].version += 1
        credentials[index].values[credentials[index].version] = fields
        credentials[index].history.append(kind)
        prune(index)
    }

    /// An update: each part given is applied; new values that change nothing make no
    /// version, and a revoked credential takes no values and no default mark.
    package func updateCredential(
        _ selector: Selector, in organizationSlug: String, label: String?, isDefault: Bool?, fields given: GivenFields,
        cleared: Set<String>
    ) -> Outcome<CredentialID> {
        let index: Int
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let found): index = found
        }
        let credential = credentials[index]
        guard Self.namesBelong(given, to: credential.type) else { return .refused(.invalidInput) }
        let fields = Self.nonBlank(given)
        var newVersion: GivenFields?
        if !fields.isEmpty || !cleared.isEmpty {
            guard !credential.isRevoked else { return .refused(.invalidInput) }
            switch Self.merge(credential, given: fields, cleared: cleared) {
            case .failure(let refusal): return .refused(refusal.code)
            case .success(let merged) where !merged.changed.isEmpty:
                guard satisfiesSchema(merged.fields, of: credential.type) else { return .refused(.invalidInput) }
                newVersion = merged.fields
            case .success: break
            }
        }
        if isDefault == true, !credential.isDefault, credential.isRevoked { return .refused(.invalidInput) }
        return .accepted { model, id in
            guard id == credential.id else { return "updated \(id), not \(credential.id)" }
            if let label, label != credential.label {
                model.credentials[index].label = label
                model.credentials[index].history.append(.relabeled)
            }
            if let newVersion { model.addVersion(index, newVersion, .fieldsUpdated) }
            if isDefault == true, !credential.isDefault { model.makeDefault(index) }
            if isDefault == false { model.clearDefault(index) }
            return nil
        }
    }

    /// A rotation: a new version that changes at least one secret field.
    package func rotateCredential(_ selector: Selector, in organizationSlug: String, fields given: GivenFields)
        -> Outcome<CredentialID>
    {
        let index: Int
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let found): index = found
        }
        let credential = credentials[index]
        guard Self.namesBelong(given, to: credential.type) else { return .refused(.invalidInput) }
        let fields = Self.nonBlank(given)
        let secrets = Set(credential.type.fields.filter(\.isSecret).map(\.name))
        guard !credential.isRevoked, fields.keys.contains(where: secrets.contains) else {
            return .refused(.invalidInput)
        }
        guard case .success(let merged) = Self.merge(credential, given: fields, cleared: []),
            merged.changed.contains(where: secrets.contains), satisfiesSchema(merged.fields, of: credential.type)
        else { return .refused(.invalidInput) }
        return .accepted { model, id in
            guard id == credential.id else { return "rotated \(id), not \(credential.id)" }
            model.addVersion(index, merged.fields, .rotated)
            return nil
        }
    }

    /// OPS-CASCADE "revoke a credential": its default mark goes, its assignments stay.
    package func revokeCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<CredentialID> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            guard !credentials[index].isRevoked else { return .refused(.invalidInput) }
            let expected = credentials[index].id
            return .accepted { model, id in
                guard id == expected else { return "revoked \(id), not \(expected)" }
                model.clearDefault(index)
                model.credentials[index].isRevoked = true
                model.credentials[index].history.append(.revoked)
                return nil
            }
        }
    }

    /// OP-CRED-REINSTATE-1: a revoked credential becomes active again, without its default
    /// mark.
    package func reinstateCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<CredentialID> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            guard credentials[index].isRevoked else { return .refused(.invalidInput) }
            let expected = credentials[index].id
            return .accepted { model, id in
                guard id == expected else { return "reinstated \(id), not \(expected)" }
                model.credentials[index].isRevoked = false
                model.credentials[index].history.append(.reinstated)
                return nil
            }
        }
    }

    /// OP-CRED-SLUG-1: a new slug must be free among the credentials of the same app and
    /// scope owner; the same slug again changes nothing.
    package func changeSlug(_ selector: Selector, to slug: String, in organizationSlug: String) -> Outcome<
        CredentialID
    > {
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
                if slug != credential.slug {
                    model.credentials[index].slug = slug
                    model.credentials[index].history.append(.slugChanged)
                }
                return nil
            }
        }
    }

    /// OPS-CASCADE "delete a credential": the impact names it, its assignments and its
    /// default mark, nothing else.
    package func deleteCredential(_ selector: Selector, in organizationSlug: String) -> Outcome<Impact> {
        switch select(selector, in: organizationSlug) {
        case .failure(let refusal): return .refused(refusal.code)
        case .success(let index):
            let credential = credentials[index]
            let naming = assignments(in: credential.organization).filter { $0.credential == credential.id }
            let clearedDefaults = credential.isDefault ? [credential.id] : []
            return .accepted { model, impact in
                guard impact.deletedCredentials == [credential.id] else {
                    return "deleted \(impact.deletedCredentials), not \(credential.id)"
                }
                guard Set(impact.removedAssignments) == naming, impact.removedAssignments.count == naming.count else {
                    return "the deletion removes the assignments \(impact.removedAssignments), not \(naming)"
                }
                guard impact.clearedDefaults == clearedDefaults else {
                    return "the deletion clears the defaults \(impact.clearedDefaults), not \(clearedDefaults)"
                }
                model.delete(index)
                return nil
            }
        }
    }

    /// Assigning replaces the consumer's assignment for the credential's app; assigning the
    /// same credential again changes nothing.
    package func assign(_ selector: Selector, to target: AssignmentTarget, in organizationSlug: String) -> Outcome<
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

    package func unassign(_ target: AssignmentTarget, app: String, in organizationSlug: String) -> Outcome<Void> {
        guard let organization = organizations[organizationSlug] else { return .refused(.notFound) }
        let key = AssignmentKey(organization: organization.id, target: target, app: app)
        guard assignments[key] != nil else { return .refused(.notFound) }
        return .accepted { model, _ in
            model.assignments[key] = nil
            return nil
        }
    }

    package func setRetention(_ count: Int) -> Outcome<Void> {
        .accepted { model, _ in
            model.retention = count
            for index in model.credentials.indices where !model.credentials[index].isDeleted { model.prune(index) }
            return nil
        }
    }

    // MARK: - API keys

    /// OPS-APIKEY-VISIBILITY: any member creates keys.
    package func createAPIKey(in organizationSlug: String, creator handle: String) -> Outcome<CreatedAPIKey> {
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
    package func revokeAPIKey(_ index: Int, in organizationSlug: String, actingUser handle: String) -> Outcome<Void> {
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
    package func check(_ key: APIKey) -> Role? {
        guard !key.isDeleted, !key.isRevoked else { return nil }
        return roles[RoleKey(organization: key.organization, user: key.creator)]
    }
}
