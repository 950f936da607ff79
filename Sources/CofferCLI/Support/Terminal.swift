import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// The terminal state saved while echo is off, so that the SIGINT handler can restore it:
/// an interrupted prompt must not leave the terminal silent. Written only on the main
/// thread before the handler is installed, read by the handler.
nonisolated(unsafe) private var savedTerminalState = termios()
nonisolated(unsafe) private var savedTerminalDescriptor: Int32 = -1

/// Prompts and line reads on the process's own descriptors.
///
/// A passphrase is read with echo off through termios (clear `ECHO`, set `ECHONL` so the
/// newline still shows, `TCSAFLUSH`, restored on every exit), byte by byte into a buffer of
/// fixed capacity that is zeroed after its contents are copied into ``SecureBytes``. Never
/// `getpass(3)`: its static buffer cannot be wiped.
enum Terminal {
    /// The longest line read as a secret.
    static let secretLineBytesMax = 4096

    /// The environment of the process.
    static func processEnvironment() -> (variables: [String: String], notUTF8: Set<String>) {
        var result: [String: String] = [:]
        var notUTF8: Set<String> = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                let name = String(text[..<equals])
                result[name] = String(text[text.index(after: equals)...])
                if !isUTF8(entry) { notUTF8.insert(name) }
            }
            cursor += 1
        }
        return (result, notUTF8)
    }

    /// The process's arguments that are not UTF-8, as `CommandLine.arguments` holds them.
    static func argumentsNotUTF8() -> Set<String> {
        var result: Set<String> = []
        for index in 0..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index], !isUTF8(argument) else { continue }
            result.insert(String(cString: argument))
        }
        return result
    }

    private static func isUTF8(_ text: UnsafePointer<CChar>) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: text, count: strlen(text)).bindMemory(to: UInt8.self)
        return String(validating: bytes, as: UTF8.self) != nil
    }

    /// Writes `prompt` to standard error and reads one line from standard input with echo off.
    ///
    /// - Throws: a usage failure when standard input is not a terminal; a failure when the
    ///   line is empty or longer than ``secretLineBytesMax``.
    static func readSecretLine(prompt: String, input: Int32 = 0, output: Int32 = 2) throws(CommandFailure)
        -> SecureBytes
    {
        guard isatty(input) == 1 else {
            throw CommandFailure.usage(
                "A secret is needed and standard input is not a terminal. Pass a key file or a passphrase file.")
        }
        FileDescriptorSink(descriptor: output).write(prompt)
        var state = termios()
        guard tcgetattr(input, &state) == 0 else {
            throw CommandFailure(
                .usage, code: "no_terminal", "The terminal settings could not be read; pass a passphrase file instead.")
        }
        savedTerminalState = state
        savedTerminalDescriptor = input
        var silent = state
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        let previousHandler = signal(SIGINT) { signalNumber in
            // Async-signal-safe: tcsetattr, signal and raise only.
            if savedTerminalDescriptor >= 0 { tcsetattr(savedTerminalDescriptor, TCSAFLUSH, &savedTerminalState) }
            signal(signalNumber, SIG_DFL)
            raise(signalNumber)
        }
        tcsetattr(input, TCSAFLUSH, &silent)
        defer {
            tcsetattr(input, TCSAFLUSH, &state)
            savedTerminalDescriptor = -1
            signal(SIGINT, previousHandler)
        }
        let line = try readLine(from: input)
        guard line.count > 0 else {
            throw CommandFailure(.no, code: "invalid_input", "The secret is empty; nothing was changed.")
        }
        return line
    }

    /// Reads one line (up to a newline or the end of input) from `descriptor` into secure
    /// memory, without its line break.
    static func readLine(from descriptor: Int32) throws(CommandFailure) -> SecureBytes {
        var buffer = [UInt8](repeating: 0, count: secretLineBytesMax)
        defer { secureZero(&buffer) }
        var count = 0
        var tooLong = false
        var byte: UInt8 = 0
        while true {
            let result = read(descriptor, &byte, 1)
            if result < 0 {
                if errno == EINTR { continue }
                throw CommandFailure(.no, code: "io", "Standard input could not be read.")
            }
            if result == 0 || byte == 0x0A { break }
            if count < buffer.count {
                buffer[count] = byte
                count += 1
            } else {
                tooLong = true
            }
        }
        byte = 0
        guard !tooLong else {
            throw CommandFailure(
                .no, code: "invalid_input", "The line read is longer than \(secretLineBytesMax) bytes.")
        }
        if count > 0 && buffer[count - 1] == 0x0D { count -= 1 }
        return buffer.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }
}
