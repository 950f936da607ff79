import Coffer

/// `--field NAME`: one field's value and nothing else, for a script to capture
/// (`token=$(coffer credentials get exa/main --org acme --field token)`), as `vault kv get
/// -field=` and `keepassxc-cli show -a` print one attribute.
///
/// The value's bytes are written as they are stored, with no newline; on a terminal (allowed
/// only with `--force`) a newline follows, so the prompt starts on its own line. A `custom`
/// credential's member is a field too: `--field region` prints its text.
enum RawField {
    /// Refuses to print a secret on a terminal unless forced, before the vault is opened.
    /// - Parameter everyField: how this command prints every field as JSON, if it does.
    static func checkOutput(
        field: String?, json: Bool, force: Bool, everyField: String? = nil, in context: CommandContext
    ) throws(CommandFailure) {
        guard field != nil else { return }
        if json {
            throw CommandFailure.usage(
                "--field prints the raw value alone; leave out --json"
                    + (everyField.map { " (or use \($0) for every field)." } ?? "."))
        }
        if context.standardOutputIsTerminal && !force {
            throw CommandFailure.usage(
                "--field would print a secret on this terminal. Capture it (VALUE=$(coffer …)) or pipe it, or pass --force."
            )
        }
    }

    /// The value of `name` among `values`, a credential of `type`.
    ///
    /// - Throws: `not_found` naming the fields there are, never a value nor the name given.
    static func value(_ name: String, of values: FieldValues, type: CredentialType, option: String = "--field") throws
        -> SecureBytes
    {
        if let value = values[name] { return value }
        let names = type.fields.map(\.name)
        if type == .custom, !names.contains(name), let object = values["json"] {
            let (member, members) = try CustomObject.member(name, of: object)
            if let member { return member }
            throw CommandFailure(
                .no, code: "not_found",
                "The custom credential has no member of the name given to \(option). Its members: "
                    + (members.isEmpty ? "none" : members.map(printable).joined(separator: ", ")) + ".")
        }
        // The name is not repeated: it may be a secret pasted in the wrong place.
        let detail =
            names.contains(name)
            ? "has no value for the field given to \(option)" : "has no field of the name given to \(option)"
        let held = names.filter { values[$0] != nil }
        throw CommandFailure(
            .no, code: "not_found",
            "The \(type.word) credential \(detail). Its fields with a value: "
                + (held.isEmpty ? "none" : held.joined(separator: ", ")) + "; the type's fields: "
                + names.joined(separator: ", ") + ".")
    }

    /// A member name from a stored object, without control characters (a terminal's escapes).
    private static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value != 0x7F }))
    }

    /// Writes `value` straight from secure memory.
    static func write(_ value: SecureBytes, in context: CommandContext) {
        value.withUnsafeBytes { context.standardOutput.write($0) }
        if context.standardOutputIsTerminal { context.standardOutput.write("\n") }
    }
}
