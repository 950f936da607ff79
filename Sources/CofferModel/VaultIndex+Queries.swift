import CofferCrypto

/// Read-only queries. Lookups by id, slug, candidate group, default, assignment and API key
/// hash take O(1) expected time (a group or slug lookup is linear in the, small, number of
/// instances it matches); listings are linear in what they scan and sorted for display.
extension VaultIndex {
    /// Every organization, by slug.
    public func organizations() -> [OrganizationInfo] {
        tables.organizations.keys.map(organizationInfo).sorted { $0.slug < $1.slug }
    }

    /// The organization with this id.
    public func organization(id: OrganizationID) -> OrganizationInfo? {
        tables.organizationHandle(id).map(organizationInfo)
    }

    /// The organization named by an id (`org_…`) or a slug.
    public func organization(_ reference: String) -> OrganizationInfo? {
        if let id = OrganizationID(reference) { return organization(id: id) }
        return tables.organizationBySlug[reference].map(organizationInfo)
    }

    /// The projects of an organization, by slug.
    public func projects(in organization: OrganizationID) -> [ProjectInfo] {
        guard let handle = tables.organizationHandle(organization) else { return [] }
        return tables.projects.filter { $0.value.organization == handle }.keys.map(projectInfo).sorted {
            $0.slug < $1.slug
        }
    }

    /// The project with this id.
    public func project(id: ProjectID) -> ProjectInfo? {
        tables.projectHandle(id).map(projectInfo)
    }

    /// The project of `organization` named by an id (`prj_…`) or a slug.
    public func project(_ reference: String, in organization: OrganizationID) -> ProjectInfo? {
        if let id = ProjectID(reference) {
            return project(id: id).flatMap { $0.organization == organization ? $0 : nil }
        }
        guard let handle = tables.organizationHandle(organization) else { return nil }
        return tables.projectBySlug[ProjectSlugKey(organization: handle, slug: reference)].map(projectInfo)
    }

    /// Every user, by handle.
    public func users() -> [UserInfo] {
        tables.users.keys.map(userInfo).sorted { $0.handle < $1.handle }
    }

    /// The user with this id.
    public func user(id: UserID) -> UserInfo? {
        tables.userHandle(id).map(userInfo)
    }

    /// The user named by an id (`usr_…`) or a handle.
    public func user(_ reference: String) -> UserInfo? {
        if let id = UserID(reference) { return user(id: id) }
        return tables.userByHandle[reference].map(userInfo)
    }

    /// The members of an organization, by handle.
    public func memberships(in organization: OrganizationID) -> [MembershipInfo] {
        guard let handle = tables.organizationHandle(organization) else { return [] }
        return tables.memberships.filter { $0.key.organization == handle }
            .sorted { tables.user($0.key.user).handle < tables.user($1.key.user).handle }
            .map { MembershipInfo(user: tables.user($0.key.user).id, organization: organization, role: $0.value) }
    }

    /// The memberships of a user, by organization slug.
    public func memberships(of user: UserID) -> [MembershipInfo] {
        guard let handle = tables.userHandle(user) else { return [] }
        return tables.memberships.filter { $0.key.user == handle }
            .sorted { tables.organization($0.key.organization).slug < tables.organization($1.key.organization).slug }
            .map {
                MembershipInfo(user: user, organization: tables.organization($0.key.organization).id, role: $0.value)
            }
    }

    /// A user's role in an organization, or `nil` when not a member.
    public func role(of user: UserID, in organization: OrganizationID) -> Role? {
        guard let userHandle = tables.userHandle(user), let organizationHandle = tables.organizationHandle(organization)
        else { return nil }
        return tables.memberships[MembershipKey(user: userHandle, organization: organizationHandle)]
    }

    /// A credential's metadata, previews, default flag, version and state.
    public func credential(id: CredentialID) -> CredentialInfo? {
        tables.credentialSlot(id).map(credentialInfo)
    }

    /// A credential's type and state alone, without building its ``CredentialInfo``: what a
    /// reveal checks on every call.
    public func typeAndState(of id: CredentialID) -> (type: CredentialType, state: CredentialState)? {
        tables.credentialSlot(id).map { (tables.credential($0).type, tables.credential($0).state) }
    }

    /// The credentials matching `filter`, sorted by app key, scope, owner, slug and id.
    public func credentials(matching filter: CredentialFilter) -> [CredentialInfo] {
        guard let organization = tables.organizationHandle(filter.organization) else { return [] }
        let app = filter.appKey.map { tables.stringHandle($0) ?? noHandle }
        let project = filter.project.map { tables.projectHandle($0) ?? noHandle }
        let user = filter.user.map { tables.userHandle($0) ?? noHandle }
        let slots = tables.liveSlots.filter { slot in
            let record = tables.credential(slot)
            guard record.organization == organization else { return false }
            if let app, record.app != app { return false }
            if let scope = filter.scope, record.scope != scope { return false }
            if let project, record.scope != .project || record.owner != project { return false }
            if let user, record.scope != .user || record.owner != user { return false }
            return filter.includesRevoked || record.state == .active
        }
        return slots.map(credentialInfo).sorted(by: Self.displayOrder)
    }

    /// The instances of one app at one scope owner (active and revoked), newest first: the
    /// candidates resolution considers.
    public func candidates(organization: OrganizationID, appKey: String, owner: ScopeOwner) -> [CredentialID] {
        guard let key = candidateKey(organization: organization, appKey: appKey, owner: owner) else { return [] }
        return tables.group(key).map { tables.credential($0).id }
    }

    /// The instance of one app at one scope owner with `slug` (active or revoked), if any:
    /// one walk of the few credentials sharing the slug, not of every instance of the app.
    public func credential(
        slug: String, organization: OrganizationID, appKey: String, owner: ScopeOwner
    ) -> CredentialInfo? {
        guard let key = candidateKey(organization: organization, appKey: appKey, owner: owner),
            let slugHandle = tables.stringHandle(slug)
        else { return nil }
        return tables.groupMember(key, slug: slugHandle).map(credentialInfo)
    }

    /// The default instance of one app at one scope owner.
    public func defaultCredential(organization: OrganizationID, appKey: String, owner: ScopeOwner) -> CredentialID? {
        guard let key = candidateKey(organization: organization, appKey: appKey, owner: owner),
            let slot = tables.defaultSlot(key)
        else { return nil }
        return tables.credential(slot).id
    }

    /// Every change of a credential, oldest first: what changed (names, never values), when,
    /// by whom, and where in the log.
    public func history(of id: CredentialID) -> [CredentialChange] {
        guard let slot = tables.credentialSlot(id) else { return [] }
        let record = tables.credential(slot)
        return tables.historyEntries(of: record).reversed().map { entry in
            CredentialChange(
                kind: entry.kind, version: entry.version, changedFields: changedFields(entry, type: record.type),
                stamp: tables.stamp(time: entry.time, actor: entry.actor), location: entry.location)
        }
    }

    /// The versions whose values are still readable, newest first (at most
    /// ``versionRetention``).
    public func versions(of id: CredentialID) -> [CredentialVersion] {
        guard let slot = tables.credentialSlot(id) else { return [] }
        return tables.historyEntries(of: tables.credential(slot)).filter { $0.kind.makesVersion && $0.isRetained }.map {
            CredentialVersion(
                version: $0.version, kind: $0.kind, stamp: tables.stamp(time: $0.time, actor: $0.actor),
                location: $0.location)
        }
    }

    /// Where a version's values are: the current version when `version` is `nil`. `nil`
    /// when the credential is unknown or the version is no longer retained.
    public func location(of id: CredentialID, version: UInt32? = nil) -> RecordLocation? {
        guard let slot = tables.credentialSlot(id) else { return nil }
        let record = tables.credential(slot)
        guard let version, version != record.version else {
            return tables.history[Int(record.currentVersionEntry)].location
        }
        return versions(of: id).first { $0.version == version }?.location
    }

    /// The assignment of exactly this consumer (no wildcard fallback) for an app key.
    public func assignment(organization: OrganizationID, target: AssignmentTarget, appKey: String) -> AssignmentInfo? {
        guard let handle = tables.organizationHandle(organization),
            let key = tables.assignmentKey(organization: handle, target: target, appKey: appKey),
            let slot = tables.assignments[key]
        else { return nil }
        return assignmentInfo(key, slot)
    }

    /// The assignments of one workflow, agent or poll (every target when `targetSlug` is
    /// `nil`), sorted by target, consumer and app key.
    public func assignments(organization: OrganizationID, kind: TargetKind? = nil, targetSlug: String? = nil)
        -> [AssignmentInfo]
    {
        guard let handle = tables.organizationHandle(organization) else { return [] }
        return tables.assignments.filter { key, _ in
            key.organization == handle && (kind == nil || key.kind == kind)
                && (targetSlug == nil || tables.string(key.targetSlug) == targetSlug)
        }.map { assignmentInfo($0.key, $0.value) }.sorted(by: Self.assignmentOrder)
    }

    /// The assignments that name a credential.
    public func assignments(naming credential: CredentialID) -> [AssignmentInfo] {
        guard let slot = tables.credentialSlot(credential) else { return [] }
        return (tables.assignmentsByCredential[slot] ?? []).map { assignmentInfo($0, slot) }.sorted(
            by: Self.assignmentOrder)
    }

    /// Counts over the whole vault.
    public func statistics() -> VaultStatistics {
        var statistics = VaultStatistics()
        statistics.organizations = tables.organizations.count
        statistics.projects = tables.projects.count
        statistics.users = tables.users.count
        statistics.memberships = tables.memberships.count
        for slot in tables.liveSlots {
            let record = tables.credential(slot)
            statistics.credentials += 1
            if record.state == .revoked { statistics.revokedCredentials += 1 }
            statistics.credentialsByType[record.type, default: 0] += 1
            statistics.credentialsByScope[record.scope, default: 0] += 1
            statistics.retainedVersions +=
                tables.historyEntries(of: record).filter { $0.kind.makesVersion && $0.isRetained }.count
        }
        statistics.defaults = tables.defaults.count
        statistics.assignments = tables.assignments.count
        statistics.apiKeys = tables.apiKeys.count
        statistics.activeAPIKeys = tables.apiKeys.values.filter { $0.state == .active }.count
        return statistics
    }

    // MARK: - Building the public values

    func organizationInfo(_ handle: Handle) -> OrganizationInfo {
        let record = tables.organization(handle)
        return OrganizationInfo(
            id: record.id, slug: record.slug, name: record.name,
            created: tables.stamp(time: record.createdTime, actor: record.createdBy))
    }

    func projectInfo(_ handle: Handle) -> ProjectInfo {
        let record = tables.project(handle)
        return ProjectInfo(
            id: record.id, organization: tables.organization(record.organization).id, slug: record.slug,
            name: record.name,
            created: tables.stamp(time: record.createdTime, actor: record.createdBy))
    }

    func userInfo(_ handle: Handle) -> UserInfo {
        let record = tables.user(handle)
        return UserInfo(
            id: record.id, handle: record.handle, displayName: record.displayName,
            created: tables.stamp(time: record.createdTime, actor: record.createdBy))
    }

    func credentialInfo(_ slot: Handle) -> CredentialInfo {
        let record = tables.credential(slot)
        let texts = tables.texts.display(record.texts).split(
            separator: CredentialRecord.displaySeparator, omittingEmptySubsequences: false)
        var fields: [FieldDisplay] = []
        for (spec, text) in zip(record.type.fields, texts) where !text.isEmpty {
            fields.append(FieldDisplay(name: spec.name, isSecret: spec.isSecret, text: String(text)))
        }
        let created = tables.history[Int(record.createdEntry)]
        let updated = tables.history[Int(record.lastEntry)]
        let rotated = record.rotatedEntry == noHandle ? nil : tables.history[Int(record.rotatedEntry)]
        return CredentialInfo(
            metadata: tables.metadata(of: record), state: record.state, version: record.version,
            isDefault: record.isDefault, created: tables.stamp(time: created.time, actor: created.actor),
            updated: tables.stamp(time: updated.time, actor: updated.actor),
            rotated: rotated.map { tables.stamp(time: $0.time, actor: $0.actor) }, fields: fields,
            currentLocation: tables.history[Int(record.currentVersionEntry)].location)
    }

    func assignmentInfo(_ key: AssignmentKey, _ slot: Handle) -> AssignmentInfo {
        AssignmentInfo(
            organization: tables.organization(key.organization).id,
            target: AssignmentTarget(
                kind: key.kind, slug: tables.string(key.targetSlug), consumer: tables.string(key.consumer)),
            appKey: tables.string(key.app), credential: tables.credential(slot).id)
    }

    func candidateKey(organization: OrganizationID, appKey: String, owner: ScopeOwner) -> CandidateKey? {
        guard let organizationHandle = tables.organizationHandle(organization), let app = tables.stringHandle(appKey)
        else { return nil }
        let ownerHandle: Handle?
        switch owner {
        case .organization(let id): ownerHandle = id == organization ? organizationHandle : nil
        case .project(let id): ownerHandle = tables.projectHandle(id)
        case .user(let id): ownerHandle = tables.userHandle(id)
        }
        guard let ownerHandle else { return nil }
        return CandidateKey(organization: organizationHandle, app: app, owner: ownerHandle, scope: owner.scope)
    }

    private func changedFields(_ entry: HistoryEntry, type: CredentialType) -> [String] {
        switch entry.kind {
        case .created, .fieldsUpdated, .rotated:
            type.fields.enumerated().filter { entry.changedMask & (1 << UInt8($0.offset)) != 0 }.map(\.element.name)
        case .relabeled: ["label"]
        case .defaultSet, .defaultCleared: ["default"]
        case .revoked, .reinstated: ["state"]
        case .slugChanged: ["slug"]
        }
    }

    static func displayOrder(_ lhs: CredentialInfo, _ rhs: CredentialInfo) -> Bool {
        if lhs.appKey != rhs.appKey { return lhs.appKey < rhs.appKey }
        if lhs.scope != rhs.scope { return lhs.scope.rawValue < rhs.scope.rawValue }
        if lhs.owner != rhs.owner { return lhs.owner.ownerBytes.lexicographicallyPrecedes(rhs.owner.ownerBytes) }
        if lhs.slug != rhs.slug { return lhs.slug < rhs.slug }
        return lhs.id < rhs.id
    }

    static func assignmentOrder(_ lhs: AssignmentInfo, _ rhs: AssignmentInfo) -> Bool {
        (lhs.target.kind.rawValue, lhs.target.slug, lhs.target.consumer, lhs.appKey)
            < (rhs.target.kind.rawValue, rhs.target.slug, rhs.target.consumer, rhs.appKey)
    }
}
