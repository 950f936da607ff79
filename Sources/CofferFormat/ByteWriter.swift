/// Appends little-endian integers and byte strings to a buffer. Every multi-byte integer in
/// FORMAT.md is little-endian (F-CONV-ENDIAN); this type is the one place that says so.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func write<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    public mutating func write(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }

    public mutating func writeZeros(_ count: Int) {
        bytes.append(contentsOf: repeatElement(0, count: count))
    }

    /// A UTF-8 string prefixed by its byte length as a `UInt16` (F-CONV-STRING).
    public mutating func writeString(_ string: String) {
        // Copied from the string's own storage, with no array of its bytes in between.
        let utf8 = string.utf8
        precondition(utf8.count <= Int(UInt16.max), "string longer than 65535 bytes")
        write(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Bytes prefixed by their length as a `UInt32` (F-CONV-BLOB).
    public mutating func writeBlob(_ blob: [UInt8]) {
        precondition(blob.count <= Int(UInt32.max), "blob longer than 4 GiB")
        write(UInt32(blob.count))
        write(blob)
    }

    /// Overwrites a little-endian integer at `offset`, for fields computed after the fact.
    public mutating func patch<Integer: FixedWidthInteger>(_ value: Integer, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { bytes[offset + index] = byte }
        }
    }
}
