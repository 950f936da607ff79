import CofferCrypto
import CofferErrors

/// Lookups shared by apply, queries, planning and resolution. The `require…` forms throw the
/// `.notFound` a person sees.
extension IndexTables {
    func organizationHandle(_ id: OrganizationID) -> Handle? { organizationIDs.find(id)?.handle }

    func projectHandle(_ id: ProjectID) -> Handle? { projectIDs.find(id)?.handle }

    func userHandle(_ id: UserID) -> Handle? { userIDs.find(id)?.handle }

    func requireOrganization(_ id: OrganizationID) throws(CofferError) -> Handle {
        guard let handle = organizationHandle(id) else {
            throw CofferError(.notFound, "No organization has the id \(id). List organizations to find it.")
        }
        return handle
    }

    func requireProject(_ id: ProjectID) throws(CofferError) -> Handle {
        guard let handle = projectHandle(id) else {
            throw CofferError(.notFound, "No project has the id \(id). List the organization's projects to find it.")
        }
        return handle
    }

    func requireUser(_ id: UserID) throws(CofferError) -> Handle {
        guard let handle = userHandle(id) else {
            throw CofferError(.notFound, "No user has the id \(id). List users to find it.")
        }
        return handle
    }

    func requireCredential(_ id: CredentialID) throws(CofferError) -> Handle {
        guard let slot = credentialSlot(id) else {
            throw CofferError(.notFound, "No credential has the id \(id). List credentials to find it.")
        }
        return slot
    }

    func requireAPIKey(_ id: APIKeyID) throws(CofferError) -> APIKeyRecord {
        guard let record = apiKeys[id] else {
            throw CofferError(.notFound, "No API key has the id \(id). List API keys to find it.")
        }
        return record
    }

    func organization(_ handle: Handle) -> OrganizationRecord {
        guard let record = organizations[handle] else { preconditionFailure("dangling organization handle") }
        return record
    }

    func project(_ handle: Handle) -> ProjectRecord {
        guard let record = projects[handle] else { preconditionFailure("dangling project handle") }
        return record
    }

    func user(_ handle: Handle) -> UserRecord {
        guard let record = users[handle] else { preconditionFailure("dangling user handle") }
        return record
    }

    /// The handle of the scope owner, checked against OP-CRED-CREATE-1: an organization
    /// credential is owned by its own organization, a project credential by a project of it,
    /// a user credential by one of its members.
    func ownerHandle(_ owner: ScopeOwner, organization: Handle) throws(CofferError) -> Handle {
        switch owner {
        case .organization(let id):
            guard id == self.organization(organization).id else {
                throw CofferError(
                    .invalidInput, "An organization-scope credential must belong to its own organization.")
            }
            return organization
        case .project(let id):
            let project = try requireProject(id)
            guard self.project(project).organization == organization else {
                throw CofferError(.invalidInput, "The project \(id) belongs to another organization.")
            }
            return project
        case .user(let id):
            let user = try requireUser(id)
            guard memberships[MembershipKey(user: user, organization: organization)] != nil else {
                throw CofferError(
                    .invalidInput,
                    "The user \(self.user(user).handle) is not a member of the organization. Add the membership first.")
            }
            return user
        }
    }

    /// The public form of a record's scope owner.
    func scopeOwner(_ record: CredentialRecord) -> ScopeOwner { scopeOwner(record.scope, record.owner) }

    /// A record's metadata, its handles looked up: the one place the index turns a record
    /// back into what operations and answers carry.
    func metadata(of record: CredentialRecord) -> CredentialMetadata {
        CredentialMetadata(
            id: record.id, organization: organization(record.organization).id, appKey: string(record.app),
            slug: string(record.slug), label: texts.label(record.texts), kind: record.kind, type: record.type,
            category: record.category, owner: scopeOwner(record))
    }

    func scopeOwner(_ scope: CredentialScope, _ owner: Handle) -> ScopeOwner {
        switch scope {
        case .organization: .organization(organization(owner).id)
        case .project: .project(project(owner).id)
        case .user: .user(user(owner).id)
        }
    }

    /// A short human name of a record's scope owner, e.g. `project web`.
    func ownerName(_ record: CredentialRecord) -> String { ownerName(record.scope, record.owner) }

    /// A short human name of a scope owner, e.g. `project web`.
    func ownerName(_ scope: CredentialScope, _ owner: Handle) -> String {
        switch scope {
        case .organization: "organization \(organization(owner).slug)"
        case .project: "project \(project(owner).slug)"
        case .user: "user \(user(owner).handle)"
        }
    }

    /// How a credential is named in messages and candidate lists: its id first, so a program
    /// can take the first word, then `app/slug` and the scope owner.
    func candidateName(_ slot: Handle) -> String {
        let record = credential(slot)
        return "\(record.id) (\(string(record.app))/\(string(record.slug)), \(ownerName(record)))"
    }

    func stamp(time: UInt64, actor: Handle) -> ChangeStamp {
        ChangeStamp(timeMilliseconds: time, actor: string(actor))
    }
}
