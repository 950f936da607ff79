import CZlib

/// zlib compression of whole buffers (RFC 1950), used only where FORMAT.md allows it
/// (F-COMPRESS): never on a stream that mixes caller-chosen data with secrets.
public enum Deflate {
    /// Compresses `input` at zlib's level 6.
    public static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var bound = compressBound(UInt(input.count))
        var output = [UInt8](repeating: 0, count: Int(bound))
        let status = output.withUnsafeMutableBufferPointer { target in
            input.withNonNullBase { source, count in
                compress2(target.baseAddress!, &bound, source, UInt(count), 6)
            }
        }
        precondition(status == Z_OK, "zlib compress2 failed")
        output.removeSubrange(Int(bound)...)
        return output
    }

    /// Decompresses `input`, which must expand to exactly `expectedCount` bytes, into
    /// protected memory. Returns `nil` for malformed input or a size mismatch.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedCount: Int) -> SecureBytes? {
        struct Malformed: Error {}
        return try? SecureBytes(count: expectedCount) { target in
            var produced = UInt(expectedCount)
            var dummy: UInt8 = 0
            let status = withUnsafeMutablePointer(to: &dummy) { dummyPointer in
                input.withNonNullBase { source, count in
                    uncompress(
                        target.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? dummyPointer, &produced,
                        source, UInt(count))
                }
            }
            if status != Z_OK || produced != UInt(expectedCount) { throw Malformed() }
        }
    }
}
