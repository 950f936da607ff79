import CofferCrypto
import CofferErrors
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// Where an operation body goes: into protected memory (``OperationBodyWriter``) or nowhere,
/// only counted (``OperationBodyCounter``). Both run the same encoding code, so a counted size
/// is the size of the bytes by construction.
protocol OperationBodySink {
    mutating func write<Integer: FixedWidthInteger>(_ value: Integer)
    mutating func write<Kind>(_ identifier: Identifier<Kind>)
    mutating func writeRaw(_ bytes: [UInt8])
    /// OPS-ENC-STRING: `u16 length || UTF-8`. The caller has checked the length (validate first).
    mutating func writeString(_ string: String)
    /// OPS-ENC-FIELDS: `u8 count || count × (string name || blob value)`, names in strictly
    /// increasing UTF-8 byte order.
    mutating func write(_ fields: FieldValues)
}

extension OperationBodySink {
    mutating func write<Word: ModelWord>(_ word: Word) { write(word.rawValue) }
}

/// Counts the bytes of an operation body without writing them: the size of a compacted
/// transaction is known before any secret is copied.
struct OperationBodyCounter: OperationBodySink {
    private(set) var count = 0

    mutating func write<Integer: FixedWidthInteger>(_ value: Integer) { count += MemoryLayout<Integer>.size }

    mutating func write<Kind>(_ identifier: Identifier<Kind>) { count += Identifier<Kind>.byteCount }

    mutating func writeRaw(_ bytes: [UInt8]) { count += bytes.count }

    mutating func writeString(_ string: String) {
        let length = string.utf8.count
        precondition(length <= Int(UInt16.max), "string longer than 65535 bytes")
        count += 2 + length
    }

    mutating func write(_ fields: FieldValues) {
        precondition(fields.count <= Int(UInt8.max), "too many fields to encode")
        count += 1
        for field in fields.entries {
            writeString(field.name)
            precondition(field.value.count <= Int(UInt32.max), "field value too long to encode")
            count += 4 + field.value.count
        }
    }
}

/// Builds an operation body straight into protected memory. Non-secret parts (lengths,
/// identifiers, names) go through a ``ByteWriter``; secret values are referenced, not copied,
/// until the one final copy into the body's ``SecureBytes``.
struct OperationBodyWriter: OperationBodySink {
    private enum Piece {
        case plain([UInt8])
        case secret(SecureBytes)
    }

    private var pieces: [Piece] = []
    private var plain = ByteWriter()

    mutating func write<Integer: FixedWidthInteger>(_ value: Integer) { plain.write(value) }

    mutating func write<Kind>(_ identifier: Identifier<Kind>) { identifier.withUnsafeBytes { plain.write($0) } }

    mutating func writeRaw(_ bytes: [UInt8]) { plain.write(bytes) }

    mutating func writeString(_ string: String) { plain.writeString(string) }

    mutating func write(_ fields: FieldValues) {
        precondition(fields.count <= Int(UInt8.max), "too many fields to encode")
        write(UInt8(fields.count))
        for field in fields.entries {
            writeString(field.name)
            precondition(field.value.count <= Int(UInt32.max), "field value too long to encode")
            write(UInt32(field.value.count))
            flushPlain()
            pieces.append(.secret(field.value))
        }
    }

    private mutating func flushPlain() {
        if plain.count > 0 { pieces.append(.plain(plain.bytes)) }
        plain = ByteWriter()
    }

    /// The finished body, in protected memory.
    mutating func finish() -> SecureBytes {
        flushPlain()
        var total = 0
        for piece in pieces {
            switch piece {
            case .plain(let bytes): total += bytes.count
            case .secret(let value): total += value.count
            }
        }
        return SecureBytes(count: total) { target in
            var cursor = 0
            for piece in pieces {
                switch piece {
                case .plain(let bytes):
                    bytes.withUnsafeBytes { source in
                        if source.count > 0 {
                            (target.baseAddress! + cursor).copyMemory(
                                from: source.baseAddress!, byteCount: source.count)
                        }
                    }
                    cursor += bytes.count
                case .secret(let value):
                    value.withUnsafeBytes { source in
                        if source.count > 0 {
                            (target.baseAddress! + cursor).copyMemory(
                                from: source.baseAddress!, byteCount: source.count)
                        }
                    }
                    cursor += value.count
                }
            }
            precondition(cursor == total, "operation body size out of step")
        }
    }
}

/// Reads an operation body. Every read throws `.invalidInput` on short or malformed input,
/// so hostile bytes produce an error and never a crash or a large allocation.
struct OperationBodyReader: ~Copyable {
    private var reader: ByteReader
    private let code: OperationCode
    /// Whether ``skipString(_:)`` checks the UTF-8 of what it steps over, as decode does: for a
    /// test that compares the reveal's decoder with decode exactly (the fuzzers).
    private let checksSkippedStrings: Bool

    init(_ bytes: UnsafeRawBufferPointer, code: OperationCode, checksSkippedStrings: Bool = false) {
        self.reader = ByteReader(bytes)
        self.code = code
        self.checksSkippedStrings = checksSkippedStrings
    }

    /// Bytes not read yet.
    var remaining: Int { reader.remaining }

    func malformed(_ what: String) -> CofferError {
        CofferError(.invalidInput, "The \(code) operation body is malformed: \(what).")
    }

    mutating func read<Integer: FixedWidthInteger>(_: Integer.Type, _ what: String) throws(CofferError) -> Integer {
        guard let value = reader.read(Integer.self) else { throw malformed("\(what) is cut short") }
        return value
    }

    mutating func readID<Kind>(_ what: String) throws(CofferError) -> Identifier<Kind> {
        guard let bytes = reader.readView(Identifier<Kind>.byteCount), let identifier = Identifier<Kind>(bytes: bytes)
        else {
            throw malformed("\(what) is cut short")
        }
        return identifier
    }

    mutating func readWord<Word: ModelWord>(_: Word.Type, _ what: String) throws(CofferError) -> Word {
        let raw = try read(UInt8.self, what)
        guard let word = Word(rawValue: raw) else { throw malformed("\(what) has the unknown value \(raw)") }
        return word
    }

    mutating func readString(_ what: String) throws(CofferError) -> String {
        guard let string = reader.readString() else { throw malformed("\(what) is cut short or not UTF-8") }
        return string
    }

    /// A string's bytes where they lie, checked as ``readString(_:)`` checks them but not
    /// made a `String`.
    mutating func readStringView(_ what: String) throws(CofferError) -> UnsafeRawBufferPointer {
        guard let length = reader.read(UInt16.self), let view = reader.readView(Int(length)), UTF8Check.isValid(view)
        else { throw malformed("\(what) is cut short or not UTF-8") }
        return view
    }

    /// Steps over a string the reader does not use: its length and bytes, not whether they
    /// are UTF-8 (``readStringView(_:)``), for a reader of an authenticated record whose
    /// skipped bytes reach no one (a reveal).
    mutating func skipString(_ what: String) throws(CofferError) {
        if checksSkippedStrings {
            _ = try readStringView(what)
            return
        }
        guard let length = reader.read(UInt16.self), reader.readView(Int(length)) != nil else {
            throw malformed("\(what) is cut short")
        }
    }

    /// Steps over OPS-ENC-METADATA after its id (the organization, app key, slug, label,
    /// kind, type, category, scope and owner), for a reader that wants the fields alone:
    /// checked as ``readCredentialMetadata()`` checks it, without building it, but for the
    /// UTF-8 of its strings (``skipString(_:)``).
    mutating func skipCredentialMetadataAfterID() throws(CofferError) {
        let _: OrganizationID = try readID("the organization")
        try skipString("the app key")
        try skipString("the slug")
        try skipString("the label")
        _ = try readWord(CredentialKind.self, "the kind")
        _ = try readWord(CredentialType.self, "the type")
        _ = try readWord(CredentialCategory.self, "the category")
        let scope = try readWord(CredentialScope.self, "the scope")
        guard let owner = reader.readView(16) else { throw malformed("the scope owner is cut short") }
        guard ScopeOwner(scope: scope, ownerBytes: owner) != nil else {
            throw malformed("the scope owner is invalid")
        }
    }

    mutating func readRaw(_ count: Int, _ what: String) throws(CofferError) -> [UInt8] {
        guard let bytes = reader.readBytes(count) else { throw malformed("\(what) is cut short") }
        return bytes
    }

    /// OPS-ENC-FIELDS, with the decoder's checks: at most 16 fields, names strictly
    /// increasing (so none repeats), each value at most 64 KiB.
    mutating func readFields() throws(CofferError) -> FieldValues {
        let count = try read(UInt8.self, "the field count")
        guard Int(count) <= FieldValidation.fieldCountMax else { throw malformed("it has \(count) fields") }
        var entries: [FieldValues.Entry] = []
        entries.reserveCapacity(Int(count))
        var previous: UnsafeRawBufferPointer?
        var allASCII = true
        for _ in 0..<count {
            let nameBytes = try readStringView("a field name")
            if let previous, !Self.precedes(previous, nameBytes) {
                throw malformed("field names are not in increasing order")
            }
            let valueLength = try read(UInt32.self, "a field length")
            guard valueLength <= UInt32(FieldValidation.valueBytesMax), let view = reader.readView(Int(valueLength))
            else {
                throw malformed("a field value is cut short or too long")
            }
            // A type's field name is ASCII, and made a `String` once.
            let name: String
            if let known = FieldSpec.knownName(nameBytes) {
                name = known
            } else {
                allASCII = allASCII && !nameBytes.contains { $0 >= 0x80 }
                name = String(decoding: nameBytes, as: UTF8.self)
            }
            entries.append(FieldValues.Entry(name: name, value: SecureBytes(copying: view)))
            previous = nameBytes
        }
        // Names in increasing byte order can still be one `String` (canonically equivalent
        // spellings, which only text beyond ASCII has): a repeat all the same.
        if !allASCII {
            for (position, entry) in entries.enumerated()
            where entries[..<position].contains(where: { $0.name == entry.name }) {
                throw malformed("a field name repeats")
            }
        }
        return FieldValues(ordered: entries)
    }

    /// Whether `first` comes before `second` in byte order (a prefix first).
    private static func precedes(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
        let common = min(first.count, second.count)
        let order = common == 0 ? 0 : memcmp(first.baseAddress!, second.baseAddress!, common)
        return order < 0 || (order == 0 && first.count < second.count)
    }

    /// Throws unless every byte was read: a body has exactly one encoding.
    consuming func finish() throws(CofferError) {
        guard reader.remaining == 0 else { throw malformed("\(reader.remaining) bytes follow the last field") }
    }
}
