import CofferCrypto

/// The rules apply enforces for vault, organization, project, user and membership operations
/// (FORMAT.md, "Operations"). Each rule id below is defined there.
extension IndexMutation {
    mutating func apply(_ operation: ModelOperation, location: RecordLocation, time: UInt64, actor: Handle)
        throws(CofferError)
    {
        switch operation {
        case .setVersionRetention(let count):
            // OP-VAULT-RETENTION-1
            guard count >= 1, count <= VaultIndex.versionRetentionMax else {
                throw CofferError(
                    .invalidInput, "The version retention must be from 1 to \(VaultIndex.versionRetentionMax).")
            }
            set(\.versionRetention, count)
            for slot in tables.liveSlots { pruneVersions(slot) }

        case .createOrganization(let id, let slug, let name):
            // OP-ORG-CREATE-1
            guard tables.organizationByID[id] == nil else { throw exists("An organization with the id \(id)") }
            try Names.checkSlug(slug, what: "organization slug")
            try Names.checkName(name, what: "organization name")
            guard tables.organizationBySlug[slug] == nil else {
                throw exists("An organization with the slug `\(slug)`")
            }
            let handle = newPrincipalHandle()
            set(
                \.organizations, handle,
                OrganizationRecord(id: id, slug: slug, name: name, createdTime: time, createdBy: actor))
            set(\.organizationByID, id, handle)
            set(\.organizationBySlug, slug, handle)

        case .renameOrganization(let id, let slug, let name):
            // OP-ORG-RENAME-1
            let handle = try tables.requireOrganization(id)
            var record = tables.organization(handle)
            try Names.checkSlug(slug, what: "organization slug")
            try Names.checkName(name, what: "organization name")
            if slug != record.slug {
                guard tables.organizationBySlug[slug] == nil else {
                    throw exists("An organization with the slug `\(slug)`")
                }
                set(\.organizationBySlug, record.slug, nil)
                set(\.organizationBySlug, slug, handle)
            }
            record.slug = slug
            record.name = name
            set(\.organizations, handle, record)

        case .removeOrganization(let id):
            // OP-ORG-REMOVE-1
            let handle = try tables.requireOrganization(id)
            let record = tables.organization(handle)
            let contents = tables.organizationContents(handle)
            guard contents.isEmpty else {
                throw CofferError(
                    .invalidInput,
                    "The organization `\(record.slug)` still has \(contents.joined(separator: ", ")). Remove them first, or plan the removal with cascade."
                )
            }
            set(\.organizations, handle, nil)
            set(\.organizationByID, id, nil)
            set(\.organizationBySlug, record.slug, nil)

        case .createProject(let id, let organizationID, let slug, let name):
            // OP-PROJ-CREATE-1
            guard tables.projectByID[id] == nil else { throw exists("A project with the id \(id)") }
            let organization = try tables.requireOrganization(organizationID)
            try Names.checkSlug(slug, what: "project slug")
            try Names.checkName(name, what: "project name")
            let slugKey = ProjectSlugKey(organization: organization, slug: slug)
            guard tables.projectBySlug[slugKey] == nil else {
                throw exists("A project with the slug `\(slug)` in this organization")
            }
            let handle = newPrincipalHandle()
            set(
                \.projects, handle,
                ProjectRecord(
                    id: id, organization: organization, slug: slug, name: name, createdTime: time, createdBy: actor))
            set(\.projectByID, id, handle)
            set(\.projectBySlug, slugKey, handle)

        case .renameProject(let id, let slug, let name):
            // OP-PROJ-RENAME-1
            let handle = try tables.requireProject(id)
            var record = tables.project(handle)
            try Names.checkSlug(slug, what: "project slug")
            try Names.checkName(name, what: "project name")
            if slug != record.slug {
                let slugKey = ProjectSlugKey(organization: record.organization, slug: slug)
                guard tables.projectBySlug[slugKey] == nil else {
                    throw exists("A project with the slug `\(slug)` in this organization")
                }
                set(\.projectBySlug, ProjectSlugKey(organization: record.organization, slug: record.slug), nil)
                set(\.projectBySlug, slugKey, handle)
            }
            record.slug = slug
            record.name = name
            set(\.projects, handle, record)

        case .removeProject(let id):
            // OP-PROJ-REMOVE-1
            let handle = try tables.requireProject(id)
            let record = tables.project(handle)
            let scoped = tables.liveSlots.filter {
                let credential = tables.credential($0)
                return credential.scope == .project && credential.owner == handle
            }
            guard scoped.isEmpty else {
                throw CofferError(
                    .invalidInput,
                    "The project `\(record.slug)` still has \(scoped.count) credentials. Delete them first, or plan the removal, which does."
                )
            }
            set(\.projects, handle, nil)
            set(\.projectByID, id, nil)
            set(\.projectBySlug, ProjectSlugKey(organization: record.organization, slug: record.slug), nil)

        case .createUser(let id, let userHandle, let displayName):
            // OP-USER-CREATE-1
            guard tables.userByID[id] == nil else { throw exists("A user with the id \(id)") }
            try Names.checkSlug(userHandle, what: "user handle")
            try Names.checkName(displayName, what: "display name")
            guard tables.userByHandle[userHandle] == nil else { throw exists("A user with the handle `\(userHandle)`") }
            let handle = newPrincipalHandle()
            set(
                \.users, handle,
                UserRecord(id: id, handle: userHandle, displayName: displayName, createdTime: time, createdBy: actor))
            set(\.userByID, id, handle)
            set(\.userByHandle, userHandle, handle)

        case .renameUser(let id, let userHandle, let displayName):
            // OP-USER-RENAME-1
            let handle = try tables.requireUser(id)
            var record = tables.user(handle)
            try Names.checkSlug(userHandle, what: "user handle")
            try Names.checkName(displayName, what: "display name")
            if userHandle != record.handle {
                guard tables.userByHandle[userHandle] == nil else {
                    throw exists("A user with the handle `\(userHandle)`")
                }
                set(\.userByHandle, record.handle, nil)
                set(\.userByHandle, userHandle, handle)
            }
            record.handle = userHandle
            record.displayName = displayName
            set(\.users, handle, record)

        case .removeUser(let id):
            // OP-USER-REMOVE-1
            let handle = try tables.requireUser(id)
            let record = tables.user(handle)
            let memberships = tables.memberships.keys.filter { $0.user == handle }.count
            guard memberships == 0 else {
                throw CofferError(
                    .invalidInput,
                    "The user `\(record.handle)` is still a member of \(memberships) organizations. Remove the memberships first, or plan the removal, which does."
                )
            }
            set(\.users, handle, nil)
            set(\.userByID, id, nil)
            set(\.userByHandle, record.handle, nil)

        case .addMembership(let userID, let organizationID, let role):
            // OP-MEMBER-ADD-1
            let key = MembershipKey(
                user: try tables.requireUser(userID), organization: try tables.requireOrganization(organizationID))
            guard tables.memberships[key] == nil else {
                throw exists("The membership of \(tables.user(key.user).handle)")
            }
            set(\.memberships, key, role)

        case .changeMembershipRole(let userID, let organizationID, let role):
            // OP-MEMBER-CHANGE-1
            let key = MembershipKey(
                user: try tables.requireUser(userID), organization: try tables.requireOrganization(organizationID))
            guard tables.memberships[key] != nil else { throw notMember(key) }
            set(\.memberships, key, role)

        case .removeMembership(let userID, let organizationID):
            // OP-MEMBER-REMOVE-1
            let key = MembershipKey(
                user: try tables.requireUser(userID), organization: try tables.requireOrganization(organizationID))
            guard tables.memberships[key] != nil else { throw notMember(key) }
            let owned = tables.liveSlots.filter {
                let credential = tables.credential($0)
                return credential.scope == .user && credential.owner == key.user
                    && credential.organization == key.organization
            }
            let activeKeys = tables.apiKeys.values.filter {
                $0.organization == key.organization && $0.creator == userID && $0.state == .active
            }
            guard owned.isEmpty, activeKeys.isEmpty else {
                throw CofferError(
                    .invalidInput,
                    "The user `\(tables.user(key.user).handle)` still has \(owned.count) user credentials and \(activeKeys.count) active API keys in the organization. Delete and revoke them first, or plan the removal, which does."
                )
            }
            set(\.memberships, key, nil)

        case .restoreOrganization, .restoreProject, .restoreUser, .restoreCredential, .restoreCredentialHistory,
            .restoreVersion, .restoreAssignment, .restoreAPIKey:
            try applyRestoreOperation(operation, location: location)

        default:
            try applyCredentialOperation(operation, location: location, time: time, actor: actor)
        }
    }

    func exists(_ what: String) -> CofferError {
        CofferError(.alreadyExists, "\(what) exists already. Choose another one.")
    }

    private func notMember(_ key: MembershipKey) -> CofferError {
        CofferError(
            .notFound,
            "The user `\(tables.user(key.user).handle)` is not a member of the organization `\(tables.organization(key.organization).slug)`."
        )
    }
}

extension IndexTables {
    /// What an organization still holds, as phrases; empty when it can be removed.
    func organizationContents(_ organization: Handle) -> [String] {
        var contents: [String] = []
        let projects = self.projects.values.filter { $0.organization == organization }.count
        let members = self.memberships.keys.filter { $0.organization == organization }.count
        let credentials = liveSlots.filter { self.credential($0).organization == organization }.count
        let assignments = self.assignments.keys.filter { $0.organization == organization }.count
        let apiKeys = self.apiKeys.values.filter { $0.organization == organization }.count
        if projects > 0 { contents.append("\(projects) projects") }
        if members > 0 { contents.append("\(members) members") }
        if credentials > 0 { contents.append("\(credentials) credentials") }
        if assignments > 0 { contents.append("\(assignments) assignments") }
        if apiKeys > 0 { contents.append("\(apiKeys) API keys") }
        return contents
    }
}
