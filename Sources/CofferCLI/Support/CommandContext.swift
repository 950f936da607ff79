import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// Where a command writes: standard output or standard error, or a buffer in tests.
public protocol OutputSink: AnyObject {
    /// Writes every byte, or gives up silently when the reader is gone (a closed pipe).
    func write(_ bytes: UnsafeRawBufferPointer)
}

extension OutputSink {
    /// Writes text as UTF-8.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }
}

/// A sink over a file descriptor: every byte is written, retrying on `EINTR` and short writes.
public final class FileDescriptorSink: OutputSink {
    let descriptor: Int32

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard var next = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = Glibc.write(descriptor, next, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            next += written
            remaining -= written
        }
    }
}

/// A sink that keeps what it is given, for tests.
public final class BufferSink: OutputSink {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: bytes)
    }

    /// What was written, as text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Everything a command touches outside its arguments: its output streams, the environment,
/// whether it runs on a terminal, and how it asks for a secret. Tests build one with buffers
/// and a fixed environment; ``standard()`` is the real process.
public struct CommandContext {
    /// Standard output: the command's answer (text or one JSON document).
    public var standardOutput: any OutputSink
    /// Standard error: messages, warnings and progress.
    public var standardError: any OutputSink
    /// The environment variables the command may read (`COFFER_VAULT`, `NO_COLOR`, …).
    public var environment: [String: String]
    /// Whether standard input is a terminal: only then does a command prompt for a secret.
    public var standardInputIsTerminal: Bool
    /// Whether standard output is a terminal: colour is used only then.
    public var standardOutputIsTerminal: Bool
    /// Whether standard error is a terminal: progress bars and colour are shown only then.
    public var standardErrorIsTerminal: Bool
    /// Asks for a secret without echo and reads one line (the passphrase prompt).
    public var promptSecret: (String) throws(CommandFailure) -> SecureBytes
    /// Reads one line from standard input when it is not a terminal (`api-key check`).
    public var readStandardInputLine: () throws(CommandFailure) -> SecureBytes
    /// The process's arguments whose bytes are not UTF-8, as Swift decoded them (with U+FFFD
    /// in place of each bad sequence): a value among them is refused, never stored mangled.
    public var argumentsNotUTF8: Set<String> = []
    /// The environment variables whose values are not UTF-8.
    public var variablesNotUTF8: Set<String> = []
    /// The width of standard output when it is a terminal (`TIOCGWINSZ`, else `COLUMNS`):
    /// tables are fitted to it. Nil when it is not a terminal: lines are never cut then.
    public var outputColumns: Int?
    /// Whether the command answers in JSON (`--json`): warnings go to standard error as JSON
    /// objects then. Set for the command being run.
    var wantsJSON = false

    public init(
        standardOutput: any OutputSink, standardError: any OutputSink, environment: [String: String],
        standardInputIsTerminal: Bool = false, standardOutputIsTerminal: Bool = false,
        standardErrorIsTerminal: Bool = false,
        promptSecret: @escaping (String) throws(CommandFailure) -> SecureBytes = { _ throws(CommandFailure) in
            throw CommandFailure(
                .usage, code: "no_terminal", "A secret is needed and standard input is not a terminal.")
        },
        readStandardInputLine: @escaping () throws(CommandFailure) -> SecureBytes = { SecureBytes(zeroedCount: 0) }
    ) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.environment = environment
        self.standardInputIsTerminal = standardInputIsTerminal
        self.standardOutputIsTerminal = standardOutputIsTerminal
        self.standardErrorIsTerminal = standardErrorIsTerminal
        self.promptSecret = promptSecret
        self.readStandardInputLine = readStandardInputLine
    }

    /// The running process: descriptors 0, 1 and 2 and the real environment.
    public static func standard() -> CommandContext {
        let (environment, variablesNotUTF8) = Terminal.processEnvironment()
        var context = CommandContext(
            standardOutput: FileDescriptorSink(descriptor: 1), standardError: FileDescriptorSink(descriptor: 2),
            environment: environment, standardInputIsTerminal: isatty(0) == 1,
            standardOutputIsTerminal: isatty(1) == 1, standardErrorIsTerminal: isatty(2) == 1,
            promptSecret: { prompt throws(CommandFailure) in try Terminal.readSecretLine(prompt: prompt) },
            readStandardInputLine: { () throws(CommandFailure) in try Terminal.readLine(from: 0) })
        context.argumentsNotUTF8 = Terminal.argumentsNotUTF8()
        context.variablesNotUTF8 = variablesNotUTF8
        if context.standardOutputIsTerminal {
            var size = winsize()
            if ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 {
                context.outputColumns = Int(size.ws_col)
            } else {
                context.outputColumns = environment["COLUMNS"].flatMap(Int.init) ?? 80
            }
        }
        return context
    }

    /// An environment variable, treating an empty value as unset.
    func variable(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// Styling for standard output: colour only on a terminal and never with `NO_COLOR`.
    /// (`NO_COLOR` set but empty counts as unset, as no-color.org says.)
    var outputStyle: Style { Style(enabled: standardOutputIsTerminal && variable("NO_COLOR") == nil) }

    /// Styling for standard error.
    var errorStyle: Style { Style(enabled: standardErrorIsTerminal && variable("NO_COLOR") == nil) }

    /// Writes text to standard output.
    func print(_ text: String) {
        standardOutput.write(text.hasSuffix("\n") || text.isEmpty ? text : text + "\n")
    }

    /// Writes a line to standard error.
    func printError(_ text: String) {
        standardError.write(text.hasSuffix("\n") ? text : text + "\n")
    }

    /// A warning on standard error, also under `--json` (as a JSON object; it is not part of
    /// the answer).
    func warn(_ text: String) {
        if wantsJSON {
            JSON.object(["status": "warning", "message": .string(text)]).write(to: standardError, compact: true)
        } else {
            printError(errorStyle.yellow("warning:") + " " + text)
        }
    }
}
