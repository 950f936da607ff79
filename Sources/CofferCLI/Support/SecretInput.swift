import ArgumentParser
import Coffer

/// One `--set FIELD=VALUE` argument: a field name and where its value comes from.
///
/// ```
/// --set token=sk-live-…          the value itself (it is then in the process's arguments)
/// --set token=@env:EXA_API_KEY   an environment variable
/// --set private_key=@file:id_ed25519
/// --set note=@@literal           a value that starts with "@": "@literal"
/// ```
///
/// A value that starts with `@`, a word and `:` is a source; one whose word is neither `env`
/// nor `file` is refused (`@evn:NAME` is a typo, not a secret), so a literal value of that
/// shape is written with `@@`. A value that is not UTF-8 (in the arguments or the
/// environment variable) is refused rather than stored with replacement characters.
///
/// Argument-parser hands every argument over as a `String`, and the arguments of a process
/// are readable by its user in `/proc` anyway: an inline value is as exposed as it can be
/// before Coffer sees it. Coffer keeps the `String` only until ``resolve(in:)`` copies the
/// value into ``SecureBytes``; `@env:` and `@file:` keep secrets off the command line.
///
/// Parsing never fails here, so that argument-parser never repeats a value in an error
/// message; ``check()`` reports a malformed argument without echoing it.
struct SecretInput: ExpressibleByArgument {
    /// Where the value comes from.
    enum Source {
        case literal(String)
        case environment(String)
        case file(String)
        /// `@WORD:` with a word that names no source.
        case unknownPrefix
    }

    /// The field name.
    let name: String
    let source: Source?
    /// The argument as given, to tell whether its bytes were UTF-8.
    private let argument: String

    init(argument: String) {
        self.argument = argument
        guard let equals = argument.firstIndex(of: "=") else {
            name = argument
            source = nil
            return
        }
        name = String(argument[..<equals])
        let value = String(argument[argument.index(after: equals)...])
        if value.hasPrefix("@env:") {
            source = .environment(String(value.dropFirst(5)))
        } else if value.hasPrefix("@file:") {
            source = .file(String(value.dropFirst(6)))
        } else if value.hasPrefix("@@") {
            source = .literal(String(value.dropFirst()))
        } else if Self.hasSourcePrefix(value) {
            source = .unknownPrefix
        } else {
            source = .literal(value)
        }
    }

    /// Whether `value` starts with `@`, a word of letters, digits, `_` or `-`, and `:`.
    private static func hasSourcePrefix(_ value: String) -> Bool {
        guard value.hasPrefix("@") else { return false }
        let word = value.dropFirst().prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        return !word.isEmpty && value.dropFirst(1 + word.count).hasPrefix(":")
    }

    var defaultValueDescription: String { "" }

    /// Checks the shape, without the value in any message.
    func check() throws(CommandFailure) {
        guard !name.isEmpty else {
            throw CommandFailure.usage("A --set argument has no field name. Write --set FIELD=VALUE.")
        }
        switch source {
        case nil:
            // Without `=` the whole argument may be a pasted secret: it is not repeated.
            throw CommandFailure.usage(
                "A --set argument has no `=` (it is not repeated here, in case it is a secret). Write --set FIELD=VALUE, "
                    + "FIELD=@env:VARIABLE or FIELD=@file:PATH.")
        case .environment(let variable) where variable.isEmpty:
            throw CommandFailure.usage("A --set argument names no environment variable after @env:.")
        case .file(let path) where path.isEmpty:
            throw CommandFailure.usage("A --set argument names no file after @file:.")
        case .unknownPrefix:
            throw CommandFailure.usage(
                "A --set value starts with @, a word and a colon, which is no known source: write "
                    + "@env:VARIABLE or @file:PATH, or @@ for a value that starts with @.")
        default:
            break
        }
    }

    /// The field name as it may appear in a message.
    var printableName: String {
        String(String.UnicodeScalarView(name.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value != 0x7F }))
    }

    /// The value, in secure memory.
    ///
    /// A file's contents are taken as they are, except that a single-line file loses its
    /// final line break (as `$(cat file)` would), since a newline at the end of a token is
    /// never meant; a multi-line file (a PEM key) is kept byte for byte.
    func resolve(in context: CommandContext) throws(CommandFailure) -> SecureBytes {
        try check()
        switch source! {
        case .unknownPrefix:
            preconditionFailure("check() refuses an unknown prefix")
        case .literal(let text):
            guard !context.argumentsNotUTF8.contains(where: { $0 == argument || $0.hasSuffix("=" + argument) }) else {
                throw CommandFailure(
                    .no, code: "invalid_input",
                    "The value for `\(printableName)` is not UTF-8 text. Pass bytes with @file:PATH.")
            }
            return SecureBytes.copying(text: text)
        case .environment(let variable):
            guard let text = context.environment[variable] else {
                throw CommandFailure(
                    .no, code: "invalid_input",
                    "The environment variable \(variable) for `\(printableName)` is not set.")
            }
            guard !text.isEmpty else {
                throw CommandFailure(
                    .no, code: "invalid_input", "The environment variable \(variable) for `\(printableName)` is empty.")
            }
            guard !context.variablesNotUTF8.contains(variable) else {
                throw CommandFailure(
                    .no, code: "invalid_input",
                    "The environment variable \(variable) for `\(printableName)` is not UTF-8 text. Pass bytes with @file:PATH."
                )
            }
            return SecureBytes.copying(text: text)
        case .file(let path):
            let contents = try SecretFiles.read(path, what: "The file for `\(printableName)`,")
            let lineBreaks = contents.withUnsafeBytes { $0.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
            return lineBreaks == 1 ? SecretFiles.withoutTrailingLineBreak(contents) : contents
        }
    }

    /// Resolves several arguments into field values, refusing a field given twice.
    static func fieldValues(_ inputs: [SecretInput], in context: CommandContext) throws(CommandFailure) -> FieldValues {
        var fields = FieldValues()
        for input in inputs {
            guard fields[input.name] == nil else {
                throw CommandFailure.usage("A field is given twice with --set. Give each field once.")
            }
            fields[input.name] = try input.resolve(in: context)
        }
        return fields
    }
}

extension SecureBytes {
    /// The UTF-8 bytes of `text`, copied straight from the string's storage (no array).
    static func copying(text: String) -> SecureBytes {
        var text = text
        return text.withUTF8 { SecureBytes(copying: UnsafeRawBufferPointer($0)) }
    }
}
