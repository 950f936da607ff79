import Coffer

/// Reads the members of one JSON object of a document, by name and type, with errors that
/// name the JSON path (`$.credentials[3].fields.token: expected a string, found a number`)
/// and never the value found.
///
/// Objects are closed: ``finish()`` refuses a member the reader did not ask for, so a
/// misspelt name is an error rather than data silently dropped.
struct JSONFields {
    let path: [String]
    let bytes: UnsafeRawBufferPointer
    private let members: [String: JSONElement]
    private var used: Set<String> = []

    init(_ element: JSONElement, path: [String], bytes: UnsafeRawBufferPointer) throws(CofferError) {
        guard case .object(let members) = element.value else {
            throw Self.failure(path, "expected an object, found \(element.kindName)")
        }
        self.path = path
        self.bytes = bytes
        self.members = Dictionary(members.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    static func failure(_ path: [String], _ what: String) -> CofferError {
        CofferError(.invalidInput, "\(JSONPath.text(path)): \(what).")
    }

    func failure(_ name: String, _ what: String) -> CofferError {
        Self.failure(path + [JSONPath.member(name)], what)
    }

    var names: [String] { Array(members.keys) }

    func has(_ name: String) -> Bool { members[name] != nil }

    mutating func element(_ name: String) throws(CofferError) -> JSONElement {
        guard let element = members[name] else {
            throw Self.failure(path, "the member \(JSONPath.quoted(name)) is missing")
        }
        used.insert(name)
        return element
    }

    mutating func string(_ name: String) throws(CofferError) -> String {
        let element = try element(name)
        guard case .string(let slice) = element.value else {
            throw failure(name, "expected a string, found \(element.kindName)")
        }
        return JSONReader.string(slice, in: bytes)
    }

    mutating func secret(_ name: String) throws(CofferError) -> SecureBytes {
        let element = try element(name)
        guard case .string(let slice) = element.value else {
            throw failure(name, "expected a string, found \(element.kindName)")
        }
        return JSONReader.secret(slice, in: bytes)
    }

    mutating func unsigned(_ name: String, maximum: UInt64 = .max) throws(CofferError) -> UInt64 {
        let element = try element(name)
        guard case .number(let range) = element.value, let value = JSONReader.unsigned(range, in: bytes),
            value <= maximum
        else { throw failure(name, "expected a whole number from 0 to \(maximum)") }
        return value
    }

    mutating func bool(_ name: String) throws(CofferError) -> Bool {
        let element = try element(name)
        guard case .bool(let flag) = element.value else {
            throw failure(name, "expected true or false, found \(element.kindName)")
        }
        return flag
    }

    mutating func array(_ name: String) throws(CofferError) -> [JSONElement] {
        let element = try element(name)
        guard case .array(let elements) = element.value else {
            throw failure(name, "expected an array, found \(element.kindName)")
        }
        return elements
    }

    mutating func object(_ name: String) throws(CofferError) -> JSONFields {
        try JSONFields(element(name), path: path + [JSONPath.member(name)], bytes: bytes)
    }

    /// A model word (`"api_token"`, `"owner"`), refusing any other spelling.
    mutating func word<Word: ModelWord>(_ name: String, _ type: Word.Type) throws(CofferError) -> Word {
        let text = try string(name)
        guard let word = Word(word: text) else {
            throw failure(name, "expected one of \(Word.allCases.map(\.word).joined(separator: ", "))")
        }
        return word
    }

    /// An identifier in its text form (`org_…`).
    mutating func identifier<Kind>(_ name: String, _ type: Identifier<Kind>.Type) throws(CofferError) -> Identifier<
        Kind
    > {
        let text = try string(name)
        guard let id = Identifier<Kind>(text) else {
            throw failure(name, "expected an identifier `\(Kind.prefix)_` followed by 26 lower-case base32 digits")
        }
        return id
    }

    /// Refuses members nobody asked for.
    func finish() throws(CofferError) {
        if let unknown = members.keys.filter({ !used.contains($0) }).min() {
            throw Self.failure(path, "the member \(JSONPath.quoted(unknown)) is not part of the format")
        }
    }
}
