/// A strict, allocation-light JSON (RFC 8259) checker for the `custom` credential type.
///
/// It validates without building a tree or copying values, since every value is secret, and
/// returns only the member names of the top-level object, which the preview shows. Rules
/// beyond RFC 8259 (OPS-FIELD-JSON): the top level must be an object, its member names must
/// be distinct, nesting is at most 64 levels, and `\u` escapes must not leave a surrogate
/// unpaired.
struct JSONObjectValidator {
    /// Deepest nesting of objects and arrays accepted.
    static let depthMax = 64

    /// Why a text is not accepted; `offset` is the byte where reading stopped.
    struct SyntaxError: Error, Equatable {
        let offset: Int
        let reason: String
    }

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Checks that `bytes` (valid UTF-8) is one JSON object and returns its member names in
    /// document order.
    static func topLevelNames(of bytes: UnsafeRawBufferPointer) -> Result<[String], SyntaxError> {
        topLevelMembers(of: bytes).map { $0.map(\.name) }
    }

    /// A member of the top-level object: its name, and where its value's text is (from its
    /// first to its last byte, without the whitespace around it).
    struct Member: Equatable {
        let name: String
        let value: Range<Int>
    }

    /// Checks that `bytes` (valid UTF-8) is one JSON object and returns its members in
    /// document order.
    static func topLevelMembers(of bytes: UnsafeRawBufferPointer) -> Result<[Member], SyntaxError> {
        var parser = JSONObjectValidator(bytes)
        return Result { () throws(SyntaxError) -> [Member] in
            parser.skipWhitespace()
            guard parser.peek() == UInt8(ascii: "{") else { throw parser.failure("the text must be a JSON object") }
            let members = try parser.parseObject(depth: 1, collectingNames: true)
            parser.skipWhitespace()
            guard parser.offset == bytes.count else { throw parser.failure("unexpected text after the object") }
            return members
        }
    }

    private func failure(_ reason: String) -> SyntaxError {
        SyntaxError(offset: offset, reason: reason)
    }

    private func peek() -> UInt8? {
        offset < bytes.count ? bytes[offset] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek(),
            byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
        {
            offset += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
        guard peek() == byte else { throw failure("expected \(what)") }
        offset += 1
    }

    private mutating func parseValue(depth: Int) throws(SyntaxError) {
        skipWhitespace()
        guard let byte = peek() else { throw failure("expected a value") }
        switch byte {
        case UInt8(ascii: "{"): _ = try parseObject(depth: depth + 1, collectingNames: false)
        case UInt8(ascii: "["): try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): _ = try parseString(collecting: false)
        case UInt8(ascii: "t"): try parseLiteral("true")
        case UInt8(ascii: "f"): try parseLiteral("false")
        case UInt8(ascii: "n"): try parseLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber()
        default: throw failure("expected a value")
        }
    }

    private mutating func parseObject(depth: Int, collectingNames: Bool) throws(SyntaxError) -> [Member] {
        guard depth <= Self.depthMax else { throw failure("nesting deeper than \(Self.depthMax) levels") }
        try expect(UInt8(ascii: "{"), "'{'")
        var names: [Member] = []
        var seen: Set<String> = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            offset += 1
            return names
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let nameOffset = offset
            let name = try parseString(collecting: collectingNames)
            if collectingNames, let name {
                guard seen.insert(name).inserted else {
                    throw SyntaxError(offset: nameOffset, reason: "a member name appears twice at the top level")
                }
            }
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            let valueStart = offset
            try parseValue(depth: depth)
            if collectingNames, let name { names.append(Member(name: name, value: valueStart..<offset)) }
            skipWhitespace()
            guard let byte = peek() else { throw failure("expected ',' or '}'") }
            offset += 1
            if byte == UInt8(ascii: "}") { return names }
            guard byte == UInt8(ascii: ",") else {
                offset -= 1
                throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SyntaxError) {
        guard depth <= Self.depthMax else { throw failure("nesting deeper than \(Self.depthMax) levels") }
        try expect(UInt8(ascii: "["), "'['")
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            offset += 1
            return
        }
        while true {
            try parseValue(depth: depth)
            skipWhitespace()
            guard let byte = peek() else { throw failure("expected ',' or ']'") }
            offset += 1
            if byte == UInt8(ascii: "]") { return }
            guard byte == UInt8(ascii: ",") else {
                offset -= 1
                throw failure("expected ',' or ']'")
            }
        }
    }

    /// Parses a string; returns its decoded text only when `collecting` (member names).
    private mutating func parseString(collecting: Bool) throws(SyntaxError) -> String? {
        try expect(UInt8(ascii: "\""), "'\"'")
        var scalars = String.UnicodeScalarView()
        var runStart = offset
        func flushRun(_ end: Int) {
            guard collecting, end > runStart else { return }
            let run = UnsafeRawBufferPointer(rebasing: bytes[runStart..<end])
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let byte = peek() else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flushRun(offset)
                offset += 1
                return collecting ? String(scalars) : nil
            case UInt8(ascii: "\\"):
                flushRun(offset)
                offset += 1
                let scalar = try parseEscape()
                if collecting { scalars.append(scalar) }
                runStart = offset
            case 0x00..<0x20:
                throw failure("control character in a string")
            default:
                offset += 1
            }
        }
    }

    private mutating func parseEscape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = peek() else { throw failure("unterminated escape") }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let first = try parseHex4()
            if (0xD800..<0xDC00).contains(first) {
                guard peek() == UInt8(ascii: "\\") else { throw failure("unpaired surrogate escape") }
                offset += 1
                guard peek() == UInt8(ascii: "u") else { throw failure("unpaired surrogate escape") }
                offset += 1
                let second = try parseHex4()
                guard (0xDC00..<0xE000).contains(second) else { throw failure("unpaired surrogate escape") }
                let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw failure("invalid escape") }
                return scalar
            }
            guard let scalar = Unicode.Scalar(first) else { throw failure("unpaired surrogate escape") }
            return scalar
        default:
            offset -= 1
            throw failure("invalid escape")
        }
    }

    private mutating func parseHex4() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw failure("short \\u escape") }
            let nibble: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | nibble
            offset += 1
        }
        return value
    }

    private mutating func parseLiteral(_ literal: StaticString) throws(SyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - offset >= count else { throw failure("expected a value") }
        for index in 0..<count where bytes[offset + index] != literal.utf8Start[index] {
            throw failure("expected a value")
        }
        offset += count
    }

    private mutating func parseNumber() throws(SyntaxError) {
        if peek() == UInt8(ascii: "-") { offset += 1 }
        guard let first = peek(), isDigit(first) else { throw failure("invalid number") }
        offset += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            offset += 1
            guard let next = peek(), isDigit(next) else { throw failure("invalid number") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            offset += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
            guard let next = peek(), isDigit(next) else { throw failure("invalid number") }
            skipDigits()
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { offset += 1 }
    }
}
