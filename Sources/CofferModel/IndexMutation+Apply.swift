import CofferCrypto
import CofferErrors

/// The rules apply enforces for every operation (FORMAT.md, "Operations"), in one exhaustive
/// switch: a new operation does not compile until it has its rule. Each rule id below is
/// defined there.
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
            guard tables.organizationHandle(id) == nil else { throw exists("An organization with the id \(id)") }
            try Names.checkSlug(slug, what: "organization slug")
            try Names.checkName(name, what: "organization name")
            guard tables.organizationBySlug[slug] == nil else {
                throw exists("An organization with the slug `\(slug)`")
            }
            let handle = newPrincipalHandle()
            set(
                \.organizations, handle,
                OrganizationRecord(id: id, slug: slug, name: name, createdTime: time, createdBy: actor))
            add(\.organizationIDs, id, handle: handle, organization: handle)
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
            remove(\.organizationIDs, id)
            set(\.organizationBySlug, record.slug, nil)

        case .createProject(let id, let organizationID, let slug, let name):
            // OP-PROJ-CREATE-1
            guard tables.projectHandle(id) == nil else { throw exists("A project with the id \(id)") }
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
            add(\.projectIDs, id, handle: handle, organization: organization)
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
            remove(\.projectIDs, id)
            set(\.projectBySlug, ProjectSlugKey(organization: record.organization, slug: record.slug), nil)

        case .createUser(let id, let userHandle, let displayName):
            // OP-USER-CREATE-1
            guard tables.userHandle(id) == nil else { throw exists("A user with the id \(id)") }
            try Names.checkSlug(userHandle, what: "user handle")
            try Names.checkName(displayName, what: "display name")
            guard tables.userByHandle[userHandle] == nil else { throw exists("A user with the handle `\(userHandle)`") }
            let handle = newPrincipalHandle()
            set(
                \.users, handle,
                UserRecord(id: id, handle: userHandle, displayName: displayName, createdTime: time, createdBy: actor))
            add(\.userIDs, id, handle: handle, organization: noHandle)
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
            remove(\.userIDs, id)
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

        // Credentials, defaults, assignments and API keys (the rules' helpers are in
        // IndexMutation+Credentials).
        case .createCredential(let new):
            try createCredential(new, location: location, time: time, actor: actor)

        case .relabelCredential(let id, let label):
            // OP-CRED-LABEL-1
            let slot = try tables.requireCredential(id)
            try Names.checkName(label, what: "label")
            let entry = appendHistory(.relabeled, of: slot, location: location, time: time, actor: actor)
            let texts = try addTexts(
                label: label, display: tables.texts.display(tables.credentials[Int(slot)].texts))
            modifyCredential(slot) {
                $0.texts = texts
                $0.lastEntry = entry
            }

        case .setCredentialFields(let change):
            try setFields(change, location: location, time: time, actor: actor)

        case .revokeCredential(let id):
            // OP-CRED-REVOKE-1
            let slot = try tables.requireCredential(id)
            let record = tables.credential(slot)
            guard record.state == .active else {
                throw CofferError(.invalidInput, "The credential \(id) is already revoked.")
            }
            guard !record.isDefault else {
                throw CofferError(
                    .invalidInput, "The credential \(id) is a default. Clear its default mark before revoking it.")
            }
            let entry = appendHistory(.revoked, of: slot, location: location, time: time, actor: actor)
            modifyCredential(slot) {
                $0.state = .revoked
                $0.lastEntry = entry
            }

        case .reinstateCredential(let id):
            // OP-CRED-REINSTATE-1
            let slot = try tables.requireCredential(id)
            guard tables.credential(slot).state == .revoked else {
                throw CofferError(.invalidInput, "The credential \(id) is not revoked.")
            }
            let entry = appendHistory(.reinstated, of: slot, location: location, time: time, actor: actor)
            modifyCredential(slot) {
                $0.state = .active
                $0.lastEntry = entry
            }

        case .changeCredentialSlug(let id, let slug):
            try changeSlug(of: id, to: slug, location: location, time: time, actor: actor)

        case .deleteCredential(let id):
            // OP-CRED-DELETE-1
            let slot = try tables.requireCredential(id)
            let record = tables.credential(slot)
            guard !record.isDefault else {
                throw CofferError(
                    .invalidInput, "The credential \(id) is a default. Clear its default mark before deleting it.")
            }
            let assignments = tables.assignmentsByCredential[slot]?.count ?? 0
            guard assignments == 0 else {
                throw CofferError(
                    .invalidInput,
                    "The credential \(id) has \(assignments) assignments. Remove them before deleting it.")
            }
            let entries = tables.historyEntries(of: record)
            set(\.liveHistoryCount, tables.liveHistoryCount - entries.count)
            set(
                \.retainedVersionCount,
                tables.retainedVersionCount - entries.count { $0.kind.makesVersion && $0.isRetained })
            unlink(slot, from: \.candidateHeads, key: record.candidateKey, next: \.nextInGroup)
            unlink(slot, from: \.slugHeads, key: record.slugKey, next: \.nextWithSlug)
            unindexCredentialSlot(slot)
            replaceCredential(at: slot, with: .freeSlot)
            append(\.freeSlots, slot)
            set(\.liveCredentialCount, tables.liveCredentialCount - 1)

        case .setDefault(let id):
            // OP-CRED-DEFAULT-1: at most one default per (organization, app, scope, owner), and
            // it is active.
            let slot = try tables.requireCredential(id)
            let record = tables.credential(slot)
            guard record.state == .active else {
                throw CofferError(.invalidInput, "The credential \(id) is revoked and cannot be a default.")
            }
            guard !record.isDefault else {
                throw CofferError(.invalidInput, "The credential \(id) is already the default.")
            }
            if let current = tables.defaultSlot(record.candidateKey) {
                throw CofferError(
                    .invalidInput,
                    "\(tables.credential(current).id) is already the default for this app and scope. Clear it in the same transaction first."
                )
            }
            set(\.defaults, record.candidateKey, slot)
            let entry = appendHistory(.defaultSet, of: slot, location: location, time: time, actor: actor)
            modifyCredential(slot) {
                $0.isDefault = true
                $0.lastEntry = entry
            }

        case .clearDefault(let id):
            // OP-CRED-DEFAULT-2
            let slot = try tables.requireCredential(id)
            let record = tables.credential(slot)
            guard record.isDefault else { throw CofferError(.invalidInput, "The credential \(id) is not a default.") }
            precondition(tables.defaultSlot(record.candidateKey) == slot, "default mark and default table disagree")
            set(\.defaults, record.candidateKey, nil)
            let entry = appendHistory(.defaultCleared, of: slot, location: location, time: time, actor: actor)
            modifyCredential(slot) {
                $0.isDefault = false
                $0.lastEntry = entry
            }

        case .assign(let organizationID, let target, let appKey, let credential):
            try insertAssignment(
                organization: organizationID, target: target, appKey: appKey, credential: credential,
                allowsRevoked: false)

        case .unassign(let organizationID, let target, let appKey):
            // OP-ASSIGN-REMOVE-1
            let organization = try tables.requireOrganization(organizationID)
            guard let key = tables.assignmentKey(organization: organization, target: target, appKey: appKey),
                let slot = tables.assignments[key]
            else {
                throw CofferError(.notFound, "No assignment of `\(appKey)` exists for \(target).")
            }
            set(\.assignments, key, nil)
            var keys = tables.assignmentsByCredential[slot] ?? []
            keys.remove(key)
            set(\.assignmentsByCredential, slot, keys.isEmpty ? nil : keys)

        case .createAPIKey(let new):
            // OP-APIKEY-CREATE-1
            let organization = try admitAPIKey(new.metadata)
            let creator = try tables.requireUser(new.creator)
            guard tables.memberships[MembershipKey(user: creator, organization: organization)] != nil else {
                throw CofferError(.invalidInput, "Only a member of the organization can create its API keys.")
            }
            insertAPIKey(new.metadata, organization: organization, created: (time, actor), revoked: nil)

        case .revokeAPIKey(let id):
            // OP-APIKEY-REVOKE-1
            var record = try tables.requireAPIKey(id)
            guard record.state == .active else {
                throw CofferError(.invalidInput, "The API key \(id) is already revoked.")
            }
            record.state = .revoked
            record.revokedTime = time
            record.revokedBy = actor
            set(\.apiKeys, id, record)

        case .deleteAPIKey(let id):
            // OP-APIKEY-DELETE-1
            let record = try tables.requireAPIKey(id)
            set(\.apiKeys, id, nil)
            set(\.apiKeyByTag, APIKeyFormat.tag(of: record.hash), nil)

        // Restore operations, written only by compaction (§9.15): each recreates something
        // that does not exist yet, with the stamps and state the compacted index had, and
        // keeps every invariant of §9.13 (helpers in IndexMutation+Restore).
        case .restoreOrganization(let id, let slug, let name, let created):
            // OP-RESTORE-ORG-1: OP-ORG-CREATE-1, stamped with the original creation.
            let actor = try internActor(created)
            try apply(
                .createOrganization(id: id, slug: slug, name: name), location: location,
                time: created.timeMilliseconds, actor: actor)

        case .restoreProject(let id, let organization, let slug, let name, let created):
            // OP-RESTORE-PROJ-1: OP-PROJ-CREATE-1, stamped with the original creation.
            let actor = try internActor(created)
            try apply(
                .createProject(id: id, organization: organization, slug: slug, name: name), location: location,
                time: created.timeMilliseconds, actor: actor)

        case .restoreUser(let id, let handle, let displayName, let created):
            // OP-RESTORE-USER-1: OP-USER-CREATE-1, stamped with the original creation.
            let actor = try internActor(created)
            try apply(
                .createUser(id: id, handle: handle, displayName: displayName), location: location,
                time: created.timeMilliseconds, actor: actor)

        case .restoreCredential(let restored):
            try restoreCredential(restored, location: location)

        case .restoreCredentialHistory(let id, let changes):
            try restoreHistory(of: id, changes, location: location)

        case .restoreVersion(let id, let version, let fields):
            try restoreVersion(version, of: id, fields: fields, location: location)

        case .restoreAssignment(let organization, let target, let appKey, let credential):
            // OP-RESTORE-ASSIGN-1: OP-ASSIGN-SET-1, except that the credential may be revoked.
            try insertAssignment(
                organization: organization, target: target, appKey: appKey, credential: credential,
                allowsRevoked: true)

        case .restoreAPIKey(let restored):
            try restoreAPIKey(restored)
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
