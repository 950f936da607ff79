/// Where one text of the index is in its ``TextArena``: an offset and a byte count packed in
/// eight bytes, instead of a `String` per text (16 bytes in the record and, past 15 bytes of
/// UTF-8, a heap object of 32 bytes and more besides).
struct TextReference: Sendable, Hashable {
    /// Offset in the low 36 bits (64 GiB of texts), byte count in the high 28 (256 MiB: a
    /// display text is at most a few times a record's body, whose invalid bytes a preview
    /// shows as three-byte replacement characters).
    private var packed: UInt64

    static let countMax = (1 << 28) - 1
    static let offsetMax = (1 << 36) - 1

    /// The empty text.
    static let empty = TextReference(checkedOffset: 0, count: 0)

    /// `offset` and `count` are within ``offsetMax`` and ``countMax``.
    fileprivate init(checkedOffset offset: Int, count: Int) {
        packed = UInt64(offset) | UInt64(count) << 36
    }

    var offset: Int { Int(packed & 0xF_FFFF_FFFF) }
    var count: Int { Int(packed >> 36) }
}

/// The texts of the index's credential records (labels and display texts), back to back in
/// one buffer of valid UTF-8. Adding a text appends it; a record that replaces or drops a text
/// leaves the old bytes behind as waste, which `IndexTables.reclaimTextWaste()` gives back once
/// it outweighs the texts in use. Truncating back to an earlier ``count`` undoes additions, newest
/// first, as the undo journal of ``IndexMutation`` does.
struct TextArena: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Bytes no record refers to any more.
    private(set) var wasteBytes = 0

    /// Appends `text` and returns where it is; `nil`, and nothing added, when the text or the
    /// arena would be past what a reference reaches.
    mutating func add(_ text: String) -> TextReference? {
        var text = text
        return text.withUTF8 { add(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Appends bytes the caller checked to be valid UTF-8; `nil` as ``add(_:)-(String)``.
    mutating func add(utf8: UnsafeRawBufferPointer) -> TextReference? {
        guard !utf8.isEmpty else { return .empty }
        guard utf8.count <= TextReference.countMax, bytes.count <= TextReference.offsetMax else { return nil }
        let reference = TextReference(checkedOffset: bytes.count, count: utf8.count)
        bytes.append(contentsOf: utf8)
        return reference
    }

    /// The arena's length: what ``truncate(to:)`` takes back to.
    var count: Int { bytes.count }

    /// Drops what was added after the arena was `count` bytes long (an undo).
    mutating func truncate(to count: Int) {
        bytes.removeSubrange(count...)
    }

    /// Counts `reference`'s bytes as waste: no record refers to them any more. `-1` as
    /// `sign` takes that back (an undo).
    mutating func release(_ reference: TextReference, sign: Int = 1) {
        wasteBytes += sign * reference.count
    }

    subscript(reference: TextReference) -> String {
        bytes.withUnsafeBufferPointer {
            String(
                decoding: UnsafeBufferPointer(rebasing: $0[reference.offset..<reference.offset + reference.count]),
                as: UTF8.self)
        }
    }

    /// Runs `body` on the UTF-8 bytes of `reference`, without making a `String`.
    func withUTF8<Result>(_ reference: TextReference, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows
        -> Result
    {
        try bytes.withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[reference.offset..<reference.offset + reference.count]))
        }
    }

    /// Whether the waste outweighs the texts in use (and is worth a copy).
    var isWasteful: Bool { wasteBytes >= 1 << 16 && wasteBytes * 2 >= bytes.count }

    /// Appends the text `reference` names in `other`: how a new arena takes the texts in use,
    /// which fit, since `other` holds them and more.
    mutating func add(_ reference: TextReference, from other: TextArena) -> TextReference {
        let moved = other.bytes.withUnsafeBytes { raw in
            add(utf8: UnsafeRawBufferPointer(rebasing: raw[reference.offset..<reference.offset + reference.count]))
        }
        guard let moved else { preconditionFailure("a text in use does not fit where it was") }
        return moved
    }
}
