import Coffer

/// A credential proposed by the reader of another tool's file (a dotenv file, a KeePassXC
/// CSV), before it is placed at its scopes.
public struct CredentialEntry: Sendable {
    /// Where it is in the input: `line 12`, `lines 3–5`.
    public var source: String
    public var appKey: String
    public var slug: String
    public var label: String
    public var kind: CredentialKind
    public var type: CredentialType
    public var category: CredentialCategory
    public var fields: FieldValues

    public init(
        source: String, appKey: String, slug: String, label: String, kind: CredentialKind = .apiKey,
        type: CredentialType,
        category: CredentialCategory = .custom, fields: FieldValues
    ) {
        self.source = source
        self.appKey = appKey
        self.slug = slug
        self.label = label
        self.kind = kind
        self.type = type
        self.category = category
        self.fields = fields
    }
}

/// What a reader of another tool's file found: the credentials it proposes, and the entries
/// it leaves out with the reason, so that every entry of the input is accounted for.
public struct CredentialEntries: Sendable {
    public struct Skipped: Sendable, Hashable {
        public var source: String
        public var name: String
        public var reason: String
    }

    public var entries: [CredentialEntry] = []
    public var skipped: [Skipped] = []

    public init(entries: [CredentialEntry] = [], skipped: [Skipped] = []) {
        self.entries = entries
        self.skipped = skipped
    }
}

/// Plans the creation of proposed credentials in one organization, at one or more scopes,
/// with the planner's own checks (names, field schemas) and the conflict policy for an
/// `APP/SLUG` that exists at a scope already.
struct EntryImporter {
    let entries: CredentialEntries
    let index: VaultIndex
    let organization: String
    let scopes: [ScopeTarget]
    let policy: ConflictPolicy
    let actor: String
    let reader: OperationReader

    func make() throws(CofferError) -> (operations: [ModelOperation], plan: ImportPlan) {
        var plan = ImportPlan(policy: policy)
        let organizationID = try index.organizationID(organization)
        let planner = Planner(index: index)
        var owners: [(ScopeTarget, ScopeOwner, String)] = []
        for target in scopes.isEmpty ? [.organization] : scopes {
            owners.append(try owner(target, in: organizationID))
        }
        for entry in entries.entries {
            for (target, owner, ownerName) in owners {
                let name = "\(entry.appKey)/\(entry.slug) (\(ownerName))"
                let existing = index.credential(
                    slug: entry.slug, organization: organizationID, appKey: entry.appKey, owner: owner)
                guard let existing else {
                    let draft = CredentialDraft(
                        appKey: entry.appKey, slug: entry.slug, label: entry.label, kind: entry.kind, type: entry.type,
                        category: entry.category, fields: entry.fields)
                    let created = try prefixed(entry.source) { () throws(CofferError) in
                        try planner.createCredential(in: organizationID.description, draft, scopes: [target])
                    }
                    for operation in created.operations { plan.add(operation, from: entry.source) }
                    plan.report(
                        .init(
                            kind: "credential", name: name, id: created.value.first?.description, action: .created,
                            detail: entry.type.word, source: entry.source))
                    continue
                }
                switch policy {
                case .fail:
                    plan.conflict("credential \(name)", at: entry.source)
                case .skip:
                    plan.report(
                        .init(
                            kind: "credential", name: name, id: existing.id.description, action: .skipped,
                            detail: "it exists in the vault", source: entry.source))
                case .replace:
                    guard existing.type == entry.type, existing.state == .active else {
                        throw CofferError(
                            .invalidInput,
                            "\(entry.source): the vault's credential \(name) is \(existing.state == .active ? "of type \(existing.type.word), the import's of type \(entry.type.word)" : "revoked"), so it cannot be replaced. Delete it first, or import with --on-conflict skip."
                        )
                    }
                    // The given fields as a new version, the others kept: a custom object's
                    // members too (D-MAP).
                    let update = CredentialUpdate(
                        label: entry.label, fields: entry.fields, mergesMembers: entry.type == .custom)
                    let updated = try prefixed(entry.source) { () throws(CofferError) in
                        try planner.updateCredential(
                            existing.id.description, in: organizationID.description, update, reveal: reader)
                    }
                    for operation in updated.operations { plan.add(operation, from: entry.source) }
                    plan.report(
                        .init(
                            kind: "credential", name: name, id: existing.id.description,
                            action: updated.operations.isEmpty ? .skipped : .changed,
                            detail: Self.changes(updated.operations), source: entry.source))
                }
            }
        }
        for skipped in entries.skipped {
            plan.report(
                .init(
                    kind: "entry", name: skipped.name, id: nil, action: .skipped, detail: skipped.reason,
                    source: skipped.source))
        }
        return (try plan.validated(against: index, actor: actor), plan)
    }

    /// What a replacement changes, for the report: `label`, `fields token`, `members host, port`.
    private static func changes(_ operations: [ModelOperation]) -> String {
        var changes: [String] = []
        for operation in operations {
            switch operation {
            case .relabelCredential: changes.append("label")
            case .setCredentialFields(let change) where !change.changedMembers.isEmpty:
                changes.append("members " + change.changedMembers.joined(separator: ", "))
            case .setCredentialFields(let change):
                changes.append("fields " + change.changedFields.joined(separator: ", "))
            default: break
            }
        }
        return changes.isEmpty ? "identical in the vault" : changes.joined(separator: "; ")
    }

    private func owner(_ target: ScopeTarget, in organization: OrganizationID) throws(CofferError) -> (
        ScopeTarget, ScopeOwner, String
    ) {
        switch target {
        case .organization:
            return (
                target, .organization(organization), "organization \(index.organization(id: organization)?.slug ?? "")"
            )
        case .project(let reference):
            let id = try index.projectID(reference, in: organization)
            return (target, .project(id), "project \(index.project(id: id)?.slug ?? reference)")
        case .user(let reference):
            let id = try index.userID(reference)
            guard index.role(of: id, in: organization) != nil else {
                throw CofferError(
                    .invalidInput,
                    "The user `\(reference)` is not a member of the organization. Add the membership first.")
            }
            return (target, .user(id), "user \(index.user(id: id)?.handle ?? reference)")
        }
    }

    private func prefixed<Value>(_ source: String, _ body: () throws(CofferError) -> Value) throws(CofferError) -> Value
    {
        do {
            return try body()
        } catch {
            throw CofferError(error.code, "\(source): \(error.message)", candidates: error.candidates)
        }
    }
}
