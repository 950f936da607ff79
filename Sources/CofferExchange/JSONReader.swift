import Coffer
import CofferFormat

/// One value of a parsed JSON text (RFC 8259).
///
/// Strings are not copied out of the input: a string is a range of it, checked when parsed
/// and decoded on demand, into a `String` for metadata or straight into ``SecureBytes`` for a
/// secret (``JSONReader/secret(_:)``). So a revealed export is read without its secrets ever
/// sitting in a Swift `String` or a growable array.
struct JSONElement {
    enum Value {
        case null
        case bool(Bool)
        /// The bytes of the number, checked against the grammar.
        case number(Range<Int>)
        case string(JSONStringSlice)
        case array([JSONElement])
        /// Members in document order; names are unique (the parser refuses duplicates).
        case object([JSONMember])
    }

    /// Where the value starts in the input, for messages.
    let offset: Int
    let value: Value

    /// What the value is, for messages: "a string", "an object", …
    var kindName: String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One member of an object.
struct JSONMember {
    let name: String
    let value: JSONElement
}

/// A string of the input: the bytes between its quotes, and how many bytes it decodes to.
struct JSONStringSlice {
    let range: Range<Int>
    let decodedCount: Int
    let hasEscapes: Bool
}

/// A strict JSON parser over bytes held elsewhere (a ``SecretBuffer`` or ``SecureBytes``).
///
/// Strict, so that one document has one meaning: RFC 8259's grammar exactly, UTF-8 only
/// (a leading byte-order mark is skipped), no duplicate member names, every `\u` surrogate
/// paired, nesting at most ``depthMax`` deep, nothing after the value but white space. An
/// error names the line, the column and the JSON path, never the bytes it found there.
struct JSONReader {
    /// The deepest nesting accepted: the export is five levels deep; a hostile file cannot
    /// make the parser recurse further.
    static let depthMax = 64

    let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var path: [String] = []
    /// Values parsed so far, checked against ``ExchangeLimits/importValuesMax`` as they come.
    private var values = 0

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Parses one JSON text.
    ///
    /// - Throws: `.invalidInput` naming the line, column and path of the first error.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> JSONElement {
        var reader = JSONReader(bytes: bytes)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { reader.position = 3 }
        reader.skipWhiteSpace()
        let root = try reader.parseValue(depth: 0)
        reader.skipWhiteSpace()
        guard reader.position == bytes.count else { throw reader.failure("unexpected bytes after the document") }
        return root
    }

    // MARK: - Decoding values

    /// The text of a string.
    static func string(_ slice: JSONStringSlice, in bytes: UnsafeRawBufferPointer) -> String {
        if !slice.hasEscapes {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[slice.range]), as: UTF8.self)
        }
        var decoded = [UInt8](repeating: 0, count: slice.decodedCount)
        decoded.withUnsafeMutableBytes { decode(slice, in: bytes, into: $0) }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// The bytes of a string, decoded straight into protected memory.
    static func secret(_ slice: JSONStringSlice, in bytes: UnsafeRawBufferPointer) -> SecureBytes {
        SecureBytes(count: slice.decodedCount) { decode(slice, in: bytes, into: $0) }
    }

    /// An integer from 0 to `UInt64.max` written without sign, fraction or exponent.
    static func unsigned(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer) -> UInt64? {
        var value: UInt64 = 0
        for byte in bytes[range] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }

    /// `line L, column C` of a byte offset (both from 1; the column counts bytes).
    static func location(of offset: Int, in bytes: UnsafeRawBufferPointer) -> String {
        var line = 1
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        return "line \(line), column \(offset - lineStart + 1)"
    }

    private static func decode(
        _ slice: JSONStringSlice, in bytes: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer
    ) {
        var cursor = 0
        var index = slice.range.lowerBound
        func put(_ byte: UInt8) {
            target[cursor] = byte
            cursor += 1
        }
        while index < slice.range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                put(byte)
                index += 1
                continue
            }
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                var scalar = JSONUnescaping.hexValue(bytes, at: index)!
                index += 4
                if scalar >= 0xD800, scalar < 0xDC00 {
                    let low = JSONUnescaping.hexValue(bytes, at: index + 2)!
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                for unit in UTF8.encode(Unicode.Scalar(scalar)!)! { put(unit) }
            default: put(escape)  // `"`, `\`, `/`
            }
        }
        precondition(cursor == slice.decodedCount, "decoded length mismatch")
    }

    // MARK: - Parsing

    private func failure(_ what: String, at offset: Int? = nil) -> CofferError {
        let place = Self.location(of: offset ?? position, in: bytes)
        let within = path.isEmpty ? "" : " (in \(JSONPath.text(path)))"
        return CofferError(.invalidInput, "The JSON is malformed at \(place)\(within): \(what).")
    }

    private mutating func skipWhiteSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func parseValue(depth: Int) throws(CofferError) -> JSONElement {
        guard position < bytes.count else { throw failure("the document ends where a value should be") }
        values += 1
        guard values <= ExchangeLimits.importValuesMax else {
            throw failure(
                "the document holds more than \(ExchangeLimits.importValuesMax) values, more than one import can hold "
                    + "(I-LIMITS); split it, one organization at a time")
        }
        let start = position
        switch bytes[position] {
        case UInt8(ascii: "{"):
            guard depth < Self.depthMax else { throw failure("objects and arrays nest deeper than \(Self.depthMax)") }
            return JSONElement(offset: start, value: .object(try parseObject(depth: depth)))
        case UInt8(ascii: "["):
            guard depth < Self.depthMax else { throw failure("objects and arrays nest deeper than \(Self.depthMax)") }
            return JSONElement(offset: start, value: .array(try parseArray(depth: depth)))
        case UInt8(ascii: "\""):
            return JSONElement(offset: start, value: .string(try parseString()))
        case UInt8(ascii: "t"):
            try expectWord("true")
            return JSONElement(offset: start, value: .bool(true))
        case UInt8(ascii: "f"):
            try expectWord("false")
            return JSONElement(offset: start, value: .bool(false))
        case UInt8(ascii: "n"):
            try expectWord("null")
            return JSONElement(offset: start, value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONElement(offset: start, value: .number(try parseNumber()))
        default:
            throw failure("expected a value (an object, array, string, number, true, false or null)")
        }
    }

    private mutating func expectWord(_ word: StaticString) throws(CofferError) {
        let count = word.utf8CodeUnitCount
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
        guard position + count <= bytes.count, bytes[position..<(position + count)].elementsEqual(expected) else {
            throw failure("expected a value (an object, array, string, number, true, false or null)")
        }
        position += count
    }

    private mutating func parseObject(depth: Int) throws(CofferError) -> [JSONMember] {
        position += 1  // {
        var members: [JSONMember] = []
        var names: Set<String> = []
        skipWhiteSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return members
        }
        while true {
            skipWhiteSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw failure("expected a member name in double quotes")
            }
            let nameOffset = position
            let name = Self.string(try parseString(), in: bytes)
            guard names.insert(name).inserted else {
                throw failure("the member name \(JSONPath.quoted(name)) appears twice in one object", at: nameOffset)
            }
            skipWhiteSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw failure("expected `:` after a member name")
            }
            position += 1
            skipWhiteSpace()
            path.append(JSONPath.member(name))
            let value = try parseValue(depth: depth + 1)
            path.removeLast()
            members.append(JSONMember(name: name, value: value))
            skipWhiteSpace()
            guard position < bytes.count else { throw failure("the document ends inside an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "}") else { throw failure("expected `,` or `}` in an object") }
            position += 1
            return members
        }
    }

    private mutating func parseArray(depth: Int) throws(CofferError) -> [JSONElement] {
        position += 1  // [
        var elements: [JSONElement] = []
        skipWhiteSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return elements
        }
        while true {
            skipWhiteSpace()
            // A list of the document (credentials, users, …) longer than an import can hold.
            guard depth > 1 || elements.count < ExchangeLimits.importEntriesMax else {
                throw failure(
                    "the list holds more than \(ExchangeLimits.importEntriesMax) entries, each at least one operation "
                        + "of the import's transaction (I-LIMITS); split it, one organization at a time")
            }
            path.append("[\(elements.count)]")
            elements.append(try parseValue(depth: depth + 1))
            path.removeLast()
            skipWhiteSpace()
            guard position < bytes.count else { throw failure("the document ends inside an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "]") else { throw failure("expected `,` or `]` in an array") }
            position += 1
            return elements
        }
    }

    private mutating func parseNumber() throws(CofferError) -> Range<Int> {
        let start = position
        func digits() -> Int {
            let first = position
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
                position += 1
            }
            return position - first
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { throw failure("a number ends after its sign") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() > 0 else { throw failure("a number has no digits") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw failure("a number has no digits after its decimal point") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard digits() > 0 else { throw failure("a number has no digits in its exponent") }
        }
        return start..<position
    }

    /// Checks a string from its opening quote to its closing one: escapes, surrogate pairs,
    /// UTF-8, no raw control characters; counts the bytes it decodes to.
    private mutating func parseString() throws(CofferError) -> JSONStringSlice {
        position += 1  // "
        let start = position
        var decoded = 0
        var hasEscapes = false
        while true {
            guard position < bytes.count else { throw failure("the document ends inside a string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                let slice = JSONStringSlice(range: start..<position, decodedCount: decoded, hasEscapes: hasEscapes)
                position += 1
                return slice
            case UInt8(ascii: "\\"):
                hasEscapes = true
                guard position + 1 < bytes.count else { throw failure("the document ends inside a string") }
                let escape = bytes[position + 1]
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    decoded += 1
                    position += 2
                case UInt8(ascii: "u"):
                    guard let unit = JSONUnescaping.hexValue(bytes, at: position + 2) else {
                        throw failure("a \\u escape needs four hexadecimal digits")
                    }
                    if unit >= 0xDC00, unit < 0xE000 {
                        throw failure("a \\u escape is a low surrogate without a high one")
                    }
                    if unit >= 0xD800, unit < 0xDC00 {
                        guard position + 12 <= bytes.count, bytes[position + 6] == UInt8(ascii: "\\"),
                            bytes[position + 7] == UInt8(ascii: "u"),
                            let low = JSONUnescaping.hexValue(bytes, at: position + 8),
                            low >= 0xDC00, low < 0xE000
                        else { throw failure("a \\u escape is a high surrogate without its low surrogate") }
                        decoded += 4
                        position += 12
                    } else {
                        decoded += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3
                        position += 6
                    }
                default:
                    throw failure("a string holds an unknown escape")
                }
            case 0..<0x20:
                throw failure("a string holds a raw control character; write it as an escape")
            case 0x80...:
                let length = UTF8Check.sequenceLength(bytes, at: position)
                guard length > 0 else { throw failure("a string is not valid UTF-8") }
                decoded += length
                position += length
            default:
                decoded += 1
                position += 1
            }
        }
    }
}

/// JSON paths in messages: `$.credentials[3].fields.token`.
enum JSONPath {
    static func text(_ components: [String]) -> String { "$" + components.joined() }

    /// `.name` for a plain name, `["odd name"]` otherwise.
    static func member(_ name: String) -> String {
        let plain =
            !name.isEmpty
            && name.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F
            }
        return plain ? "." + name : "[" + quoted(name) + "]"
    }

    /// A name in double quotes with control characters replaced, cut to 64 scalars: a
    /// member name is metadata, but a message must stay one readable line.
    static func quoted(_ name: String) -> String {
        var shown = String.UnicodeScalarView()
        for scalar in name.unicodeScalars.prefix(64) {
            shown.append(scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0) ? "\u{FFFD}" : scalar)
        }
        return "\"" + String(shown) + (name.unicodeScalars.count > 64 ? "…" : "") + "\""
    }
}
