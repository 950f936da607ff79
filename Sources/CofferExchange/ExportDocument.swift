import Coffer

/// Everything a vault holds, as the JSON export carries it (FORMAT.md §12.1,
/// `schema/export-v1.schema.json`): organizations, projects, users, memberships, credential
/// instances with their history and retained versions, assignments, and platform API keys
/// (metadata only; never their hashes).
///
/// A *revealed* document carries every field value, secret ones included, in ``SecureBytes``;
/// a redacted one carries what the index shows (previews of secret fields, values of the
/// others) and no values of older versions. Only a revealed document can be imported.
///
/// ```swift
/// let document = try ExportDocument.make(from: vault, revealing: true)
/// let bytes = SecretBuffer()
/// document.write(to: bytes)          // canonical: the same state gives the same bytes
/// ```
public struct ExportDocument: Sendable {
    /// The value of the `format` member.
    public static let formatName = "coffer-export"
    /// The value of the `format_version` member this version writes and reads.
    public static let formatVersion: UInt64 = 1

    /// Whether secret values are in the document (else previews).
    public var revealed: Bool
    /// The vault's version retention (OP-VAULT-RETENTION-1).
    public var versionRetention: UInt16
    public var organizations: [Organization]
    public var projects: [Project]
    public var users: [User]
    public var memberships: [Membership]
    public var credentials: [Credential]
    public var assignments: [Assignment]
    public var apiKeys: [APIKey]

    public init(
        revealed: Bool, versionRetention: UInt16, organizations: [Organization] = [], projects: [Project] = [],
        users: [User] = [], memberships: [Membership] = [], credentials: [Credential] = [],
        assignments: [Assignment] = [], apiKeys: [APIKey] = []
    ) {
        self.revealed = revealed
        self.versionRetention = versionRetention
        self.organizations = organizations
        self.projects = projects
        self.users = users
        self.memberships = memberships
        self.credentials = credentials
        self.assignments = assignments
        self.apiKeys = apiKeys
    }

    // What the index answers is what the document carries, for everything but credentials.
    public typealias Organization = OrganizationInfo
    public typealias Project = ProjectInfo
    public typealias User = UserInfo
    public typealias Membership = MembershipInfo
    public typealias Assignment = AssignmentInfo
    /// A platform API key's metadata. The key is nowhere, and its keyed hash stays in the
    /// vault: it is keyed from that vault's unlock key (FORMAT.md §9.11) and would never
    /// verify in another.
    public typealias APIKey = APIKeyInfo

    /// One field of a version: its value (revealed), or what the index shows (redacted: the
    /// preview of a secret field, the value of another).
    public struct Field: Sendable, Equatable {
        public enum Content: Sendable, Equatable {
            case value(SecureBytes)
            case shown(String)
        }

        public var name: String
        public var content: Content
    }

    /// One change of a credential's history: what the index keeps of it but its location.
    public struct Change: Sendable, Hashable {
        public var kind: ChangeKind
        /// The credential's version after the change.
        public var version: UInt32
        /// For a change that made a version, the fields it set (created) or changed;
        /// empty for the others.
        public var fields: [String]
        public var stamp: ChangeStamp
    }

    /// An older version whose values the vault still holds.
    public struct Version: Sendable, Equatable {
        public var version: UInt32
        /// The values, in a revealed document; `nil` in a redacted one.
        public var fields: [Field]?
    }

    /// A credential with its history and retained versions (`credential.appKey` reads
    /// `credential.metadata.appKey`).
    public struct Credential: Sendable, Equatable, CarriesMetadata {
        /// Its id, organization, app key, slug, label, kind, type, category and owner.
        public var metadata: CredentialMetadata
        public var state: CredentialState
        public var isDefault: Bool
        /// The current version.
        public var version: UInt32
        /// The fields of the current version, in schema order.
        public var fields: [Field]
        /// Every change, oldest first.
        public var history: [Change]
        /// The older retained versions, newest first (the current one is ``fields``).
        public var olderVersions: [Version]
    }
}

extension ExportDocument.Field {
    /// The field set of a version, from revealed values.
    static func fields(_ values: FieldValues, of type: CredentialType) -> [ExportDocument.Field] {
        type.fields.compactMap { spec in values[spec.name].map { .init(name: spec.name, content: .value($0)) } }
    }
}

extension Array where Element == ExportDocument.Field {
    /// The values, when every field holds one (a revealed document).
    var fieldValues: FieldValues? {
        var values = FieldValues()
        for field in self {
            guard case .value(let value) = field.content else { return nil }
            values[field.name] = value
        }
        return values
    }
}
