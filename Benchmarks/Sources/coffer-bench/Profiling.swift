import BenchSupport
import Coffer
import CofferStorage
import Foundation

/// Entry points for `perf record`: build a vault once, then run one workload in a loop, so a
/// profile shows that workload alone.
///
///     coffer-bench prepare --size 100000 --vault /tmp/p.coffer          (bulk load; writes /tmp/p.coffer.key)
///     perf record -g coffer-bench profile --workload reveal --vault /tmp/p.coffer --size 100000 --seconds 10
///
/// Workloads: open, reveal (the first organization's credentials, over and over),
/// reveal_uniform (tools/bench's point reads: uniform over the vault), resolve, commit
/// (durable mutate), commit_one_group (the same, every credential in one candidate group),
/// resolve_one_group (resolution in that group, grown by commit_one_group), group_commit
/// (mutate from 8 threads), append (raw VaultStore.append from 8 threads), checkpoint
/// (Vault.checkpoint, over and over). `--maps-log` opens the vault with `Options.mapsLog`
/// (reveals read through a mapping of the file); `--sync-wait-spin-us N` opens it with an
/// `Options.syncWaitSpin` of N µs (0 to 10,000).
enum Profiling {
    static func prepare(_ arguments: Arguments) throws {
        let size = arguments.int("size", default: 10_000)
        let path = arguments.string("vault", default: "/tmp/coffer-profile.coffer")
        let dataset = Dataset(size: size, seed: UInt64(arguments.int("seed", default: 1)))
        let workloads = CofferWorkloads(
            dataset: dataset, directory: (path as NSString).deletingLastPathComponent, repetitions: 1)
        let specs = (0..<size).map(dataset.credential)
        ProcessFacts.remove(path)
        ProcessFacts.remove(path + ".checkpoint")
        let vault = try Vault.create(
            path: path, unlock: workloads.unlock, options: Vault.Options(durability: .unsafeNoSync))
        var directory = try workloads.loadDirectory(vault)
        let seconds = try Clock.seconds {
            for spec in specs {
                let (draft, scope) = CofferWorkloads.draft(spec)
                directory.credentials.append(
                    try vault.mutate(actor: "loader") {
                        try $0.createCredential(in: Dataset.organizationSlug(spec.organization), draft, scopes: [scope])
                    }[0])
            }
        }
        workloads.ids = directory
        try workloads.loadAssignments(vault)
        vault.close()
        ProcessFacts.syncFile(path)
        try workloads.keyHex.write(toFile: path + ".key", atomically: true, encoding: .utf8)
        progress("prepared \(path): \(size) credentials in \(String(format: "%.2f", seconds)) s")
    }

    /// Tells a `perf record --delay=-1 --control=fifo:PATH` parent to start sampling, when
    /// BENCH_PERF_CONTROL names its control FIFO.
    static func enablePerf() {
        guard let control = ProcessInfo.processInfo.environment["BENCH_PERF_CONTROL"],
            let handle = FileHandle(forWritingAtPath: control)
        else { return }
        handle.write(Data("enable\n".utf8))
        try? handle.close()
    }

    static func profile(_ arguments: Arguments) throws {
        let size = arguments.int("size", default: 10_000)
        let path = arguments.string("vault", default: "/tmp/coffer-profile.coffer")
        let workload = arguments.string("workload", default: "reveal")
        let seconds = Double(arguments.int("seconds", default: 10))
        let dataset = Dataset(size: size, seed: UInt64(arguments.int("seed", default: 1)))
        let key = SecureBytes(copying: bytes(fromHex: try String(contentsOfFile: path + ".key", encoding: .utf8)))
        var deadline = Clock.nanoseconds() + UInt64(seconds * 1e9)
        var operations = 0
        if ![
            "reveal", "reveal_uniform", "resolve", "commit", "commit_one_group", "resolve_one_group", "group_commit",
            "checkpoint",
        ].contains(workload) {
            enablePerf()
        }
        if workload == "append" {
            // Raw group commit: 8 threads, each appending 400-byte payloads durably.
            let logPath = path + ".raw"
            ProcessFacts.remove(logPath)
            let store = try VaultStore.create(
                path: logPath, secret: .keyFile(key), options: VaultStore.Options(durability: .synchronous))
            let payload = SecureBytes(randomCount: 400)
            let counts = PerThread<Int>(count: 8, initial: 0)
            let end = deadline
            _ = runThreads(8) { thread in
                var done = 0
                while Clock.nanoseconds() < end {
                    _ = try! store.append([payload])
                    done += 1
                }
                counts.set(thread, done)
            }
            store.close()
            ProcessFacts.remove(logPath)
            let total = counts.values.reduce(0, +)
            progress("append: \(total) commits from 8 threads in \(seconds) s = \(Int(Double(total) / seconds))/s")
            return
        }
        if workload == "open" {
            // Each open timed alone; closing and freeing the index come after the clock stops.
            var times: [Double] = []
            while Clock.nanoseconds() < deadline {
                var vault: Vault?
                times.append(try Clock.seconds { vault = try Vault.open(path: path, unlock: .keyFile(key)) })
                vault?.close()
                vault = nil
                operations += 1
            }
            times.sort()
            progress(
                "open: \(operations) opens in \(seconds) s; each \(String(format: "%.3f", times[times.count / 2])) s median, \(String(format: "%.3f", times[0])) s min"
            )
            return
        }
        // --maps-log: reveals read through a mapping of the file (Options.mapsLog).
        var options = Vault.Options()
        options.mapsLog = arguments.has("maps-log")
        // --sync-wait-spin-us N: Options.syncWaitSpin, to compare spins.
        if arguments.has("sync-wait-spin-us") {
            options.syncWaitSpin = .microseconds(arguments.int("sync-wait-spin-us", default: 300))
        }
        let vault = try Vault.open(path: path, unlock: .keyFile(key), options: options)
        let directory = try Directory.lookUp(in: vault, dataset: dataset)
        // The loop runs for `seconds` after the open; under `perf record --control` (see
        // profile.sh) the profile starts here too, so that it shows the workload alone.
        enablePerf()
        deadline = Clock.nanoseconds() + UInt64(seconds * 1e9)
        switch workload {
        case "reveal":
            // The first organization's credentials: every type, a thousand records.
            let credentials = vault.read { index in
                index.credentials(matching: CredentialFilter(organization: directory.organizations[0])).map(\.id)
            }
            while Clock.nanoseconds() < deadline {
                for id in credentials { _ = try vault.reveal(id) }
                operations += credentials.count
            }
        case "reveal_uniform":
            // Uniform random credentials of the whole vault, as tools/bench's point reads pick
            // them: at 100k and beyond their frames no longer fit the cache of sealed frames.
            let credentials = vault.read { index in
                directory.organizations.flatMap {
                    index.credentials(matching: CredentialFilter(organization: $0)).map(\.id)
                }
            }
            let reads = dataset.pointReads
            deadline = Clock.nanoseconds() + UInt64(seconds * 1e9)
            var next = 0
            while Clock.nanoseconds() < deadline {
                for _ in 0..<1000 {
                    _ = try vault.reveal(credentials[Int(reads[next % reads.count])])
                    next += 1
                }
                operations += 1000
            }
        case "checkpoint":
            // The index checkpoint written over and over (Vault.checkpoint): the encoding, the
            // seal, the staged write and its syncs.
            while Clock.nanoseconds() < deadline {
                _ = try vault.checkpoint()
                operations += 1
            }
        case "resolve":
            let requests = dataset.requests.map(directory.request)
            while Clock.nanoseconds() < deadline {
                for request in requests { _ = try vault.resolve(request) }
                operations += requests.count
            }
        case "resolve_one_group":
            // On a vault commit_one_group grew: its app in its project, where every credential
            // is, the oldest marked the default (resolution's answer among many active ones).
            let organization = directory.organizations[0]
            let oldest = vault.read { index in
                index.credentials(matching: CredentialFilter(organization: organization, appKey: "x-one-group"))
                    .min { $0.created.timeMilliseconds < $1.created.timeMilliseconds }
            }
            guard let oldest else { throw WrongAnswer(description: "no x-one-group credential: run commit_one_group") }
            if !oldest.isDefault {
                try vault.updateCredential(
                    oldest.id, in: organization, CredentialUpdate(isDefault: true), actor: "bench")
            }
            let request = ResolutionRequest(
                appKey: "x-one-group", context: RunContext(organization: organization, project: directory.projects[0]))
            deadline = Clock.nanoseconds() + UInt64(seconds * 1e9)
            while Clock.nanoseconds() < deadline {
                for _ in 0..<1000 { _ = try vault.resolve(request) }
                operations += 1000
            }
        case "commit", "commit_one_group":
            // commit_one_group: every credential goes to one candidate group (one organization,
            // project and app), which grows by one a commit: what a create's slug check walks.
            // `--first` numbers the credentials of a run on a vault an earlier one grew.
            var number = arguments.int("first", default: 1_000_000)
            while Clock.nanoseconds() < deadline {
                number += 1
                var spec = dataset.extraCredential(number)
                if workload == "commit_one_group" {
                    spec.organization = 0
                    spec.owner = 0
                    spec.appKey = "x-one-group"
                }
                let (draft, scope) = CofferWorkloads.draft(spec)
                _ = try vault.mutate(actor: "bench") {
                    try $0.createCredential(in: Dataset.organizationSlug(spec.organization), draft, scopes: [scope])
                }
                operations += 1
            }
        case "group_commit":
            // Eight threads committing at once: count the fdatasync calls beside it (perf stat
            // -e syscalls:sys_enter_fdatasync) for the commits each sync carries.
            let counts = PerThread<Int>(count: 8, initial: 0)
            let end = deadline
            _ = runThreads(8) { thread in
                var done = 0
                // Numbers of their own, apart from the commit workload's, which may have run on this vault.
                var number = 10_000_000_000 + thread * 1_000_000_000
                while Clock.nanoseconds() < end {
                    number += 1
                    let spec = dataset.extraCredential(number)
                    let (draft, scope) = CofferWorkloads.draft(spec)
                    _ = try! vault.mutate(actor: "bench") {
                        try $0.createCredential(in: Dataset.organizationSlug(spec.organization), draft, scopes: [scope])
                    }
                    done += 1
                }
                counts.set(thread, done)
            }
            operations = counts.values.reduce(0, +)
        default:
            throw WrongAnswer(description: "unknown workload \(workload)")
        }
        vault.close()
        progress("\(workload): \(operations) operations in \(seconds) s = \(Int(Double(operations) / seconds))/s")
    }
}
