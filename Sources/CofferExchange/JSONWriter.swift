import Coffer

/// A JSON value as the exchange writes it (the export document, the import report).
///
/// The writer is deterministic, so that two exports of one state are byte for byte the same
/// (FORMAT.md §12, X-CANON): members sorted by the UTF-8 bytes of their names, two
/// spaces of indentation, `\n` line ends, a final newline, integers only, and strings
/// escaped as ``JSONValue/escape(_:into:)`` does. A ``secret(_:)`` goes from its
/// ``SecureBytes`` straight into the output ``SecretBuffer``, never through a `String`.
public indirect enum JSONValue: Sendable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    case null
    case bool(Bool)
    case unsigned(UInt64)
    case string(String)
    case secret(SecureBytes)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// The canonical text, with a final newline, appended to `output`.
    public func write(to output: SecretBuffer) {
        write(to: output, depth: 0)
        output.append(UInt8(ascii: "\n"))
    }

    /// The compact form: no white space at all, members sorted as in the canonical form.
    /// Used for a `custom` credential's JSON object built by an importer.
    public func writeCompact(to output: SecretBuffer) {
        write(to: output, depth: -1)
    }

    /// The canonical text as bytes. Only for documents without secrets (a report).
    public var text: String {
        let buffer = SecretBuffer()
        write(to: buffer)
        return buffer.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// `depth` is the indentation level; -1 writes the compact form throughout.
    private func write(to output: SecretBuffer, depth: Int) {
        let inner = depth < 0 ? -1 : depth + 1
        switch self {
        case .null: output.append(text: "null")
        case .bool(let flag): output.append(text: flag ? "true" : "false")
        case .unsigned(let number): output.append(text: String(number))
        case .string(let text):
            var text = text
            text.withUTF8 { Self.escape(UnsafeRawBufferPointer($0), into: output) }
        case .secret(let secret):
            secret.withUnsafeBytes { Self.escape($0, into: output) }
        case .array(let elements):
            guard !elements.isEmpty else { return output.append(text: "[]") }
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                Self.newline(output, inner)
                element.write(to: output, depth: inner)
            }
            Self.newline(output, depth)
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            guard !members.isEmpty else { return output.append(text: "{}") }
            output.append(UInt8(ascii: "{"))
            let names = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (position, name) in names.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                Self.newline(output, inner)
                JSONValue.string(name).write(to: output, depth: inner)
                output.append(text: depth < 0 ? ":" : ": ")
                members[name]!.write(to: output, depth: inner)
            }
            Self.newline(output, depth)
            output.append(UInt8(ascii: "}"))
        }
    }

    /// A line break and indentation; nothing in the compact form (a negative depth).
    private static func newline(_ output: SecretBuffer, _ depth: Int) {
        guard depth >= 0 else { return }
        output.append(UInt8(ascii: "\n"))
        for _ in 0..<(depth * 2) { output.append(UInt8(ascii: " ")) }
    }

    /// Writes `bytes` as a quoted JSON string (RFC 8259 §7): `"` and `\` escaped with a
    /// backslash, line feed, carriage return and tab as `\n`, `\r`, `\t`, every other byte
    /// below 0x20 as `\u00XX` (lower-case hex), and every other byte as it is.
    public static func escape(_ bytes: UnsafeRawBufferPointer, into output: SecretBuffer) {
        output.append(UInt8(ascii: "\""))
        var runStart = 0
        for (position, byte) in bytes.enumerated() {
            let escaped: StaticString?
            switch byte {
            case UInt8(ascii: "\""): escaped = "\\\""
            case UInt8(ascii: "\\"): escaped = "\\\\"
            case 0x0A: escaped = "\\n"
            case 0x0D: escaped = "\\r"
            case 0x09: escaped = "\\t"
            case 0..<0x20: escaped = nil
            default: continue
            }
            // Plain bytes go in runs: one copy per run, none through a temporary.
            output.append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<position]))
            runStart = position + 1
            if let escaped {
                output.append(UnsafeRawBufferPointer(start: escaped.utf8Start, count: escaped.utf8CodeUnitCount))
            } else {
                output.append(text: "\\u00")
                output.append(hexDigit(byte >> 4))
                output.append(hexDigit(byte & 0x0F))
            }
        }
        output.append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        output.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
