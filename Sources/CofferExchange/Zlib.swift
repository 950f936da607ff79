import CZlib
import Coffer

/// zlib (RFC 1950) over whole buffers, into and out of locked memory: the bundle compresses
/// a revealed export, so both sides of the stream are secret.
///
/// CofferCrypto's `Deflate` returns its output in an array, which is fine for what it is
/// used for in the vault but not for secrets; these keep every byte in ``SecretBuffer``s.
enum Zlib {
    /// zlib's default level (6): what the test vector was made with.
    static let level: Int32 = 6

    /// Compresses `input` into a new buffer.
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = Zlib.level) -> SecretBuffer {
        var stream = z_stream()
        guard deflateInit_(&stream, level, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            preconditionFailure("zlib deflateInit failed")
        }
        defer { deflateEnd(&stream) }
        let output = SecretBuffer(capacity: Int(deflateBound(&stream, UInt(input.count))))
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(input.count)
        while true {
            var status: Int32 = Z_OK
            output.appendInPlace(maximum: 65536) { space in
                stream.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = UInt32(space.count)
                status = deflate(&stream, Z_FINISH)
                return space.count - Int(stream.avail_out)
            }
            if status == Z_STREAM_END { return output }
            precondition(status == Z_OK || status == Z_BUF_ERROR, "zlib deflate failed")
        }
    }

    /// Inflates `input`, which must be exactly one zlib stream that inflates to exactly
    /// `expectedCount` bytes (B-INFLATE). `nil` otherwise: a malformed stream, a size other
    /// than declared, or bytes after the end of the stream.
    static func decompress(_ input: UnsafeRawBufferPointer, expectedCount: Int) -> SecretBuffer? {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        // One byte of room beyond the declared size, so that a longer stream is seen as such.
        let output = SecretBuffer(capacity: expectedCount + 1)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = UInt32(input.count)
        var status: Int32 = Z_OK
        output.appendInPlace(maximum: expectedCount + 1) { space in
            stream.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(space.count)
            status = inflate(&stream, Z_FINISH)
            return space.count - Int(stream.avail_out)
        }
        guard status == Z_STREAM_END, output.count == expectedCount, stream.avail_in == 0 else { return nil }
        return output
    }
}
