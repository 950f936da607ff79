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
    /// The values by field name.
    public private(set) var values: [String: SecureBytes]

    /// Creates a set of field values.
    public init(_ values: [String: SecureBytes] = [:]) {
        self.values = values
    }

    /// The value of a field, or `nil` when it is not present.
    public subscript(name: String) -> SecureBytes? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// Field names in UTF-8 byte order, the order in which they are encoded.
    public var names: [String] { values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }

    /// The number of fields.
    public var count: Int { values.count }

    /// The same values without the blank (empty) ones.
    public var withoutBlanks: FieldValues { FieldValues(values.filter { $0.value.count > 0 }) }

    /// Lists field names only; values never print.
    public var description: String { "fields(\(names.joined(separator: ", ")))" }
}
