import CofferCrypto
import CofferErrors

/// The operations of one mutation and what it produced (new ids, an impact list, a key to
/// show once). An empty plan means there is nothing to do; the engine need not write it.
public struct Plan<Value: Sendable>: Sendable {
    /// The operations, in order, to validate, write as one transaction, and apply.
    public var operations: [ModelOperation]
    /// What the mutation produces.
    public var value: Value

    /// Creates a plan.
    public init(operations: [ModelOperation], value: Value) {
        self.operations = operations
        self.value = value
    }

    /// Whether the plan changes nothing.
    public var isEmpty: Bool { operations.isEmpty }
}

/// Turns what a person asks for (slugs, selectors, field values) into the explicit operations
/// of one transaction, checking the input first so that errors name the field or slug at
/// fault. Planning never changes the index.
///
/// The engine plans, then validates the plan against the index, writes it, and applies it:
///
/// ```swift
/// let plan = try Planner(index: index).createCredential(
///     in: "acme", CredentialDraft(appKey: "exa", slug: "work", label: "Exa", type: .apiToken,
///                                 fields: FieldValues(["token": token])),
///     scopes: [.organization, .project("web")])
/// try index.validate(plan.operations, context: context)
/// ```
///
/// A planner holds a copy of the index: let it go before mutating the index, or the
/// mutation copies the tables.
public struct Planner {
    /// The index planned against.
    public let index: VaultIndex
    let randomBytes: (Int) -> [UInt8]

    /// Creates a planner.
    /// - Parameters:
    ///   - index: the current index.
    ///   - randomBytes: the source of new identifiers and API keys; tests pass a seeded one.
    public init(index: VaultIndex, randomBytes: @escaping (Int) -> [UInt8] = RandomBytes.make) {
        self.index = index
        self.randomBytes = randomBytes
    }

    // MARK: - Vault

    /// Sets how many versions of each credential stay readable (1 to 1000; default 10).
    /// Lowering it lets go of older versions at once; raising it does not bring any back.
    /// - Throws: `.invalidInput` for a count out of range.
    public func setVersionRetention(_ count: Int) throws(CofferError) -> Plan<Void> {
        guard count >= 1, count <= Int(VaultIndex.versionRetentionMax) else {
            throw CofferError(
                .invalidInput, "The version retention must be from 1 to \(VaultIndex.versionRetentionMax).")
        }
        guard count != index.versionRetention else { return Plan(operations: [], value: ()) }
        return Plan(operations: [.setVersionRetention(count: UInt16(count))], value: ())
    }

    // MARK: - Organizations

    /// Creates an organization.
    /// - Throws: `.invalidInput` for a bad slug or name, `.alreadyExists` for a taken slug.
    public func createOrganization(slug: String, name: String) throws(CofferError) -> Plan<OrganizationID> {
        try Names.checkSlug(slug, what: "organization slug")
        try Names.checkName(name, what: "organization name")
        guard index.tables.organizationBySlug[slug] == nil else {
            throw CofferError(
                .alreadyExists, "An organization with the slug `\(slug)` exists already. Choose another slug.")
        }
        let id = newIdentifier { index.tables.organizationHandle($0) != nil }
        return Plan(operations: [.createOrganization(id: id, slug: slug, name: name)], value: id)
    }

    /// Renames an organization; a `nil` slug or name keeps the current one.
    public func renameOrganization(_ reference: String, slug: String? = nil, name: String? = nil) throws(CofferError)
        -> Plan<Void>
    {
        let organizationID = try index.organizationID(reference)
        guard let current = index.organization(id: organizationID) else { preconditionFailure("organization vanished") }
        let newSlug = slug ?? current.slug
        let newName = name ?? current.name
        try Names.checkSlug(newSlug, what: "organization slug")
        try Names.checkName(newName, what: "organization name")
        if newSlug != current.slug, index.tables.organizationBySlug[newSlug] != nil {
            throw CofferError(
                .alreadyExists, "An organization with the slug `\(newSlug)` exists already. Choose another slug.")
        }
        guard newSlug != current.slug || newName != current.name else { return Plan(operations: [], value: ()) }
        return Plan(operations: [.renameOrganization(id: current.id, slug: newSlug, name: newName)], value: ())
    }

    // MARK: - Projects

    /// Creates a project in an organization.
    /// - Throws: `.notFound` for an unknown organization, `.invalidInput` for a bad slug or
    ///   name, `.alreadyExists` for a slug taken in the organization.
    public func createProject(in organization: String, slug: String, name: String) throws(CofferError) -> Plan<
        ProjectID
    > {
        let organizationID = try index.organizationID(organization)
        try Names.checkSlug(slug, what: "project slug")
        try Names.checkName(name, what: "project name")
        guard index.project(slug, in: organizationID) == nil else {
            throw CofferError(
                .alreadyExists,
                "A project with the slug `\(slug)` exists already in this organization. Choose another slug.")
        }
        let id = newIdentifier { index.tables.projectHandle($0) != nil }
        return Plan(
            operations: [.createProject(id: id, organization: organizationID, slug: slug, name: name)], value: id)
    }

    /// Renames a project; a `nil` slug or name keeps the current one.
    public func renameProject(
        _ reference: String, in organization: String, slug: String? = nil, name: String? = nil
    ) throws(CofferError) -> Plan<Void> {
        let organizationID = try index.organizationID(organization)
        let projectID = try index.projectID(reference, in: organizationID)
        guard let current = index.project(id: projectID) else { preconditionFailure("project vanished") }
        let newSlug = slug ?? current.slug
        let newName = name ?? current.name
        try Names.checkSlug(newSlug, what: "project slug")
        try Names.checkName(newName, what: "project name")
        if newSlug != current.slug, index.project(newSlug, in: organizationID) != nil {
            throw CofferError(
                .alreadyExists,
                "A project with the slug `\(newSlug)` exists already in this organization. Choose another slug.")
        }
        guard newSlug != current.slug || newName != current.name else { return Plan(operations: [], value: ()) }
        return Plan(operations: [.renameProject(id: projectID, slug: newSlug, name: newName)], value: ())
    }

    // MARK: - Users and memberships

    /// Creates a user.
    /// - Throws: `.invalidInput` for a bad handle or name, `.alreadyExists` for a taken handle.
    public func createUser(handle: String, displayName: String) throws(CofferError) -> Plan<UserID> {
        try Names.checkSlug(handle, what: "user handle")
        try Names.checkName(displayName, what: "display name")
        guard index.tables.userByHandle[handle] == nil else {
            throw CofferError(
                .alreadyExists, "A user with the handle `\(handle)` exists already. Choose another handle.")
        }
        let id = newIdentifier { index.tables.userHandle($0) != nil }
        return Plan(operations: [.createUser(id: id, handle: handle, displayName: displayName)], value: id)
    }

    /// Renames a user; a `nil` handle or display name keeps the current one.
    public func renameUser(_ reference: String, handle: String? = nil, displayName: String? = nil) throws(CofferError)
        -> Plan<Void>
    {
        let userID = try index.userID(reference)
        guard let current = index.user(id: userID) else { preconditionFailure("user vanished") }
        let newHandle = handle ?? current.handle
        let newName = displayName ?? current.displayName
        try Names.checkSlug(newHandle, what: "user handle")
        try Names.checkName(newName, what: "display name")
        if newHandle != current.handle, index.tables.userByHandle[newHandle] != nil {
            throw CofferError(
                .alreadyExists, "A user with the handle `\(newHandle)` exists already. Choose another handle.")
        }
        guard newHandle != current.handle || newName != current.displayName else {
            return Plan(operations: [], value: ())
        }
        return Plan(operations: [.renameUser(id: userID, handle: newHandle, displayName: newName)], value: ())
    }

    /// Makes a user a member of an organization.
    /// - Throws: `.notFound` for an unknown user or organization, `.alreadyExists` when a
    ///   member already.
    public func addMember(_ user: String, to organization: String, role: Role) throws(CofferError) -> Plan<Void> {
        let organizationID = try index.organizationID(organization)
        let userID = try index.userID(user)
        guard index.role(of: userID, in: organizationID) == nil else {
            throw CofferError(.alreadyExists, "The user `\(user)` is a member already; change its role instead.")
        }
        return Plan(operations: [.addMembership(user: userID, organization: organizationID, role: role)], value: ())
    }

    /// Changes a member's role; the same role again is an empty plan. An organization always
    /// keeps an owner (OP-MEMBER-CHANGE-2): its last owner cannot be given another role.
    /// - Throws: `.notFound` when the user is not a member; `.invalidInput` for the last owner.
    public func changeRole(of user: String, in organization: String, to role: Role) throws(CofferError) -> Plan<Void> {
        let organizationID = try index.organizationID(organization)
        let userID = try index.userID(user)
        guard let current = index.role(of: userID, in: organizationID) else {
            throw CofferError(
                .notFound, "The user `\(user)` is not a member of the organization. Add the membership first.")
        }
        guard current != role else { return Plan(operations: [], value: ()) }
        if current == .owner,
            !index.memberships(in: organizationID).contains(where: { $0.user != userID && $0.role == .owner })
        {
            throw CofferError(
                .invalidInput,
                "`\(user)` is the organization's last owner; make another member an owner first.")
        }
        return Plan(
            operations: [.changeMembershipRole(user: userID, organization: organizationID, role: role)], value: ())
    }

    // MARK: - Identifiers

    /// A fresh identifier that `isTaken` rejects with negligible probability; drawn again if
    /// it does.
    func newIdentifier<Kind>(isTaken: (Identifier<Kind>) -> Bool) -> Identifier<Kind> {
        while true {
            let id = Identifier<Kind>.random(using: randomBytes)
            if !isTaken(id) { return id }
        }
    }
}
