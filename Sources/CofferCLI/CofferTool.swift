import ArgumentParser
import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// The `coffer` executable: parses the arguments, runs the command and maps every outcome
/// to an exit status (docs/cli.md, "Exit codes").
public enum CofferTool {
    /// The version `coffer --version` prints.
    public static let version = "coffer 0.1.0 (vault format 1)"

    /// Runs `coffer` with the process's arguments and exits with the command's status, in a
    /// hardened process (``ProcessHardening``).
    public static func main() -> Never {
        ProcessHardening.turnOffCrashReports(arguments: CommandLine.unsafeArgv)
        let context = CommandContext.standard()
        if let failure = ProcessHardening.apply(in: context) {
            report(failure, json: CommandLine.arguments.contains("--json"), in: context)
            exit(failure.status.rawValue)
        }
        let status = run(Array(CommandLine.arguments.dropFirst()), in: context)
        exit(status.rawValue)
    }

    /// Runs `coffer` with `arguments` (without the program name) in `context` and returns
    /// the exit status. Output goes to the context's sinks; nothing else is touched.
    public static func run(_ arguments: [String], in context: CommandContext) -> ExitStatus {
        let command: ParsableCommand
        do {
            command = try Coffer.parseAsRoot(GlobalOptions.expandingBareWait(arguments))
        } catch {
            return reportParseError(error, arguments: arguments, in: context)
        }
        guard let runnable = command as? any CofferCommand else {
            // A command group without its subcommand (bare `coffer` too): argument-parser
            // prints the group's help; a missing subcommand is a usage error.
            do {
                var group = command
                try group.run()
            } catch {
                _ = reportParseError(error, arguments: arguments, in: context)
            }
            let askedForHelp = arguments.contains { $0 == "--help" || $0 == "-h" } || arguments.first == "help"
            return askedForHelp ? .success : .usage
        }
        return execute(runnable, in: context)
    }

    /// Runs a parsed command and reports its failure, if any.
    static func execute(_ command: any CofferCommand, in context: CommandContext) -> ExitStatus {
        var context = context
        context.wantsJSON = command.wantsJSON
        do {
            try command.execute(in: context)
            return .success
        } catch {
            let failure = failure(for: error)
            report(failure, json: command.wantsJSON, in: context)
            return failure.status
        }
    }

    /// Every error a command throws, as a ``CommandFailure``.
    static func failure(for error: any Error) -> CommandFailure {
        switch error {
        case let failure as CommandFailure: return failure
        case let error as CofferError: return CommandFailure(error)
        case let error as ValidationError: return CommandFailure.usage(error.message)
        default:
            // Only Coffer's own errors reach here in practice; the type name carries no data.
            return CommandFailure(
                .vaultUnavailable, code: "internal", "An unexpected \(type(of: error)) stopped the command.")
        }
    }

    /// Writes a failure to standard error: one JSON document under `--json`, a line of text
    /// otherwise. A failure the command has reported already adds nothing.
    static func report(_ failure: CommandFailure, json: Bool, in context: CommandContext) {
        guard !failure.isReported else { return }
        if json {
            failure.json.write(to: context.standardError, compact: true)
        } else {
            context.printError(failure.text(style: context.errorStyle))
        }
    }

    /// Help, `--version` and usage errors, as argument-parser words them (exit 0 or 64).
    private static func reportParseError(
        _ error: any Error, arguments: [String], in context: CommandContext
    ) -> ExitStatus {
        let json = arguments.contains("--json")
        let code = Coffer.exitCode(for: error)
        let message = Coffer.fullMessage(for: error)
        if code == .success {
            context.print(message)
            return .success
        }
        let status = ExitStatus(rawValue: code.rawValue) ?? .usage
        // After an unknown option, the next argument is most likely its value, not a command.
        let suggestion =
            message.contains("Unknown option")
            ? nil : suggestedCommand(for: arguments).map { "Did you mean `coffer \($0)`?" }
        if json {
            // The error alone: the usage lines are for a person reading a terminal.
            let alone = Coffer.message(for: error) + (suggestion.map { " " + $0 } ?? "")
            CommandFailure(status, code: "usage", redacted(alone, arguments: arguments)).json.write(
                to: context.standardError, compact: true)
        } else {
            context.printError(redacted(message + (suggestion.map { "\n" + $0 } ?? ""), arguments: arguments))
        }
        return status
    }
}

extension CofferTool {
    /// `message` without the text of any argument it quotes.
    ///
    /// Argument-parser repeats an argument it cannot place ("Unexpected argument
    /// 'sk-live-…'"), and such an argument is most likely a `--set` value whose option or name
    /// was forgotten: a secret. Messages never contain one, so every quoted argument that is
    /// not an option name becomes "argument number N" (its position after `coffer`), except a
    /// first word of letters (a mistyped command), and a `NAME=VALUE` anywhere is cut to
    /// `NAME=…`. An option name is `--` and lower-case words, or `-` and one letter; anything
    /// else that starts with a dash (`-Xk9…`, a value that happens to) is an argument too.
    static func redacted(_ message: String, arguments: [String]) -> String {
        var message = message
        for (position, argument) in arguments.enumerated() where !isOptionName(argument) && !argument.isEmpty {
            // The first word names a command: a mistyped one is shown, so it can be corrected.
            if position == 0 && argument.allSatisfy({ ("a"..."z").contains($0) || $0 == "-" }) { continue }
            message = message.replacing("value '\(argument)'", with: "value given as argument number \(position + 1)")
            message = message.replacing("argument '\(argument)'", with: "argument number \(position + 1)")
            message = message.replacing("'\(argument)'", with: "argument number \(position + 1)")
        }
        for argument in arguments {
            guard isOptionName(argument) || !argument.hasPrefix("-") else { continue }
            guard let equals = argument.firstIndex(of: "="), argument.index(after: equals) < argument.endIndex else {
                continue
            }
            message = message.replacing(argument, with: argument[...equals] + "…")
        }
        return message
    }

    /// A command name close to a mistyped one (`verfy` → `verify`, `key rotat` → `key
    /// rotate`): the first argument that is not a command, where one was expected, within two
    /// edits of one.
    static func suggestedCommand(for arguments: [String]) -> String? {
        var command: ParsableCommand.Type = Coffer.self
        var path: [String] = []
        for argument in arguments where !argument.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return nil }
            let names = subcommands.map { ($0.configuration.commandName ?? "", $0) }
            if let (_, next) = names.first(where: { $0.0 == argument || $0.1.configuration.aliases.contains(argument) })
            {
                command = next
                path.append(argument)
                continue
            }
            let close = names.map { ($0.0, editDistance(argument, $0.0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
            return close.map { (path + [$0.0]).joined(separator: " ") }
        }
        return nil
    }

    /// Levenshtein distance, for short command names.
    private static func editDistance(_ first: String, _ second: String) -> Int {
        let a = Array(first.utf8)
        let b = Array(second.utf8)
        guard a.count <= 64, b.count <= 64 else { return Int.max }
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    /// `--lower-case-words` (with `=VALUE` or not) or `-x`: how every option of `coffer` is spelled.
    private static func isOptionName(_ argument: String) -> Bool {
        let name = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if name.hasPrefix("--") {
            let words = name.dropFirst(2)
            return !words.isEmpty && words.first!.isLowercase
                && words.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        }
        return name.count == 2 && name.hasPrefix("-") && name.last!.isLetter
    }
}
