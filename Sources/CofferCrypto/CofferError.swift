/// The one error type Coffer throws.
///
/// Callers match on ``code``; the ``message`` is for people and never contains secret
/// bytes, key material or plaintext. Location fields say where on disk a problem was found.
///
/// ```swift
/// do {
///     let vault = try Vault.open(path: "team.coffer", unlock: .passphrase(secret))
/// } catch let error as CofferError where error.code == .wrongKey {
///     print("Try another passphrase.")
/// }
/// ```
public struct CofferError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The closed set of reasons an operation can fail.
    public enum Code: Sendable, Hashable, CustomStringConvertible {
        /// Bytes read from disk failed a checksum, an authentication tag or a structural rule.
        case corrupted
        /// No keyslot accepts the passphrase or key file. Nothing was modified.
        case wrongKey
        /// Another process holds the writer lock on the vault.
        case locked
        /// The file needs a newer reader, or uses a feature this reader does not know.
        case unsupportedVersion
        /// The file does not start with Coffer's magic bytes.
        case notAVault
        /// A system call failed with the given `errno`.
        case io(errno: Int32)
        /// The named object (file, record, keyslot, credential) does not exist.
        case notFound
        /// The caller passed something the operation cannot accept.
        case invalidInput
        /// The log does not contain the chain head the caller expected: it was truncated at a
        /// record boundary, rolled back to an older copy, or replaced.
        case headMismatch
        /// The object the caller wants to create exists already.
        case alreadyExists
        /// An earlier write or sync failed; the writer acknowledges nothing more until reopened.
        case writerStopped
        /// The vault was closed.
        case closed
        /// Another instance sharing the vault's log wrote first, or replaced the log, and the
        /// operation could not be carried out on the newer state; nothing was written.
        case conflict
        /// A selector or a resolution matched several objects; ``CofferError/candidates`` lists them.
        case ambiguous
        /// Resolution found no credential for the app in the scopes it tried.
        case credentialMissing
        /// A user-scope credential was asked for but the run carries no user actor.
        case noUserActor
        /// The selected or assigned credential is revoked.
        case credentialRevoked
        /// The selected or assigned credential is not visible to the run (other organization,
        /// project or user).
        case notVisible
        /// The selected or assigned credential belongs to another app.
        case wrongApp
        /// The acting user's role does not allow the operation.
        case permissionDenied
        /// The caller cancelled the operation at a point where stopping was safe: nothing it
        /// would have changed was changed.
        case cancelled

        public var description: String {
            switch self {
            case .corrupted: "corrupted"
            case .wrongKey: "wrong_key"
            case .locked: "locked"
            case .unsupportedVersion: "unsupported_version"
            case .notAVault: "not_a_vault"
            case .io(let number): "io(errno \(number))"
            case .notFound: "not_found"
            case .invalidInput: "invalid_input"
            case .headMismatch: "head_mismatch"
            case .alreadyExists: "already_exists"
            case .writerStopped: "writer_stopped"
            case .closed: "closed"
            case .conflict: "conflict"
            case .ambiguous: "ambiguous"
            case .credentialMissing: "missing"
            case .noUserActor: "no_user_actor"
            case .credentialRevoked: "revoked"
            case .notVisible: "not_visible"
            case .wrongApp: "wrong_app"
            case .permissionDenied: "permission_denied"
            case .cancelled: "cancelled"
            }
        }
    }

    /// Why the operation failed.
    public let code: Code
    /// One or two plain sentences for a person. Never contains secrets.
    public let message: String
    /// Byte offset in the vault file where the problem was found, when it is about the file.
    public let offset: UInt64?
    /// Sequence number of the record concerned, when it is about a record.
    public let sequence: UInt64?
    /// For `.ambiguous` and resolution errors: the candidates a person can pick from
    /// (identifiers and selectors, never secrets).
    public let candidates: [String]

    /// Creates an error. `message` must not contain secret material.
    public init(
        _ code: Code, _ message: String, offset: UInt64? = nil, sequence: UInt64? = nil, candidates: [String] = []
    ) {
        self.code = code
        self.message = message
        self.offset = offset
        self.sequence = sequence
        self.candidates = candidates
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let offset { text += " (offset \(offset)" + (sequence.map { ", sequence \($0)" } ?? "") + ")" }
        else if let sequence { text += " (sequence \(sequence))" }
        return text
    }
}

/// Matches an error against a code: `if case CofferError.Code.locked = error`, or
/// `catch CofferError.Code.wrongKey` in a `switch` over errors.
public func ~= (code: CofferError.Code, error: any Error) -> Bool {
    (error as? CofferError)?.code == code
}
