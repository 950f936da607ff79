/// Reads little-endian integers and byte strings from a buffer. Every read returns `nil` on
/// short input instead of trapping, so hostile bytes can only ever produce an error.
public struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    public private(set) var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    /// Bytes not yet read.
    public var remaining: Int { buffer.count - offset }

    public mutating func read<Integer: FixedWidthInteger>(_: Integer.Type = Integer.self) -> Integer? {
        let size = MemoryLayout<Integer>.size
        guard remaining >= size else { return nil }
        var value = Integer.zero
        withUnsafeMutableBytes(of: &value) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + size]))
        }
        offset += size
        return Integer(littleEndian: value)
    }

    public mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return Array(buffer[offset..<offset + count])
    }

    /// A view of the next `count` bytes without copying them; valid as long as the buffer.
    public mutating func readView(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
    }

    /// Skips `count` bytes, returning `false` when they are not all zero or not present.
    public mutating func skipZeros(_ count: Int) -> Bool {
        guard let view = readView(count) else { return false }
        return view.allSatisfy { $0 == 0 }
    }

    /// A `UInt16`-length-prefixed UTF-8 string (F-CONV-STRING); `nil` on short or invalid UTF-8.
    public mutating func readString() -> String? {
        guard let length = read(UInt16.self), let view = readView(Int(length)) else { return nil }
        return String(validating: view, as: UTF8.self)
    }

    /// A `UInt32`-length-prefixed byte string (F-CONV-BLOB).
    public mutating func readBlob() -> [UInt8]? {
        guard let length = read(UInt32.self) else { return nil }
        return readBytes(Int(length))
    }
}
