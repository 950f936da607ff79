import CofferCrypto
import CofferErrors
import CofferFormat

/// The operation codes of a transaction (FORMAT.md, "Operations"). The high byte groups
/// codes by entity; codes are never reused.
public enum OperationCode: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// ``ModelOperation/setVersionRetention(count:)``
    case setVersionRetention = 0x0001
    /// ``ModelOperation/createOrganization(id:slug:name:)``
    case createOrganization = 0x0101
    /// ``ModelOperation/renameOrganization(id:slug:name:)``
    case renameOrganization = 0x0102
    /// ``ModelOperation/removeOrganization(id:)``
    case removeOrganization = 0x0103
    /// ``ModelOperation/createProject(id:organization:slug:name:)``
    case createProject = 0x0201
    /// ``ModelOperation/renameProject(id:slug:name:)``
    case renameProject = 0x0202
    /// ``ModelOperation/removeProject(id:)``
    case removeProject = 0x0203
    /// ``ModelOperation/createUser(id:handle:displayName:)``
    case createUser = 0x0301
    /// ``ModelOperation/renameUser(id:handle:displayName:)``
    case renameUser = 0x0302
    /// ``ModelOperation/removeUser(id:)``
    case removeUser = 0x0303
    /// ``ModelOperation/addMembership(user:organization:role:)``
    case addMembership = 0x0401
    /// ``ModelOperation/changeMembershipRole(user:organization:role:)``
    case changeMembershipRole = 0x0402
    /// ``ModelOperation/removeMembership(user:organization:)``
    case removeMembership = 0x0403
    /// ``ModelOperation/createCredential(_:)``
    case createCredential = 0x0501
    /// ``ModelOperation/relabelCredential(id:label:)``
    case relabelCredential = 0x0502
    /// ``ModelOperation/setCredentialFields(_:)``
    case setCredentialFields = 0x0503
    /// ``ModelOperation/revokeCredential(id:)``
    case revokeCredential = 0x0504
    /// ``ModelOperation/deleteCredential(id:)``
    case deleteCredential = 0x0505
    /// ``ModelOperation/setDefault(id:)``
    case setDefault = 0x0506
    /// ``ModelOperation/clearDefault(id:)``
    case clearDefault = 0x0507
    /// ``ModelOperation/reinstateCredential(id:)``
    case reinstateCredential = 0x0508
    /// ``ModelOperation/changeCredentialSlug(id:slug:)``
    case changeCredentialSlug = 0x0509
    /// ``ModelOperation/assign(organization:target:appKey:credential:)``
    case assign = 0x0601
    /// ``ModelOperation/unassign(organization:target:appKey:)``
    case unassign = 0x0602
    /// ``ModelOperation/createAPIKey(_:)``
    case createAPIKey = 0x0701
    /// ``ModelOperation/revokeAPIKey(id:)``
    case revokeAPIKey = 0x0702
    /// ``ModelOperation/deleteAPIKey(id:)``
    case deleteAPIKey = 0x0703
    // Restore operations take low bytes from 0x80 in their entity's group (§9.15).
    /// ``ModelOperation/restoreOrganization(id:slug:name:created:)``
    case restoreOrganization = 0x0180
    /// ``ModelOperation/restoreProject(id:organization:slug:name:created:)``
    case restoreProject = 0x0280
    /// ``ModelOperation/restoreUser(id:handle:displayName:created:)``
    case restoreUser = 0x0380
    /// ``ModelOperation/restoreCredential(_:)``
    case restoreCredential = 0x0580
    /// ``ModelOperation/restoreCredentialHistory(id:changes:)``
    case restoreCredentialHistory = 0x0581
    /// ``ModelOperation/restoreVersion(id:version:fields:)``
    case restoreVersion = 0x0582
    /// ``ModelOperation/restoreAssignment(organization:target:appKey:credential:)``
    case restoreAssignment = 0x0680
    /// ``ModelOperation/restoreAPIKey(_:)``
    case restoreAPIKey = 0x0780

    /// The code in hex, e.g. `0x0501`.
    public var description: String {
        let hex = String(rawValue, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}

extension ModelOperation {
    /// The operation's code.
    public var code: OperationCode {
        switch self {
        case .setVersionRetention: .setVersionRetention
        case .createOrganization: .createOrganization
        case .renameOrganization: .renameOrganization
        case .removeOrganization: .removeOrganization
        case .createProject: .createProject
        case .renameProject: .renameProject
        case .removeProject: .removeProject
        case .createUser: .createUser
        case .renameUser: .renameUser
        case .removeUser: .removeUser
        case .addMembership: .addMembership
        case .changeMembershipRole: .changeMembershipRole
        case .removeMembership: .removeMembership
        case .createCredential: .createCredential
        case .relabelCredential: .relabelCredential
        case .setCredentialFields: .setCredentialFields
        case .revokeCredential: .revokeCredential
        case .deleteCredential: .deleteCredential
        case .setDefault: .setDefault
        case .clearDefault: .clearDefault
        case .reinstateCredential: .reinstateCredential
        case .changeCredentialSlug: .changeCredentialSlug
        case .assign: .assign
        case .unassign: .unassign
        case .createAPIKey: .createAPIKey
        case .revokeAPIKey: .revokeAPIKey
        case .deleteAPIKey: .deleteAPIKey
        case .restoreOrganization: .restoreOrganization
        case .restoreProject: .restoreProject
        case .restoreUser: .restoreUser
        case .restoreCredential: .restoreCredential
        case .restoreCredentialHistory: .restoreCredentialHistory
        case .restoreVersion: .restoreVersion
        case .restoreAssignment: .restoreAssignment
        case .restoreAPIKey: .restoreAPIKey
        }
    }

    /// Encodes the operation as a code and a body in protected memory (FORMAT.md,
    /// "Operations").
    ///
    /// Strings must fit their `u16` length prefix: run ``VaultIndex/validate(_:context:)``
    /// first, which checks every length; planner output always fits.
    public func encode() -> Operation {
        var body = OperationBodyWriter()
        writeBody(into: &body)
        return Operation(code: code.rawValue, body: body.finish())
    }

    /// The number of bytes of the body ``encode()`` would write, counted without writing
    /// them (no secret is copied). Compaction sizes its transactions with it.
    public var encodedBodyByteCount: Int {
        var counter = OperationBodyCounter()
        writeBody(into: &counter)
        return counter.count
    }

    private func writeBody(into body: inout some OperationBodySink) {
        switch self {
        case .setVersionRetention(let count):
            body.write(count)
        case .createOrganization(let id, let slug, let name), .renameOrganization(let id, let slug, let name):
            body.write(id)
            body.writeString(slug)
            body.writeString(name)
        case .removeOrganization(let id):
            body.write(id)
        case .createProject(let id, let organization, let slug, let name):
            body.write(id)
            body.write(organization)
            body.writeString(slug)
            body.writeString(name)
        case .renameProject(let id, let slug, let name):
            body.write(id)
            body.writeString(slug)
            body.writeString(name)
        case .removeProject(let id):
            body.write(id)
        case .createUser(let id, let handle, let displayName), .renameUser(let id, let handle, let displayName):
            body.write(id)
            body.writeString(handle)
            body.writeString(displayName)
        case .removeUser(let id):
            body.write(id)
        case .addMembership(let user, let organization, let role),
            .changeMembershipRole(let user, let organization, let role):
            body.write(user)
            body.write(organization)
            body.write(role)
        case .removeMembership(let user, let organization):
            body.write(user)
            body.write(organization)
        case .createCredential(let new):
            body.write(new.metadata)
            body.write(new.fields)
        case .relabelCredential(let id, let label):
            body.write(id)
            body.writeString(label)
        case .setCredentialFields(let change):
            body.write(change.id)
            body.write(change.reason)
            body.write(change.version)
            precondition(change.changedFields.count <= Int(UInt8.max), "too many changed fields to encode")
            body.write(UInt8(change.changedFields.count))
            for name in change.changedFields { body.writeString(name) }
            body.write(change.fields)
        case .revokeCredential(let id), .deleteCredential(let id), .setDefault(let id), .clearDefault(let id),
            .reinstateCredential(let id):
            body.write(id)
        case .changeCredentialSlug(let id, let slug):
            body.write(id)
            body.writeString(slug)
        case .assign(let organization, let target, let appKey, let credential):
            Self.writeAssignmentKey(&body, organization, target, appKey)
            body.write(credential)
        case .unassign(let organization, let target, let appKey):
            Self.writeAssignmentKey(&body, organization, target, appKey)
        case .createAPIKey(let new):
            body.write(new.metadata)
        case .revokeAPIKey(let id), .deleteAPIKey(let id):
            body.write(id)
        // Restore operations (§9.15).
        case .restoreOrganization(let id, let slug, let name, let created):
            body.write(id)
            body.writeString(slug)
            body.writeString(name)
            body.write(created)
        case .restoreProject(let id, let organization, let slug, let name, let created):
            body.write(id)
            body.write(organization)
            body.writeString(slug)
            body.writeString(name)
            body.write(created)
        case .restoreUser(let id, let handle, let displayName, let created):
            body.write(id)
            body.writeString(handle)
            body.writeString(displayName)
            body.write(created)
        case .restoreCredential(let restored):
            body.write(restored.metadata)
            body.write(restored.state)
            body.write(UInt8(restored.isDefault ? 1 : 0))
            body.write(restored.changes)
            body.write(restored.fields)
        case .restoreCredentialHistory(let id, let changes):
            body.write(id)
            body.write(changes)
        case .restoreVersion(let id, let version, let fields):
            body.write(id)
            body.write(version)
            body.write(fields)
        case .restoreAssignment(let organization, let target, let appKey, let credential):
            Self.writeAssignmentKey(&body, organization, target, appKey)
            body.write(credential)
        case .restoreAPIKey(let restored):
            body.write(restored.metadata)
            body.write(restored.created)
            if let revoked = restored.revoked {
                body.write(CredentialState.revoked)
                body.write(revoked)
            } else {
                body.write(CredentialState.active)
            }
        }
    }

    static func writeAssignmentKey(
        _ body: inout some OperationBodySink, _ organization: OrganizationID, _ target: AssignmentTarget,
        _ appKey: String
    ) {
        body.write(organization)
        body.write(target.kind)
        body.writeString(target.slug)
        body.writeString(target.consumer)
        body.writeString(appKey)
    }

    /// Decodes an operation read from a transaction.
    ///
    /// Decoding checks structure only (lengths, known codes and enumeration values, field
    /// name order, no trailing bytes); ``VaultIndex/apply(_:context:)`` checks meaning.
    /// - Returns: the operation, or `.unsupportedVersion` for an unknown code and
    ///   `.invalidInput` for a malformed body. Never traps on hostile bytes.
    public static func decode(_ operation: Operation) -> Result<ModelOperation, CofferError> {
        reading(operation) { code, body throws(CofferError) in try decodeBody(code, &body) }
    }

    /// Runs `read` over the operation's body, then checks that every byte was read
    /// (OPS-DEC-1); `.unsupportedVersion` for an unknown code.
    private static func reading<Value>(
        _ operation: Operation, _ read: (OperationCode, inout OperationBodyReader) throws(CofferError) -> Value
    ) -> Result<Value, CofferError> {
        operation.body.withUnsafeBytes { reading(code: operation.code, body: $0, read) }
    }

    /// ``reading(_:_:)`` of the operation with `code` whose body is `bytes`.
    private static func reading<Value>(
        code rawCode: UInt16, body bytes: UnsafeRawBufferPointer, checksSkippedStrings: Bool = false,
        _ read: (OperationCode, inout OperationBodyReader) throws(CofferError) -> Value
    ) -> Result<Value, CofferError> {
        guard let code = OperationCode(rawValue: rawCode) else {
            return .failure(
                CofferError(.unsupportedVersion, "Operation code \(rawCode) is unknown to this version of Coffer."))
        }
        return Result { () throws(CofferError) -> Value in
            var body = OperationBodyReader(bytes, code: code, checksSkippedStrings: checksSkippedStrings)
            let value = try read(code, &body)
            try body.finish()
            return value
        }
    }

    /// Decodes the field values of a version from the operation that stored it, for reveal.
    ///
    /// The engine reads the record at a version's ``CredentialVersion/location``, decrypts
    /// it, and passes the operation at that position here (a reveal, the operation's code and
    /// body where they lie in the decrypted record: ``decodeCredentialFields(code:body:)``). A
    /// version's values are in a create credential or set credential fields operation, or
    /// after a compaction in a restore credential (its current version) or restore version
    /// operation.
    /// - Returns: the credential, version and field values; `.invalidInput` when the
    ///   operation does not store a credential version.
    ///
    /// It gives what ``decode(_:)`` gives, but builds only what it returns: the rest of the
    /// body is checked where it lies, its strings never made `String`s (a reveal reads one
    /// record per call). It accepts what `decode(_:)` accepts, and one thing more: the strings
    /// it steps over (the app key, slug and label, the names of changed fields) are not checked
    /// as UTF-8 — the record authenticated, its writer checked them, and those bytes reach no
    /// caller; field names, which do, are.
    public static func decodeCredentialFields(from operation: Operation) -> Result<StoredCredentialFields, CofferError>
    {
        operation.body.withUnsafeBytes { decodeCredentialFields(code: operation.code, body: $0) }
    }

    /// ``decodeCredentialFields(from:)`` checking the UTF-8 of the strings it steps over too,
    /// as ``decode(_:)`` does: it then accepts exactly what decode accepts, and refuses the
    /// rest with decode's error (the fuzzers compare the two on every input).
    package static func decodeCredentialFieldsCheckingSkippedStrings(from operation: Operation) -> Result<
        StoredCredentialFields, CofferError
    > {
        operation.body.withUnsafeBytes {
            decodeCredentialFields(code: operation.code, body: $0, checksSkippedStrings: true)
        }
    }

    /// ``decodeCredentialFields(from:)`` of the operation with `code` whose body is `body`,
    /// read where it lies (a reveal reads it in the decrypted record); `checksSkippedStrings`
    /// as ``decodeCredentialFieldsCheckingSkippedStrings(from:)``.
    package static func decodeCredentialFields(
        code: UInt16, body: UnsafeRawBufferPointer, checksSkippedStrings: Bool = false
    ) -> Result<StoredCredentialFields, CofferError> {
        reading(code: code, body: body, checksSkippedStrings: checksSkippedStrings) {
            code, body throws(CofferError) -> StoredCredentialFields in
            switch code {
            case .createCredential:
                let id: CredentialID = try body.readID("the id")
                try body.skipCredentialMetadataAfterID()
                return StoredCredentialFields(credential: id, version: 1, fields: try body.readFields())
            case .setCredentialFields:
                let id: CredentialID = try body.readID("the id")
                _ = try body.readWord(VersionReason.self, "the reason")
                let version = try body.read(UInt32.self, "the version")
                let changedCount = try body.read(UInt8.self, "the changed field count")
                guard Int(changedCount) <= FieldValidation.fieldCountMax else {
                    throw body.malformed("it lists \(changedCount) changed fields")
                }
                for _ in 0..<changedCount { try body.skipString("a changed field name") }
                return StoredCredentialFields(credential: id, version: version, fields: try body.readFields())
            case .restoreCredential:
                let id: CredentialID = try body.readID("the id")
                try body.skipCredentialMetadataAfterID()
                _ = try body.readWord(CredentialState.self, "the state")
                _ = try body.readFlag("the default flag")
                // The current version is the one after the latest change (RestoredCredential.version).
                let version = try body.readChanges().last?.version ?? 0
                return StoredCredentialFields(credential: id, version: version, fields: try body.readFields())
            case .restoreVersion:
                let id: CredentialID = try body.readID("the id")
                let version = try body.read(UInt32.self, "the version")
                return StoredCredentialFields(credential: id, version: version, fields: try body.readFields())
            default:
                throw CofferError(.invalidInput, "Operation \(code) does not store credential fields.")
            }
        }
    }

    private static func decodeBody(_ code: OperationCode, _ body: inout OperationBodyReader) throws(CofferError)
        -> ModelOperation
    {
        switch code {
        case .setVersionRetention:
            return .setVersionRetention(count: try body.read(UInt16.self, "the count"))
        case .createOrganization:
            return .createOrganization(
                id: try body.readID("the id"), slug: try body.readString("the slug"),
                name: try body.readString("the name"))
        case .renameOrganization:
            return .renameOrganization(
                id: try body.readID("the id"), slug: try body.readString("the slug"),
                name: try body.readString("the name"))
        case .removeOrganization:
            return .removeOrganization(id: try body.readID("the id"))
        case .createProject:
            return .createProject(
                id: try body.readID("the id"), organization: try body.readID("the organization"),
                slug: try body.readString("the slug"), name: try body.readString("the name"))
        case .renameProject:
            return .renameProject(
                id: try body.readID("the id"), slug: try body.readString("the slug"),
                name: try body.readString("the name"))
        case .removeProject:
            return .removeProject(id: try body.readID("the id"))
        case .createUser:
            return .createUser(
                id: try body.readID("the id"), handle: try body.readString("the handle"),
                displayName: try body.readString("the display name"))
        case .renameUser:
            return .renameUser(
                id: try body.readID("the id"), handle: try body.readString("the handle"),
                displayName: try body.readString("the display name"))
        case .removeUser:
            return .removeUser(id: try body.readID("the id"))
        case .addMembership:
            return .addMembership(
                user: try body.readID("the user"), organization: try body.readID("the organization"),
                role: try body.readWord(Role.self, "the role"))
        case .changeMembershipRole:
            return .changeMembershipRole(
                user: try body.readID("the user"), organization: try body.readID("the organization"),
                role: try body.readWord(Role.self, "the role"))
        case .removeMembership:
            return .removeMembership(
                user: try body.readID("the user"), organization: try body.readID("the organization"))
        case .createCredential:
            let metadata = try body.readCredentialMetadata()
            return .createCredential(NewCredential(metadata, fields: try body.readFields()))
        case .relabelCredential:
            return .relabelCredential(id: try body.readID("the id"), label: try body.readString("the label"))
        case .setCredentialFields:
            let id: CredentialID = try body.readID("the id")
            let reason = try body.readWord(VersionReason.self, "the reason")
            let version = try body.read(UInt32.self, "the version")
            let changedCount = try body.read(UInt8.self, "the changed field count")
            guard Int(changedCount) <= FieldValidation.fieldCountMax else {
                throw body.malformed("it lists \(changedCount) changed fields")
            }
            var changed: [String] = []
            for _ in 0..<changedCount { changed.append(try body.readString("a changed field name")) }
            let fields = try body.readFields()
            return .setCredentialFields(
                CredentialFieldsChange(id: id, reason: reason, version: version, changedFields: changed, fields: fields)
            )
        case .revokeCredential:
            return .revokeCredential(id: try body.readID("the id"))
        case .reinstateCredential:
            return .reinstateCredential(id: try body.readID("the id"))
        case .changeCredentialSlug:
            return .changeCredentialSlug(id: try body.readID("the id"), slug: try body.readString("the slug"))
        case .deleteCredential:
            return .deleteCredential(id: try body.readID("the id"))
        case .setDefault:
            return .setDefault(id: try body.readID("the id"))
        case .clearDefault:
            return .clearDefault(id: try body.readID("the id"))
        case .assign:
            let (organization, target, appKey) = try readAssignmentKey(&body)
            return .assign(
                organization: organization, target: target, appKey: appKey,
                credential: try body.readID("the credential"))
        case .unassign:
            let (organization, target, appKey) = try readAssignmentKey(&body)
            return .unassign(organization: organization, target: target, appKey: appKey)
        case .createAPIKey:
            return .createAPIKey(NewAPIKey(try body.readAPIKeyMetadata()))
        case .revokeAPIKey:
            return .revokeAPIKey(id: try body.readID("the id"))
        case .deleteAPIKey:
            return .deleteAPIKey(id: try body.readID("the id"))
        // Restore operations (§9.15).
        case .restoreOrganization:
            return .restoreOrganization(
                id: try body.readID("the id"), slug: try body.readString("the slug"),
                name: try body.readString("the name"), created: try body.readStamp("the creation stamp"))
        case .restoreProject:
            return .restoreProject(
                id: try body.readID("the id"), organization: try body.readID("the organization"),
                slug: try body.readString("the slug"), name: try body.readString("the name"),
                created: try body.readStamp("the creation stamp"))
        case .restoreUser:
            return .restoreUser(
                id: try body.readID("the id"), handle: try body.readString("the handle"),
                displayName: try body.readString("the display name"),
                created: try body.readStamp("the creation stamp"))
        case .restoreCredential:
            let metadata = try body.readCredentialMetadata()
            let state = try body.readWord(CredentialState.self, "the state")
            let isDefault = try body.readFlag("the default flag")
            let changes = try body.readChanges()
            return .restoreCredential(
                RestoredCredential(
                    metadata, state: state, isDefault: isDefault, changes: changes, fields: try body.readFields()))
        case .restoreCredentialHistory:
            return .restoreCredentialHistory(id: try body.readID("the id"), changes: try body.readChanges())
        case .restoreVersion:
            return .restoreVersion(
                id: try body.readID("the id"), version: try body.read(UInt32.self, "the version"),
                fields: try body.readFields())
        case .restoreAssignment:
            let (organization, target, appKey) = try readAssignmentKey(&body)
            return .restoreAssignment(
                organization: organization, target: target, appKey: appKey,
                credential: try body.readID("the credential"))
        case .restoreAPIKey:
            let metadata = try body.readAPIKeyMetadata()
            let created = try body.readStamp("the creation stamp")
            // The revocation stamp is present exactly when the state says revoked, so each
            // key has one encoding.
            let revoked: ChangeStamp?
            switch try body.readWord(CredentialState.self, "the state") {
            case .active: revoked = nil
            case .revoked: revoked = try body.readStamp("the revocation stamp")
            }
            return .restoreAPIKey(RestoredAPIKey(metadata, created: created, revoked: revoked))
        }
    }

    static func readAssignmentKey(
        _ body: inout OperationBodyReader
    ) throws(CofferError) -> (OrganizationID, AssignmentTarget, String) {
        let organization: OrganizationID = try body.readID("the organization")
        let kind = try body.readWord(TargetKind.self, "the target kind")
        let slug = try body.readString("the target slug")
        let consumer = try body.readString("the consumer")
        let appKey = try body.readString("the app key")
        return (organization, AssignmentTarget(kind: kind, slug: slug, consumer: consumer), appKey)
    }
}

/// The field values of one credential version, decoded for reveal.
public struct StoredCredentialFields: Sendable, Equatable {
    /// The credential the operation belongs to.
    public var credential: CredentialID
    /// The version the operation created.
    public var version: UInt32
    /// Every field value of that version, non-secret ones included.
    public var fields: FieldValues
}
