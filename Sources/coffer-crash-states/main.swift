// Builds the crash states of one traced command and checks each (docs/crash-testing.md).
// tools/crash-states runs the workload and calls this for every step:
//
//   coffer-crash-states digest --vault PATH --key-file KEY
//   coffer-crash-states contents --vault PATH --key-file KEY
//   coffer-crash-states workload --vault PATH --key-file KEY --plan FILE --acknowledgements FILE --threads N
//   coffer-crash-states replay --root DIR --before SNAPSHOT_DIR --manifest FILE --scratch DIR \
//       --vault RELATIVE --key-file KEY [--acknowledgements FILE] [--states-per-point N] [--seed N]
//       [--minimum-states N] [--part J/N] [--done FILE]
//
// `--done FILE`: the names of commands whose states an earlier replay of the same trace
// checked (a line each, as this prints them), which this one skips (tools/crash-states --resume).
//
// The manifest has a line per command, in the order they ran, five fields separated by tabs:
// its name, its strace output, the vault's digest before it, after it, and the files it wrote
// (RELATIVE=REFERENCE_FILE, separated by spaces). The trace of all commands is one history:
// what a command left unsynced may still be lost in a crash during a later one. A command
// that commits at once with others (`workload`, or several processes) has two more fields,
// its plan and the vault's `contents` before it, and is checked against a `CrashLedger`: the
// lines written to the acknowledgements file say which batches were acknowledged when.
import CofferCrashStates
import CofferSimulation

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String) -> Never {
    FileHandleStandardError.write("coffer-crash-states: \(message)\n")
    exit(2)
}

enum FileHandleStandardError {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// A line to standard output at once, unbuffered: a replay stopped part way has written the
/// line of every command it finished (tools/crash-states --resume reads them).
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = Glibc.write(1, $0.baseAddress, $0.count) }
}

/// The options, `--NAME VALUE` each, those given more than once in order.
func parseOptions(_ arguments: ArraySlice<String>) -> [String: [String]] {
    var options: [String: [String]] = [:]
    var index = arguments.startIndex
    while index < arguments.endIndex {
        let name = arguments[index]
        guard name.hasPrefix("--"), index + 1 < arguments.endIndex else { fail("expected --OPTION VALUE at \(name)") }
        options[String(name.dropFirst(2)), default: []].append(arguments[index + 1])
        index += 2
    }
    return options
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else { fail("usage: coffer-crash-states digest|replay OPTIONS") }
let options = parseOptions(arguments.dropFirst())
/// A whole-number option; a value that is not one is refused, never replaced by the default.
func number(_ name: String, default value: Int) -> Int {
    guard let text = options[name]?.last else { return value }
    guard let parsed = Int(text), parsed >= 0 else { fail("--\(name) takes a whole number, not \(text)") }
    return parsed
}
func option(_ name: String) -> String {
    guard let value = options[name]?.last else { fail("--\(name) is missing") }
    return value
}

do {
    let key = try CrashCheck.readFile(option("key-file"))
    switch command {
    case "digest":
        print(CrashCheck.digest(vaultAt: option("vault"), key: key, readOnly: true))
    case "contents":
        switch CrashLedger.contents(vaultAt: option("vault"), key: key, readOnly: true) {
        case .success(let contents): print(CrashLedger.describe(contents.credentials), terminator: "")
        case .failure(let reason): fail("the vault does not open: \(reason.description)")
        }
    case "workload":
        let plan = try CrashLedger.parsePlan(String(decoding: try CrashCheck.readFile(option("plan")), as: UTF8.self))
        let failures = try CrashWorkload.commit(
            plan, vaultAt: option("vault"), key: key, threads: number("threads", default: 4),
            acknowledgements: option("acknowledgements"))
        guard failures.isEmpty else { fail(failures.joined(separator: "\n")) }
    case "replay":
        let root = option("root")
        var replay = TraceReplay(
            root: root, initial: FileTree(files: try CrashCheck.snapshot(of: option("before"))),
            acknowledgements: options["acknowledgements"]?.last)
        struct Command {
            var name: String
            var events: Range<Int>
            var expectation: CrashExpectation
        }
        var commands: [Command] = []
        var written: [String: [UInt8]] = [:]
        let manifest = String(decoding: try CrashCheck.readFile(option("manifest")), as: UTF8.self)
        for line in manifest.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5 || fields.count == 7 else {
                fail("a manifest line has \(fields.count) fields, not 5 or 7")
            }
            let start = replay.model.events.count
            let firstAcknowledgement = replay.acknowledgements.count
            replay.startProcess()
            let text = String(decoding: try CrashCheck.readFile(fields[1]), as: UTF8.self)
            let calls = try TraceParser.parse(text)
            replay.expectThreads(of: calls)
            for call in calls { try replay.apply(call) }
            var outputs: [String: [UInt8]] = [:]
            for entry in fields[4].split(separator: " ") {
                guard let equals = entry.firstIndex(of: "=") else { fail("an output is not RELATIVE=FILE: \(entry)") }
                outputs[String(entry[..<equals])] = try CrashCheck.readFile(
                    String(entry[entry.index(after: equals)...]))
            }
            var ledger: CrashLedger?
            if fields.count == 7 {
                let planned = try CrashLedger.parsePlan(
                    String(decoding: try CrashCheck.readFile(fields[5]), as: UTF8.self))
                let acknowledged = Array(replay.acknowledgements[firstAcknowledgement...])
                // Every batch of the workloads is acknowledged; fewer seen in the trace would
                // only weaken the check, silently.
                guard Set(acknowledged.map(\.batch)) == Set(planned.map(\.batch)) else {
                    fail(
                        "\(fields[0]): the trace shows \(acknowledged.count) acknowledgements of the plan's "
                            + "\(Set(planned.map(\.batch)).count) batches")
                }
                ledger = CrashLedger(
                    plan: planned,
                    base: CrashLedger.parseContents(
                        String(decoding: try CrashCheck.readFile(fields[6]), as: UTF8.self)),
                    acknowledgements: acknowledged)
            }
            commands.append(
                Command(
                    name: fields[0], events: start..<replay.model.events.count,
                    expectation: CrashExpectation(
                        vault: option("vault"), key: key, before: fields[2], after: fields[3], outputs: outputs,
                        required: written, ledger: ledger)))
            written.merge(outputs) { _, new in new }
        }
        let limit = number("states-per-point", default: 40)
        let seed = UInt64(number("seed", default: 1))
        // `--part J/N`: only the commands whose index is J modulo N, so that N processes share
        // the work. Each command draws from a generator of its own, so the states do not
        // depend on how the commands were shared out.
        var (part, parts) = (0, 1)
        if let text = options["part"]?.last {
            let numbers = text.split(separator: "/").compactMap { Int($0) }
            guard numbers.count == 2, numbers[1] >= 1, (0..<numbers[1]).contains(numbers[0]) else {
                fail("--part takes J/N with 0 <= J < N, not \(text)")
            }
            (part, parts) = (numbers[0], numbers[1])
        }
        var done: Set<String> = []
        if let path = options["done"]?.last {
            let text = String(decoding: try CrashCheck.readFile(path), as: UTF8.self)
            done = Set(text.split(separator: "\n").map(String.init))
        }
        let scratch = try CrashCheck.Scratch(directory: option("scratch"))
        var (points, states, failing, checkedCommands) = (0, 0, 0, 0)
        for (index, command) in commands.enumerated() where index % parts == part && !done.contains(command.name) {
            checkedCommands += 1
            var generator = SeededGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
            var checked: Set<Int> = []
            let report = try CrashExploration.run(
                replay.model, events: command.events, command.expectation, scratch: scratch,
                statesPerPoint: limit, generator: &generator, checked: &checked)
            let salvaged = report.salvaged > 0 ? " (\(report.salvaged) of them salvaged)" : ""
            say(
                "\(command.name): \(report.points) crash points, \(report.states) distinct crash states\(salvaged), "
                    + "\(report.failures.count) failing")
            for failure in report.failures.prefix(5) { say("FAIL \(command.name): \(failure)") }
            points += report.points
            states += report.states
            if !report.failures.isEmpty { failing += 1 }
        }
        say(
            "crash states of the real binary\(parts > 1 ? " (part \(part) of 0..<\(parts))" : ""): "
                + "\(checkedCommands) commands, \(points) crash points, \(states) distinct states checked, "
                + "\(failing) commands with failing states (seed \(seed))")
        let minimum = number("minimum-states", default: 0)
        if states < minimum {
            say(
                "FAIL: \(states) distinct crash states, fewer than the \(minimum) asked for: add commands or states per point"
            )
            exit(1)
        }
        exit(failing == 0 ? 0 : 1)
    default:
        fail("unknown command \(command)")
    }
} catch {
    fail("\(error)")
}
