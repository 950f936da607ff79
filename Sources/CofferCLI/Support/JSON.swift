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

/// JSON string escaping (RFC 8259 §7): quotation mark, reverse solidus and control
/// characters are escaped; everything else, UTF-8 included, is written as it is.
enum JSONEscaping {
    static func append(_ bytes: some Sequence<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        for byte in bytes { appendEscaped(byte, to: &buffer) }
        buffer.append(UInt8(ascii: "\""))
    }

    /// The bytes `escape(_:into:)` writes for `bytes`, quotes included.
    static func escapedCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 2
        for byte in bytes { count += width(of: byte) }
        return count
    }

    /// Writes the quoted, escaped form of `bytes` into `target`, which has exactly
    /// `escapedCount(bytes)` bytes.
    static func escape(_ bytes: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) {
        var cursor = 0
        func put(_ byte: UInt8) {
            target[cursor] = byte
            cursor += 1
        }
        put(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                put(UInt8(ascii: "\\"))
                put(byte)
            case 0x0A:
                put(UInt8(ascii: "\\"))
                put(UInt8(ascii: "n"))
            case 0x0D:
                put(UInt8(ascii: "\\"))
                put(UInt8(ascii: "r"))
            case 0x09:
                put(UInt8(ascii: "\\"))
                put(UInt8(ascii: "t"))
            case 0..<0x20:
                for character in "\\u00".utf8 { put(character) }
                put(hexDigit(byte >> 4))
                put(hexDigit(byte & 0x0F))
            default:
                put(byte)
            }
        }
        put(UInt8(ascii: "\""))
        precondition(cursor == target.count, "escaped length mismatch")
    }

    private static func width(of byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: 2
        case 0..<0x20: 6
        default: 1
        }
    }

    private static func appendEscaped(_ byte: UInt8, to buffer: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): buffer.append(contentsOf: "\\\"".utf8)
        case UInt8(ascii: "\\"): buffer.append(contentsOf: "\\\\".utf8)
        case 0x0A: buffer.append(contentsOf: "\\n".utf8)
        case 0x0D: buffer.append(contentsOf: "\\r".utf8)
        case 0x09: buffer.append(contentsOf: "\\t".utf8)
        case 0..<0x20:
            buffer.append(contentsOf: "\\u00".utf8)
            buffer.append(hexDigit(byte >> 4))
            buffer.append(hexDigit(byte & 0x0F))
        default: buffer.append(byte)
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
