// coffer-bench-shared: durable commits on a vault shared through PostgreSQL, with 1, 2, 4 and 8
// writer processes (and one process with several committing threads), and how stale a
// follower is; beside the same commits on a vault file in the same run. BENCHMARKS.md says how
// to read it; tools/bench-shared runs it against a throw-away server.
//
//   coffer-bench-shared --url postgres://…/db --dir DIR [--writers 1,2,4,8] [--threads 8] [--seconds 10] [--out FILE]
//   coffer-bench-shared writer URL NAME SECONDS [THREADS]
//                                 (a child: commits for SECONDS from THREADS threads, then prints
//                                  one line per commit: sequence ack_ns latency_ns)
import BenchSupport
import Coffer
import CofferPostgres
import CofferStorage
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

let key = SecureBytes(copying: (0..<32).map { UInt8(60 + $0) })

func fail(_ message: String) -> Never {
    FileHandleLine.write(2, "coffer-bench-shared: \(message)")
    exit(2)
}

enum FileHandleLine {
    static func write(_ descriptor: Int32, _ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
    }
}

func sharedStorage(_ url: String) throws -> SharedLogStorage {
    let location = try PostgresLocation(parsing: url)
    return SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
}

/// One commit: an api_token credential, about the median record of the main benchmark.
func commit(_ vault: Vault, name: String, number: Int) throws {
    let slug = "\(name)-\(number)"
    let draft = CredentialDraft(
        appKey: "exa", slug: slug, label: "Exa \(slug)", type: .apiToken,
        fields: FieldValues(["token": SecureBytes(copying: Array("exa_live_\(slug)_0123456789abcdefghijklmnopqrstuvwxyz".utf8))]))
    try vault.mutate(actor: name) { try $0.createCredential(in: "acme", draft, scopes: [.organization]) }
}

/// Commits that failed with `conflict` after every attempt, in this process.
let givenUp = Locked(0)

/// Commits for `seconds`; per commit its sequence, the monotonic time of its acknowledgement
/// and its latency.
func commitLoop(_ vault: Vault, name: String, seconds: Double) throws -> [(UInt64, UInt64, UInt64)] {
    var samples: [(UInt64, UInt64, UInt64)] = []
    let end = Clock.nanoseconds() + UInt64(seconds * 1e9)
    var number = 0
    while Clock.nanoseconds() < end {
        number += 1
        let start = Clock.nanoseconds()
        do {
            try commit(vault, name: name, number: number)
        } catch let error as CofferError where error.code == .conflict {
            // Lost 64 times in a row to the other writers: counted, and tried again.
            givenUp.withLock { $0 += 1 }
            number -= 1
            continue
        }
        let acknowledged = Clock.nanoseconds()
        samples.append((vault.head.sequence, acknowledged, acknowledged - start))
    }
    return samples
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "writer" {
    guard (4...5).contains(arguments.count), let seconds = Double(arguments[3]),
        let threads = arguments.count == 5 ? Int(arguments[4]) : 1, threads >= 1
    else { fail("usage: writer URL NAME SECONDS [THREADS]") }
    do {
        let storage = try sharedStorage(arguments[1])
        let vault = try Vault.open(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage))
        // The sequence read back after the commit may already include a later one from
        // another instance; the vault's head right after is what this writer knew.
        let collected = Locked<[(UInt64, UInt64, UInt64)]>([])
        let failure = Locked<String?>(nil)
        // Threads of their own, all at once (concurrentPerform would run only as many as there are cores).
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread {
                do {
                    let name = threads == 1 ? arguments[2] : "\(arguments[2])t\(thread)"
                    let samples = try commitLoop(vault, name: name, seconds: seconds)
                    collected.withLock { $0 += samples }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
                group.leave()
            }.start()
        }
        group.wait()
        if let failure = failure.withLock({ $0 }) { fail(failure) }
        let samples = collected.withLock { $0 }
        var text = "gave-up \(givenUp.withLock { $0 })\n"
        for (sequence, acknowledged, latency) in samples { text += "\(sequence) \(acknowledged) \(latency)\n" }
        FileHandleLine.write(1, text)
        exit(0)
    } catch {
        fail("\(error)")
    }
}

var url = ""
var directory = "/tmp/coffer-bench-shared"
var writerCounts = [1, 2, 4, 8]
var threadCounts = [8]
var seconds = 10.0
var outPath: String?
var index = 0
while index < arguments.count {
    let value = index + 1 < arguments.count ? arguments[index + 1] : ""
    switch arguments[index] {
    case "--url": url = value
    case "--dir": directory = value
    case "--writers": writerCounts = value.split(separator: ",").compactMap { Int($0) }
    case "--threads": threadCounts = value.split(separator: ",").compactMap { Int($0) }.filter { $0 > 1 }
    case "--seconds": seconds = Double(value) ?? seconds
    case "--out": outPath = value
    default: fail("unknown argument \(arguments[index])")
    }
    index += 2
}
guard !url.isEmpty else { fail("--url is required") }
mkdir(directory, 0o700)

struct Row: Codable {
    var store: String
    var writers: Int
    /// Committing threads in each writer process.
    var threads: Int
    var commits: Int
    var commitsPerSecond: Double
    var latency: Latency
    var staleness: Latency?
    /// Commits that failed with `conflict` after every attempt (and were tried again).
    var givenUp: Int
}

func spawn(_ arguments: [String], output: String) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for argument in cArguments { free(argument) } }
    var pid = pid_t()
    guard posix_spawn(&pid, arguments[0], &actions, nil, &cArguments, environ) == 0 else { fail("cannot spawn a writer") }
    return pid
}

func readFile(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

var rows: [Row] = []
do {
    // The same commits on a vault file, one process: the embedded default's rate.
    let filePath = "\(directory)/file-\(getpid()).coffer"
    unlink(filePath)
    let fileVault = try Vault.create(path: filePath, unlock: .keyFile(key), cost: .interactive)
    try fileVault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
    let fileSamples = try commitLoop(fileVault, name: "file", seconds: seconds)
    fileVault.close()
    unlink(filePath)
    rows.append(Row(
        store: "file", writers: 1, threads: 1, commits: fileSamples.count, commitsPerSecond: Double(fileSamples.count) / seconds,
        latency: Latency(nanoseconds: fileSamples.map(\.2)), staleness: nil, givenUp: 0))

    let executable = CommandLine.arguments[0]
    for (writers, threads) in writerCounts.map({ ($0, 1) }) + threadCounts.map({ (1, $0) }) {
        let location = try PostgresLocation(parsing: url).naming(vault: "bench-\(writers)-\(getpid())-\(Clock.nanoseconds() % 1_000_000)")
        let storage = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
        let creator = try Vault.create(path: storage.path, unlock: .keyFile(key), cost: .interactive, options: .init(storage: storage))
        try creator.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        creator.close()
        // A follower in this process: when each refresh finished, and the head it reached.
        let followerStorage = try sharedStorage(location.description)
        let follower = try Vault.open(
            path: followerStorage.path, unlock: .keyFile(key), options: .init(storage: followerStorage, readOnly: true))
        let seen = Locked<[(UInt64, UInt64)]>([])
        let listening = try PostgresFollower(location: location, interval: .milliseconds(200)) {
            if let head = try? follower.refresh() { seen.withLock { $0.append((head.sequence, Clock.nanoseconds())) } }
        }
        let outputs = (0..<writers).map { "\(directory)/writer-\(writers)-\($0).out" }
        let pids = (0..<writers).map {
            spawn([executable, "writer", location.description, "w\($0)", String(seconds), String(threads)], output: outputs[$0])
        }
        for pid in pids {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            guard status == 0 else { fail("a writer failed (status \(status))") }
        }
        // Let the follower reach the end.
        let last = try creatorHead(location: location)
        let deadline = Clock.nanoseconds() + 10_000_000_000
        while seen.withLock({ $0.last?.0 ?? 0 }) < last && Clock.nanoseconds() < deadline { usleep(1000) }
        listening.stop()
        follower.close()
        var samples: [(UInt64, UInt64, UInt64)] = []
        var gaveUp = 0
        for output in outputs {
            for line in readFile(output).split(separator: "\n") {
                if line.hasPrefix("gave-up ") { gaveUp += Int(line.dropFirst(8)) ?? 0 }
                let parts = line.split(separator: " ").compactMap { UInt64($0) }
                if parts.count == 3 { samples.append((parts[0], parts[1], parts[2])) }
            }
            unlink(output)
        }
        let refreshes = seen.withLock { $0 }
        var staleness: [UInt64] = []
        for (sequence, acknowledged, _) in samples {
            // The first refresh that reached this commit, after it was acknowledged.
            if let reached = refreshes.first(where: { $0.0 >= sequence && $0.1 >= acknowledged }) {
                staleness.append(reached.1 - acknowledged)
            }
        }
        rows.append(Row(
            store: "postgresql", writers: writers, threads: threads, commits: samples.count,
            commitsPerSecond: Double(samples.count) / seconds, latency: Latency(nanoseconds: samples.map(\.2)),
            staleness: staleness.isEmpty ? nil : Latency(nanoseconds: staleness), givenUp: gaveUp))
    }
} catch {
    fail("\(error)")
}

func creatorHead(location: PostgresLocation) throws -> UInt64 {
    let storage = try sharedStorage(location.description)
    let vault = try Vault.open(path: storage.path, unlock: .keyFile(key), options: .init(storage: storage, readOnly: true))
    defer { vault.close() }
    return vault.head.sequence
}

func format(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return rounded >= 100 ? String(Int(rounded)) : String(rounded)
}

let fileRate = rows[0].commitsPerSecond
print("| store | writer processes | threads each | commits/s | × file | commit p50 µs | commit p99 µs | follower staleness p50 µs | p99 µs | gave up |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in rows {
    print(
        "| \(row.store) | \(row.writers) | \(row.threads) | \(format(row.commitsPerSecond)) | \(format(row.commitsPerSecond / fileRate)) | "
            + "\(format(row.latency.p50Microseconds)) | \(format(row.latency.p99Microseconds)) | "
            + "\(row.staleness.map { format($0.p50Microseconds) } ?? "–") | \(row.staleness.map { format($0.p99Microseconds) } ?? "–") | \(row.givenUp) |")
}
if let outPath {
    do {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: outPath))
    } catch {
        fail("writing \(outPath): \(error)")
    }
}
