/// The one error type Coffer throws.
///
/// Callers match on ``code``; the ``message`` is for people and never contains secret
/// bytes, key material or plaintext. Location fields say where on disk a problem was found.
///
/// ```swift
/// do {
///     let vault = try Vault.open(path: "team.coffer", unlock: .passphrase(secret))
/// } catch where error.code == .wrongKey {
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

        /// The code as one snake_case word, and the errno of an I/O error: `wrong_key`, `io(errno 28)`.
        /// ``credentialMissing`` prints `missing` and ``credentialRevoked`` prints `revoked`.
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

    /// The same error with `advice` (a sentence of its own, no secret) after its message: what
    /// the caller should know of the failure's consequence.
    public func adding(_ advice: String) -> CofferError {
        CofferError(code, message + " " + advice, offset: offset, sequence: sequence, candidates: candidates)
    }

    /// The code and the message, then the offset and sequence number when known:
    /// `corrupted: A transaction's payload is malformed. (offset 9176, sequence 4)`, or `(sequence 4)`
    /// without an offset. It holds no secret, since the message holds none.
    public var description: String {
        var text = "\(code): \(message)"
        if let offset {
            text += " (offset \(offset)" + (sequence.map { ", sequence \($0)" } ?? "") + ")"
        } else if let sequence {
            text += " (sequence \(sequence))"
        }
        return text
    }
}

extension CofferError.Code: Codable {
    /// The code as one stable snake_case word, as `coffer --json` prints it: `wrong_key`,
    /// `missing`, `io` (the errno is not part of it; ``description`` has it).
    public var word: String {
        if case .io = self { return "io" }
        return description
    }

    /// The code a word names; `io` gives `.io(errno: 0)`, since the word carries no errno.
    public init?(word: String) {
        let all: [CofferError.Code] = [
            .corrupted, .wrongKey, .locked, .unsupportedVersion, .notAVault, .io(errno: 0), .notFound, .invalidInput,
            .headMismatch, .alreadyExists, .writerStopped, .closed, .conflict, .ambiguous, .credentialMissing,
            .noUserActor, .credentialRevoked, .notVisible, .wrongApp, .permissionDenied, .cancelled,
        ]
        guard let code = all.first(where: { $0.word == word }) else { return nil }
        self = code
    }

    /// Whether this is an I/O error, whatever its errno.
    public var isIO: Bool {
        if case .io = self { return true }
        return false
    }

    /// Encodes the word, and `io:ERRNO` for an I/O error so that it decodes to the same code.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if case .io(let number) = self {
            try container.encode("io:\(number)")
        } else {
            try container.encode(word)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        if text.hasPrefix("io:"), let number = Int32(text.dropFirst(3)) {
            self = .io(errno: number)
        } else if let code = Self(word: text) {
            self = code
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not a Coffer error code.")
        }
    }
}

/// The codes as patterns for `catch` and `switch`, as GRDB's `DatabaseError.SQLITE_BUSY`:
///
/// ```swift
/// do {
///     try vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
/// } catch CofferError.alreadyExists {
///     // the slug is taken
/// } catch CofferError.io {
///     // any I/O error, whatever its errno
/// }
///
/// switch error {
/// case CofferError.locked: retryLater()
/// case CofferError.wrongKey: askAgain()
/// default: throw error
/// }
/// ```
///
/// (`CofferError.Code.locked` itself cannot be a pattern against an error: Swift reads a
/// qualified enum case as an enum-case pattern of the code's own type. For one errno, compare
/// the code: `catch where error.code == .io(errno: ENOSPC)`.)
extension CofferError {
    /// Matches an error whose code is ``Code/corrupted``: `catch CofferError.corrupted`.
    public static let corrupted = Code.corrupted
    /// Matches an error whose code is ``Code/wrongKey``: `catch CofferError.wrongKey`.
    public static let wrongKey = Code.wrongKey
    /// Matches an error whose code is ``Code/locked``: `catch CofferError.locked`.
    public static let locked = Code.locked
    /// Matches an error whose code is ``Code/unsupportedVersion``: `catch CofferError.unsupportedVersion`.
    public static let unsupportedVersion = Code.unsupportedVersion
    /// Matches an error whose code is ``Code/notAVault``: `catch CofferError.notAVault`.
    public static let notAVault = Code.notAVault
    /// Matches every I/O error, whatever its errno.
    public static let io = Code.io(errno: 0)
    /// Matches an error whose code is ``Code/notFound``: `catch CofferError.notFound`.
    public static let notFound = Code.notFound
    /// Matches an error whose code is ``Code/invalidInput``: `catch CofferError.invalidInput`.
    public static let invalidInput = Code.invalidInput
    /// Matches an error whose code is ``Code/headMismatch``: `catch CofferError.headMismatch`.
    public static let headMismatch = Code.headMismatch
    /// Matches an error whose code is ``Code/alreadyExists``: `catch CofferError.alreadyExists`.
    public static let alreadyExists = Code.alreadyExists
    /// Matches an error whose code is ``Code/writerStopped``: `catch CofferError.writerStopped`.
    public static let writerStopped = Code.writerStopped
    /// Matches an error whose code is ``Code/closed``: `catch CofferError.closed`.
    public static let closed = Code.closed
    /// Matches an error whose code is ``Code/conflict``: `catch CofferError.conflict`.
    public static let conflict = Code.conflict
    /// Matches an error whose code is ``Code/ambiguous``: `catch CofferError.ambiguous`.
    public static let ambiguous = Code.ambiguous
    /// Matches an error whose code is ``Code/credentialMissing``: `catch CofferError.credentialMissing`.
    public static let credentialMissing = Code.credentialMissing
    /// Matches an error whose code is ``Code/noUserActor``: `catch CofferError.noUserActor`.
    public static let noUserActor = Code.noUserActor
    /// Matches an error whose code is ``Code/credentialRevoked``: `catch CofferError.credentialRevoked`.
    public static let credentialRevoked = Code.credentialRevoked
    /// Matches an error whose code is ``Code/notVisible``: `catch CofferError.notVisible`.
    public static let notVisible = Code.notVisible
    /// Matches an error whose code is ``Code/wrongApp``: `catch CofferError.wrongApp`.
    public static let wrongApp = Code.wrongApp
    /// Matches an error whose code is ``Code/permissionDenied``: `catch CofferError.permissionDenied`.
    public static let permissionDenied = Code.permissionDenied
    /// Matches an error whose code is ``Code/cancelled``: `catch CofferError.cancelled`.
    public static let cancelled = Code.cancelled
}

/// Matches an error against a code: `catch CofferError.wrongKey`, `case CofferError.locked:`
/// in a `switch` over errors, `if case CofferError.conflict = error`. The pattern
/// `CofferError.io` matches any I/O error; for one errno, compare the code:
/// `catch where error.code == .io(errno: ENOSPC)`.
public func ~= (code: CofferError.Code, error: any Error) -> Bool {
    guard let error = error as? CofferError else { return false }
    return code ~= error
}

/// The same for a `CofferError` (a `catch` of a call that throws `CofferError` only).
public func ~= (code: CofferError.Code, error: CofferError) -> Bool {
    if case .io(errno: 0) = code { return error.code.isIO }
    return error.code == code
}
