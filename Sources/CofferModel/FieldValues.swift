import CofferCrypto

/// The field values of one credential version, by field name. Every value is held in
/// ``SecureBytes``, non-secret ones included, because they travel in the same operation body.
///
/// An empty value means "not given": on create it counts as absent, on update it keeps the
/// stored value (a blank secret on edit never erases it).
///
/// ```swift
/// let fields = FieldValues(["token": SecureBytes(copying: Array("sk-live-…".utf8))])
/// ```
public struct FieldValues: Sendable, Equatable, CustomStringConvertible {
    /// One field: a name and its value.
    struct Entry: Sendable {
        let name: String
        var value: SecureBytes
    }

    /// The fields in UTF-8 byte order of their names (the order in which they are encoded),
    /// no name twice (names are compared as `String`s, so two canonically equivalent
    /// spellings are one name). A credential has at most 16 fields: a short array searched
    /// in order costs less than a dictionary built for every reveal.
    private(set) var entries: [Entry]

    /// Creates a set of field values.
    public init(_ values: [String: SecureBytes] = [:]) {
        entries = values.map { Entry(name: $0.key, value: $0.value) }
        entries.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Fields already in UTF-8 byte order of their names, no name twice (the decoder's
    /// checks).
    init(ordered entries: [Entry]) {
        self.entries = entries
    }

    /// The values by field name (a dictionary made on each call).
    public var values: [String: SecureBytes] {
        Dictionary(uniqueKeysWithValues: entries.lazy.map { ($0.name, $0.value) })
    }

    /// The value of a field, or `nil` when it is not present; setting `nil` removes it.
    public subscript(name: String) -> SecureBytes? {
        get { entries.first { $0.name == name }?.value }
        set {
            if let found = entries.firstIndex(where: { $0.name == name }) {
                if let newValue { entries[found].value = newValue } else { entries.remove(at: found) }
            } else if let newValue {
                let place = entries.firstIndex { name.utf8.lexicographicallyPrecedes($0.name.utf8) } ?? entries.count
                entries.insert(Entry(name: name, value: newValue), at: place)
            }
        }
    }

    /// Field names in UTF-8 byte order, the order in which they are encoded.
    public var names: [String] { entries.map(\.name) }

    /// The number of fields.
    public var count: Int { entries.count }

    /// The same values without the blank (empty) ones.
    public var withoutBlanks: FieldValues { FieldValues(ordered: entries.filter { $0.value.count > 0 }) }

    /// Lists field names only; values never print.
    public var description: String { "fields(\(names.joined(separator: ", ")))" }

    /// The same names with equal values, in any order.
    public static func == (lhs: FieldValues, rhs: FieldValues) -> Bool {
        lhs.count == rhs.count && lhs.entries.allSatisfy { rhs[$0.name] == $0.value }
    }
}
