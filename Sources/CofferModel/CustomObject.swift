import CofferCrypto
import CofferErrors

/// The members of a `custom` credential's JSON object, which people edit one by one
/// (OPS-FIELD-CUSTOM): a field name other than `json` given for a `custom` credential names a
/// member of its object, whose value is that text as a JSON string.
///
/// Every value is secret: objects are read and written in ``SecureBytes``, and only member
/// names ever leave as `String`s.
public enum CustomObject {
    /// The field of the `custom` type that holds the whole object.
    static let field = "json"
    /// The prefix of a member's name among a version's changed names: `json.region`.
    static let memberPrefix = "json."

    /// The longest member name an edit may name, in UTF-8 bytes.
    static let memberNameBytesMax = 255

    /// Checks member names from a caller: 1 to ``memberNameBytesMax`` bytes, no control
    /// characters.
    static func checkMemberNames(_ names: some Sequence<String>) throws(CofferError) {
        for name in names {
            guard (1...memberNameBytesMax).contains(name.utf8.count),
                !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw CofferError(
                    .invalidInput,
                    "A custom member name must be 1 to \(memberNameBytesMax) bytes without control characters.")
            }
        }
    }

    /// An object of string members from `members` (names in byte order), for a new credential.
    static func object(from members: FieldValues) -> SecureBytes {
        let entries = members.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { name in
            Entry(name: name, value: .string(members[name]!))
        }
        return encode(entries)
    }

    /// The object after an edit: `given` members set to string values (added at the end, in
    /// byte order, when new), `cleared` members removed, every other member kept as it was
    /// (its value's JSON text untouched, numbers and nested objects included).
    ///
    /// - Returns: the new object and the names of the members whose value changed, were added
    ///   or were removed, in the object's order; no names when nothing changed.
    /// - Throws: `.invalidInput` when a cleared member does not exist or a member is both
    ///   given and cleared; `.corrupted` when the stored object does not parse.
    static func edit(
        _ stored: SecureBytes, setting given: FieldValues, clearing cleared: Set<String>
    ) throws(CofferError) -> (object: SecureBytes, changed: [String]) {
        try checkMemberNames(given.names)
        try checkMemberNames(cleared)
        let members: [JSONObjectValidator.Member]
        switch stored.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) }) {
        case .success(let found): members = found
        case .failure: throw CofferError(.corrupted, "The stored custom object does not parse.")
        }
        for name in cleared.sorted() {
            guard given[name] == nil else {
                throw CofferError(.invalidInput, "A member is both given and cleared. Do one or the other.")
            }
            guard members.contains(where: { $0.name == name }) else {
                throw CofferError(
                    .invalidInput,
                    "The custom object has no member of a name given to clear (names that are not members are not repeated, in case one is a secret). Its members are: "
                        + members.map(\.name).map(FieldValidation.printable).joined(separator: ", ") + ".")
            }
        }
        var entries: [Entry] = []
        var changed: [String] = []
        for member in members {
            if cleared.contains(member.name) {
                changed.append(member.name)
                continue
            }
            if let value = given[member.name] {
                let same = stored.withUnsafeBytes { bytes in
                    quotedEquals(UnsafeRawBufferPointer(rebasing: bytes[member.value]), value)
                }
                if !same { changed.append(member.name) }
                entries.append(Entry(name: member.name, value: .string(value)))
            } else {
                entries.append(Entry(name: member.name, value: .stored(member.value)))
            }
        }
        let added = given.names.filter { name in !members.contains { $0.name == name } }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in added {
            changed.append(name)
            entries.append(Entry(name: name, value: .string(given[name]!)))
        }
        guard !changed.isEmpty else { return (stored, []) }
        return (encode(entries, stored: stored), changed)
    }

    /// The stored object with every member of `incoming` set to its value there (its JSON
    /// text as given, whatever its type), every other member kept as it was: an import's
    /// `replace` of a credential whose object it gives whole (D-MAP). Members new to the
    /// object are added at the end, in byte order of their names.
    ///
    /// - Returns: the new object and the names of the members whose value changed or were
    ///   added, in the object's order; no names when nothing changed.
    /// - Throws: `.invalidInput` when `incoming` is not a JSON object; `.corrupted` when the
    ///   stored object does not parse.
    static func merge(
        _ stored: SecureBytes, with incoming: SecureBytes
    ) throws(CofferError) -> (object: SecureBytes, changed: [String]) {
        let members: [JSONObjectValidator.Member]
        switch stored.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) }) {
        case .success(let found): members = found
        case .failure: throw CofferError(.corrupted, "The stored custom object does not parse.")
        }
        let given: [JSONObjectValidator.Member]
        switch incoming.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) }) {
        case .success(let found): given = found
        case .failure: throw CofferError(.invalidInput, "The custom object given is not a JSON object.")
        }
        try checkMemberNames(given.map(\.name))
        var entries: [Entry] = []
        var changed: [String] = []
        for member in members {
            guard let value = given.last(where: { $0.name == member.name })?.value else {
                entries.append(Entry(name: member.name, value: .stored(member.value)))
                continue
            }
            let same = stored.withUnsafeBytes { old in
                incoming.withUnsafeBytes { new in
                    UnsafeRawBufferPointer(rebasing: old[member.value]).elementsEqual(
                        UnsafeRawBufferPointer(rebasing: new[value]))
                }
            }
            if !same { changed.append(member.name) }
            entries.append(Entry(name: member.name, value: .incoming(value)))
        }
        var added: [JSONObjectValidator.Member] = []
        for member in given.reversed()
        where !members.contains(where: { $0.name == member.name }) && !added.contains(where: { $0.name == member.name })
        {
            added.append(member)
        }
        for member in added.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            changed.append(member.name)
            entries.append(Entry(name: member.name, value: .incoming(member.value)))
        }
        guard !changed.isEmpty else { return (stored, []) }
        return (encode(entries, stored: stored, incoming: incoming), changed)
    }

    /// The value of the member `name` of a stored object: a string member's text, any other
    /// member's JSON text as stored.
    ///
    /// - Returns: nil when the object has no such member, with the names it has.
    /// - Throws: `.corrupted` when the stored object does not parse.
    public static func member(
        _ name: String, of stored: SecureBytes
    ) throws(CofferError) -> (value: SecureBytes?, names: [String]) {
        let members: [JSONObjectValidator.Member]
        switch stored.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) }) {
        case .success(let found): members = found
        case .failure: throw CofferError(.corrupted, "The stored custom object does not parse.")
        }
        guard let member = members.last(where: { $0.name == name }) else { return (nil, members.map(\.name)) }
        let value = stored.withUnsafeBytes { bytes in
            let text = UnsafeRawBufferPointer(rebasing: bytes[member.value])
            return text.first == UInt8(ascii: "\"")
                ? JSONUnescaping.string(text) : SecureBytes(count: text.count) { $0.copyMemory(from: text) }
        }
        guard let value else { throw CofferError(.corrupted, "The stored custom object does not parse.") }
        return (value, members.map(\.name))
    }

    /// The members an object given whole changed against the stored one: those whose JSON
    /// text differs or that were added, in the new object's order, then those it dropped, in
    /// the stored one's; nil when either does not parse, or a name is not one a member edit
    /// could give (the caller lists `json` alone).
    static func changedMembers(from stored: SecureBytes, to replacement: SecureBytes) -> [String]? {
        guard case .success(let old) = stored.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) }),
            case .success(let new) = replacement.withUnsafeBytes({ JSONObjectValidator.topLevelMembers(of: $0) })
        else { return nil }
        // By name, the last of a repeated one, as a member edit reads the stored object.
        let storedValues = Dictionary(old.map { ($0.name, $0.value) }) { _, last in last }
        var changed: [String] = []
        var listed: Set<String> = []
        for member in new where !listed.contains(member.name) {
            let same = storedValues[member.name].map { before in
                stored.withUnsafeBytes { oldBytes in
                    replacement.withUnsafeBytes { newBytes in
                        UnsafeRawBufferPointer(rebasing: oldBytes[before]).elementsEqual(
                            UnsafeRawBufferPointer(rebasing: newBytes[member.value]))
                    }
                }
            }
            if same != true {
                changed.append(member.name)
                listed.insert(member.name)
            }
        }
        let kept = Set(new.map(\.name))
        for member in old where !kept.contains(member.name) && listed.insert(member.name).inserted {
            changed.append(member.name)
        }
        // Names a member edit could not give (empty, too long, control characters) are not
        // listed: the version names `json` alone.
        do throws(CofferError) { try checkMemberNames(changed) } catch { return nil }
        return changed
    }

    /// The member names a version's changed names list (`json.region` → `region`).
    static func memberNames(in changedNames: [String]) -> [String] {
        changedNames.filter { $0.hasPrefix(memberPrefix) }.map { String($0.dropFirst(memberPrefix.count)) }
    }

    // MARK: Encoding

    private enum Value {
        /// A new string value.
        case string(SecureBytes)
        /// The JSON text of a stored value, by its range in the stored object.
        case stored(Range<Int>)
        /// The JSON text of a value given in an object, by its range there.
        case incoming(Range<Int>)
    }

    private struct Entry {
        let name: String
        let value: Value
    }

    /// `{"name":value,…}` written straight into secure memory.
    private static func encode(_ entries: [Entry], stored: SecureBytes? = nil, incoming: SecureBytes? = nil)
        -> SecureBytes
    {
        var quotedNames: [[UInt8]] = []
        var count = 2 + max(0, entries.count - 1)
        for entry in entries {
            var quoted: [UInt8] = []
            JSONEscaping.append(entry.name.utf8, to: &quoted)
            quotedNames.append(quoted)
            count += quoted.count + 1
            switch entry.value {
            case .string(let value): count += value.withUnsafeBytes { JSONEscaping.escapedCount($0) }
            case .stored(let range), .incoming(let range): count += range.count
            }
        }
        return SecureBytes(count: count) { target in
            var cursor = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: target[cursor..<cursor + bytes.count]).copyMemory(from: bytes)
                cursor += bytes.count
            }
            func put(_ byte: UInt8) {
                target[cursor] = byte
                cursor += 1
            }
            put(UInt8(ascii: "{"))
            for (position, entry) in entries.enumerated() {
                if position > 0 { put(UInt8(ascii: ",")) }
                quotedNames[position].withUnsafeBytes { put($0) }
                put(UInt8(ascii: ":"))
                switch entry.value {
                case .string(let value):
                    value.withUnsafeBytes { bytes in
                        let width = JSONEscaping.escapedCount(bytes)
                        JSONEscaping.escape(
                            bytes, into: UnsafeMutableRawBufferPointer(rebasing: target[cursor..<cursor + width]))
                        cursor += width
                    }
                case .stored(let range):
                    stored!.withUnsafeBytes { put(UnsafeRawBufferPointer(rebasing: $0[range])) }
                case .incoming(let range):
                    incoming!.withUnsafeBytes { put(UnsafeRawBufferPointer(rebasing: $0[range])) }
                }
            }
            put(UInt8(ascii: "}"))
            precondition(cursor == count, "custom object length mismatch")
        }
    }

    /// Whether `text` is exactly the JSON string `escape` writes for `value` (a value written
    /// another way, or not a string, counts as different).
    private static func quotedEquals(_ text: UnsafeRawBufferPointer, _ value: SecureBytes) -> Bool {
        value.withUnsafeBytes { bytes in
            let width = JSONEscaping.escapedCount(bytes)
            guard width == text.count else { return false }
            let quoted = SecureBytes(count: width) { JSONEscaping.escape(bytes, into: $0) }
            return quoted.withUnsafeBytes { candidate in
                var difference: UInt8 = 0
                for index in 0..<width { difference |= candidate[index] ^ text[index] }
                return difference == 0
            }
        }
    }
}

extension CredentialFieldsChange {
    /// The members of a `custom` object this version set, added or removed, as its changed
    /// names list them (`json.region` → `region`); empty for other types.
    public var changedMembers: [String] { CustomObject.memberNames(in: changedFields) }
}
