/// Lower-case Crockford base32 (`0-9 a-z` without `i l o u`), the text alphabet of identifiers
/// and platform API keys (FORMAT.md, OPS-TEXT-BASE32).
///
/// A value of `n` bytes is read as one big-endian number of `8n` bits, left-padded with zero
/// bits to a multiple of five, and written most significant digit first. Sixteen bytes take
/// 26 digits (two padding bits), twenty bytes take 32 (none).
enum Base32 {
    static let alphabet: [UInt8] = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// Digits needed for `byteCount` bytes.
    static func digitCount(byteCount: Int) -> Int { (byteCount * 8 + 4) / 5 }

    /// Writes the digits of `source` into `target`, which must hold exactly
    /// `digitCount(byteCount: source.count)` bytes. Writes in place so that secret inputs
    /// never pass through an unprotected buffer.
    static func encode(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) {
        let digits = digitCount(byteCount: source.count)
        precondition(target.count == digits, "base32 target has the wrong size")
        var accumulator: UInt32 = 0
        // The padding bits are leading zeros already "in" the accumulator.
        var bits = digits * 5 - source.count * 8
        var cursor = 0
        for byte in source {
            accumulator = (accumulator << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                target[cursor] = alphabet[Int((accumulator >> UInt32(bits)) & 31)]
                cursor += 1
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        precondition(cursor == digits && bits == 0, "base32 encoding out of step")
    }

    /// The digits of `bytes` as a string.
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = digitCount(byteCount: bytes.count)
        var text = [UInt8](repeating: 0, count: digits)
        bytes.withUnsafeBytes { source in
            text.withUnsafeMutableBytes { target in encode(source, into: target) }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The value of a digit, or `nil` for a byte outside the alphabet (upper case included:
    /// the text form is canonical, so there is exactly one spelling of each value).
    static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        default:
            guard let index = alphabet.firstIndex(of: digit) else { return nil }
            return UInt8(index)
        }
    }

    /// Decodes exactly `byteCount` bytes from `text`; `nil` when the length is wrong, a digit
    /// is outside the alphabet, or a padding bit is set (which would give a second spelling).
    static func decode(_ text: Substring.UTF8View, byteCount: Int) -> [UInt8]? {
        let digits = digitCount(byteCount: byteCount)
        guard text.count == digits else { return nil }
        let padding = digits * 5 - byteCount * 8
        var bytes = [UInt8](repeating: 0, count: byteCount)
        var position = 0
        for digit in text {
            guard let value = value(of: digit) else { return nil }
            for bit in stride(from: 4, through: 0, by: -1) {
                let isSet = (value >> UInt8(bit)) & 1 == 1
                if position < padding {
                    if isSet { return nil }
                } else if isSet {
                    let target = position - padding
                    bytes[target / 8] |= 0x80 >> UInt8(target % 8)
                }
                position += 1
            }
        }
        return bytes
    }
}
