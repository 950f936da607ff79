/// Where a credential's texts are in its ``TextArena``: an offset and a byte count packed in
/// eight bytes, instead of a `String` per text (16 bytes in the record and, past 15 bytes of
/// UTF-8, a heap object of 32 bytes and more besides) or a reference per text (8 bytes more).
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

/// The texts of the index's credential records, back to back in one buffer: per record a byte
/// with its label's length, the label, the display text (UTF-8). Adding texts appends them; a
/// record that replaces or drops its texts leaves the old bytes behind as waste, which
/// `IndexTables.reclaimTextWaste()` gives back once it outweighs the texts in use. Truncating
/// back to an earlier ``count`` undoes additions, newest first, as the undo journal of
/// ``IndexMutation`` does.
struct TextArena: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Bytes no record refers to any more.
    private(set) var wasteBytes = 0

    /// Appends a credential's label and display text as one text — a byte with the label's
    /// length, the label, the display text — and returns where it is, so that the record holds
    /// one reference instead of two; both empty take no bytes. `nil`, and nothing added, when
    /// the label is longer than a byte counts (apply caps labels at `Names.nameBytesMax`, 200)
    /// or the text or the arena would be past what a reference reaches.
    mutating func add(label: UnsafeRawBufferPointer, display: UnsafeRawBufferPointer) -> TextReference? {
        guard !label.isEmpty || !display.isEmpty else { return .empty }
        let count = 1 + label.count + display.count
        guard label.count <= Int(UInt8.max), count <= TextReference.countMax, bytes.count <= TextReference.offsetMax
        else { return nil }
        let reference = TextReference(checkedOffset: bytes.count, count: count)
        bytes.append(UInt8(label.count))
        bytes.append(contentsOf: label)
        bytes.append(contentsOf: display)
        return reference
    }

    /// ``add(label:display:)-(UnsafeRawBufferPointer,_)`` of two strings.
    mutating func add(label: String, display: String) -> TextReference? {
        var label = label
        var display = display
        return label.withUTF8 { label in
            display.withUTF8 { add(label: UnsafeRawBufferPointer(label), display: UnsafeRawBufferPointer($0)) }
        }
    }

    /// Appends bytes as one text: a reference's bytes, which ``add(_:from:)`` moves whole.
    private mutating func add(utf8: UnsafeRawBufferPointer) -> TextReference? {
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

    /// The label of the credential texts at `reference`.
    func label(_ reference: TextReference) -> String {
        withLabelUTF8(reference) { String(decoding: $0, as: UTF8.self) }
    }

    /// The display text of the credential texts at `reference`.
    func display(_ reference: TextReference) -> String {
        withDisplayUTF8(reference) { String(decoding: $0, as: UTF8.self) }
    }

    /// Runs `body` on the UTF-8 bytes of the label at `reference`, without making a `String`.
    func withLabelUTF8<Result>(_ reference: TextReference, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result)
        rethrows -> Result
    {
        try withParts(reference) { label, _ in try body(label) }
    }

    /// Runs `body` on the UTF-8 bytes of the display text at `reference`.
    func withDisplayUTF8<Result>(_ reference: TextReference, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result)
        rethrows -> Result
    {
        try withParts(reference) { _, display in try body(display) }
    }

    /// The label and the display text at `reference`: both empty for ``TextReference/empty``.
    private func withParts<Result>(
        _ reference: TextReference, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Result
    ) rethrows -> Result {
        try bytes.withUnsafeBufferPointer { all in
            guard reference.count > 0 else {
                return try body(UnsafeBufferPointer(rebasing: all[0..<0]), UnsafeBufferPointer(rebasing: all[0..<0]))
            }
            // Only add(label:display:) makes a reference, with the label's length first.
            let labelStart = reference.offset + 1
            let displayStart = labelStart + Int(all[reference.offset])
            let end = reference.offset + reference.count
            return try body(
                UnsafeBufferPointer(rebasing: all[labelStart..<displayStart]),
                UnsafeBufferPointer(rebasing: all[displayStart..<end]))
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
