import CofferCrypto

/// Reading a JSON string (RFC 8259 §7) back into its bytes, straight into ``SecureBytes``:
/// the value of a `custom` credential's member is a secret.
public enum JSONUnescaping {
    /// The value of the four hexadecimal digits at `index` (a `\u` escape's), or nil.
    public static func hexValue(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt32? {
        guard index >= 0, index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The bytes of the JSON string `quoted` (quotes included), or nil when it is not a
    /// well-formed string. A `\u` escape of a lone surrogate becomes U+FFFD.
    static func string(_ quoted: UnsafeRawBufferPointer) -> SecureBytes? {
        var count = 0
        guard walk(quoted, { _ in count += 1 }) else { return nil }
        return SecureBytes(count: count) { target in
            var cursor = 0
            _ = walk(quoted) { byte in
                target[cursor] = byte
                cursor += 1
            }
        }
    }

    /// Calls `emit` with each byte the string stands for; false when it is malformed.
    private static func walk(_ quoted: UnsafeRawBufferPointer, _ emit: (UInt8) -> Void) -> Bool {
        guard quoted.count >= 2, quoted.first == UInt8(ascii: "\""), quoted.last == UInt8(ascii: "\"") else {
            return false
        }
        var index = 1
        let end = quoted.count - 1
        func hexQuad() -> UInt32? {
            guard index + 4 <= end, let value = hexValue(quoted, at: index) else { return nil }
            index += 4
            return value
        }
        while index < end {
            let byte = quoted[index]
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                guard byte >= 0x20, byte != UInt8(ascii: "\"") else { return false }
                emit(byte)
                continue
            }
            guard index < end else { return false }
            let escape = quoted[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): emit(escape)
            case UInt8(ascii: "b"): emit(0x08)
            case UInt8(ascii: "f"): emit(0x0C)
            case UInt8(ascii: "n"): emit(0x0A)
            case UInt8(ascii: "r"): emit(0x0D)
            case UInt8(ascii: "t"): emit(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hexQuad() else { return false }
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= end, quoted[index] == UInt8(ascii: "\\"),
                    quoted[index + 1] == UInt8(ascii: "u")
                {
                    let mark = index
                    index += 2
                    if let low = hexQuad(), (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        index = mark
                    }
                }
                for unit in Unicode.UTF8.encode(Unicode.Scalar(scalar) ?? "\u{FFFD}")! { emit(unit) }
            default: return false
            }
        }
        return true
    }
}
