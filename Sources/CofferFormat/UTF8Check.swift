/// Whether bytes are well-formed UTF-8 (Unicode §3.9, table 3-7, as RFC 3629: no overlong
/// form, no surrogate, nothing past U+10FFFF), without making a `String`: what a decoder of
/// texts it keeps as bytes checks, and what a reader of bytes that may be secret checks
/// without copying them. ASCII, most of what an index holds, goes eight bytes at a time.
///
/// ```swift
/// guard UTF8Check.isValid(view) else { return nil }
/// ```
public enum UTF8Check {
    @inlinable
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstInvalidOffset(bytes) == nil
    }

    /// Whether every byte is ASCII (below 0x80), eight bytes at a time.
    @inlinable
    public static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var highBits: UInt64 = 0
        var index = 0
        while index + 8 <= bytes.count {
            highBits |= bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < bytes.count {
            highBits |= UInt64(bytes[index])
            index += 1
        }
        return highBits & 0x8080_8080_8080_8080 == 0
    }

    /// The offset of the first byte that does not start a valid UTF-8 sequence, or `nil` when
    /// all are valid.
    @inlinable
    public static func firstInvalidOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let count = bytes.count
        var index = 0
        while index < count {
            if index + 8 <= count,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
                continue
            }
            if bytes[index] < 0x80 {
                index += 1
                continue
            }
            let length = sequenceLength(bytes, at: index)
            guard length > 0 else { return index }
            index += length
        }
        return nil
    }

    /// The length of the valid sequence of two to four bytes at `index`, or 0.
    @inlinable
    public static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int {
        // The number of bytes the lead byte starts, and the range its second byte must be in.
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch bytes[index] {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            second = 0x80...0x9F
        case 0xF0:
            length = 4
            second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            second = 0x80...0x8F
        default: return 0
        }
        guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { return 0 }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { return 0 }
        return length
    }
}
