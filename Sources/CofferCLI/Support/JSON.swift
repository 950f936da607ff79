import Coffer

/// A JSON value, written with sorted keys so that the output of a command is stable from one
/// run to the next (scripts diff it, tests compare it).
///
/// A revealed secret is a ``secret(_:)`` value: the writer escapes it straight from its
/// ``SecureBytes`` into a locked buffer and hands that to the sink, so the secret never sits
/// in a growable array or a `String`.
indirect enum JSON: Sendable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case unsigned(UInt64)
    /// A finite number; written with Swift's shortest round-tripping form.
    case double(Double)
    case string(String)
    case secret(SecureBytes)
    case array([JSON])
    case object([String: JSON])

    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    init(nilLiteral: ()) { self = .null }

    /// A string, or `null` when absent.
    static func optional(_ text: String?) -> JSON { text.map(JSON.string) ?? .null }

    /// Writes the value to `sink`: indented by two spaces, or on one line when `compact`.
    func write(to sink: any OutputSink, compact: Bool = false) {
        var writer = JSONWriter(sink: sink, compact: compact)
        writer.write(self, depth: 0)
        writer.buffer.append(UInt8(ascii: "\n"))
        writer.flush()
    }
}

/// Streams JSON to a sink; see ``JSON``.
private struct JSONWriter {
    let sink: any OutputSink
    let compact: Bool
    /// Non-secret output waiting to be written.
    var buffer: [UInt8] = []

    init(sink: any OutputSink, compact: Bool) {
        self.sink = sink
        self.compact = compact
    }

    mutating func flush() {
        buffer.withUnsafeBytes { sink.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func newline(_ depth: Int) {
        guard !compact else { return }
        buffer.append(UInt8(ascii: "\n"))
        buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * 2))
    }

    mutating func write(_ value: JSON, depth: Int) {
        switch value {
        case .null: buffer.append(contentsOf: "null".utf8)
        case .bool(let flag): buffer.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): buffer.append(contentsOf: String(number).utf8)
        case .unsigned(let number): buffer.append(contentsOf: String(number).utf8)
        case .double(let number): buffer.append(contentsOf: (number.isFinite ? String(number) : "null").utf8)
        case .string(let text): JSONEscaping.append(text.utf8, to: &buffer)
        case .secret(let secret):
            flush()
            let escaped = secret.withUnsafeBytes { bytes in
                SecureBytes(count: JSONEscaping.escapedCount(bytes)) { target in JSONEscaping.escape(bytes, into: target) }
            }
            escaped.withUnsafeBytes { sink.write($0) }
        case .array(let elements):
            guard !elements.isEmpty else {
                buffer.append(contentsOf: "[]".utf8)
                return
            }
            buffer.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { buffer.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                write(element, depth: depth + 1)
            }
            newline(depth)
            buffer.append(UInt8(ascii: "]"))
        case .object(let members):
            guard !members.isEmpty else {
                buffer.append(contentsOf: "{}".utf8)
                return
            }
            buffer.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (position, key) in keys.enumerated() {
                if position > 0 { buffer.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                JSONEscaping.append(key.utf8, to: &buffer)
                buffer.append(contentsOf: (compact ? ":" : ": ").utf8)
                write(members[key]!, depth: depth + 1)
            }
            newline(depth)
            buffer.append(UInt8(ascii: "}"))
        }
    }
}
