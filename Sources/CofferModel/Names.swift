import CofferCrypto
import CofferErrors

/// The text rules for slugs, keys and names (FORMAT.md, OPS-TEXT-*). Apply checks them on
/// every operation, and the planner checks them first so a person gets the message early; a
/// command checks a slug it is given for later (an import's new organization slug) with
/// ``checkSlug(_:what:)`` before it opens anything.
public enum Names {
    /// Longest slug, app key, target slug or consumer id, in bytes.
    static let slugBytesMax = 64
    /// Longest consumer id, in bytes: step ids can be longer than slugs.
    static let consumerBytesMax = 128
    /// Longest label or display name, in bytes.
    static let nameBytesMax = 200

    /// OPS-TEXT-SLUG: 1–64 bytes of `a-z 0-9 - _`, starting with a letter or digit, and not
    /// spelled like an identifier (so a selector is never both).
    ///
    /// - Throws: `.invalidInput` naming `what` and the rule, never the slug.
    public static func checkSlug(_ slug: String, what: String) throws(CofferError) {
        guard
            isToken(
                slug, bytesMax: slugBytesMax, first: isAlphanumericLower,
                byte: { isAlphanumericLower($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else {
            throw CofferError(
                .invalidInput,
                "The \(what) must be 1 to \(slugBytesMax) characters of a-z, 0-9, '-' and '_', starting with a letter or digit."
            )
        }
        guard !looksLikeIdentifier(slug) else {
            throw CofferError(.invalidInput, "The \(what) must not look like an identifier. Choose another slug.")
        }
    }

    /// OPS-TEXT-APPKEY: 1–64 bytes of `A-Z a-z 0-9 . - _`, starting with a letter or digit.
    /// App keys are case-sensitive, as consumers look them up verbatim (`exa`, `OPENAI_API_KEY`).
    static func checkAppKey(_ key: String) throws(CofferError) {
        guard
            isToken(
                key, bytesMax: slugBytesMax, first: isAlphanumeric,
                byte: {
                    isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                })
        else {
            throw CofferError(
                .invalidInput,
                "The app key must be 1 to \(slugBytesMax) characters of A-Z, a-z, 0-9, '.', '-' and '_', starting with a letter or digit."
            )
        }
    }

    /// OPS-TEXT-CONSUMER: `*`, or 1–128 bytes of `A-Z a-z 0-9 . - _ :`, starting with a letter or digit.
    static func checkConsumer(_ consumer: String) throws(CofferError) {
        if consumer == AssignmentTarget.everyConsumer { return }
        guard
            isToken(
                consumer, bytesMax: consumerBytesMax, first: isAlphanumeric,
                byte: {
                    isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                        || $0 == UInt8(ascii: ":")
                })
        else {
            throw CofferError(
                .invalidInput,
                "The consumer must be '*' or 1 to \(consumerBytesMax) characters of A-Z, a-z, 0-9, '.', '-', '_' and ':'."
            )
        }
    }

    /// OPS-TEXT-NAME: 1–200 bytes of UTF-8 without control characters, not only spaces.
    static func checkName(_ name: String, what: String) throws(CofferError) {
        // The length first: a name past it is refused without a pass over its bytes.
        let fits = name.utf8.count <= nameBytesMax
        let ascii = fits ? asciiShape(of: name) : nil
        guard fits,
            !(ascii?.hasControl ?? name.unicodeScalars.contains(where: isControl)),
            ascii?.hasNonSpace ?? name.unicodeScalars.contains(where: { !$0.properties.isWhitespace })
        else {
            throw CofferError(
                .invalidInput,
                "The \(what) must be 1 to \(nameBytesMax) bytes of text without control characters."
            )
        }
    }

    /// OPS-TEXT-ACTOR: the transaction actor is at most 200 bytes without control characters
    /// (it may be empty).
    static func checkActor(_ actor: String) throws(CofferError) {
        guard actor.utf8.count <= nameBytesMax,
            !(asciiShape(of: actor)?.hasControl ?? actor.unicodeScalars.contains(where: isControl))
        else {
            throw CofferError(
                .invalidInput, "The actor must be at most \(nameBytesMax) bytes without control characters.")
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0)
    }

    /// ``isControl(_:)`` of an ASCII byte, which is a scalar of its own.
    static func isASCIIControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F }

    /// What ``isControl(_:)`` and Unicode's White_Space say of an ASCII text, read from its
    /// bytes without decoding it (a commit checks several names); nil when a byte is not
    /// ASCII. Of the ASCII characters that are not control characters, only the space is
    /// white space.
    static func asciiShape(of text: String) -> (hasControl: Bool, hasNonSpace: Bool)? {
        text.withUTF8Bytes { bytes in
            var hasControl = false
            var hasNonSpace = false
            for byte in bytes {
                guard byte < 0x80 else { return nil }
                if isASCIIControl(byte) {
                    hasControl = true
                } else if byte != UInt8(ascii: " ") {
                    hasNonSpace = true
                }
            }
            return (hasControl, hasNonSpace)
        }
    }

    /// Whether `text` is 1 to `bytesMax` bytes, the first of which passes `first` and every
    /// one `byte`.
    private static func isToken(
        _ text: String, bytesMax: Int, first: (UInt8) -> Bool, byte: (UInt8) -> Bool
    ) -> Bool {
        text.withUTF8Bytes { bytes in
            guard let head = bytes.first, bytes.count <= bytesMax, first(head) else { return false }
            return bytes.allSatisfy(byte)
        }
    }

    private static func isAlphanumericLower(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isAlphanumericLower(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func looksLikeIdentifier(_ text: String) -> Bool {
        // Every identifier's text has an underscore after its prefix: most slugs are let go here.
        guard text.withUTF8Bytes({ $0.contains(UInt8(ascii: "_")) }) else { return false }
        return OrganizationID(text) != nil || ProjectID(text) != nil || UserID(text) != nil || CredentialID(text) != nil
            || APIKeyID(text) != nil
    }
}
