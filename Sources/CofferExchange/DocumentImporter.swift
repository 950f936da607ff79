import Coffer

/// Plans the import of a revealed export into a vault's index (FORMAT.md §12.3).
///
/// New objects are created with *restore* operations (FORMAT.md §9.15), which carry the
/// export's ids, creation stamps, credential histories and retained versions, so that the
/// vault exports the same document again. An id the vault uses already for something else
/// is replaced by a new one (reported), and references follow it.
///
/// Objects are matched to the vault's by what makes them unique, not by id: organizations by
/// slug (after `--map-org`), projects by organization and slug, users by handle, memberships
/// by user and organization, credentials by organization, app, scope owner and slug,
/// assignments by their key, API keys by id. A match is a conflict, handled by the policy.
struct DocumentImporter {
    let document: ExportDocument
    let index: VaultIndex
    let options: ImportOptions
    let actor: String
    /// Reads an operation of the vault's log: the current values of a credential the import
    /// replaces, to tell whether they change.
    let reader: OperationReader
    let randomBytes: (Int) -> [UInt8]
    let now: UInt64

    private var plan: ImportPlan
    private var organizations: [OrganizationID: OrganizationID] = [:]
    private var projects: [ProjectID: ProjectID] = [:]
    private var users: [UserID: UserID] = [:]
    private var credentials: [CredentialID: CredentialID] = [:]
    /// Ids this plan has taken already.
    private var takenIDs: Set<[UInt8]> = []
    /// The default of each candidate group as the operations so far leave it, where they
    /// changed it (`.some(nil)`: cleared).
    private var plannedDefaults: [GroupKey: CredentialID?] = [:]
    /// Names for the report: the vault-side slug or handle of each mapped id.
    private var organizationSlugs: [OrganizationID: String] = [:]
    private var ownerNames: [String: String] = [:]

    struct GroupKey: Hashable {
        let organization: OrganizationID
        let appKey: String
        let owner: ScopeOwner
    }

    init(
        document: ExportDocument, index: VaultIndex, options: ImportOptions, actor: String,
        reader: @escaping OperationReader,
        randomBytes: @escaping (Int) -> [UInt8] = RandomBytes.make, now: UInt64 = Clock.nowMilliseconds()
    ) {
        self.document = document
        self.index = index
        self.options = options
        self.actor = actor
        self.reader = reader
        self.randomBytes = randomBytes
        self.now = now
        self.plan = ImportPlan(policy: options.onConflict, mapsOrganizations: true)
    }

    /// The operations of the import, checked, and its report.
    mutating func make() throws(CofferError) -> (operations: [ModelOperation], plan: ImportPlan) {
        guard document.revealed else {
            throw CofferError(
                .invalidInput,
                "$.revealed: the export was made without --reveal, so its secret fields hold previews, not values. Export again with --reveal, or with --bundle."
            )
        }
        let slugs = try mappedSlugs()
        let retention = retentionSetting()
        for (position, organization) in document.organizations.enumerated() {
            try importOrganization(
                organization, slug: slugs[position], source: ExportDocument.path("organizations", position))
        }
        for (position, project) in document.projects.enumerated() {
            try importProject(project, source: ExportDocument.path("projects", position))
        }
        for (position, user) in document.users.enumerated() {
            importUser(user, source: ExportDocument.path("users", position))
        }
        for (position, membership) in document.memberships.enumerated() {
            importMembership(membership, source: ExportDocument.path("memberships", position))
        }
        for (position, credential) in document.credentials.enumerated() {
            try importCredential(credential, retention: retention, source: ExportDocument.path("credentials", position))
        }
        for (position, assignment) in document.assignments.enumerated() {
            importAssignment(assignment, source: ExportDocument.path("assignments", position))
        }
        for (position, key) in document.apiKeys.enumerated() {
            importAPIKey(key, source: ExportDocument.path("api_keys", position))
        }
        return (try plan.validated(against: index, actor: actor), plan)
    }

    // MARK: - Organizations and --map-org

    /// The slug each organization of the document gets in the vault.
    private func mappedSlugs() throws(CofferError) -> [String] {
        let known = Set(document.organizations.map(\.slug))
        for old in options.organizationMap.keys.sorted() where !known.contains(old) {
            throw CofferError(
                .invalidInput,
                "--map-org \(old)=…: the import holds no organization `\(old)`. Its organizations are: \(known.sorted().joined(separator: ", "))."
            )
        }
        let slugs = document.organizations.map { options.organizationMap[$0.slug] ?? $0.slug }
        var seen: Set<String> = []
        for slug in slugs where !seen.insert(slug).inserted {
            throw CofferError(
                .invalidInput,
                "--map-org: two organizations of the import would both have the slug `\(slug)`. Map them to different slugs."
            )
        }
        return slugs
    }

    private mutating func importOrganization(_ organization: ExportDocument.Organization, slug: String, source: String)
        throws(CofferError)
    {
        let name = "organization \(slug)"
        if let existing = index.organization(slug), OrganizationID(slug) == nil {
            organizations[organization.id] = existing.id
            organizationSlugs[existing.id] = existing.slug
            switch plan.policy {
            case .fail: plan.conflict(name, at: source)
            case .skip: skipped("organization", slug, existing.id.description, "it exists in the vault", source)
            case .replace:
                if existing.name != organization.name {
                    plan.add(
                        .renameOrganization(id: existing.id, slug: existing.slug, name: organization.name), from: source
                    )
                    changed("organization", slug, existing.id.description, "name", source)
                } else {
                    skipped("organization", slug, existing.id.description, "identical in the vault", source)
                }
            }
            return
        }
        let (id, renewed) = freshIfTaken(organization.id) { index.organization(id: $0) != nil }
        takenIDs.insert(id.bytes)
        organizations[organization.id] = id
        organizationSlugs[id] = slug
        plan.add(
            .restoreOrganization(id: id, slug: slug, name: organization.name, created: organization.created),
            from: source)
        created("organization", slug, id.description, renewed, source)
    }

    // MARK: - Projects, users, memberships

    private mutating func importProject(_ project: ExportDocument.Project, source: String) throws(CofferError) {
        let organization = organizations[project.organization]!
        let name = "project \(project.slug) (organization \(organizationSlugs[organization]!))"
        if let existing = index.project(project.slug, in: organization) {
            projects[project.id] = existing.id
            ownerNames[existing.id.description] = "project \(existing.slug)"
            switch plan.policy {
            case .fail: plan.conflict(name, at: source)
            case .skip: skipped("project", name, existing.id.description, "it exists in the vault", source)
            case .replace:
                if existing.name != project.name {
                    plan.add(.renameProject(id: existing.id, slug: existing.slug, name: project.name), from: source)
                    changed("project", name, existing.id.description, "name", source)
                } else {
                    skipped("project", name, existing.id.description, "identical in the vault", source)
                }
            }
            return
        }
        let (id, renewed) = freshIfTaken(project.id) { index.project(id: $0) != nil }
        takenIDs.insert(id.bytes)
        projects[project.id] = id
        ownerNames[id.description] = "project \(project.slug)"
        plan.add(
            .restoreProject(
                id: id, organization: organization, slug: project.slug, name: project.name, created: project.created),
            from: source)
        created("project", name, id.description, renewed, source)
    }

    private mutating func importUser(_ user: ExportDocument.User, source: String) {
        let name = "user \(user.handle)"
        if let existing = index.user(user.handle), UserID(user.handle) == nil {
            users[user.id] = existing.id
            ownerNames[existing.id.description] = "user \(existing.handle)"
            switch plan.policy {
            case .fail: plan.conflict(name, at: source)
            case .skip: skipped("user", user.handle, existing.id.description, "it exists in the vault", source)
            case .replace:
                if existing.displayName != user.displayName {
                    plan.add(
                        .renameUser(id: existing.id, handle: existing.handle, displayName: user.displayName),
                        from: source)
                    changed("user", user.handle, existing.id.description, "display name", source)
                } else {
                    skipped("user", user.handle, existing.id.description, "identical in the vault", source)
                }
            }
            return
        }
        let (id, renewed) = freshIfTaken(user.id) { index.user(id: $0) != nil }
        takenIDs.insert(id.bytes)
        users[user.id] = id
        ownerNames[id.description] = "user \(user.handle)"
        plan.add(
            .restoreUser(id: id, handle: user.handle, displayName: user.displayName, created: user.created),
            from: source)
        created("user", user.handle, id.description, renewed, source)
    }

    private mutating func importMembership(_ membership: ExportDocument.Membership, source: String) {
        let organization = organizations[membership.organization]!
        let user = users[membership.user]!
        let name = "\(ownerNames[user.description]!) in organization \(organizationSlugs[organization]!)"
        if let role = index.role(of: user, in: organization) {
            switch plan.policy {
            case .fail: plan.conflict("membership of \(name)", at: source)
            case .skip: skipped("membership", name, nil, "it exists in the vault", source)
            case .replace:
                if role != membership.role {
                    plan.add(
                        .changeMembershipRole(user: user, organization: organization, role: membership.role),
                        from: source)
                    changed("membership", name, nil, "role \(role.word) → \(membership.role.word)", source)
                } else {
                    skipped("membership", name, nil, "identical in the vault", source)
                }
            }
            return
        }
        plan.add(.addMembership(user: user, organization: organization, role: membership.role), from: source)
        created("membership", name, nil, false, source)
    }

    // MARK: - Credentials

    private func mappedOwner(_ owner: ScopeOwner) -> ScopeOwner {
        switch owner {
        case .organization(let id): .organization(organizations[id]!)
        case .project(let id): .project(projects[id]!)
        case .user(let id): .user(users[id]!)
        }
    }

    private func ownerName(_ owner: ScopeOwner) -> String {
        switch owner {
        case .organization(let id): "organization \(organizationSlugs[id] ?? id.description)"
        case .project(let id): ownerNames[id.description] ?? "project \(id)"
        case .user(let id): ownerNames[id.description] ?? "user \(id)"
        }
    }

    /// The default of a group once the operations planned so far are applied.
    private func currentDefault(_ group: GroupKey) -> CredentialID? {
        if let planned = plannedDefaults[group] { return planned }
        return index.defaultCredential(organization: group.organization, appKey: group.appKey, owner: group.owner)
    }

    private mutating func importCredential(_ credential: ExportDocument.Credential, retention: Int, source: String)
        throws(CofferError)
    {
        let organization = organizations[credential.organization]!
        let owner = mappedOwner(credential.owner)
        let group = GroupKey(organization: organization, appKey: credential.appKey, owner: owner)
        let name = "\(credential.appKey)/\(credential.slug) (\(ownerName(owner)))"
        let existing = index.credential(
            slug: credential.slug, organization: organization, appKey: credential.appKey, owner: owner)
        if let existing {
            credentials[credential.id] = existing.id
            switch plan.policy {
            case .fail: plan.conflict("credential \(name)", at: source)
            case .skip: skipped("credential", name, existing.id.description, "it exists in the vault", source)
            case .replace: try replace(existing, with: credential, group: group, name: name, source: source)
            }
            return
        }
        guard let values = credential.fields.fieldValues else {
            preconditionFailure("a revealed document holds values")
        }
        try Self.checkKeyPair(values, of: credential.type, at: source)
        let (id, renewed) = freshIfTaken(credential.id) { index.credential(id: $0) != nil }
        takenIDs.insert(id.bytes)
        credentials[credential.id] = id
        var isDefault = credential.isDefault
        var detail: String? = renewed ? "new id: the export's is used in the vault" : nil
        if isDefault, let holder = currentDefault(group) {
            switch plan.policy {
            case .fail:
                plan.conflict("default of \(credential.appKey) at \(ownerName(owner)), held by \(holder)", at: source)
            case .skip:
                isDefault = false
                detail = "created without its default mark: \(holder) is the default in the vault"
            case .replace:
                clearDefault(of: holder, takenBy: name, source: source)
            }
        }
        if isDefault { plannedDefaults[group] = .some(id) }
        var changes: [RestoredChange] = []
        for change in credential.history {
            var mask: UInt8 = 0
            for field in change.fields {
                if let bit = credential.type.fieldIndex(of: field) { mask |= 1 << UInt8(bit) }
            }
            changes.append(
                RestoredChange(kind: change.kind, version: change.version, changedFieldMask: mask, stamp: change.stamp))
        }
        // The document's metadata, with this vault's identifiers.
        var metadata = credential.metadata
        metadata.id = id
        metadata.organization = organization
        metadata.owner = owner
        plan.add(
            .restoreCredential(
                RestoredCredential(
                    metadata, state: credential.state, isDefault: isDefault, changes: changes, fields: values)),
            from: source)
        // OP-RESTORE-VERSION-1: newest first, and no more than the retention keeps.
        let kept = credential.olderVersions.prefix(max(0, retention - 1))
        for (position, version) in kept.enumerated() {
            guard let fields = version.fields?.fieldValues else {
                preconditionFailure("a revealed document holds values")
            }
            let versionSource = "\(source).retained_versions[\(position)]"
            try Self.checkKeyPair(fields, of: credential.type, at: versionSource)
            plan.add(.restoreVersion(id: id, version: version.version, fields: fields), from: versionSource)
        }
        if kept.count < credential.olderVersions.count {
            let dropped = credential.olderVersions.count - kept.count
            let note = "\(dropped) older version\(dropped == 1 ? "" : "s") not kept: the vault retains \(retention)"
            detail = detail.map { "\($0); \(note)" } ?? note
        }
        plan.report(
            .init(kind: "credential", name: name, id: id.description, action: .created, detail: detail, source: source))
    }

    /// OPS-FIELD-KEYPAIR, a writer's rule apply does not check: an `ssh_key` version this
    /// import writes has a `public_key` that is its `private_key`'s public half.
    private static func checkKeyPair(_ fields: FieldValues, of type: CredentialType, at source: String)
        throws(CofferError)
    {
        do {
            try Planner.checkKeyPair(fields, of: type)
        } catch {
            throw CofferError(error.code, "\(source): \(error.message)")
        }
    }

    /// `--on-conflict replace` for a credential: the vault's instance takes the export's
    /// label, values (a new version when any differs), default mark and revocation.
    private mutating func replace(
        _ existing: CredentialInfo, with credential: ExportDocument.Credential, group: GroupKey, name: String,
        source: String
    ) throws(CofferError) {
        for (what, theirs, ours) in [
            ("type", existing.type.word, credential.type.word), ("kind", existing.kind.word, credential.kind.word),
            ("category", existing.category.word, credential.category.word),
        ] where theirs != ours {
            throw CofferError(
                .invalidInput,
                "\(source): the vault's credential \(name) has the \(what) \(theirs) and the import's \(ours); a credential's \(what) cannot change. Delete it first, or import with --on-conflict skip."
            )
        }
        var changes: [String] = []
        if existing.label != credential.label {
            plan.add(.relabelCredential(id: existing.id, label: credential.label), from: source)
            changes.append("label")
        }
        // Revoked in the vault, active in the import: reinstated first, so that its values and
        // default mark can follow (OP-CRED-REINSTATE-1).
        let reinstated = existing.state == .revoked && credential.state == .active
        if reinstated {
            plan.add(.reinstateCredential(id: existing.id), from: source)
            changes.append("reinstated")
        }
        if existing.state == .active || reinstated {
            guard let values = credential.fields.fieldValues else {
                preconditionFailure("a revealed document holds values")
            }
            let stored = try ModelOperation.decodeCredentialFields(from: reader(existing.currentLocation)).get().fields
            let differing = existing.type.fields.map(\.name).filter { stored[$0] != values[$0] }
            if !differing.isEmpty {
                try Self.checkKeyPair(values, of: existing.type, at: source)
                plan.add(
                    .setCredentialFields(
                        CredentialFieldsChange(
                            id: existing.id, reason: .update, version: existing.version + 1, changedFields: differing,
                            fields: values)),
                    from: source)
                changes.append("fields " + differing.joined(separator: ", "))
            }
            let holder = currentDefault(group)
            let wantsDefault = credential.isDefault && credential.state == .active
            if wantsDefault && holder != existing.id {
                if let holder { clearDefault(of: holder, takenBy: name, source: source) }
                plan.add(.setDefault(id: existing.id), from: source)
                plannedDefaults[group] = .some(existing.id)
                changes.append("default mark")
            } else if !wantsDefault && holder == existing.id {
                plan.add(.clearDefault(id: existing.id), from: source)
                plannedDefaults[group] = .some(nil)
                changes.append("default mark cleared")
            }
            if credential.state == .revoked {
                plan.add(.revokeCredential(id: existing.id), from: source)
                changes.append("revoked")
            }
        }
        if changes.isEmpty {
            skipped("credential", name, existing.id.description, "identical in the vault", source)
        } else {
            changed("credential", name, existing.id.description, changes.joined(separator: "; "), source)
        }
    }

    // MARK: - Assignments and API keys

    private mutating func importAssignment(_ assignment: ExportDocument.Assignment, source: String) {
        let organization = organizations[assignment.organization]!
        let credential = credentials[assignment.credential]!
        let name =
            "\(assignment.target.kind.word) \(assignment.target.slug) / \(assignment.target.consumer) → \(assignment.appKey) (organization \(organizationSlugs[organization]!))"
        if let existing = index.assignment(
            organization: organization, target: assignment.target, appKey: assignment.appKey)
        {
            switch plan.policy {
            case .fail: plan.conflict("assignment \(name)", at: source)
            case .skip: skipped("assignment", name, nil, "it exists in the vault", source)
            case .replace:
                if existing.credential != credential {
                    plan.add(
                        .unassign(organization: organization, target: assignment.target, appKey: assignment.appKey),
                        from: source)
                    plan.add(
                        .restoreAssignment(
                            organization: organization, target: assignment.target, appKey: assignment.appKey,
                            credential: credential),
                        from: source)
                    changed("assignment", name, nil, "now \(credential)", source)
                } else {
                    skipped("assignment", name, nil, "identical in the vault", source)
                }
            }
            return
        }
        plan.add(
            .restoreAssignment(
                organization: organization, target: assignment.target, appKey: assignment.appKey, credential: credential
            ),
            from: source)
        created("assignment", name, nil, false, source)
    }

    /// An API key comes over as a record only: its keyed hash belongs to the vault that
    /// issued it (the hash key comes from that vault's unlock key, FORMAT.md §9.11), so the
    /// key can never authenticate in another. It is restored *revoked*, with a random hash
    /// nobody knows a preimage of, so that the list of who had which key survives and
    /// nothing claims to work that cannot.
    private mutating func importAPIKey(_ key: ExportDocument.APIKey, source: String) {
        let organization = organizations[key.organization]!
        let name = "\(key.name) (\(key.preview), organization \(organizationSlugs[organization]!))"
        if index.apiKey(id: key.id) != nil {
            switch plan.policy {
            case .fail: plan.conflict("API key \(name)", at: source)
            case .skip, .replace:
                skipped("api_key", name, key.id.description, "it exists in the vault, which keeps its own", source)
            }
            return
        }
        let revoked = key.revoked ?? ChangeStamp(timeMilliseconds: now, actor: actor)
        plan.add(
            .restoreAPIKey(
                RestoredAPIKey(
                    APIKeyMetadata(
                        id: key.id, organization: organization, creator: users[key.creator] ?? key.creator,
                        name: key.name, hash: randomBytes(APIKeyFormat.hashByteCount), preview: key.preview),
                    created: key.created, revoked: revoked)),
            from: source)
        let detail =
            key.state == .active
            ? "imported revoked: an API key works only in the vault that issued it; create a new key in this vault"
            : nil
        plan.report(
            .init(kind: "api_key", name: name, id: key.id.description, action: .created, detail: detail, source: source)
        )
    }

    // MARK: - Helpers

    /// The version retention after the import: the export's for an empty vault (set by the
    /// import), else the vault's own.
    private mutating func retentionSetting() -> Int {
        let current = index.versionRetention
        let wanted = Int(document.versionRetention)
        let isEmpty = index.organizations().isEmpty && index.users().isEmpty
        if wanted == current {
            return current
        }
        if isEmpty {
            plan.add(.setVersionRetention(count: document.versionRetention), from: "$.version_retention")
            changed("setting", "version retention", nil, "\(current) → \(wanted)", "$.version_retention")
            return wanted
        }
        skipped(
            "setting", "version retention", nil, "the vault keeps its own retention of \(current)",
            "$.version_retention")
        return current
    }

    /// `id`, or a new random id when the vault or this plan uses it already.
    private func freshIfTaken<Kind>(_ id: Identifier<Kind>, isTaken: (Identifier<Kind>) -> Bool) -> (
        Identifier<Kind>, Bool
    ) {
        var candidate = id
        var renewed = false
        while isTaken(candidate) || takenIDs.contains(candidate.bytes) {
            candidate = Identifier<Kind>.random(using: randomBytes)
            renewed = true
        }
        return (candidate, renewed)
    }

    private mutating func created(_ kind: String, _ name: String, _ id: String?, _ renewed: Bool, _ source: String) {
        plan.report(
            .init(
                kind: kind, name: name, id: id, action: .created,
                detail: renewed ? "new id: the export's is used in the vault" : nil, source: source))
    }

    /// Clears the default mark of `holder`, which an imported credential takes, and reports it:
    /// the holder is changed too, though the document does not name it.
    private mutating func clearDefault(of holder: CredentialID, takenBy name: String, source: String) {
        plan.add(.clearDefault(id: holder), from: source)
        let holderName =
            index.credential(id: holder).map { "\($0.appKey)/\($0.slug) (\(ownerName($0.owner)))" }
            ?? holder.description
        changed("credential", holderName, holder.description, "default mark cleared: \(name) takes it", source)
    }

    private mutating func changed(_ kind: String, _ name: String, _ id: String?, _ detail: String, _ source: String) {
        plan.report(.init(kind: kind, name: name, id: id, action: .changed, detail: detail, source: source))
    }

    private mutating func skipped(_ kind: String, _ name: String, _ id: String?, _ detail: String, _ source: String) {
        plan.report(.init(kind: kind, name: name, id: id, action: .skipped, detail: detail, source: source))
    }
}

/// What an import of an export may do with what the vault holds already.
public struct ImportOptions: Sendable {
    /// What to do with an object the vault holds already.
    public var onConflict: ConflictPolicy
    /// Organization slugs of the export → the slugs they get in the vault (`--map-org OLD=NEW`).
    public var organizationMap: [String: String]

    public init(onConflict: ConflictPolicy = .fail, organizationMap: [String: String] = [:]) {
        self.onConflict = onConflict
        self.organizationMap = organizationMap
    }
}
