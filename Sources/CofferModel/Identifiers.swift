/// A kind of entity that has identifiers; its ``prefix`` starts their text form.
public protocol IdentifierKind: Sendable {
    /// Lower-case ASCII word written before the underscore, e.g. `cred` in `cred_…`.
    static var prefix: String { get }
}

/// An opaque, random, stable 128-bit identifier of one entity (FORMAT.md, OPS-TEXT-ID).
///
/// On disk it is 16 bytes, written as they are. As text it is the kind's prefix, an
/// underscore and 26 base32 digits: `cred_0t3m9x…`. Identifiers of different kinds are
/// different types, so a project id cannot be passed where a user id is expected.
///
/// ```swift
/// let id = CredentialID("cred_01h4b5r8d0ccd6p9n3qm3xg7zk")
/// ```
public struct Identifier<Kind: IdentifierKind>: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first eight bytes, big-endian.
    public let high: UInt64
    /// The last eight bytes, big-endian.
    public let low: UInt64

    /// Bytes of the binary form.
    public static var byteCount: Int { 16 }

    /// Creates an identifier from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates an identifier from exactly 16 bytes; `nil` for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// Creates an identifier from exactly 16 bytes read where they lie (a decoder's view):
    /// two loads instead of a walk over sixteen bytes. `nil` for any other count.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.byteCount else { return nil }
        self.init(
            high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    /// Parses the text form; `nil` when the prefix or digits are wrong. Only the canonical
    /// (lower-case) spelling is accepted.
    public init?(_ text: String) {
        let prefix = Kind.prefix + "_"
        guard text.hasPrefix(prefix) else { return nil }
        let digits = text.utf8.dropFirst(prefix.utf8.count)
        guard let bytes = Base32.decode(Substring(digits).utf8, byteCount: Self.byteCount) else { return nil }
        self.init(bytes: bytes)
    }

    /// A new identifier from 16 bytes of `randomBytes`.
    public static func random(using randomBytes: (Int) -> [UInt8]) -> Self {
        let bytes = randomBytes(byteCount)
        guard let identifier = Self(bytes: bytes) else {
            preconditionFailure("random source returned \(bytes.count) bytes, expected \(byteCount)")
        }
        return identifier
    }

    /// The 16 bytes of the binary form.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 16 bytes of the binary form, on the stack: for an encoder,
    /// which then makes no array of them.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        // A tuple of two `UInt64` lies in memory as 16 contiguous bytes, in order.
        try Swift.withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { try body($0) }
    }

    /// The text form, e.g. `org_0t3m9x…`.
    public var description: String { Kind.prefix + "_" + Base32.encode(bytes) }

    /// Orders by the binary value, which is also the order of the text form.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

/// Identifier kind of organizations (`org_…`).
public enum OrganizationIDKind: IdentifierKind {
    /// `org`, as in `org_…`.
    public static var prefix: String { "org" }
}
/// Identifier kind of projects (`prj_…`).
public enum ProjectIDKind: IdentifierKind {
    /// `prj`, as in `prj_…`.
    public static var prefix: String { "prj" }
}
/// Identifier kind of users (`usr_…`).
public enum UserIDKind: IdentifierKind {
    /// `usr`, as in `usr_…`.
    public static var prefix: String { "usr" }
}
/// Identifier kind of credential instances (`cred_…`).
public enum CredentialIDKind: IdentifierKind {
    /// `cred`, as in `cred_…`.
    public static var prefix: String { "cred" }
}
/// Identifier kind of platform API keys (`key_…`).
public enum APIKeyIDKind: IdentifierKind {
    /// `key`, as in `key_…`.
    public static var prefix: String { "key" }
}

/// Identifies an organization.
public typealias OrganizationID = Identifier<OrganizationIDKind>
/// Identifies a project.
public typealias ProjectID = Identifier<ProjectIDKind>
/// Identifies a user.
public typealias UserID = Identifier<UserIDKind>
/// Identifies a credential instance.
public typealias CredentialID = Identifier<CredentialIDKind>
/// Identifies a platform API key.
public typealias APIKeyID = Identifier<APIKeyIDKind>
