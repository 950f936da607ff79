import Coffer

/// A JSON value, and the one writer of JSON that may hold secrets: the export document, the
/// import report, and every `--json` output and error of the CLI.
///
/// The writer is deterministic, so that two exports of one state are byte for byte the same
/// (FORMAT.md §12, X-CANON) and a command's output is stable from one run to the next:
/// members sorted by the UTF-8 bytes of their names, two spaces of indentation, `\n` line
/// ends, a final newline, and strings escaped as ``JSONEscaping`` does. The export uses
/// integers only (``int(_:)`` and ``double(_:)`` are for the CLI's statistics). The whole
/// text is written into a ``SecretBuffer`` (locked memory, zeroed when released): a
/// ``secret(_:)`` goes from its ``SecureBytes`` straight there, never through a `String`.
public indirect enum JSONValue: Sendable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case unsigned(UInt64)
    /// A number written in Swift's shortest round-tripping form; `null` when not finite.
    case double(Double)
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
    public init(nilLiteral: ()) { self = .null }

    /// A string, or `null` when absent.
    public static func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }

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
        case .int(let number): output.append(text: String(number))
        case .unsigned(let number): output.append(text: String(number))
        case .double(let number): output.append(text: number.isFinite ? String(number) : "null")
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

    /// Writes `bytes` as a quoted JSON string (``JSONEscaping``), straight into `output`.
    static func escape(_ bytes: UnsafeRawBufferPointer, into output: SecretBuffer) {
        let width = JSONEscaping.escapedCount(bytes)
        output.appendInPlace(maximum: width) { target in
            JSONEscaping.escape(bytes, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<width]))
            return width
        }
    }
}
