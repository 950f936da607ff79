import CofferCrypto
import CofferErrors

/// Removals and their cascades (FORMAT.md, OPS-CASCADE). Every cascade is a list of explicit
/// operations, and the returned ``Impact`` lists exactly what they remove.
extension Planner {
    /// What deleting a credential would remove: its assignments and its default mark. Changes
    /// nothing; the CLI shows it before asking to confirm.
    /// - Throws: `.notFound` or `.ambiguous` for the selector.
    public func deletionImpact(of selector: String, in organization: String) throws(CofferError) -> Impact {
        try deleteCredential(selector, in: organization).value
    }

    /// Deletes a credential, and in the same transaction every assignment naming it and its
    /// default mark.
    /// - Returns: the plan and its impact, the same list ``deletionImpact(of:in:)`` gives.
    public func deleteCredential(_ selector: String, in organization: String) throws(CofferError) -> Plan<Impact> {
        let organizationID = try index.organizationID(organization)
        let id = try index.selectCredential(selector, in: organizationID)
        var cascade = Cascade(index: index)
        cascade.deleteCredentials([id])
        return cascade.plan
    }

    /// Removes a project and, first, its credentials with their assignments and defaults.
    /// - Throws: `.notFound` for an unknown organization or project.
    public func removeProject(_ reference: String, in organization: String) throws(CofferError) -> Plan<Impact> {
        let organizationID = try index.organizationID(organization)
        let projectID = try index.projectID(reference, in: organizationID)
        var cascade = Cascade(index: index)
        cascade.deleteCredentials(
            index.credentials(matching: CredentialFilter(organization: organizationID, project: projectID)).map(\.id))
        cascade.append(.removeProject(id: projectID))
        cascade.impact.removedProjects.append(projectID)
        return cascade.plan
    }

    /// Ends a membership and, first, deletes the user's user-scope credentials in the
    /// organization (with their assignments and defaults) and revokes the API keys the user
    /// created there. An organization keeps an owner (OP-MEMBER-REMOVE-2): its last owner is
    /// not removed.
    /// - Throws: `.notFound` when the user is not a member; `.invalidInput` for the last owner.
    public func removeMember(_ user: String, from organization: String) throws(CofferError) -> Plan<Impact> {
        let organizationID = try index.organizationID(organization)
        let userID = try index.userID(user)
        guard index.role(of: userID, in: organizationID) != nil else {
            throw CofferError(.notFound, "The user `\(user)` is not a member of the organization.")
        }
        try refuseRemovingTheLastOwner(userID, named: user, of: organizationID, named: organization)
        var cascade = Cascade(index: index)
        cascade.removeMembership(user: userID, organization: organizationID)
        return cascade.plan
    }

    /// Removes a user: every membership as ``removeMember(_:from:)`` does, then the user.
    /// Revoked API keys the user created stay listed, for the audit trail.
    /// - Throws: `.notFound` for an unknown user; `.invalidInput` when the user is an
    ///   organization's last owner (OP-MEMBER-REMOVE-2).
    public func removeUser(_ reference: String) throws(CofferError) -> Plan<Impact> {
        let userID = try index.userID(reference)
        var cascade = Cascade(index: index)
        for membership in index.memberships(of: userID) {
            try refuseRemovingTheLastOwner(
                userID, named: reference, of: membership.organization,
                named: index.organization(id: membership.organization)?.slug ?? "\(membership.organization)")
        }
        for membership in index.memberships(of: userID) {
            cascade.removeMembership(user: userID, organization: membership.organization)
        }
        cascade.append(.removeUser(id: userID))
        return cascade.plan
    }

    /// OP-MEMBER-REMOVE-2: an organization that has an owner keeps one, as a role change
    /// keeps it (OP-MEMBER-CHANGE-2).
    private func refuseRemovingTheLastOwner(
        _ userID: UserID, named user: String, of organizationID: OrganizationID, named organization: String
    ) throws(CofferError) {
        guard index.role(of: userID, in: organizationID) == .owner,
            !index.memberships(in: organizationID).contains(where: { $0.user != userID && $0.role == .owner })
        else { return }
        throw CofferError(
            .invalidInput,
            "`\(user)` is the last owner of the organization `\(organization)`; make another member an owner "
                + "first, or remove the organization.")
    }

    /// Removes an organization. Without `cascade` it must be empty; with it, everything in it
    /// goes first: assignments, default marks, credentials, API key records, memberships and
    /// projects.
    /// - Throws: `.invalidInput` listing what the organization still holds when `cascade` is
    ///   false, `.notFound` for an unknown organization.
    public func removeOrganization(_ reference: String, cascade cascades: Bool = false) throws(CofferError) -> Plan<
        Impact
    > {
        let organizationID = try index.organizationID(reference)
        guard let handle = index.tables.organizationHandle(organizationID) else {
            preconditionFailure("organization vanished")
        }
        let contents = index.tables.organizationContents(handle)
        guard cascades || contents.isEmpty else {
            throw CofferError(
                .invalidInput,
                "The organization `\(reference)` still has \(contents.joined(separator: ", ")). Remove them first, or remove it with cascade."
            )
        }
        var cascade = Cascade(index: index)
        for assignment in index.assignments(organization: organizationID) {
            cascade.unassign(assignment)
        }
        cascade.deleteCredentials(index.credentials(matching: CredentialFilter(organization: organizationID)).map(\.id))
        let keys = index.tables.apiKeys.values.filter { $0.organization == handle }.map(\.id).sorted()
        for key in keys {
            cascade.append(.deleteAPIKey(id: key))
            cascade.impact.deletedAPIKeys.append(key)
        }
        for membership in index.memberships(in: organizationID) {
            cascade.append(.removeMembership(user: membership.user, organization: organizationID))
            cascade.impact.removedMemberships.append(membership)
        }
        for project in index.projects(in: organizationID) {
            cascade.append(.removeProject(id: project.id))
            cascade.impact.removedProjects.append(project.id)
        }
        cascade.append(.removeOrganization(id: organizationID))
        return cascade.plan
    }
}

/// Collects the operations of a cascade and their impact, in an order apply accepts:
/// assignments and default marks go before the credentials they name.
struct Cascade {
    let index: VaultIndex
    var operations: [ModelOperation] = []
    var impact = Impact()
    private var removedAssignments: Set<AssignmentInfo> = []

    init(index: VaultIndex) {
        self.index = index
    }

    var plan: Plan<Impact> { Plan(operations: operations, value: impact) }

    mutating func append(_ operation: ModelOperation) { operations.append(operation) }

    mutating func unassign(_ assignment: AssignmentInfo) {
        guard removedAssignments.insert(assignment).inserted else { return }
        append(.unassign(organization: assignment.organization, target: assignment.target, appKey: assignment.appKey))
        impact.removedAssignments.append(assignment)
    }

    mutating func deleteCredentials(_ ids: [CredentialID]) {
        for id in ids {
            guard let info = index.credential(id: id) else { continue }
            for assignment in index.assignments(naming: id) { unassign(assignment) }
            if info.isDefault {
                append(.clearDefault(id: id))
                impact.clearedDefaults.append(id)
            }
            append(.deleteCredential(id: id))
            impact.deletedCredentials.append(id)
        }
    }

    mutating func removeMembership(user: UserID, organization: OrganizationID) {
        deleteCredentials(
            index.credentials(matching: CredentialFilter(organization: organization, user: user)).map(\.id))
        if let handle = index.tables.organizationHandle(organization) {
            let keys = index.tables.apiKeys.values.filter {
                $0.organization == handle && $0.creator == user && $0.state == .active
            }.map(\.id).sorted()
            for key in keys {
                append(.revokeAPIKey(id: key))
                impact.revokedAPIKeys.append(key)
            }
        }
        guard let role = index.role(of: user, in: organization) else { return }
        append(.removeMembership(user: user, organization: organization))
        impact.removedMemberships.append(MembershipInfo(user: user, organization: organization, role: role))
    }
}
