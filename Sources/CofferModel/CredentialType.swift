import CofferCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// The shape of a credential's secret: which fields it has, which are required and which are
/// secret (FORMAT.md, OPS-SCHEMA).
///
/// ```swift
/// CredentialType.smtp.fields.map(\.name)  // ["host", "port", "username", "password", "encryption"]
/// ```
public enum CredentialType: UInt8, ModelWord {
    /// One token (`token`).
    case apiToken = 1
    /// A key and its secret (`api_key`, `api_secret`).
    case apiKeyPair = 2
    /// Basic authentication (`username`, `password`).
    case usernamePassword = 3
    /// Outbound mail (`host`, `port`, `username`, `password`, `encryption`).
    case smtp = 4
    /// An OAuth 2.0 client and its tokens.
    case oauth2 = 5
    /// An SSH key pair (`private_key`, `public_key`, `passphrase`).
    case sshKey = 6
    /// A JSON object (`json`); every value in it is secret.
    case custom = 7

    /// The word used in text: flags, messages, documentation.
    public var word: String {
        switch self {
        case .apiToken: "api_token"
        case .apiKeyPair: "api_key_pair"
        case .usernamePassword: "username_password"
        case .smtp: "smtp"
        case .oauth2: "oauth2"
        case .sshKey: "ssh_key"
        case .custom: "custom"
        }
    }

    /// The fields of this type, in display order. A field's position is its bit in the
    /// change masks the index keeps.
    public var fields: [FieldSpec] {
        switch self {
        case .apiToken:
            [.secret("token", .secretText, preview: .tail)]
        case .apiKeyPair:
            [.secret("api_key", .secretText, preview: .tail), .secret("api_secret", .secretText, preview: .tail)]
        case .usernamePassword:
            [.plain("username", .singleLine), .secret("password", .secretText, preview: .maskOnly)]
        case .smtp:
            [
                .plain("host", .hostname), .plain("port", .port), .plain("username", .singleLine, required: false),
                .secret("password", .secretText, preview: .maskOnly, required: false),
                .plain("encryption", .smtpEncryption),
            ]
        case .oauth2:
            [
                .plain("client_id", .singleLine), .secret("client_secret", .secretText, preview: .tail),
                .secret("access_token", .secretText, preview: .tail),
                .secret("refresh_token", .secretText, preview: .tail),
                .plain("expires_at", .unixSeconds, required: false), .plain("scopes", .oauthScopes, required: false),
            ]
        case .sshKey:
            [
                .secret("private_key", .privateKey, preview: .keyFingerprint),
                .plain("public_key", .publicKey, required: false),
                .secret("passphrase", .secretText, preview: .maskOnly, required: false),
            ]
        case .custom:
            [.secret("json", .jsonObject, preview: .memberNames)]
        }
    }

    /// The position of a field in ``fields``, or `nil` when the type has no such field.
    public func fieldIndex(of name: String) -> Int? {
        fields.firstIndex { $0.name == name }
    }
}

/// One field of a credential type.
public struct FieldSpec: Sendable, Hashable {
    /// The field name, as given on input and recorded in history.
    public let name: String
    /// Whether every version must have a value for it.
    public let isRequired: Bool
    /// Whether the value is secret: only a masked preview is kept in the index.
    public let isSecret: Bool
    /// The syntax the value must have.
    let rule: FieldRule
    /// How a secret value is previewed (OPS-PREVIEW).
    public let preview: PreviewRule

    static func secret(_ name: String, _ rule: FieldRule, preview: PreviewRule, required: Bool = true) -> FieldSpec {
        FieldSpec(name: name, isRequired: required, isSecret: true, rule: rule, preview: preview)
    }

    static func plain(_ name: String, _ rule: FieldRule, required: Bool = true) -> FieldSpec {
        FieldSpec(name: name, isRequired: required, isSecret: false, rule: rule, preview: .shownInFull)
    }

    /// A field name's UTF-8 bytes (at most 16), zero-padded into two words, and their count.
    private struct NameKey: Equatable {
        let first: UInt64
        let second: UInt64
        let count: Int

        /// The key of `bytes`; nil for more than 16 bytes, which no type's field name has.
        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count <= 16 else { return nil }
            var words: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: bytes) }
            (first, second, count) = (words.0, words.1, bytes.count)
        }
    }

    /// The name of every type's fields, once each, with its key: made once and never freed,
    /// and read through a pointer, so that finding a name counts no reference (today's names
    /// are at most 13 bytes, held inline in their `String`s, which hold up to 15). Never
    /// written after it is made, so any thread may read it (`nonisolated(unsafe)`).
    nonisolated(unsafe) private static let knownNames: UnsafeBufferPointer<(key: NameKey, name: String)> = {
        var names: [(key: NameKey, name: String)] = []
        for type in CredentialType.allCases {
            for field in type.fields where !names.contains(where: { $0.name == field.name }) {
                let key = Array(field.name.utf8).withUnsafeBytes { NameKey($0) }
                guard let key else { preconditionFailure("a type's field name is at most 16 bytes") }
                names.append((key, field.name))
            }
        }
        let table = UnsafeMutableBufferPointer<(key: NameKey, name: String)>.allocate(capacity: names.count)
        _ = table.initialize(from: names)
        return UnsafeBufferPointer(table)
    }()

    /// The field name whose UTF-8 bytes are `bytes`, when a type has such a field: a reveal
    /// decodes every field's name, and finding the `String` made once costs less than making
    /// one (validating the bytes again) for each field of each reveal.
    static func knownName(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let key = NameKey(bytes) else { return nil }
        for known in knownNames where known.key == key { return known.name }
        return nil
    }
}

/// How a field's value shows where secrets do not (FORMAT.md, OPS-PREVIEW).
public enum PreviewRule: Sendable, Hashable {
    /// Not secret: the value itself.
    case shownInFull
    /// A long random token: the mask and its last 4 characters when it has 16 or more (OPS-PREVIEW-1).
    case tail
    /// A password or passphrase, which people choose: the mask alone.
    case maskOnly
    /// A private key: its type and public-key fingerprint, never a character of it (OPS-PREVIEW-3).
    case keyFingerprint
    /// A custom object: its member names (OPS-PREVIEW-2).
    case memberNames
}

/// The syntax of a field value (FORMAT.md, OPS-FIELD-*).
enum FieldRule: Sendable, Hashable {
    /// Any text: a token, password or passphrase.
    case secretText
    /// One line of text without control characters, at most 1024 bytes.
    case singleLine
    /// A host name or IP address.
    case hostname
    /// A decimal port number 1–65535.
    case port
    /// `none`, `ssl`, `tls` or `starttls`.
    case smtpEncryption
    /// A decimal Unix time in seconds.
    case unixSeconds
    /// OAuth scope tokens separated by single spaces.
    case oauthScopes
    /// A PEM or OpenSSH private key.
    case privateKey
    /// An OpenSSH public key line.
    case publicKey
    /// A JSON object.
    case jsonObject
}
