#if canImport(Glibc)
    import Glibc
#endif

/// Reads little-endian integers and byte strings from a buffer. Every read returns `nil` on
/// short input instead of trapping, so hostile bytes can only ever produce an error.
///
/// The reads are inlinable: a caller in another module gets them specialized to the integer
/// type it reads, instead of a generic call per field (which made decoding an index
/// checkpoint spend 40 % of its time in metadata lookups).
///
/// A reader of bytes still arriving (a checkpoint another thread opens chunk by chunk) is
/// given their ``ByteArrival``: a read past what has arrived waits for it there, and only a
/// read past the buffer's end fails.
public struct ByteReader {
    @usableFromInline let buffer: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    @usableFromInline var position: Int
    /// The bytes before this offset have arrived (the whole buffer, unless `arrival`).
    @usableFromInline var arrived: Int
    @usableFromInline let arrival: (any ByteArrival)?
    /// The offset of the next byte to read.
    @inlinable public var offset: Int { position }

    @inlinable
    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.position = offset
        self.arrived = buffer.count
        self.arrival = nil
    }

    /// A reader of `buffer`, whose bytes `arrival` says have arrived (all of them when `nil`).
    public init(_ buffer: UnsafeRawBufferPointer, arrival: (any ByteArrival)?) {
        self.buffer = buffer
        self.position = 0
        self.arrival = arrival
        self.arrived = buffer.count
        if let arrival {
            arrived = buffer.baseAddress.map { min(buffer.count, arrival.arrived(through: $0) - $0) } ?? 0
        }
    }

    /// Bytes not yet read (arrived or not).
    @inlinable
    public var remaining: Int { buffer.count - position }

    /// Whether the `count` bytes from the next are in the buffer and have arrived: waits for
    /// them when they are in the buffer but still arriving.
    @inlinable @inline(__always)
    mutating func has(_ count: Int) -> Bool {
        count >= 0 && (count <= arrived - position || awaitArrival(count))
    }

    @usableFromInline
    @inline(never)
    mutating func awaitArrival(_ count: Int) -> Bool {
        guard count <= remaining, let arrival, let base = buffer.baseAddress else { return false }
        // An arrival may be past this reader's buffer: the buffer ends the reads all the same.
        arrived = min(buffer.count, arrival.arrived(through: base + position + count) - base)
        return count <= arrived - position
    }

    // Always inlined: a decoder's loop reads a field a few instructions long at a time.
    @inlinable @inline(__always)
    public mutating func read<Integer: FixedWidthInteger>(_: Integer.Type = Integer.self) -> Integer? {
        let size = MemoryLayout<Integer>.size
        guard has(size) else { return nil }
        let value = buffer.loadUnaligned(fromByteOffset: position, as: Integer.self)
        position += size
        return Integer(littleEndian: value)
    }

    @inlinable
    public mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard has(count) else { return nil }
        defer { position += count }
        return Array(buffer[position..<position + count])
    }

    /// A view of the next `count` bytes without copying them; valid as long as the buffer.
    @inlinable @inline(__always)
    public mutating func readView(_ count: Int) -> UnsafeRawBufferPointer? {
        guard has(count) else { return nil }
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

/// Where the bytes a ``ByteReader`` reads are still arriving: each arrives once, front to
/// back, and stays as it arrived.
public protocol ByteArrival: AnyObject {
    /// Waits until every byte before `end` has arrived, or until no more will; returns the
    /// address before which every byte has arrived (`end` or past it, unless no more will).
    func arrived(through end: UnsafeRawPointer) -> UnsafeRawPointer

    /// Waits until every byte has arrived; whether they can be trusted (authenticated, and
    /// checked against whatever they must agree with). Until it answers true, what was read
    /// is untrusted: whatever was made of it is discarded when it answers false. May be asked
    /// from any thread, more than once: the first answer stays.
    func complete() -> Bool
}
