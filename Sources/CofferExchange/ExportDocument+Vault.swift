import Coffer

extension ExportDocument {
    /// The state of `vault`, in the stable order of X-ORDER (FORMAT.md §12).
    ///
    /// The metadata comes from one snapshot of the index. Revealed values are read by
    /// credential and version number, and a version's values never change, so a mutation
    /// running beside the export cannot mix two states; a version let go or a credential
    /// deleted meanwhile fails the export (`.notFound`: run it again).
    ///
    /// ```swift
    /// let document = try ExportDocument.make(from: vault, revealing: false)
    /// ```
    ///
    /// - Parameters:
    ///   - revealing: read every retained version's values (a revealed export); otherwise
    ///     nothing secret is read at all.
    ///   - progress: called with (credentials done, credentials in all) as values are read.
    /// - Throws: what ``Vault/reveal(_:version:)`` throws.
    public static func make(
        from vault: Vault, revealing: Bool, progress: (Int, Int) -> Void = { _, _ in }
    ) throws(CofferError) -> ExportDocument {
        let snapshot = vault.read { index in copy index }
        return try make(from: snapshot, revealing: revealing, progress: progress) { id, version throws(CofferError) in
            try vault.reveal(id, version: version)
        }
    }

    /// The state of `index`; `reveal` reads the values of one version of one credential.
    static func make(
        from index: VaultIndex, revealing: Bool, progress: (Int, Int) -> Void,
        reveal: (CredentialID, UInt32) throws(CofferError) -> FieldValues
    ) throws(CofferError) -> ExportDocument {
        let organizations = index.organizations()
        let organizationSlugs = Dictionary(uniqueKeysWithValues: organizations.map { ($0.id, $0.slug) })
        var document = ExportDocument(revealed: revealing, versionRetention: UInt16(index.versionRetention))
        document.organizations = organizations
        for organization in organizations {
            // `projects(in:)` and `memberships(in:)` are sorted by slug and handle already.
            document.projects += index.projects(in: organization.id)
            document.memberships += index.memberships(in: organization.id)
        }
        document.users = index.users()

        let infos = organizations.flatMap { index.credentials(matching: CredentialFilter(organization: $0.id)) }
        let ordered = credentialOrder(infos, in: index)
        for (done, info) in ordered.enumerated() {
            progress(done, ordered.count)
            document.credentials.append(try credential(info, in: index, revealing: revealing, reveal: reveal))
        }
        progress(ordered.count, ordered.count)

        for organization in organizations {
            // `assignments(organization:)` is sorted by target kind, slug, consumer and app.
            document.assignments += index.assignments(organization: organization.id)
        }
        document.apiKeys = try allAPIKeys(in: index).map {
            APIKey(
                id: $0.id, organization: $0.organization, creator: $0.creator, name: $0.name, preview: $0.preview,
                state: $0.revoked == nil ? .active : .revoked, created: $0.created, revoked: $0.revoked)
        }.sorted {
            (organizationSlugs[$0.organization] ?? "", $0.id) < (organizationSlugs[$1.organization] ?? "", $1.id)
        }
        return document
    }

    /// Every platform API key of the index, whoever created it.
    ///
    /// The index lists keys only as some member sees them (``VaultIndex/apiKeys(organization:visibleTo:)``),
    /// which misses the revoked keys of creators who left an organization without an owner
    /// or admin. The compaction walk restores every key, so the keys are taken from it, with
    /// a reader that hands it an empty field set in place of each version's values: the walk
    /// checks only that the operation names the right credential and version, and no secret
    /// is read. (An engine listing of all keys would make this a lookup.)
    private static func allAPIKeys(in index: VaultIndex) throws(CofferError) -> [RestoredAPIKey] {
        var versions: [RecordLocation: (CredentialID, UInt32)] = [:]
        for organization in index.organizations() {
            for credential in index.credentials(matching: CredentialFilter(organization: organization.id)) {
                for version in index.versions(of: credential.id) {
                    versions[version.location] = (credential.id, version.version)
                }
            }
        }
        var keys: [RestoredAPIKey] = []
        let reader: OperationReader = { location throws(CofferError) in
            guard let (id, version) = versions[location] else {
                throw CofferError(.notFound, "No retained version is at \(location).")
            }
            return ModelOperation.restoreVersion(id: id, version: version, fields: FieldValues()).encode()
        }
        try index.compactionTransactions(reader: reader) { transaction throws(CofferError) in
            for operation in transaction.operations {
                if case .restoreAPIKey(let key) = operation { keys.append(key) }
            }
        }
        return keys
    }

    /// X-ORDER for credentials: by organization slug, app key, scope, owner (slug or handle),
    /// then by position in their candidate group, oldest first. The group order is what
    /// ambiguity messages and resolution traces list, and an importer that creates the
    /// credentials in document order gives every group the same order again.
    private static func credentialOrder(_ infos: [CredentialInfo], in index: VaultIndex) -> [CredentialInfo] {
        struct GroupKey: Hashable {
            let organization: OrganizationID
            let appKey: String
            let owner: ScopeOwner
        }
        var positions: [CredentialID: Int] = [:]
        var seen: Set<GroupKey> = []
        for info in infos
        where seen.insert(GroupKey(organization: info.organization, appKey: info.appKey, owner: info.owner)).inserted {
            // Newest first in the index; oldest first here.
            let group = index.candidates(organization: info.organization, appKey: info.appKey, owner: info.owner)
            for (position, id) in group.reversed().enumerated() { positions[id] = position }
        }
        func ownerName(_ owner: ScopeOwner) -> String {
            switch owner {
            case .organization(let id): index.organization(id: id)?.slug ?? id.description
            case .project(let id): index.project(id: id)?.slug ?? id.description
            case .user(let id): index.user(id: id)?.handle ?? id.description
            }
        }
        let organizationSlugs = Dictionary(uniqueKeysWithValues: index.organizations().map { ($0.id, $0.slug) })
        return infos.map { info in
            (
                info: info,
                key: (
                    organizationSlugs[info.organization] ?? "", info.appKey, info.scope.rawValue, ownerName(info.owner)
                ),
                position: positions[info.id] ?? 0
            )
        }.sorted { lhs, rhs in
            if lhs.key.0 != rhs.key.0 { return lhs.key.0.utf8.lexicographicallyPrecedes(rhs.key.0.utf8) }
            if lhs.key.1 != rhs.key.1 { return lhs.key.1.utf8.lexicographicallyPrecedes(rhs.key.1.utf8) }
            if lhs.key.2 != rhs.key.2 { return lhs.key.2 < rhs.key.2 }
            if lhs.key.3 != rhs.key.3 { return lhs.key.3.utf8.lexicographicallyPrecedes(rhs.key.3.utf8) }
            if lhs.position != rhs.position { return lhs.position < rhs.position }
            return lhs.info.id < rhs.info.id
        }.map(\.info)
    }

    private static func credential(
        _ info: CredentialInfo, in index: VaultIndex, revealing: Bool,
        reveal: (CredentialID, UInt32) throws(CofferError) -> FieldValues
    ) throws(CofferError) -> Credential {
        let history = index.history(of: info.id).map { change in
            Change(
                kind: change.kind, version: change.version,
                fields: change.kind.makesVersion ? change.changedFields : [],
                stamp: change.stamp)
        }
        let fields: [Field]
        var older: [Version] = []
        let olderNumbers = index.versions(of: info.id).map(\.version).filter { $0 != info.version }
        if revealing {
            fields = Field.fields(try reveal(info.id, info.version), of: info.type)
            for number in olderNumbers {
                older.append(Version(version: number, fields: Field.fields(try reveal(info.id, number), of: info.type)))
            }
        } else {
            fields = info.fields.map { Field(name: $0.name, content: .shown($0.text)) }
            older = olderNumbers.map { Version(version: $0, fields: nil) }
        }
        return Credential(
            metadata: info.metadata, state: info.state, isDefault: info.isDefault, version: info.version,
            fields: fields, history: history, olderVersions: older)
    }
}
