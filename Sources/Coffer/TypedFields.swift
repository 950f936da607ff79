import CofferCrypto
import CofferErrors
import CofferModel

/// A revealed credential's fields by its type: shown fields as Swift values, secret ones as
/// ``SecureBytes`` (locked memory, zeroed when released), so a service reads `smtp.port` as an
/// `Int` and hands `smtp.password` to its client without a `String` copy of the secret.
///
/// ```swift
/// let revealed = try await vault.resolveAndReveal(request)
/// if case .smtp(let smtp) = try revealed.typed {
///     try mailer.connect(host: smtp.host, port: smtp.port)
///     smtp.password?.withUnsafeBytes { mailer.authenticate(user: smtp.username, password: $0) }
/// }
/// ```
public enum TypedFields: Sendable {
    /// An `api_token` credential: its `token` field.
    case apiToken(token: SecureBytes)
    /// An `api_key_pair` credential: its `api_key` and `api_secret` fields.
    case apiKeyPair(apiKey: SecureBytes, apiSecret: SecureBytes)
    /// A `username_password` credential: its `username` and `password` fields.
    case usernamePassword(username: String, password: SecureBytes)
    /// An `smtp` credential: its `host`, `port`, `username`, `password` and `encryption` fields.
    case smtp(SMTP)
    /// An `oauth2` credential: its `client_id`, `client_secret`, `access_token`, `refresh_token`, `expires_at`
    /// and `scopes` fields.
    case oauth2(OAuth2)
    /// An `ssh_key` credential: its `private_key`, `public_key` and `passphrase` fields.
    case sshKey(SSHKey)
    /// The JSON object, as stored: secret as a whole.
    case custom(json: SecureBytes)

    /// An `smtp` credential.
    public struct SMTP: Sendable {
        /// The `host` field: the mail server's host name or IP address.
        public var host: String
        /// The `port` field: the server's TCP port, 1 to 65535.
        public var port: Int
        /// The `username` field; nil when the credential has none.
        public var username: String?
        /// The `password` field; nil when the credential has none.
        public var password: SecureBytes?
        /// `none`, `ssl`, `tls` or `starttls` (OPS-FIELD-ENCRYPTION).
        public var encryption: String
    }

    /// An `oauth2` credential.
    public struct OAuth2: Sendable {
        /// The `client_id` field: the OAuth client's identifier, not secret.
        public var clientID: String
        /// The `client_secret` field.
        public var clientSecret: SecureBytes
        /// The `access_token` field.
        public var accessToken: SecureBytes
        /// The `refresh_token` field.
        public var refreshToken: SecureBytes
        /// Unix seconds.
        public var expiresAt: Int64?
        /// The `scopes` field split at its spaces, in order; empty when the credential has none.
        public var scopes: [String]
    }

    /// An `ssh_key` credential.
    public struct SSHKey: Sendable {
        /// The `private_key` field: a PEM or OpenSSH private key.
        public var privateKey: SecureBytes
        /// The `public_key` field, an OpenSSH public key line; nil when the credential has none.
        public var publicKey: String?
        /// The `passphrase` field, which unlocks the private key; nil when the credential has none.
        public var passphrase: SecureBytes?
    }

    /// The fields of a credential of `type`.
    ///
    /// - Throws: `.invalidInput` when a field the type requires is missing or a shown field
    ///   does not read as its type says. (``RevealedCredential/typed`` throws `.corrupted`
    ///   instead: the writer checked both, so there only damaged data does this.)
    public init(_ fields: FieldValues, type: CredentialType) throws(CofferError) {
        try self.init(fields, type: type, failingWith: .invalidInput)
    }

    /// ``init(_:type:)``, its refusal given the code `code`.
    init(_ fields: FieldValues, type: CredentialType, failingWith code: CofferError.Code) throws(CofferError) {
        func secret(_ name: String) throws(CofferError) -> SecureBytes {
            guard let value = fields[name] else { throw Self.missing(name, type, code) }
            return value
        }
        func text(_ name: String) -> String? {
            fields[name].map { $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
        }
        func required(_ name: String) throws(CofferError) -> String {
            guard let value = text(name) else { throw Self.missing(name, type, code) }
            return value
        }
        switch type {
        case .apiToken:
            self = .apiToken(token: try secret("token"))
        case .apiKeyPair:
            self = .apiKeyPair(apiKey: try secret("api_key"), apiSecret: try secret("api_secret"))
        case .usernamePassword:
            self = .usernamePassword(username: try required("username"), password: try secret("password"))
        case .smtp:
            guard let port = Int(try required("port")) else {
                throw CofferError(code, "The smtp credential's port is not a number.")
            }
            self = .smtp(
                SMTP(
                    host: try required("host"), port: port, username: text("username"), password: fields["password"],
                    encryption: try required("encryption")))
        case .oauth2:
            let expiresAt = text("expires_at")
            if let expiresAt, Int64(expiresAt) == nil {
                throw CofferError(code, "The oauth2 credential's expires_at is not a number.")
            }
            self = .oauth2(
                OAuth2(
                    clientID: try required("client_id"), clientSecret: try secret("client_secret"),
                    accessToken: try secret("access_token"), refreshToken: try secret("refresh_token"),
                    expiresAt: expiresAt.flatMap { Int64($0) },
                    scopes: text("scopes").map { $0.split(separator: " ").map(String.init) } ?? []))
        case .sshKey:
            self = .sshKey(
                SSHKey(
                    privateKey: try secret("private_key"), publicKey: text("public_key"),
                    passphrase: fields["passphrase"]))
        case .custom:
            self = .custom(json: try secret("json"))
        }
    }

    private static func missing(_ name: String, _ type: CredentialType, _ code: CofferError.Code) -> CofferError {
        CofferError(code, "The \(type.word) credential has no `\(name)` field.")
    }
}

extension RevealedCredential {
    /// The values by the credential's type; see ``TypedFields``.
    public var typed: TypedFields {
        get throws(CofferError) { try TypedFields(fields, type: type, failingWith: .corrupted) }
    }
}
