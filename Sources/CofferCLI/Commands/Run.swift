import ArgumentParser
import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer run --org ORG --env NAME=APP.FIELD … -- COMMAND ARGS…`: resolves credentials as a
/// run would and starts a command with their values in its environment, and nowhere else.
struct Run: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command with resolved credentials in its environment.",
        discussion: """
            Each --env NAME=APP.FIELD resolves APP in the engine's order for the run the options describe (as \
            `coffer resolve` does, so the command gets what the service would) and sets NAME to that credential's \
            FIELD (a custom credential's member too). The values go into the command's environment only: never \
            its arguments, never a file. coffer then becomes the command (exec): standard input, output and error, \
            signals and the exit status are the command's own. When a credential does not resolve, the command \
            is not started and coffer exits with the resolution's code (3, 4 or 5); a command that cannot be \
            started exits 127 (not found) or 126. --env-file reads NAME=APP.FIELD lines (# comments). \
            --print-env prints the variables as a dotenv file instead of running anything, refusing a terminal \
            unless --force. The command's environment is coffer's, without the variables that open the vault \
            (COFFER_PASSPHRASE, COFFER_PASSPHRASE_FILE, COFFER_KEY_FILE, COFFER_NEW_PASSPHRASE, \
            COFFER_BUNDLE_PASSPHRASE).

            Examples:
              coffer run --org acme --project web --env LINEAR_TOKEN=linear.token -- ./sync-issues
              coffer run --org acme --workflow triage --consumer fetch \\
                  --env-file triage.env -- python triage.py
              coffer run --org acme --env EXA_KEY=exa.token --print-env > .env
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @OptionGroup var runContext: RunContextOptions

    @OptionGroup var target: TargetOptions

    @Option(
        name: .customLong("env"),
        help: ArgumentHelp(
            "A variable and what it holds: an app key and one of its credential's fields.", valueName: "NAME=APP.FIELD")
    )
    var mappings: [String] = []

    @Option(
        name: .customLong("env-file"),
        help: ArgumentHelp("A file of NAME=APP.FIELD lines.", valueName: "path"), completion: .file())
    var mappingFile: String?

    @Flag(name: .customLong("print-env"), help: "Print the variables as a dotenv file instead of running a command.")
    var printsEnvironment = false

    @Flag(help: "With --print-env, print on a terminal too.")
    var force = false

    @Argument(
        parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if printsEnvironment && !command.isEmpty {
            throw ValidationError("--print-env runs no command; leave out what follows --.")
        }
        if !printsEnvironment && command.isEmpty {
            throw ValidationError("Give the command to run after --: coffer run … -- COMMAND ARGS.")
        }
        for mapping in mappings { _ = try EnvironmentMapping(parsing: mapping, source: "--env") }
    }

    func execute(in context: CommandContext) throws {
        // Checked here, not in validate(), which runs before an unknown option is reported.
        if mappings.isEmpty && mappingFile == nil {
            throw CommandFailure.usage("Give at least one --env NAME=APP.FIELD, or --env-file.")
        }
        if printsEnvironment && context.standardOutputIsTerminal && !force {
            throw CommandFailure.usage(
                "--print-env would print secrets on this terminal. Redirect it to a file (> .env), or pass --force.")
        }
        var all = try mappings.map { mapping throws(CommandFailure) in
            do throws(ValidationError) {
                return try EnvironmentMapping(parsing: mapping, source: "--env")
            } catch {
                throw CommandFailure.usage(error.description)
            }
        }
        if let mappingFile { all += try EnvironmentMapping.read(mappingFile) }
        var names = Set<String>()
        for mapping in all where !names.insert(mapping.name).inserted {
            throw CommandFailure.usage("The variable \(mapping.name) is given twice; give each once.")
        }

        let vault = try access.openReadOnly(in: context)
        var values: [(name: String, value: SecureBytes)] = []
        do {
            defer { vault.close() }
            // One resolution per app, whatever the number of its fields.
            var resolved: [String: (info: CredentialInfo, values: FieldValues)] = [:]
            for mapping in all {
                if resolved[mapping.app] == nil {
                    let request = try Resolve.request(
                        app: mapping.app, organization: organization.organization, run: runContext, select: nil,
                        target: target.target, in: vault)
                    let credential: ResolvedCredential
                    switch vault.resolution(request) {
                    case .resolved(let found, _): credential = found
                    case .failed(let error, _):
                        throw Resolve.failure(
                            error, app: mapping.app, organization: organization.organization, in: vault,
                            selects: false, run: runContext)
                    }
                    // The index answered the resolution: the credential is there.
                    let info = vault.read { $0.credential(id: credential.id)! }
                    try ActingUser.checkValuesVisible(info, acting: global.actingUser, in: vault)
                    resolved[mapping.app] = (info, try vault.reveal(credential.id, version: credential.version))
                }
                let (info, fields) = resolved[mapping.app]!
                values.append(
                    (
                        mapping.name,
                        try RawField.value(mapping.field, of: fields, type: info.type, option: "--env \(mapping.name)")
                    ))
            }
        }
        if printsEnvironment {
            // Nothing is printed unless every line can be.
            try ChildProcess.refuseNULBytes(in: values)
            for (name, value) in values { Self.writeDotenvLine(name: name, value: value, to: context.standardOutput) }
            return
        }
        try ChildProcess.become(command, environment: context.environment, adding: values)
    }

    /// `NAME="VALUE"` with the escapes D-SYNTAX reads, written from secure memory.
    static func writeDotenvLine(name: String, value: SecureBytes, to sink: any OutputSink) {
        sink.write(name + "=\"")
        value.withUnsafeBytes { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() {
                let escape: String
                switch byte {
                case 0x0A: escape = "\\n"
                case 0x0D: escape = "\\r"
                case 0x09: escape = "\\t"
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"):
                    escape = "\\" + String(UnicodeScalar(byte))
                default: continue
                }
                sink.write(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                sink.write(escape)
                start = index + 1
            }
            sink.write(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        sink.write("\"\n")
    }
}

/// `NAME=APP.FIELD`: which variable holds which field of which app's credential.
struct EnvironmentMapping: Sendable {
    let name: String
    let app: String
    let field: String

    init(parsing text: String, source: String) throws(ValidationError) {
        guard let equals = text.firstIndex(of: "="), let dot = text[equals...].lastIndex(of: ".") else {
            throw ValidationError("\(source) takes NAME=APP.FIELD, such as LINEAR_TOKEN=linear.token.")
        }
        func trimmed(_ part: Substring) -> String {
            String(
                part.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" })
                    .reversed())
        }
        name = trimmed(text[..<equals])
        app = trimmed(text[text.index(after: equals)..<dot])
        field = trimmed(text[text.index(after: dot)...])
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic),
            name.unicodeScalars.allSatisfy({
                $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0)
            })
        else {
            throw ValidationError("\(source): a variable name is letters, digits and _, not starting with a digit.")
        }
        // App keys and field names are words: a quote, a blank or a control character means a
        // line that is not NAME=APP.FIELD, which no resolution could answer.
        func isWord(_ text: String) -> Bool {
            !text.isEmpty
                && text.unicodeScalars.allSatisfy {
                    $0.isASCII
                        && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0))
                }
        }
        guard isWord(app), isWord(field) else {
            throw ValidationError("\(source) takes NAME=APP.FIELD, such as LINEAR_TOKEN=linear.token, without quotes.")
        }
    }

    /// The mappings of a file: one `NAME=APP.FIELD` a line; blank lines and `#` comments skipped.
    static func read(_ path: String) throws(CommandFailure) -> [EnvironmentMapping] {
        let bytes = try SecretFiles.read(path, what: "The --env-file")
        var text = bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a byte-order mark some editors write
        var mappings: [EnvironmentMapping] = []
        // Lines end with LF or CRLF: split the scalars, since "\r\n" is one Character.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map {
            String(String.UnicodeScalarView($0))
        }
        for (number, line) in lines.enumerated() {
            let trimmed = line.trimmingPrefix(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            let entry = String(trimmed)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            do throws(ValidationError) {
                mappings.append(try EnvironmentMapping(parsing: entry, source: "\(path) line \(number + 1)"))
            } catch {
                throw CommandFailure.usage(error.description)
            }
        }
        return mappings
    }
}
