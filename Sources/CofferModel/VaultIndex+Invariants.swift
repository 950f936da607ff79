/// The whole-index consistency check `verify` runs (FORMAT.md, "Invariants"). Apply keeps
/// every invariant operation by operation, so on a healthy vault this returns nothing; it is
/// linear in the size of the index.
extension VaultIndex {
    /// Checks every invariant and describes each violation in one line (ids, never secrets).
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        checkPrincipals(&problems)
        checkCredentials(&problems)
        checkDefaults(&problems)
        checkAssignments(&problems)
        checkAPIKeys(&problems)
        return problems
    }

    private func checkPrincipals(_ problems: inout [String]) {
        for (handle, record) in tables.organizations
        where !finds(tables.organizationIDs, record.id, as: handle, organization: handle)
            || tables.organizationBySlug[record.slug] != handle
        {
            problems.append("INV-LOOKUP: organization \(record.id) is not found by its id or slug.")
        }
        for (handle, record) in tables.projects {
            if tables.organizations[record.organization] == nil {
                problems.append("INV-OWNER: project \(record.id) belongs to a missing organization.")
            } else if !finds(tables.projectIDs, record.id, as: handle, organization: record.organization)
                || tables.projectBySlug[ProjectSlugKey(organization: record.organization, slug: record.slug)] != handle
            {
                problems.append("INV-LOOKUP: project \(record.id) is not found by its id or slug.")
            }
        }
        for (handle, record) in tables.users
        where !finds(tables.userIDs, record.id, as: handle, organization: noHandle)
            || tables.userByHandle[record.handle] != handle
        {
            problems.append("INV-LOOKUP: user \(record.id) is not found by its id or handle.")
        }
        if tables.organizationIDs.count != tables.organizations.count
            || tables.projectIDs.count != tables.projects.count
            || tables.userIDs.count != tables.users.count
        {
            problems.append("INV-LOOKUP: an id lookup table has stale entries.")
        }
        for key in tables.memberships.keys
        where tables.users[key.user] == nil || tables.organizations[key.organization] == nil {
            problems.append("INV-OWNER: a membership names a missing user or organization.")
        }
    }

    /// Whether `ids` finds `id` as `handle`, naming the organization it must (a project's,
    /// which resolution reads from the entry; an organization's own handle; none for a user).
    private func finds<Kind>(_ ids: IDTable<Kind>, _ id: Identifier<Kind>, as handle: Handle, organization: Handle)
        -> Bool
    {
        guard let entry = ids.find(id) else { return false }
        return entry.handle == handle && entry.organization == organization
    }

    private func checkCredentials(_ problems: inout [String]) {
        let live = tables.liveSlots
        if live.count != tables.liveCredentialCount || live.count != tables.credentialSlots.count {
            problems.append("INV-LOOKUP: the credential count disagrees with the id table.")
        }
        if !tables.candidateHeads.isConsistent(with: tables.credentials)
            || !tables.slugHeads.isConsistent(with: tables.credentials)
        {
            problems.append("INV-LOOKUP: a lookup list's head is a free slot or is not found by its key.")
        }
        let candidateKeys = tables.candidateHeads.slots.filter { Int($0) < tables.credentials.count }
            .map { tables.credential($0).candidateKey }
        let slugKeys = tables.slugHeads.slots.filter { Int($0) < tables.credentials.count }
            .map { tables.credential($0).slugKey }
        var grouped = 0
        for key in candidateKeys {
            var slugs: Set<Handle> = []
            for slot in tables.group(key) {
                grouped += 1
                let record = tables.credential(slot)
                if record.candidateKey != key {
                    problems.append("INV-LOOKUP: \(record.id) is in the wrong candidate group.")
                }
                if !slugs.insert(record.slug).inserted {
                    problems.append("INV-SLUG: \(record.id) repeats a slug at its scope.")
                }
            }
        }
        // Each slug list holds the credentials with that slug, newest first (a slug change
        // relinks at the place creation order gives, as a compacted log builds it).
        for key in slugKeys {
            let members = tables.slugGroup(key).map { tables.credential($0) }
            if members.contains(where: { $0.slugKey != key }) {
                problems.append("INV-LOOKUP: a credential is in the lookup list of another slug.")
            }
            if zip(members, members.dropFirst()).contains(where: { $0.createdEntry <= $1.createdEntry }) {
                problems.append("INV-LOOKUP: a slug's lookup list is not newest first.")
            }
        }
        let slugged = slugKeys.reduce(0) { $0 + tables.slugGroup($1).count }
        if grouped != live.count || slugged != live.count {
            problems.append("INV-LOOKUP: candidate or slug groups do not hold exactly the live credentials.")
        }
        var historyCount = 0
        var retainedCount = 0
        for slot in live {
            let record = tables.credential(slot)
            let entries = tables.historyEntries(of: record)
            historyCount += entries.count
            retainedCount += entries.count { $0.kind.makesVersion && $0.isRetained }
            if tables.credentialSlot(record.id) != slot {
                problems.append("INV-LOOKUP: \(record.id) is not found by its id.")
            }
            guard tables.organizations[record.organization] != nil else {
                problems.append("INV-OWNER: \(record.id) belongs to a missing organization.")
                continue
            }
            switch record.scope {
            case .organization:
                if record.owner != record.organization {
                    problems.append("INV-OWNER: \(record.id) is owned by another organization.")
                }
            case .project:
                if tables.projects[record.owner]?.organization != record.organization {
                    problems.append(
                        "INV-OWNER: \(record.id) is owned by a missing project or one of another organization.")
                }
            case .user:
                if tables.memberships[MembershipKey(user: record.owner, organization: record.organization)] == nil {
                    problems.append(
                        "INV-OWNER: \(record.id) is owned by a user who is not a member of its organization.")
                }
            }
            let current = tables.history[Int(record.currentVersionEntry)]
            if !current.isRetained || current.version != record.version {
                problems.append("INV-VERSION: \(record.id)'s current version is not readable.")
            }
            let retained = entries.filter { $0.kind.makesVersion && $0.isRetained }
            if retained.count > Int(tables.versionRetention) {
                problems.append(
                    "INV-VERSION: \(record.id) keeps \(retained.count) versions, more than \(tables.versionRetention).")
            }
            // Retained versions are the newest ones: no let-go version is newer than a kept one.
            let versions = entries.filter(\.kind.makesVersion)
            if versions.prefix(retained.count).contains(where: { !$0.isRetained }) {
                problems.append("INV-VERSION: \(record.id) keeps an older version but not a newer one.")
            }
        }
        if historyCount != tables.liveHistoryCount || retainedCount != tables.retainedVersionCount {
            problems.append("INV-LOOKUP: the history or retained-version count disagrees with the histories.")
        }
    }

    private func checkDefaults(_ problems: inout [String]) {
        if !tables.defaults.isConsistent(with: tables.credentials) {
            problems.append("INV-DEFAULT: a default names a free slot or is not found by its group.")
        }
        for slot in tables.defaults.slots where Int(slot) < tables.credentials.count {
            let record = tables.credential(slot)
            if record.organization == IndexTables.freeSlotMarker || !record.isDefault {
                problems.append("INV-DEFAULT: a default mark names a missing or mismatched credential.")
            } else if record.state != .active {
                problems.append("INV-DEFAULT: the default \(record.id) is revoked.")
            }
        }
        for slot in tables.liveSlots {
            let record = tables.credential(slot)
            if record.isDefault && tables.defaultSlot(record.candidateKey) != slot {
                problems.append("INV-DEFAULT: \(record.id) is marked default but another instance is the default.")
            }
        }
    }

    private func checkAssignments(_ problems: inout [String]) {
        var reverseCount = 0
        for (slot, keys) in tables.assignmentsByCredential {
            reverseCount += keys.count
            for key in keys where tables.assignments[key] != slot {
                problems.append("INV-ASSIGN: the assignment index of a credential is stale.")
            }
        }
        if reverseCount != tables.assignments.count {
            problems.append("INV-ASSIGN: the assignment index of credentials is incomplete.")
        }
        for (key, slot) in tables.assignments {
            let record = tables.credential(slot)
            if record.organization == IndexTables.freeSlotMarker {
                problems.append("INV-ASSIGN: an assignment names a missing credential.")
            } else if record.organization != key.organization || record.app != key.app {
                problems.append("INV-ASSIGN: an assignment names \(record.id) of another organization or app.")
            }
        }
    }

    private func checkAPIKeys(_ problems: inout [String]) {
        if tables.apiKeyByTag.count != tables.apiKeys.count {
            problems.append("INV-APIKEY: the API key hash table is stale.")
        }
        for record in tables.apiKeys.values {
            if tables.organizations[record.organization] == nil {
                problems.append("INV-APIKEY: \(record.id) belongs to a missing organization.")
            } else if tables.apiKeyByTag[APIKeyFormat.tag(of: record.hash)] != record.id {
                problems.append("INV-APIKEY: \(record.id) is not found by its hash.")
            } else if record.state == .active {
                let member = tables.userHandle(record.creator).flatMap {
                    tables.memberships[MembershipKey(user: $0, organization: record.organization)]
                }
                if member == nil {
                    problems.append("INV-APIKEY: the active key \(record.id) acts as a user who is not a member.")
                }
            }
        }
    }
}
