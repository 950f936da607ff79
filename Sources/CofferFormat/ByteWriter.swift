/// Appends little-endian integers and byte strings to a buffer. Every multi-byte integer in
/// FORMAT.md is little-endian (F-CONV-ENDIAN); this type is the one place that says so.
///
/// Its methods are inlinable, as ``ByteReader``'s are, so that an encoder in another module
/// writes each integer in place rather than through an unspecialized generic call.
public struct ByteWriter: Sendable {
    /// The bytes written so far; written only through the methods below.
    @usableFromInline var storage: [UInt8]

    @inlinable public init(capacity: Int = 0) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// The bytes written so far.
    @inlinable public var bytes: [UInt8] { storage }

    @inlinable public var count: Int { storage.count }

    @inlinable public mutating func write<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { storage.append(contentsOf: $0) }
    }

    @inlinable public mutating func write(_ raw: [UInt8]) { storage.append(contentsOf: raw) }

    @inlinable public mutating func write(_ raw: UnsafeRawBufferPointer) { storage.append(contentsOf: raw) }

    @inlinable public mutating func writeZeros(_ count: Int) {
        storage.append(contentsOf: repeatElement(0, count: count))
    }

    /// A UTF-8 string prefixed by its byte length as a `UInt16` (F-CONV-STRING).
    @inlinable public mutating func writeString(_ string: String) {
        // Copied from the string's own storage, with no array of its bytes in between.
        let utf8 = string.utf8
        precondition(utf8.count <= Int(UInt16.max), "string longer than 65535 bytes")
        write(UInt16(utf8.count))
        storage.append(contentsOf: utf8)
    }

    /// Bytes prefixed by their length as a `UInt32` (F-CONV-BLOB).
    @inlinable public mutating func writeBlob(_ blob: [UInt8]) {
        precondition(blob.count <= Int(UInt32.max), "blob longer than 4 GiB")
        write(UInt32(blob.count))
        write(blob)
    }

    /// Overwrites a little-endian integer at `offset`, for fields computed after the fact.
    @inlinable public mutating func patch<Integer: FixedWidthInteger>(_ value: Integer, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { storage[offset + index] = byte }
        }
    }
}
