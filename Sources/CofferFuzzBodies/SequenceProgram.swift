import Coffer

/// The steps of a ``FuzzTarget/operationSequence`` program. Each step is one opcode byte
/// (taken modulo the number of opcodes) followed by the argument bytes its opcode reads;
/// an argument past the end of the input reads as 0.
///
/// Arguments are small numbers choosing among the few fixed names of ``SequenceVocabulary``,
/// so that steps keep hitting objects earlier steps made.
enum SequenceOpcode: UInt8, CaseIterable, Sendable {
    /// organization
    case createOrganization
    /// organization, project
    case createProject
    /// user
    case createUser
    /// organization, user, action: 0–2 add with role owner, admin, builder; 3–5 change to it
    case membership
    /// organization, user
    case removeMember
    /// organization, app, slug, type, scope mask, default (bit 0), one value per field
    case createCredential
    /// organization, credential, flags, one value per field (see ``SequenceRun/updateCredential(_:)``)
    case updateCredential
    /// organization, credential, one value per field
    case rotateCredential
    /// organization, credential
    case revokeCredential
    /// organization, credential
    case deleteCredential
    /// organization, credential, consumer
    case assign
    /// organization, consumer, app
    case unassign
    /// organization, creator
    case createAPIKey
    /// organization, API key, acting user
    case revokeAPIKey
    /// organization, app, context, pin and consumer, selection
    case resolve
    /// credential, version
    case reveal
    /// (none)
    case rotateDataKey
    /// secret
    case addKeyslot
    /// keyslot id
    case removeKeyslot
    /// secret, wrong secret first (bit 7)
    case reopen
    /// re-encrypt (bit 0)
    case compact
    /// retention choice
    case setRetention
    /// organization, project
    case removeProject
    /// user
    case removeUser
    /// organization, cascade (bit 0)
    case removeOrganization
    /// organization, credential
    case reinstateCredential
    /// organization, credential, slug
    case changeCredentialSlug
}

/// The fixed names and values a program chooses among.
enum SequenceVocabulary {
    static let organizations = ["acme", "beta"]
    static let projects = ["web", "data"]
    static let users = ["ann", "bob", "cy"]
    /// `exa` and `EXA` are two apps (OPS-TEXT-APPKEY compares byte for byte).
    static let apps = ["exa", "slack", "EXA"]
    static let slugs = ["work", "home", "ci"]
    static let roles: [Role] = [.owner, .admin, .builder]
    /// A token, a type with a non-secret field, and a type with optional fields to clear.
    static let types: [CredentialType] = [.apiToken, .usernamePassword, .sshKey]
    /// Bit `i` of a create's scope mask asks for an instance at scope `i`; no bit, the
    /// organization.
    static let scopes: [ScopeTarget] = [.organization, .project("web"), .project("data"), .user("ann"), .user("bob")]
    static let targets = [
        AssignmentTarget(kind: .agent, slug: "helper"), AssignmentTarget(kind: .workflow, slug: "deploy"),
    ]
    static let consumers = ["*", "search", "fetch"]
    static let retentions = [1, 2, 3, 10]
    static let labels = ["Primary", "Fallback"]

    /// An assignment target with its consumer: `choice` modulo 6.
    static func consumer(_ choice: Int) -> AssignmentTarget {
        var target = targets[choice % targets.count]
        target.consumer = consumers[(choice / targets.count) % consumers.count]
        return target
    }

    /// Value choices: 0 is blank (not given), 7 is a value its field's rule refuses, the rest
    /// are three valid values.
    static let valueChoices = 8

    /// The value of `field` for a value choice; empty for a blank.
    static func value(_ field: String, _ choice: Int) -> [UInt8] {
        let choice = choice % valueChoices
        if choice == 0 { return [] }
        if choice == valueChoices - 1 { return invalidValue(field) }
        let number = (choice - 1) % 3 + 1
        switch field {
        case "username": return Array("user-\(number)".utf8)
        case "private_key":
            return Array("-----BEGIN OPENSSH PRIVATE KEY-----\nkey-\(number)\n-----END OPENSSH PRIVATE KEY-----".utf8)
        case "public_key": return Array("ssh-ed25519 AAAA\(number) host".utf8)
        default: return Array("\(field)-secret-\(number)-0123456789".utf8)
        }
    }

    /// A value `field`'s rule refuses (OPS-FIELD-TEXT, the line, private and public key rules).
    static func invalidValue(_ field: String) -> [UInt8] {
        switch field {
        case "username": return Array("two\nlines".utf8)
        case "private_key": return Array("not a key".utf8)
        case "public_key": return Array("rsa AAAA".utf8)
        default: return Array("nul\u{0}inside".utf8)
        }
    }

    /// Whether `field`'s rule accepts a non-blank value of the vocabulary.
    static func isValid(_ field: String, _ value: [UInt8]) -> Bool {
        value != invalidValue(field)
    }

    /// The secrets a keyslot may hold: three key files and two passphrases. Secret 0 is the
    /// one the vault is created with.
    static let secretCount = 5

    static func secret(_ choice: Int) -> Keyslot.Secret {
        switch choice % secretCount {
        case 0: FuzzFixtures.keyFile
        case 1: .keyFile(SecureBytes(copying: FuzzFixtures.otherKeyFileBytes))
        case 2: .keyFile(SecureBytes(copying: (0..<32).map { 0x90 ^ UInt8($0) }))
        case 3: .passphrase(SecureBytes(copying: FuzzFixtures.passphrase))
        default: .passphrase(SecureBytes(copying: Array("tr0ub4dor&3".utf8)))
        }
    }
}

/// Reads a program's bytes; past the end every read is 0.
struct ProgramReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position >= bytes.count }

    mutating func next() -> Int {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return Int(bytes[position])
    }

    /// The next byte as a choice among `count`.
    mutating func choose(_ count: Int) -> Int { next() % count }
}

/// Writes programs for the seed corpus: one opcode and its arguments per step.
struct ProgramWriter {
    private(set) var bytes: [UInt8] = []

    mutating func step(_ opcode: SequenceOpcode, _ arguments: Int...) {
        bytes.append(opcode.rawValue)
        bytes += arguments.map { UInt8(truncatingIfNeeded: $0) }
    }
}
