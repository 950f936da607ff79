import CZlib

/// CRC-32 (ISO 3309, zlib's `crc32`): the keyless checksum of frame headers and bodies.
///
/// It detects torn and flipped bytes without a key; authentication is the AEAD tag's job
/// (FORMAT.md, F-FRAME-CRC).
public enum CRC32 {
    /// The checksum of `bytes`, continuing from `initial` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing initial: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
        var crc = UInt(initial)
        var remaining = bytes.count
        var pointer = base.assumingMemoryBound(to: UInt8.self)
        // zlib takes a 32-bit length.
        while remaining > 0 {
            let chunk = min(remaining, Int(UInt32.max))
            crc = crc32(crc, pointer, UInt32(chunk))
            pointer += chunk
            remaining -= chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
