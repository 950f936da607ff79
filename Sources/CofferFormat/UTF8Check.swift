/// Whether bytes are well-formed UTF-8 (Unicode §3.9, table 3-7, as RFC 3629: no overlong
/// form, no surrogate, nothing past U+10FFFF), without making a `String`: what a decoder of
/// texts it keeps as bytes checks, and what a reader of bytes that may be secret checks
/// without copying them. ASCII, most of what an index holds, goes eight bytes at a time (a
/// word not all ASCII skips to its first byte that is not), and a sequence of two to four
/// bytes is checked from one load by masks.
///
/// ```swift
/// guard UTF8Check.isValid(view) else { return nil }
/// ```
public enum UTF8Check {
    @inlinable
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstInvalidOffset(bytes) == nil
    }

    /// The offset of the first byte that does not start a valid UTF-8 sequence, or `nil` when
    /// all are valid.
    @inlinable
    public static func firstInvalidOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let count = bytes.count
        var index = 0
        while index < count {
            // Eight bytes at a time, the last eight overlapping those before; a word that is not
            // all ASCII skips to its first byte that is not.
            if count >= 8 {
                let start = min(index, count - 8)
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
                let high = (word >> (UInt64(index - start) * 8)) & 0x8080_8080_8080_8080
                if high == 0 {
                    if start < index { return nil }
                    index += 8
                    continue
                }
                index += high.trailingZeroBitCount >> 3
            } else if bytes[index] < 0x80 {
                index += 1
                continue
            }
            if index + 4 <= count {
                // The sequence's four bytes at once (they are in the buffer): its form by masks.
                let word = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self))
                guard let length = maskedSequenceLength(word) else { return index }
                index += length
                continue
            }
            let length = sequenceLength(bytes, at: index)
            guard length > 0 else { return index }
            index += length
        }
        return nil
    }

    /// The length of the valid sequence of two to four bytes the low bytes of `word` start
    /// with (its first byte not ASCII), or `nil`: the rules of ``sequenceLength(_:at:)``.
    @inlinable
    static func maskedSequenceLength(_ word: UInt32) -> Int? {
        let lead = word & 0xFF
        let second = word >> 8 & 0xFF
        if word & 0xC0E0 == 0x80C0 { return lead >= 0xC2 ? 2 : nil }
        if word & 0xC0_C0F0 == 0x80_80E0 {
            // No overlong form (E0 needs A0 and up), no surrogate (ED needs below A0).
            return (lead != 0xE0 || second >= 0xA0) && (lead != 0xED || second < 0xA0) ? 3 : nil
        }
        if word & 0xC0C0_C0F8 == 0x8080_80F0 {
            // Nothing past U+10FFFF (F4 needs below 90, nothing above F4), no overlong form.
            return lead <= 0xF4 && (lead != 0xF0 || second >= 0x90) && (lead != 0xF4 || second < 0x90) ? 4 : nil
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
