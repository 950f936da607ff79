import Coffer

// The JSON form of the export (FORMAT.md §12.1, schema/export-v1.schema.json).
extension ExportDocument {
    /// The document as a JSON value; ``JSONValue/write(to:)`` gives its canonical bytes.
    public var json: JSONValue {
        [
            "format": .string(Self.formatName),
            "format_version": .unsigned(Self.formatVersion),
            "revealed": .bool(revealed),
            "version_retention": .unsigned(UInt64(versionRetention)),
            "organizations": .array(
                organizations.map {
                    [
                        "id": .string($0.id.description), "slug": .string($0.slug), "name": .string($0.name),
                        "created": stamp($0.created),
                    ]
                }),
            "projects": .array(
                projects.map {
                    [
                        "id": .string($0.id.description), "organization": .string($0.organization.description),
                        "slug": .string($0.slug), "name": .string($0.name), "created": stamp($0.created),
                    ]
                }),
            "users": .array(
                users.map {
                    [
                        "id": .string($0.id.description), "handle": .string($0.handle),
                        "display_name": .string($0.displayName), "created": stamp($0.created),
                    ]
                }),
            "memberships": .array(
                memberships.map {
                    [
                        "user": .string($0.user.description), "organization": .string($0.organization.description),
                        "role": .string($0.role.word),
                    ]
                }),
            "credentials": .array(credentials.map(\.json)),
            "assignments": .array(
                assignments.map {
                    [
                        "organization": .string($0.organization.description),
                        "target": [
                            "kind": .string($0.target.kind.word), "slug": .string($0.target.slug),
                            "consumer": .string($0.target.consumer),
                        ],
                        "app": .string($0.appKey), "credential": .string($0.credential.description),
                    ]
                }),
            "api_keys": .array(
                apiKeys.map { key in
                    var object: [String: JSONValue] = [
                        "id": .string(key.id.description), "organization": .string(key.organization.description),
                        "creator": .string(key.creator.description), "name": .string(key.name),
                        "preview": .string(key.preview), "state": .string(key.state.word),
                        "created": stamp(key.created),
                    ]
                    if let revoked = key.revoked { object["revoked"] = stamp(revoked) }
                    return .object(object)
                }),
        ]
    }

    /// The canonical bytes of the document (X-CANON), appended to `output`.
    public func write(to output: SecretBuffer) {
        json.write(to: output)
    }
}

private func stamp(_ stamp: ChangeStamp) -> JSONValue {
    ["time_ms": .unsigned(stamp.timeMilliseconds), "actor": .string(stamp.actor)]
}

private func fieldsJSON(_ fields: [ExportDocument.Field]) -> JSONValue {
    .object(
        Dictionary(
            uniqueKeysWithValues: fields.map { field in
                switch field.content {
                case .value(let value): (field.name, JSONValue.secret(value))
                case .shown(let text): (field.name, JSONValue.string(text))
                }
            }))
}

extension ExportDocument.Credential {
    var json: JSONValue {
        let ownerID: String
        switch metadata.owner {
        case .organization(let id): ownerID = id.description
        case .project(let id): ownerID = id.description
        case .user(let id): ownerID = id.description
        }
        return [
            "id": .string(metadata.id.description), "organization": .string(metadata.organization.description),
            "app": .string(metadata.appKey), "slug": .string(metadata.slug), "label": .string(metadata.label),
            "kind": .string(metadata.kind.word), "type": .string(metadata.type.word),
            "category": .string(metadata.category.word), "scope": .string(metadata.scope.word),
            "owner": .string(ownerID),
            "state": .string(state.word), "default": .bool(isDefault), "version": .unsigned(UInt64(version)),
            "fields": fieldsJSON(fields),
            "history": .array(
                history.map { change in
                    var object: [String: JSONValue] = [
                        "change": .string(change.kind.word), "version": .unsigned(UInt64(change.version)),
                        "time_ms": .unsigned(change.stamp.timeMilliseconds), "actor": .string(change.stamp.actor),
                    ]
                    if change.kind.makesVersion { object["fields"] = .array(change.fields.map(JSONValue.string)) }
                    return .object(object)
                }),
            "retained_versions": .array(
                olderVersions.map { version in
                    var object: [String: JSONValue] = ["version": .unsigned(UInt64(version.version))]
                    if let fields = version.fields { object["fields"] = fieldsJSON(fields) }
                    return .object(object)
                }),
        ]
    }
}

// MARK: - Reading

extension ExportDocument {
    /// Reads a JSON export and checks that it is one consistent state: the format and its
    /// version, every member's type, unique ids, slugs and handles, and every reference
    /// (a project's organization, a credential's owner, an assignment's credential, …).
    /// Rules of the credential model beyond these (field schemas, history shapes) are checked
    /// by the importer against the engine's rules, with the path of the entity at fault.
    ///
    /// Secret values are decoded from `bytes` straight into ``SecureBytes``.
    ///
    /// - Throws: `.invalidInput` naming the line and column (malformed JSON) or the JSON path
    ///   (`$.credentials[2].owner: …`); `.unsupportedVersion` for another format version.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> ExportDocument {
        let root = try JSONReader.parse(bytes)
        var top = try JSONFields(root, path: [], bytes: bytes)
        guard try top.string("format") == formatName else {
            throw top.failure("format", "expected \"\(formatName)\": this is not a Coffer export")
        }
        let version = try top.unsigned("format_version")
        guard version == formatVersion else {
            throw CofferError(
                .unsupportedVersion,
                "$.format_version: the export has format version \(version); this coffer reads version \(formatVersion)."
            )
        }
        let revealed = try top.bool("revealed")
        let retention = try top.unsigned("version_retention", maximum: UInt64(VaultIndex.versionRetentionMax))
        var document = ExportDocument(revealed: revealed, versionRetention: UInt16(retention))
        var reader = DocumentReader(bytes: bytes, revealed: revealed)

        for (position, element) in try top.array("organizations").enumerated() {
            document.organizations.append(try reader.organization(element, path: ("organizations", position)))
        }
        for (position, element) in try top.array("projects").enumerated() {
            document.projects.append(try reader.project(element, path: ("projects", position)))
        }
        for (position, element) in try top.array("users").enumerated() {
            document.users.append(try reader.user(element, path: ("users", position)))
        }
        for (position, element) in try top.array("memberships").enumerated() {
            document.memberships.append(try reader.membership(element, path: ("memberships", position)))
        }
        for (position, element) in try top.array("credentials").enumerated() {
            document.credentials.append(try reader.credential(element, path: ("credentials", position)))
        }
        for (position, element) in try top.array("assignments").enumerated() {
            document.assignments.append(try reader.assignment(element, path: ("assignments", position)))
        }
        for (position, element) in try top.array("api_keys").enumerated() {
            document.apiKeys.append(try reader.apiKey(element, path: ("api_keys", position)))
        }
        try top.finish()
        return document
    }

    /// The JSON path of an entity of the document, for messages: `$.credentials[3]`.
    public static func path(_ collection: String, _ position: Int) -> String {
        "$.\(collection)[\(position)]"
    }
}

/// Reads the entities of a document in order, keeping what later references are checked
/// against.
private struct DocumentReader {
    let bytes: UnsafeRawBufferPointer
    let revealed: Bool
    var organizations: Set<OrganizationID> = []
    var organizationSlugs: Set<String> = []
    var projects: [ProjectID: OrganizationID] = [:]
    var projectSlugs: Set<[String]> = []
    var users: Set<UserID> = []
    var userHandles: Set<String> = []
    var memberships: Set<[String]> = []
    var credentials: [CredentialID: (OrganizationID, String)] = [:]
    var credentialKeys: Set<[String]> = []
    var assignmentKeys: Set<[String]> = []
    var apiKeys: Set<APIKeyID> = []

    init(bytes: UnsafeRawBufferPointer, revealed: Bool) {
        self.bytes = bytes
        self.revealed = revealed
    }

    func fields(_ element: JSONElement, _ path: (String, Int)) throws(CofferError) -> JSONFields {
        try JSONFields(element, path: [JSONPath.member(path.0), "[\(path.1)]"], bytes: bytes)
    }

    func stamp(_ fields: inout JSONFields, _ name: String) throws(CofferError) -> ChangeStamp {
        var object = try fields.object(name)
        let stamp = ChangeStamp(timeMilliseconds: try object.unsigned("time_ms"), actor: try object.string("actor"))
        try object.finish()
        return stamp
    }

    func organizationReference(_ fields: inout JSONFields, _ name: String = "organization") throws(CofferError)
        -> OrganizationID
    {
        let id = try fields.identifier(name, OrganizationID.self)
        guard organizations.contains(id) else {
            throw fields.failure(name, "no organization of the export has the id \(id)")
        }
        return id
    }

    mutating func organization(_ element: JSONElement, path: (String, Int)) throws(CofferError)
        -> ExportDocument.Organization
    {
        var object = try fields(element, path)
        let id = try object.identifier("id", OrganizationID.self)
        let slug = try object.string("slug")
        guard organizations.insert(id).inserted else {
            throw object.failure("id", "another organization has the id \(id)")
        }
        guard organizationSlugs.insert(slug).inserted else {
            throw object.failure("slug", "another organization has this slug")
        }
        let organization = ExportDocument.Organization(
            id: id, slug: slug, name: try object.string("name"), created: try stamp(&object, "created"))
        try object.finish()
        return organization
    }

    mutating func project(_ element: JSONElement, path: (String, Int)) throws(CofferError) -> ExportDocument.Project {
        var object = try fields(element, path)
        let id = try object.identifier("id", ProjectID.self)
        let organization = try organizationReference(&object)
        let slug = try object.string("slug")
        guard projects[id] == nil else { throw object.failure("id", "another project has the id \(id)") }
        guard projectSlugs.insert([organization.description, slug]).inserted else {
            throw object.failure("slug", "another project of the organization has this slug")
        }
        projects[id] = organization
        let project = ExportDocument.Project(
            id: id, organization: organization, slug: slug, name: try object.string("name"),
            created: try stamp(&object, "created"))
        try object.finish()
        return project
    }

    mutating func user(_ element: JSONElement, path: (String, Int)) throws(CofferError) -> ExportDocument.User {
        var object = try fields(element, path)
        let id = try object.identifier("id", UserID.self)
        let handle = try object.string("handle")
        guard users.insert(id).inserted else { throw object.failure("id", "another user has the id \(id)") }
        guard userHandles.insert(handle).inserted else {
            throw object.failure("handle", "another user has this handle")
        }
        let user = ExportDocument.User(
            id: id, handle: handle, displayName: try object.string("display_name"),
            created: try stamp(&object, "created"))
        try object.finish()
        return user
    }

    mutating func membership(_ element: JSONElement, path: (String, Int)) throws(CofferError)
        -> ExportDocument.Membership
    {
        var object = try fields(element, path)
        let user = try object.identifier("user", UserID.self)
        guard users.contains(user) else { throw object.failure("user", "no user of the export has the id \(user)") }
        let organization = try organizationReference(&object)
        guard memberships.insert([user.description, organization.description]).inserted else {
            throw object.failure("user", "the user is listed twice as a member of this organization")
        }
        let membership = ExportDocument.Membership(
            user: user, organization: organization, role: try object.word("role", Role.self))
        try object.finish()
        return membership
    }

    func fieldSet(_ object: inout JSONFields, _ name: String, type: CredentialType, revealed: Bool) throws(CofferError)
        -> [ExportDocument.Field]
    {
        var set = try object.object(name)
        var fields: [ExportDocument.Field] = []
        for spec in type.fields where set.has(spec.name) {
            let content: ExportDocument.Field.Content =
                revealed ? .value(try set.secret(spec.name)) : .shown(try set.string(spec.name))
            fields.append(ExportDocument.Field(name: spec.name, content: content))
        }
        // The path ends at the set: a name that is not a field is not repeated, in case it is
        // a secret put there by mistake (as `--set` never repeats one).
        if set.names.contains(where: { type.fieldIndex(of: $0) == nil }) {
            throw object.failure(
                name,
                "a name in it is not a field of the \(type.word) type (names that are not fields are not repeated, in case one is a secret); its fields are \(type.fields.map(\.name).joined(separator: ", "))"
            )
        }
        try set.finish()
        return fields
    }

    mutating func credential(_ element: JSONElement, path: (String, Int)) throws(CofferError)
        -> ExportDocument.Credential
    {
        var object = try fields(element, path)
        let id = try object.identifier("id", CredentialID.self)
        guard credentials[id] == nil else { throw object.failure("id", "another credential has the id \(id)") }
        let organization = try organizationReference(&object)
        let appKey = try object.string("app")
        let slug = try object.string("slug")
        let type = try object.word("type", CredentialType.self)
        let scope = try object.word("scope", CredentialScope.self)
        let owner: ScopeOwner
        switch scope {
        case .organization:
            let ownerID = try object.identifier("owner", OrganizationID.self)
            guard ownerID == organization else {
                throw object.failure("owner", "an organization credential is owned by its own organization")
            }
            owner = .organization(ownerID)
        case .project:
            let ownerID = try object.identifier("owner", ProjectID.self)
            guard projects[ownerID] == organization else {
                throw object.failure("owner", "no project of the credential's organization has the id \(ownerID)")
            }
            owner = .project(ownerID)
        case .user:
            let ownerID = try object.identifier("owner", UserID.self)
            guard memberships.contains([ownerID.description, organization.description]) else {
                throw object.failure("owner", "no member of the credential's organization has the id \(ownerID)")
            }
            owner = .user(ownerID)
        }
        guard credentialKeys.insert([organization.description, appKey, owner.description, slug]).inserted else {
            throw object.failure("slug", "another `\(appKey)` credential of the same owner has this slug")
        }
        credentials[id] = (organization, appKey)
        let label = try object.string("label")
        let kind = try object.word("kind", CredentialKind.self)
        let category = try object.word("category", CredentialCategory.self)
        let state = try object.word("state", CredentialState.self)
        let isDefault = try object.bool("default")
        let version = UInt32(try object.unsigned("version", maximum: UInt64(UInt32.max)))
        let fields = try fieldSet(&object, "fields", type: type, revealed: revealed)

        var history: [ExportDocument.Change] = []
        for (position, changeElement) in try object.array("history").enumerated() {
            var change = try JSONFields(changeElement, path: object.path + [".history", "[\(position)]"], bytes: bytes)
            let kind = try change.word("change", ChangeKind.self)
            let changeVersion = UInt32(try change.unsigned("version", maximum: UInt64(UInt32.max)))
            var names: [String] = []
            if kind.makesVersion {
                for (index, name) in try change.array("fields").enumerated() {
                    guard case .string(let slice) = name.value else {
                        throw JSONFields.failure(change.path + [".fields", "[\(index)]"], "expected a field name")
                    }
                    let text = JSONReader.string(slice, in: bytes)
                    guard type.fieldIndex(of: text) != nil, !names.contains(text) else {
                        throw JSONFields.failure(
                            change.path + [".fields", "[\(index)]"],
                            "expected a field of the \(type.word) type, each once")
                    }
                    names.append(text)
                }
            }
            let stamp = ChangeStamp(timeMilliseconds: try change.unsigned("time_ms"), actor: try change.string("actor"))
            try change.finish()
            history.append(ExportDocument.Change(kind: kind, version: changeVersion, fields: names, stamp: stamp))
        }
        guard let last = history.last else { throw object.failure("history", "a credential has at least its creation") }
        guard last.version == version else {
            throw object.failure(
                "version", "the version must be that of the last change of the history, \(last.version)")
        }

        var older: [ExportDocument.Version] = []
        for (position, versionElement) in try object.array("retained_versions").enumerated() {
            var entry = try JSONFields(
                versionElement, path: object.path + [".retained_versions", "[\(position)]"], bytes: bytes)
            let number = UInt32(try entry.unsigned("version", maximum: UInt64(UInt32.max)))
            guard number < (older.last?.version ?? version) else {
                throw entry.failure(
                    "version", "retained versions are older than the current one, newest first, each once")
            }
            let values = revealed ? try fieldSet(&entry, "fields", type: type, revealed: true) : nil
            try entry.finish()
            older.append(ExportDocument.Version(version: number, fields: values))
        }
        try object.finish()
        return ExportDocument.Credential(
            metadata: CredentialMetadata(
                id: id, organization: organization, appKey: appKey, slug: slug, label: label, kind: kind, type: type,
                category: category, owner: owner),
            state: state, isDefault: isDefault, version: version, fields: fields,
            history: history, olderVersions: older)
    }

    mutating func assignment(_ element: JSONElement, path: (String, Int)) throws(CofferError)
        -> ExportDocument.Assignment
    {
        var object = try fields(element, path)
        let organization = try organizationReference(&object)
        var targetFields = try object.object("target")
        let target = AssignmentTarget(
            kind: try targetFields.word("kind", TargetKind.self), slug: try targetFields.string("slug"),
            consumer: try targetFields.string("consumer"))
        try targetFields.finish()
        let appKey = try object.string("app")
        let credential = try object.identifier("credential", CredentialID.self)
        guard let owner = credentials[credential], owner.0 == organization, owner.1 == appKey else {
            throw object.failure("credential", "no `\(appKey)` credential of the organization has the id \(credential)")
        }
        guard
            assignmentKeys.insert([organization.description, target.kind.word, target.slug, target.consumer, appKey])
                .inserted
        else { throw object.failure("target", "another assignment has the same target, consumer and app") }
        try object.finish()
        return ExportDocument.Assignment(
            organization: organization, target: target, appKey: appKey, credential: credential)
    }

    mutating func apiKey(_ element: JSONElement, path: (String, Int)) throws(CofferError) -> ExportDocument.APIKey {
        var object = try fields(element, path)
        let id = try object.identifier("id", APIKeyID.self)
        guard apiKeys.insert(id).inserted else { throw object.failure("id", "another API key has the id \(id)") }
        let organization = try organizationReference(&object)
        let state = try object.word("state", CredentialState.self)
        let revoked = object.has("revoked") ? try stamp(&object, "revoked") : nil
        guard (revoked != nil) == (state == .revoked) else {
            throw object.failure("revoked", "a revoked key has its revocation stamp, an active one none")
        }
        let key = ExportDocument.APIKey(
            id: id, organization: organization, creator: try object.identifier("creator", UserID.self),
            name: try object.string("name"), preview: try object.string("preview"), state: state,
            created: try stamp(&object, "created"), revoked: revoked)
        try object.finish()
        return key
    }
}
