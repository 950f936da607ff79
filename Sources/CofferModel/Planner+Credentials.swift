import CofferCrypto
import CofferErrors
import CofferFormat

/// What a person gives to create a credential.
public struct CredentialDraft: Sendable {
    /// The app key code looks it up by, e.g. `exa`.
    public var appKey: String
    /// The instance slug, e.g. `work`.
    public var slug: String
    /// The label, e.g. "Production Slack".
    public var label: String
    /// How it connects at runtime.
    public var kind: CredentialKind
    /// Its field schema.
    public var type: CredentialType
    /// Its grouping for people.
    public var category: CredentialCategory
    /// The field values; blank ones count as not given.
    public var fields: FieldValues
    /// Whether each new instance becomes the default for its app and scope owner, clearing
    /// the previous default.
    public var isDefault: Bool

    /// Creates a draft.
    public init(
        appKey: String, slug: String, label: String, kind: CredentialKind = .apiKey, type: CredentialType,
        category: CredentialCategory = .custom, fields: FieldValues, isDefault: Bool = false
    ) {
        self.appKey = appKey
        self.slug = slug
        self.label = label
        self.kind = kind
        self.type = type
        self.category = category
        self.fields = fields
        self.isDefault = isDefault
    }
}

/// Where to create one instance of a fanned-out credential. Projects and users are named by
/// id or slug.
public enum ScopeTarget: Sendable, Hashable {
    /// The organization itself.
    case organization
    /// A project of the organization.
    case project(String)
    /// A member of the organization.
    case user(String)
}

/// What a person changes on a credential. `nil` and blank mean "keep".
public struct CredentialUpdate: Sendable {
    /// A new label.
    public var label: String?
    /// Mark as default (`true`) or clear the mark (`false`).
    public var isDefault: Bool?
    /// New field values; a blank value keeps the stored one, so a blank secret on edit never
    /// erases it.
    public var fields: FieldValues
    /// Optional fields to remove.
    public var clearedFields: Set<String>
    /// A new instance slug, the `SLUG` of `APP/SLUG`: unique at the credential's scope, as a
    /// new credential's. Assignments and the default mark follow the credential (they name its
    /// id); code that selects it by `APP/SLUG` must use the new slug.
    public var slug: String?
    /// For a `custom` credential given its object whole (`json`): `true` sets each member of
    /// the given object into the stored one and keeps the members it does not name, as an
    /// import's `replace` does (FORMAT.md D-MAP); `false`, the default, replaces the object.
    public var mergesMembers: Bool

    /// Creates an update.
    public init(
        label: String? = nil, isDefault: Bool? = nil, fields: FieldValues = FieldValues(),
        clearedFields: Set<String> = [], slug: String? = nil, mergesMembers: Bool = false
    ) {
        self.label = label
        self.isDefault = isDefault
        self.fields = fields
        self.clearedFields = clearedFields
        self.slug = slug
        self.mergesMembers = mergesMembers
    }
}

/// Reads the operation at a location from the log and decrypts it: the engine's part of a
/// reveal. The planner uses it to merge a partial edit with the stored values.
public typealias OperationReader = (RecordLocation) throws(CofferError) -> Operation

extension Planner {
    /// Creates a credential at one or more scopes: one instance per scope, with separate ids
    /// and the same fields (fan-out). No scopes means the organization.
    ///
    /// - Returns: the new ids, in the order of `scopes`.
    /// - Throws: `.invalidInput` naming the field or slug at fault, `.notFound` for an
    ///   unknown organization, project or user, `.alreadyExists` when the slug is taken at a
    ///   scope.
    public func createCredential(
        in organization: String, _ draft: CredentialDraft, scopes: [ScopeTarget] = [.organization]
    ) throws(CofferError) -> Plan<[CredentialID]> {
        let organizationID = try index.organizationID(organization)
        try Names.checkAppKey(draft.appKey)
        try Names.checkSlug(draft.slug, what: "credential slug")
        try Names.checkName(draft.label, what: "label")
        // OPS-FIELD-UNKNOWN before OPS-FIELD-NONEMPTY: a blank value under a misspelt name is
        // refused, as on update, never taken for "not given" (a custom object's members are free).
        if draft.type != .custom { try FieldValidation.checkNames(draft.fields.names, of: draft.type) }
        var fields = draft.fields.withoutBlanks
        if draft.type == .custom, fields.names.contains(where: { $0 != CustomObject.field }) {
            // OPS-FIELD-CUSTOM: other names are the members of a new object.
            guard fields[CustomObject.field] == nil else {
                throw CofferError(
                    .invalidInput, "Give a custom credential's object whole as `json`, or its members, not both.")
            }
            try CustomObject.checkMemberNames(fields.names)
            fields = FieldValues([CustomObject.field: CustomObject.object(from: fields)])
        }
        _ = try FieldValidation.check(fields, of: draft.type)
        try Self.checkKeyPair(fields, of: draft.type)
        var owners: [ScopeOwner] = []
        for target in scopes.isEmpty ? [.organization] : scopes {
            let owner = try scopeOwner(target, in: organizationID)
            guard !owners.contains(owner) else {
                throw CofferError(.invalidInput, "The scope \(ownerName(owner)) is listed twice. List each scope once.")
            }
            owners.append(owner)
        }
        var operations: [ModelOperation] = []
        var ids: [CredentialID] = []
        for owner in owners {
            if let taken = index.credential(
                slug: draft.slug, organization: organizationID, appKey: draft.appKey, owner: owner)
            {
                let advice =
                    taken.state == .revoked
                    ? "It is revoked: reinstate it, or choose another slug."
                    : "Choose another slug, or update it."
                throw CofferError(
                    .alreadyExists,
                    "The credential `\(draft.appKey)/\(draft.slug)` exists already at \(ownerName(owner)). \(advice)"
                )
            }
            let id = newIdentifier { index.tables.credentialSlot($0) != nil || ids.contains($0) }
            ids.append(id)
            operations.append(
                .createCredential(
                    NewCredential(
                        CredentialMetadata(
                            id: id, organization: organizationID, appKey: draft.appKey, slug: draft.slug,
                            label: draft.label, kind: draft.kind, type: draft.type, category: draft.category,
                            owner: owner),
                        fields: fields)))
            if draft.isDefault {
                if let current = index.defaultCredential(
                    organization: organizationID, appKey: draft.appKey, owner: owner)
                {
                    operations.append(.clearDefault(id: current))
                }
                operations.append(.setDefault(id: id))
            }
        }
        return Plan(operations: operations, value: ids)
    }

    /// Updates a credential's label, default mark and fields. Given fields replace stored
    /// ones, blank fields keep them, cleared optional fields are removed; any field change
    /// makes a new version holding the complete field set.
    ///
    /// - Parameters:
    ///   - reveal: reads the current version's operation; called only when fields change.
    /// - Returns: the credential's id; an empty plan when nothing changes.
    /// - Throws: `.invalidInput` naming a field, `.notFound`/`.ambiguous` for the selector,
    ///   whatever `reveal` throws.
    public func updateCredential(
        _ selector: String, in organization: String, _ update: CredentialUpdate, reveal: OperationReader
    ) throws(CofferError) -> Plan<CredentialID> {
        let (organizationID, info) = try select(selector, in: organization)
        var operations: [ModelOperation] = []
        if let slug = update.slug, slug != info.slug {
            try Names.checkSlug(slug, what: "credential slug")
            guard
                index.credential(slug: slug, organization: organizationID, appKey: info.appKey, owner: info.owner)
                    == nil
            else {
                throw CofferError(
                    .alreadyExists,
                    "The credential `\(info.appKey)/\(slug)` exists already at \(ownerName(info.owner)). Choose another slug."
                )
            }
            operations.append(.changeCredentialSlug(id: info.id, slug: slug))
        }
        if let label = update.label, label != info.label {
            try Names.checkName(label, what: "label")
            operations.append(.relabelCredential(id: info.id, label: label))
        }
        // A blank value keeps the stored one, but its name must still be a field: a typo is
        // not "unchanged".
        if info.type != .custom { try FieldValidation.checkNames(update.fields.names, of: info.type) }
        let given = update.fields.withoutBlanks
        if given.count > 0 || !update.clearedFields.isEmpty {
            if let change = try newVersion(
                of: info, given: given, cleared: update.clearedFields, reason: .update,
                mergingMembers: update.mergesMembers, reveal: reveal)
            {
                operations.append(.setCredentialFields(change))
            }
        }
        switch update.isDefault {
        case true? where !info.isDefault:
            guard info.state == .active else {
                throw CofferError(.invalidInput, "The credential \(info.id) is revoked and cannot be a default.")
            }
            if let current = index.defaultCredential(
                organization: organizationID, appKey: info.appKey, owner: info.owner)
            {
                operations.append(.clearDefault(id: current))
            }
            operations.append(.setDefault(id: info.id))
        case false? where info.isDefault:
            operations.append(.clearDefault(id: info.id))
        default:
            break
        }
        return Plan(operations: operations, value: info.id)
    }

    /// Rotates a credential's secret: a new version with the given fields replaced and the
    /// rest kept. At least one given field must be secret and differ from the stored value.
    ///
    /// - Parameters:
    ///   - reveal: reads the current version's operation.
    /// - Throws: `.invalidInput` naming a field, `.notFound`/`.ambiguous` for the selector.
    public func rotateCredential(
        _ selector: String, in organization: String, fields: FieldValues, reveal: OperationReader
    ) throws(CofferError) -> Plan<CredentialID> {
        let (_, info) = try select(selector, in: organization)
        if info.type != .custom { try FieldValidation.checkNames(fields.names, of: info.type) }
        let given = fields.withoutBlanks
        let secretNames = info.type.fields.filter(\.isSecret).map(\.name)
        // Every member of a custom object is as secret as the object.
        guard given.names.contains(where: { secretNames.contains($0) || info.type == .custom }) else {
            throw CofferError(
                .invalidInput,
                "A rotation needs a new value for a secret field: \(secretNames.joined(separator: ", ")).")
        }
        guard let change = try newVersion(of: info, given: given, cleared: [], reason: .rotate, reveal: reveal) else {
            throw CofferError(.invalidInput, "The new values equal the stored ones. Rotate to a new secret.")
        }
        return Plan(operations: [.setCredentialFields(change)], value: info.id)
    }

    /// Rolls a credential back to a retained older version: a new version holding that
    /// version's field values, so history keeps everything in between.
    ///
    /// - Returns: the credential's id; an empty plan when the current values are that version's.
    /// - Throws: `.invalidInput` for a version that is not an earlier one or a revoked
    ///   credential, `.notFound` for a version no longer retained, `.notFound`/`.ambiguous` for
    ///   the selector.
    public func rollbackCredential(
        _ selector: String, in organization: String, toVersion version: UInt32, reveal: OperationReader
    ) throws(CofferError) -> Plan<CredentialID> {
        let (_, info) = try select(selector, in: organization)
        guard info.version > 1 else {
            throw CofferError(
                .invalidInput, "The credential is at version 1: it has no earlier version to roll back to.")
        }
        guard version >= 1, version < info.version else {
            throw CofferError(
                .invalidInput,
                "A rollback goes to an earlier version: 1 to \(info.version - 1) for this credential, at version \(info.version)."
            )
        }
        guard let location = index.location(of: info.id, version: version) else {
            throw CofferError(
                .notFound,
                "Version \(version) is no longer retained (the vault keeps the newest \(index.tables.versionRetention) versions' values)."
            )
        }
        let old = try ModelOperation.decodeCredentialFields(from: try reveal(location)).get()
        guard old.credential == info.id else {
            throw CofferError(.corrupted, "The log record at \(location) does not hold a version of \(info.id).")
        }
        let current = try storedFields(of: info, reveal: reveal)
        let cleared = Set(current.names.filter { old.fields[$0] == nil })
        guard
            let change = try newVersion(of: info, given: old.fields, cleared: cleared, reason: .update, reveal: reveal)
        else {
            return Plan(operations: [], value: info.id)
        }
        return Plan(operations: [.setCredentialFields(change)], value: info.id)
    }

    /// Revokes a credential: it stays listed and never resolves again unless reinstated
    /// (``reinstateCredential(_:in:)``). Its default mark is
    /// cleared in the same transaction; its assignments stay, so runs that use them fail
    /// with `.credentialRevoked` instead of silently using another instance.
    /// - Throws: `.invalidInput` when already revoked.
    public func revokeCredential(_ selector: String, in organization: String) throws(CofferError) -> Plan<CredentialID>
    {
        let (_, info) = try select(selector, in: organization)
        guard info.state == .active else {
            throw CofferError(.invalidInput, "The credential \(info.id) is already revoked.")
        }
        var operations: [ModelOperation] = []
        if info.isDefault { operations.append(.clearDefault(id: info.id)) }
        operations.append(.revokeCredential(id: info.id))
        return Plan(operations: operations, value: info.id)
    }

    /// Reinstates a revoked credential: active again, it resolves as it did before its
    /// revocation, through the assignments it kept. Its default mark, cleared by the
    /// revocation, is not given back: mark it again with an update.
    /// - Throws: `.invalidInput` when it is not revoked, `.notFound`/`.ambiguous` for the selector.
    public func reinstateCredential(_ selector: String, in organization: String) throws(CofferError)
        -> Plan<CredentialID>
    {
        let (_, info) = try select(selector, in: organization)
        guard info.state == .revoked else {
            throw CofferError(.invalidInput, "The credential \(info.appKey)/\(info.slug) (\(info.id)) is not revoked.")
        }
        return Plan(operations: [.reinstateCredential(id: info.id)], value: info.id)
    }

    /// Pins a credential to a consumer for the credential's app key, replacing the consumer's
    /// previous assignment for that app.
    /// - Throws: `.invalidInput` for a bad target or a revoked credential,
    ///   `.notFound`/`.ambiguous` for the selector.
    public func assign(_ selector: String, to target: AssignmentTarget, in organization: String) throws(CofferError)
        -> Plan<AssignmentInfo>
    {
        let (organizationID, info) = try select(selector, in: organization)
        try target.check()
        guard info.state == .active else {
            throw CofferError(.invalidInput, "The credential \(info.id) is revoked and cannot be assigned.")
        }
        let assignment = AssignmentInfo(
            organization: organizationID, target: target, appKey: info.appKey, credential: info.id)
        var operations: [ModelOperation] = []
        if let current = index.assignment(organization: organizationID, target: target, appKey: info.appKey) {
            guard current.credential != info.id else { return Plan(operations: [], value: assignment) }
            operations.append(.unassign(organization: organizationID, target: target, appKey: info.appKey))
        }
        operations.append(
            .assign(organization: organizationID, target: target, appKey: info.appKey, credential: info.id))
        return Plan(operations: operations, value: assignment)
    }

    /// Removes a consumer's assignment for an app key.
    /// - Throws: `.notFound` when there is none.
    public func unassign(_ target: AssignmentTarget, appKey: String, in organization: String) throws(CofferError)
        -> Plan<Void>
    {
        let organizationID = try index.organizationID(organization)
        guard index.assignment(organization: organizationID, target: target, appKey: appKey) != nil else {
            throw CofferError(.notFound, "No assignment of `\(appKey)` exists for \(target).")
        }
        return Plan(operations: [.unassign(organization: organizationID, target: target, appKey: appKey)], value: ())
    }

    // MARK: - Helpers

    private func select(_ selector: String, in organization: String) throws(CofferError) -> (
        OrganizationID, CredentialInfo
    ) {
        let organizationID = try index.organizationID(organization)
        let id = try index.selectCredential(selector, in: organizationID)
        guard let info = index.credential(id: id) else { preconditionFailure("selected credential vanished") }
        return (organizationID, info)
    }

    private func scopeOwner(_ target: ScopeTarget, in organization: OrganizationID) throws(CofferError) -> ScopeOwner {
        switch target {
        case .organization:
            return .organization(organization)
        case .project(let reference):
            return .project(try index.projectID(reference, in: organization))
        case .user(let reference):
            let user = try index.userID(reference)
            guard index.role(of: user, in: organization) != nil else {
                throw CofferError(
                    .invalidInput,
                    "The user `\(reference)` is not a member of the organization. Add the membership first.")
            }
            return .user(user)
        }
    }

    /// An `ssh_key`'s `public_key`, when given, must be the public half of its `private_key`
    /// where that can be told (an OpenSSH private key holds its public key unencrypted): a
    /// pair that does not match would fail at the server it is meant for. A writer's rule on
    /// what it stores, not a rule apply enforces, so vaults written before it stay readable.
    package static func checkKeyPair(_ fields: FieldValues, of type: CredentialType) throws(CofferError) {
        guard type == .sshKey, let privateKey = fields["private_key"], let publicKey = fields["public_key"] else {
            return
        }
        let matches = privateKey.withUnsafeBytes { privateKey in
            publicKey.withUnsafeBytes { PrivateKeyPreview.publicKey($0, matches: privateKey) }
        }
        guard matches != false else {
            throw CofferError(
                .invalidInput,
                "The public_key (given, or kept from the stored version) is not the public half of the private_key. Give the matching public key (ssh-keygen -y -f KEY prints it), or clear public_key."
            )
        }
    }

    private func ownerName(_ owner: ScopeOwner) -> String {
        switch owner {
        case .organization(let id): "organization \(index.organization(id: id)?.slug ?? id.description)"
        case .project(let id): "project \(index.project(id: id)?.slug ?? id.description)"
        case .user(let id): "user \(index.user(id: id)?.handle ?? id.description)"
        }
    }

    /// The new version after merging `given` and `cleared` into the stored fields, or `nil`
    /// when no value actually changes.
    private func newVersion(
        of info: CredentialInfo, given: FieldValues, cleared: Set<String>, reason: VersionReason,
        mergingMembers: Bool = false, reveal: OperationReader
    ) throws(CofferError) -> CredentialFieldsChange? {
        guard info.state == .active else {
            throw CofferError(
                .invalidInput,
                "The credential \(info.id) is revoked; its fields cannot change. Reinstate it first (`coffer credentials restore`; through the library, `Planner.reinstateCredential`), then change them."
            )
        }
        let type = info.type
        if type == .custom, (given.names + cleared).contains(where: { $0 != CustomObject.field }) {
            guard given[CustomObject.field] == nil, !cleared.contains(CustomObject.field) else {
                throw CofferError(
                    .invalidInput,
                    "Give a custom credential's object whole as `json`, or edit its members, not both.")
            }
            return try newMembers(of: info, reason: reason, reveal: reveal) { stored throws(CofferError) in
                try CustomObject.edit(stored, setting: given, clearing: cleared)
            }
        }
        if type == .custom, mergingMembers, let object = given[CustomObject.field] {
            guard cleared.isEmpty else {
                throw CofferError(.invalidInput, "A custom object merged into the stored one clears nothing.")
            }
            _ = try FieldValidation.check(given, of: type)
            return try newMembers(of: info, reason: reason, reveal: reveal) { stored throws(CofferError) in
                try CustomObject.merge(stored, with: object)
            }
        }
        try FieldValidation.checkNames(given.names + cleared.sorted(), of: type)
        for spec in type.fields where cleared.contains(spec.name) {
            guard !spec.isRequired else {
                throw CofferError(
                    .invalidInput,
                    "The `\(spec.name)` field is required for \(type.word) credentials and cannot be cleared.")
            }
            guard given[spec.name] == nil else {
                throw CofferError(
                    .invalidInput, "The `\(spec.name)` field is both given and cleared. Do one or the other.")
            }
        }
        let current = try storedFields(of: info, reveal: reveal)
        var merged = current
        var changed: [String] = []
        for spec in type.fields {
            if let value = given[spec.name] {
                if current[spec.name].map({ $0 != value }) ?? true { changed.append(spec.name) }
                merged[spec.name] = value
            } else if cleared.contains(spec.name), current[spec.name] != nil {
                changed.append(spec.name)
                merged[spec.name] = nil
            }
        }
        guard !changed.isEmpty else { return nil }
        _ = try FieldValidation.check(merged, of: type)
        try Self.checkKeyPair(merged, of: type)
        // A custom object given whole (or rolled back to) lists the members it changed, as an
        // edit of members does (OP-CRED-VERSION-1), when they fit.
        if type == .custom, changed == [CustomObject.field], let old = current[CustomObject.field],
            let new = merged[CustomObject.field], let members = CustomObject.changedMembers(from: old, to: new),
            members.count < FieldValidation.fieldCountMax
        {
            changed += members.map { CustomObject.memberPrefix + $0 }
        }
        return CredentialFieldsChange(
            id: info.id, reason: reason, version: info.version + 1, changedFields: changed, fields: merged)
    }

    /// The new version of a `custom` credential after `edit` of its stored object's members
    /// (OPS-FIELD-CUSTOM: given members set, blank ones kept, cleared ones removed, the rest
    /// untouched; or another object's members merged in); `nil` when no member changes. The
    /// changed names are `json` and then `json.MEMBER` for each member that changed, or `json`
    /// alone when more than fit (OP-CRED-VERSION-1).
    private func newMembers(
        of info: CredentialInfo, reason: VersionReason, reveal: OperationReader,
        _ edit: (SecureBytes) throws(CofferError) -> (object: SecureBytes, changed: [String])
    ) throws(CofferError) -> CredentialFieldsChange? {
        let current = try storedFields(of: info, reveal: reveal)
        guard let stored = current[CustomObject.field] else {
            throw CofferError(.corrupted, "Version \(info.version) of \(info.id) has no `json` field.")
        }
        let (object, members) = try edit(stored)
        guard !members.isEmpty else { return nil }
        let merged = FieldValues([CustomObject.field: object])
        _ = try FieldValidation.check(merged, of: info.type)
        let listed = members.count < FieldValidation.fieldCountMax ? members.map { CustomObject.memberPrefix + $0 } : []
        return CredentialFieldsChange(
            id: info.id, reason: reason, version: info.version + 1, changedFields: [CustomObject.field] + listed,
            fields: merged)
    }

    private func storedFields(of info: CredentialInfo, reveal: OperationReader) throws(CofferError) -> FieldValues {
        let operation = try reveal(info.currentLocation)
        let stored = try ModelOperation.decodeCredentialFields(from: operation).get()
        guard stored.credential == info.id, stored.version == info.version else {
            throw CofferError(
                .corrupted,
                "The log record at \(info.currentLocation) does not hold version \(info.version) of \(info.id).")
        }
        return stored.fields
    }
}
