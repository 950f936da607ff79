/// JSON string escaping (RFC 8259 §7): quotation mark, reverse solidus and control
/// characters are escaped; everything else, UTF-8 included, is written as it is.
public enum JSONEscaping {
    /// Appends `bytes` as a quoted, escaped JSON string.
    public static func append(_ bytes: some Sequence<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        for byte in bytes { appendEscaped(byte, to: &buffer) }
        buffer.append(UInt8(ascii: "\""))
    }

    /// The bytes `escape(_:into:)` writes for `bytes`, quotes included.
    public static func escapedCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 2
        for byte in bytes { count += width(of: byte) }
        return count
    }

    /// Writes the quoted, escaped form of `bytes` into `target`, which has exactly
    /// `escapedCount(bytes)` bytes.
    public static func escape(_ bytes: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) {
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
