#if canImport(Glibc)
    import Glibc
#endif

/// Reads little-endian integers and byte strings from a buffer. Every read returns `nil` on
/// short input instead of trapping, so hostile bytes can only ever produce an error.
///
/// The reads are inlinable: a caller in another module gets them specialized to the integer
/// type it reads, instead of a generic call per field (which made decoding an index
/// checkpoint spend 40 % of its time in metadata lookups).
public struct ByteReader {
    @usableFromInline let buffer: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    @usableFromInline var position: Int
    /// The offset of the next byte to read.
    @inlinable public var offset: Int { position }

    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.position = offset
    }

    /// Bytes not yet read.
    @inlinable
    public var remaining: Int { buffer.count - position }

    @inlinable
    public mutating func read<Integer: FixedWidthInteger>(_: Integer.Type = Integer.self) -> Integer? {
        let size = MemoryLayout<Integer>.size
        guard remaining >= size else { return nil }
        let value = buffer.loadUnaligned(fromByteOffset: position, as: Integer.self)
        position += size
        return Integer(littleEndian: value)
    }

    @inlinable
    public mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return Array(buffer[position..<position + count])
    }

    /// A view of the next `count` bytes without copying them; valid as long as the buffer.
    @inlinable
    public mutating func readView(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: buffer[position..<position + count])
    }

    /// Skips `count` bytes, returning `false` when they are not all zero or not present. A
    /// record's padding is checked here on every read: a zero first byte and every byte equal
    /// to the next (one `memcmp`, which the C library runs 32 bytes at a time) is zero
    /// throughout.
    public mutating func skipZeros(_ count: Int) -> Bool {
        guard let view = readView(count) else { return false }
        guard let base = view.baseAddress, view.count > 0 else { return true }
        return view[0] == 0 && memcmp(base, base + 1, view.count - 1) == 0
    }

    /// A `UInt16`-length-prefixed UTF-8 string (F-CONV-STRING); `nil` on short or invalid UTF-8.
    /// Checked by ``UTF8Check``: `String(validating:as:)` looks up generic metadata on every
    /// call, which cost decoding more than the check itself.
    public mutating func readString() -> String? {
        guard let length = read(UInt16.self), let view = readView(Int(length)), UTF8Check.isValid(view) else {
            return nil
        }
        return String(decoding: view, as: UTF8.self)
    }

    /// A `UInt32`-length-prefixed byte string (F-CONV-BLOB).
    public mutating func readBlob() -> [UInt8]? {
        guard let length = read(UInt32.self) else { return nil }
        return readBytes(Int(length))
    }
}
