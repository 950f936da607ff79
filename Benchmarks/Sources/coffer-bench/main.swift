import BenchSupport
import Coffer
import Foundation

// coffer-bench: Coffer against SQLCipher, SQLite with sealed blobs, and the machine's limits.
//
//     coffer-bench [--quick | --full | --sizes 10000,100000] [--repetitions 5] [--seed 1]
//                  [--dir /tmp/coffer-bench] [--out results/latest.json] [--engines coffer,sqlcipher,sqlite]
//     coffer-bench memory --vault PATH --key HEX --size N --seed S     (the memory child)
//     coffer-bench compact --vault PATH --key HEX [--reencrypt]        (the compaction child)
//
// --quick (the default) runs 10,000 and 100,000 credentials; --full adds 1,000,000.
// Progress goes to standard error; the Markdown table to standard output; every figure, the
// ratios and the target checks to the JSON file.

let usage = """
    usage: coffer-bench [--quick | --full | --sizes N,N] [--repetitions R] [--seed S] [--dir DIR]
                        [--out FILE] [--engines coffer,sqlcipher,sqlite] [--skip-machine]
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("coffer-bench: \(message)\n".utf8))
    exit(1)
}

Sealer.prepare()
let arguments = Arguments()
if arguments.positional.first == "memory" {
    do { try CofferWorkloads.memoryChild(arguments) } catch { fail("memory child: \(error)") }
    exit(0)
}
if arguments.positional.first == "compact" {
    do { try CofferWorkloads.compactionChild(arguments) } catch { fail("compaction child: \(error)") }
    exit(0)
}
if arguments.positional.first == "prepare" || arguments.positional.first == "profile" {
    do {
        if arguments.positional.first == "prepare" {
            try Profiling.prepare(arguments)
        } else {
            try Profiling.profile(arguments)
        }
    } catch { fail("\(arguments.positional.first!): \(error)") }
    exit(0)
}
if arguments.has("help") {
    print(usage)
    exit(0)
}

let sizes: [Int] =
    arguments.values["sizes"].map { $0.split(separator: ",").compactMap { Int($0) } }
    ?? (arguments.has("full") ? [10_000, 100_000, 1_000_000] : [10_000, 100_000])
let repetitions = max(1, arguments.int("repetitions", default: 5))
let seed = UInt64(arguments.int("seed", default: 1))
let directory = arguments.string("dir", default: "/tmp/coffer-bench")
let output = arguments.string("out", default: "results/latest.json")
let engines = Set(
    arguments.string("engines", default: "coffer,sqlcipher,sqlite").split(separator: ",").map(String.init))
let command = "coffer-bench " + CommandLine.arguments.dropFirst().joined(separator: " ")

try? FileManager.default.removeItem(atPath: directory)
do {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
} catch { fail("cannot create \(directory): \(error)") }

let startedAt = ISO8601DateFormatter().string(from: Date())
var machine = MachineFacts.collect(directory: directory)
progress("sizes \(sizes), \(repetitions) repetitions after one warm-up, load average \(machine.loadAverageAtStart)")
var figures: [Figure] = []
var notes: [String] = []
var versions: [String: String] = ["coffer": "working tree"]
let clock = ContinuousClock()
let began = clock.now

let limits = MachineLimits(directory: directory, repetitions: repetitions)
if !arguments.has("skip-machine") {
    progress("machine: fdatasync, sequential write, AEAD, Argon2id; raw log")
    figures.append(limits.fdatasyncRate(recordBytes: 32 + 512 + 40))
    figures.append(limits.sequentialWrite())
    // The median record of the dataset lands in the 512-byte bucket (checked below).
    figures += limits.aead(paddedBytes: 512)
    do { figures += try RawLog(directory: directory, repetitions: repetitions).run() } catch {
        fail("raw log: \(error)")
    }
    figures += limits.argon2id()
}

let helpers = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

/// Runs a SQL helper for one size and returns its report.
func runHelper(_ name: String, size: Int) throws -> EngineReport {
    let out = "\(directory)/\(name)-\(size).json"
    let process = Process()
    process.executableURL = helpers.appendingPathComponent(name)
    process.arguments = [
        "run", "--size", "\(size)", "--dir", directory, "--repetitions", "\(repetitions)", "--seed", "\(seed)", "--out",
        out,
    ]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw WrongAnswer(description: "\(name) exited with \(process.terminationStatus)")
    }
    return try EngineReport.read(from: out)
}

for size in sizes {
    let dataset = Dataset(size: size, seed: seed)
    if engines.contains("coffer") {
        let workloads = CofferWorkloads(dataset: dataset, directory: directory, repetitions: repetitions)
        do {
            let (produced, frames) = try workloads.run(machine: limits)
            figures += produced
            notes += workloads.notes.map { "Coffer at \($0)" }
            if frames.medianPaddedBytes != 512 {
                notes.append(
                    "The median record at \(size) is padded to \(frames.medianPaddedBytes) B, not 512 B: AEAD limits re-measured."
                )
                figures += limits.aead(paddedBytes: frames.medianPaddedBytes).map {
                    var figure = $0
                    figure.size = size
                    return figure
                }
            }
        } catch { fail("coffer at \(size): \(error)") }
    }
    for (engine, helper) in [("sqlcipher", "coffer-bench-sqlcipher"), ("sqlite", "coffer-bench-sqlite")]
    where engines.contains(engine) {
        do {
            let report = try runHelper(helper, size: size)
            figures += report.figures
            versions[report.engine] = report.version
            notes += report.notes
        } catch { fail("\(helper) at \(size): \(error)") }
    }
    progress("size \(size) done after \(String(format: "%.0f", (clock.now - began).seconds)) s")
}

// Compaction: see CofferWorkloads.compaction(), the marked place where it will be measured.

machine.loadAverageAtEnd = ProcessFacts.loadAverage()
notes.append("Total run time \(String(format: "%.0f", (clock.now - began).seconds)) s.")
let report = BenchReport(
    command: command, startedAt: startedAt, sizes: sizes, repetitions: repetitions, machine: machine,
    versions: versions, figures: figures, ratios: Analysis.ratios(figures), targets: Analysis.targets(figures),
    notes: notes)

do {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let directoryOfOutput = (output as NSString).deletingLastPathComponent
    if !directoryOfOutput.isEmpty {
        try FileManager.default.createDirectory(atPath: directoryOfOutput, withIntermediateDirectories: true)
    }
    try encoder.encode(report).write(to: URL(fileURLWithPath: output))
} catch { fail("cannot write \(output): \(error)") }

print("Machine: \(machine.cpuModel), \(machine.cores) cores, \(machine.memoryGiB) GiB; \(machine.kernel)")
print("Disk: \(machine.disk); \(machine.filesystem)")
print("Load average at start \(machine.loadAverageAtStart), at end \(machine.loadAverageAtEnd)")
print("Versions: \(versions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
print("Command: \(command)")
print("")
print(Analysis.markdown(report))
print("")
print("What each row runs:")
print(Analysis.variants(report))
print("")
for note in notes { print("- \(note)") }
progress("wrote \(output)")
