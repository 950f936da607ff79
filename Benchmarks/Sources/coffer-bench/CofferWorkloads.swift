import BenchSupport
import Coffer
import CofferStorage
import Foundation

/// Thrown when Coffer gives an answer other than the dataset's.
struct WrongAnswer: Error, CustomStringConvertible {
    let description: String
}

/// The ids Coffer gave the dataset's organizations, projects, users and credentials.
struct Directory: Sendable {
    var organizations: [OrganizationID] = []
    var projects: [ProjectID] = []
    var users: [UserID] = []
    var credentials: [CredentialID] = []

    /// The Coffer form of a request of the dataset.
    func request(_ spec: RequestSpec) -> ResolutionRequest {
        ResolutionRequest(
            appKey: Dataset.appKeys[spec.app],
            context: RunContext(
                organization: organizations[spec.organization],
                project: projects[spec.organization * Dataset.projectsPerOrganization + spec.project],
                user: spec.user.map { users[spec.organization * Dataset.usersPerOrganization + $0] }),
            pinnedScope: spec.pinned.map { CredentialScope(rawValue: $0.rawValue)! },
            consumer: spec.workflow.map { AssignmentTarget(kind: .workflow, slug: $0, consumer: spec.consumer!) })
    }

    /// Rebuilds the ids from an opened vault, by slug (for child processes).
    static func lookUp(in vault: Vault, dataset: Dataset) throws -> Directory {
        try vault.read { (index: borrowing VaultIndex) throws -> Directory in
            var directory = Directory()
            for organization in 0..<dataset.organizationCount {
                let id = try index.organizationID(Dataset.organizationSlug(organization))
                directory.organizations.append(id)
                for project in 0..<Dataset.projectsPerOrganization {
                    directory.projects.append(try index.projectID(Dataset.projectSlug(project), in: id))
                }
                for user in 0..<Dataset.usersPerOrganization {
                    directory.users.append(try index.userID(Dataset.userHandle(organization: organization, user: user)))
                }
            }
            return directory
        }
    }
}

/// The workloads of BENCHMARKS.md against Coffer's public API.
final class CofferWorkloads: @unchecked Sendable {
    let dataset: Dataset
    let directoryPath: String
    let repetitions: Int
    let key = SecureBytes(randomCount: 32)
    let path: String
    var figures: [Figure] = []
    var notes: [String] = []
    var ids = Directory()
    var requests: [ResolutionRequest] = []
    var extraNumber = 0

    init(dataset: Dataset, directory: String, repetitions: Int) {
        self.dataset = dataset
        self.directoryPath = directory
        self.repetitions = repetitions
        path = "\(directory)/coffer-\(dataset.size).coffer"
    }

    var size: Int { dataset.size }
    var unlock: Vault.Unlock { .keyFile(key) }
    var keyHex: String { key.withUnsafeBytes { hexString(Array($0)) } }

    static func draft(_ spec: CredentialSpec) -> (CredentialDraft, ScopeTarget) {
        var values: [String: SecureBytes] = [:]
        for field in spec.fields { values[field.name] = SecureBytes(copying: field.value) }
        let draft = CredentialDraft(
            appKey: spec.appKey, slug: spec.slug, label: spec.label, kind: .apiKey,
            type: CredentialType(rawValue: spec.type.rawValue)!,
            category: CredentialCategory(rawValue: spec.category)!, fields: FieldValues(values),
            isDefault: spec.isDefault)
        let scope: ScopeTarget
        switch spec.scope {
        case .organization: scope = .organization
        case .project: scope = .project(Dataset.projectSlug(spec.owner))
        case .user: scope = .user(Dataset.userHandle(organization: spec.organization, user: spec.owner))
        }
        return (draft, scope)
    }

    // MARK: Loading

    /// Organizations, projects, users and memberships: four transactions.
    func loadDirectory(_ vault: Vault) throws -> Directory {
        var directory = Directory()
        let organizations = dataset.organizationCount
        directory.organizations = try vault.mutate(actor: "loader") { planner in
            var operations: [ModelOperation] = []
            var ids: [OrganizationID] = []
            for organization in 0..<organizations {
                let plan = try planner.createOrganization(
                    slug: Dataset.organizationSlug(organization), name: "Acme \(organization)")
                operations += plan.operations
                ids.append(plan.value)
            }
            return Plan(operations: operations, value: ids)
        }
        directory.projects = try vault.mutate(actor: "loader") { planner in
            var operations: [ModelOperation] = []
            var ids: [ProjectID] = []
            for organization in 0..<organizations {
                for project in 0..<Dataset.projectsPerOrganization {
                    let plan = try planner.createProject(
                        in: Dataset.organizationSlug(organization), slug: Dataset.projectSlug(project),
                        name: "Web \(project)")
                    operations += plan.operations
                    ids.append(plan.value)
                }
            }
            return Plan(operations: operations, value: ids)
        }
        directory.users = try vault.mutate(actor: "loader") { planner in
            var operations: [ModelOperation] = []
            var ids: [UserID] = []
            for organization in 0..<organizations {
                for user in 0..<Dataset.usersPerOrganization {
                    let plan = try planner.createUser(
                        handle: Dataset.userHandle(organization: organization, user: user), displayName: "User \(user)")
                    operations += plan.operations
                    ids.append(plan.value)
                }
            }
            return Plan(operations: operations, value: ids)
        }
        try vault.mutate(actor: "loader") { planner in
            var operations: [ModelOperation] = []
            for organization in 0..<organizations {
                for user in 0..<Dataset.usersPerOrganization {
                    operations += try planner.addMember(
                        Dataset.userHandle(organization: organization, user: user),
                        to: Dataset.organizationSlug(organization), role: .builder
                    ).operations
                }
            }
            return Plan(operations: operations, value: ())
        }
        return directory
    }

    func loadAssignments(_ vault: Vault) throws {
        let credentials = ids.credentials
        try vault.mutate(actor: "loader") { planner in
            var operations: [ModelOperation] = []
            for assignment in dataset.assignments {
                operations += try planner.assign(
                    credentials[assignment.credential].description,
                    to: AssignmentTarget(kind: .workflow, slug: assignment.workflow, consumer: assignment.consumer),
                    in: Dataset.organizationSlug(assignment.organization)
                ).operations
            }
            return Plan(operations: operations, value: ())
        }
    }

    /// Bulk load as a service would do it today: one `mutate` per credential (one record
    /// each, the layout every later workload reads) on a vault opened `.unsafeNoSync`, then
    /// one fdatasync of the file. The draft's SecureBytes are made inside the timing: the
    /// API takes field values only in that form.
    func bulkLoad(_ specs: [CredentialSpec]) throws {
        let values = try repeatRuns(repetitions: repetitions) { repetition in
            removeVault(path)
            let vault = try Vault.create(path: path, unlock: unlock, options: Vault.Options(durability: .unsafeNoSync))
            var directory = try loadDirectory(vault)
            directory.credentials.reserveCapacity(size)
            let seconds = try Clock.seconds {
                for spec in specs {
                    let (draft, scope) = Self.draft(spec)
                    let created = try vault.mutate(actor: "loader") { planner in
                        try planner.createCredential(
                            in: Dataset.organizationSlug(spec.organization), draft, scopes: [scope])
                    }
                    directory.credentials.append(created[0])
                }
                ProcessFacts.syncFile(path)
            }
            ids = directory
            if repetition == repetitions - 1 {
                try loadAssignments(vault)
                ProcessFacts.syncFile(path)
            }
            vault.close()
            progress("coffer bulk load \(size) rep \(repetition): \(String(format: "%.2f", seconds)) s")
            return Double(size) / seconds
        }
        figures.append(
            Figure(
                workload: "bulk_load", engine: "coffer",
                variant:
                    "one mutate (createCredential) per credential, Durability.unsafeNoSync, then one fdatasync of the file",
                size: size, unit: "credentials/s", higherIsBetter: true, operations: size, values: values))
        requests = dataset.requests.map(ids.request)
    }

    /// Bulk load in batch transactions: 1,000 createCredential plans merged into one
    /// `mutate`, on a vault opened `.synchronous` (one fdatasync per 1,000 credentials).
    func bulkLoadBatches(_ specs: [CredentialSpec]) throws {
        let batch = 1000
        let batchPath = "\(directoryPath)/coffer-batch-\(size).coffer"
        var fileBytes = 0
        let values = try repeatRuns(repetitions: repetitions) { repetition in
            removeVault(batchPath)
            let setup = try Vault.create(
                path: batchPath, unlock: unlock, options: Vault.Options(durability: .unsafeNoSync))
            _ = try loadDirectory(setup)
            setup.close()
            ProcessFacts.syncFile(batchPath)
            let vault = try Vault.open(path: batchPath, unlock: unlock)
            let seconds = try Clock.seconds {
                for start in stride(from: 0, to: specs.count, by: batch) {
                    let drafts = specs[start..<min(start + batch, specs.count)].map {
                        ($0.organization, Self.draft($0))
                    }
                    _ = try vault.mutate(actor: "loader") { planner in
                        var operations: [ModelOperation] = []
                        for (organization, (draft, scope)) in drafts {
                            operations += try planner.createCredential(
                                in: Dataset.organizationSlug(organization), draft, scopes: [scope]
                            ).operations
                        }
                        return Plan(operations: operations, value: ())
                    }
                }
            }
            vault.close()
            fileBytes = ProcessFacts.fileSize(batchPath)
            progress("coffer batch load \(size) rep \(repetition): \(String(format: "%.2f", seconds)) s")
            return Double(size) / seconds
        }
        removeVault(batchPath)
        figures.append(
            Figure(
                workload: "bulk_load_batch", engine: "coffer",
                variant: "mutate of \(batch) createCredential plans per transaction, Durability.synchronous",
                size: size, unit: "credentials/s", higherIsBetter: true, operations: size, values: values))
        figures.append(
            Figure(
                workload: "file_size_batch", engine: "coffer",
                variant: "vault file loaded in \(batch)-credential transactions",
                size: size, unit: "B/credential", higherIsBetter: false, operations: size,
                values: [Double(fileBytes) / Double(size)], note: "\(fileBytes) bytes"))
    }

    func removeVault(_ file: String) {
        ProcessFacts.remove(file)
        ProcessFacts.remove(file + ".checkpoint")
    }

    // MARK: File size and record sizes

    /// The vault's size per credential, and the distribution of its frames.
    func fileSize() -> Frames {
        let frames = Frames(path: path)
        let bytes = ProcessFacts.fileSize(path)
        figures.append(
            Figure(
                workload: "file_size", engine: "coffer",
                variant: "vault file, one record per credential, no compaction",
                size: size, unit: "B/credential", higherIsBetter: false, operations: size,
                values: [Double(bytes) / Double(size)], note: "\(bytes) bytes"))
        notes.append("\(size): \(frames.summary)")
        return frames
    }

    // MARK: Open

    /// From nothing to the first successful resolution: unlock with the key file (no KDF),
    /// authenticate and replay every record, resolve one request. The clock stops at the
    /// resolution; closing the vault and freeing the index are not part of it.
    func open(_ file: String, workload: String, variant: String, usesCheckpoint: Bool = false, note: String? = nil) throws {
        let first = requests[0]
        let expected = ids.credentials[dataset.requests[0].expectedCredential]
        var options = Vault.Options()
        options.usesCheckpoint = usesCheckpoint
        let values = try repeatRuns(repetitions: repetitions) { _ in
            let start = Clock.nanoseconds()
            let vault = try Vault.open(path: file, unlock: unlock, options: options)
            if usesCheckpoint, case .resumed = vault.recovery.checkpoint {} else if usesCheckpoint {
                throw WrongAnswer(description: "the open did not resume from the checkpoint: \(vault.recovery.checkpoint)")
            }
            let resolved = try vault.resolve(first)
            let seconds = Double(Clock.nanoseconds() - start) / 1e9
            vault.close()
            guard resolved.id == expected else { throw WrongAnswer(description: "first resolution") }
            return seconds
        }
        figures.append(
            Figure(
                workload: workload, engine: "coffer", variant: variant, size: size, unit: "s", higherIsBetter: false,
                operations: 1, values: values, note: note ?? "page cache warm: the file was just written"))
    }

    /// The size of the index checkpoint beside the vault; 0 when there is none.
    func checkpointBytes() -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path + ".checkpoint")[.size] as? Int) ?? 0
    }

    /// Writes the index checkpoint beside the vault, then measures opens that resume from it.
    func openCheckpointed() throws {
        let writer = try Vault.open(path: path, unlock: unlock)
        let start = Clock.nanoseconds()
        let covered = try writer.checkpoint()
        let seconds = Double(Clock.nanoseconds() - start) / 1e9
        writer.close()
        let checkpointBytes = checkpointBytes()
        try open(
            path, workload: "open_checkpointed",
            variant: "Vault.open with a key file resuming from the index checkpoint after the last record, first resolve",
            usesCheckpoint: true,
            note: "checkpoint \(checkpointBytes) bytes after record \(covered), written in \(String(format: "%.2f", seconds)) s; page cache warm")
    }

    // MARK: Reads

    /// Point reads from 1 and 2 threads through `vault`: `reveal` through the vault of the
    /// other workloads, `reveal_mapped` through one that maps its file.
    func pointReads(
        _ vault: Vault, workload: String = "reveal",
        variant: String = "vault.reveal(id): read, authenticate and decrypt the record, decode the fields"
    ) throws {
        let operations = 20_000
        let credentials = ids.credentials
        let reads = dataset.pointReads
        // The revealed fields must be the dataset's.
        for index in reads.prefix(200).map(Int.init) {
            let fields = try vault.reveal(credentials[index])
            guard fields.count == dataset.credential(index).fields.count else {
                throw WrongAnswer(description: "reveal of credential \(index)")
            }
        }
        for threads in [1, 2] {
            let (values, latency) = readRounds(
                threads: threads, operations: operations, repetitions: repetitions, threadStride: 7919,
                roundStride: 104_729, latencyOffset: 31
            ) { _, position in
                let fields = try! vault.reveal(credentials[Int(reads[position % reads.count])])
                precondition(fields.count > 0)
            }
            figures.append(
                Figure(
                    workload: workload, engine: "coffer", variant: variant, size: size, threads: threads,
                    unit: "ops/s", higherIsBetter: true, operations: operations * threads, values: values,
                    latency: latency))
        }
    }

    /// The same point reads through a reader whose cache of sealed frames holds the whole log
    /// (`sealedFrameCacheBytes` set to the file's size), warmed by one pass: no reveal reads
    /// the file, so beside `reveal` this shows what the `pread` of a reveal that misses the
    /// default 8 MiB costs, and what a service that gives the cache that room gets.
    func pointReadsFromCache() throws {
        let operations = 20_000
        let credentials = ids.credentials
        let reads = dataset.pointReads
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var options = Vault.Options(readOnly: true)
        options.sealedFrameCacheBytes = fileBytes
        let vault = try Vault.open(path: path, unlock: unlock, options: options)
        defer { vault.close() }
        for index in reads { _ = try vault.reveal(credentials[Int(index)]) }
        let values = repeatRuns(repetitions: repetitions) { repetition in
            let offset = (repetition + 2) * 104_729
            return Double(operations)
                / Clock.seconds {
                    for operation in 0..<operations {
                        let fields = try! vault.reveal(credentials[Int(reads[(offset + operation) % reads.count])])
                        precondition(fields.count > 0)
                    }
                }
        }
        figures.append(
            Figure(
                workload: "reveal_cached", engine: "coffer",
                variant:
                    "vault.reveal(id) as `reveal`, through a read-only vault whose sealedFrameCacheBytes is the file's size (\(String(format: "%.1f", Double(fileBytes) / 1_048_576)) MiB), warmed by one pass over the reads",
                size: size, unit: "ops/s", higherIsBetter: true, operations: operations, values: values))
    }

    /// The same point reads, from 1 and 2 threads, through a reader that maps the vault file
    /// (`mapsLog`), warmed by one pass: no `pread` and no cache, the frames read where the
    /// file's pages are.
    func pointReadsFromMapping() throws {
        var options = Vault.Options(readOnly: true)
        options.mapsLog = true
        let vault = try Vault.open(path: path, unlock: unlock, options: options)
        defer { vault.close() }
        for index in dataset.pointReads { _ = try vault.reveal(ids.credentials[Int(index)]) }
        try pointReads(
            vault, workload: "reveal_mapped",
            variant:
                "vault.reveal(id) as `reveal`, through a read-only vault that maps the file (Options.mapsLog), warmed by one pass over the reads"
        )
    }

    func resolutions(_ vault: Vault) throws {
        let operations = 200_000
        let requests = self.requests
        // Every engine must give the dataset's answer, at the dataset's stage.
        for (request, spec) in zip(requests, dataset.requests) {
            let resolved = try vault.resolve(request)
            guard resolved.id == ids.credentials[spec.expectedCredential],
                resolved.stage.rawValue == spec.expectedStage.rawValue
            else { throw WrongAnswer(description: "resolution of \(spec): \(resolved)") }
        }
        // What a service calls before an action (no trace), from one and two threads; then the
        // form with the explain trace that `coffer resolve` prints.
        let untraced: @Sendable (ResolutionRequest) -> UInt32 = { try! vault.resolve($0).version }
        let traced: @Sendable (ResolutionRequest) -> UInt32 = {
            guard case .resolved(let resolved, let trace) = vault.resolution($0), !trace.isEmpty else {
                preconditionFailure("an explained resolution without its answer or its trace")
            }
            return resolved.version
        }
        for (threads, explained) in [(1, false), (2, false), (1, true)] {
            let resolve = explained ? traced : untraced
            let (values, latency) = readRounds(
                threads: threads, operations: operations, repetitions: repetitions, threadStride: 1031,
                roundStride: 613, latencyOffset: 17
            ) { _, position in
                let version = resolve(requests[position % requests.count])
                precondition(version == 1)
            }
            figures.append(
                Figure(
                    workload: explained ? "resolve_explained" : "resolve", engine: "coffer",
                    variant: explained
                        ? "vault.resolution(request): the same order, with its explain trace (what coffer resolve prints)"
                        : "vault.resolve(request): the full order (assignment, pinned scope, project, organization), no explain trace",
                    size: size, threads: threads, unit: "ops/s", higherIsBetter: true, operations: operations * threads,
                    values: values, latency: latency))
        }
    }

    // MARK: Commits

    func nextExtra() -> (CredentialDraft, ScopeTarget, String) {
        extraNumber += 1
        let spec = dataset.extraCredential(extraNumber)
        let (draft, scope) = Self.draft(spec)
        return (draft, scope, Dataset.organizationSlug(spec.organization))
    }

    /// Durable commits, compared with the disk's raw sync rate: one at a time
    /// (`single_commit`: one createCredential, one fdatasync) and from eight threads at once
    /// (`concurrent_commit`). The disk's sync rate drifts with what else the machine and its
    /// host do, by a quarter within a minute here, so the workloads compared are measured in
    /// turns: each repetition takes a round of raw syncs (``SyncProbe``, at the end of a file
    /// and over zeros), then a round of single commits, then one of concurrent commits, and
    /// the ratios compare the medians of rounds taken in turns. A warm-up round of each comes
    /// first.
    func commits(_ vault: Vault, machine: MachineLimits) throws {
        let warmups = 1
        let probes = [false, true].map { overZeros in
            SyncProbe(
                directory: machine.directory, recordBytes: 32 + 512 + 40, overZeros: overZeros,
                rounds: warmups + repetitions)
        }
        var syncRates: [[Double]] = [[], []]
        var single = CommitRounds()
        var concurrent = CommitRounds()
        // Each workload keeps its rounds' rates itself; the rate repeatRuns collects is unused.
        _ = try repeatRuns(repetitions: repetitions, warmups: warmups) { repetition in
            let isWarmUp = repetition < 0
            for (number, probe) in probes.enumerated() {
                let rate = probe.round(keepsLatencies: !isWarmUp)
                if !isWarmUp { syncRates[number].append(rate) }
            }
            try single.add(singleCommitRound(vault), isWarmUp: isWarmUp)
            try concurrent.add(concurrentCommitRound(vault), isWarmUp: isWarmUp)
            return 0
        }
        for (probe, rates) in zip(probes, syncRates) {
            var figure = probe.figure(values: rates)
            figure.size = size
            figure.note = "measured in turns with single_commit and concurrent_commit at this size"
            figures.append(figure)
        }
        figures.append(
            Figure(
                workload: "single_commit", engine: "coffer",
                variant: "vault.mutate(createCredential), Durability.synchronous",
                size: size, unit: "commits/s", higherIsBetter: true, operations: Self.singleCommitsARound,
                values: single.rates, latency: Latency(nanoseconds: single.latencies)))
        figures.append(
            Figure(
                workload: "concurrent_commit", engine: "coffer",
                variant: "8 threads calling vault.mutate(createCredential), Durability.synchronous",
                size: size, threads: Self.committingThreads, unit: "commits/s", higherIsBetter: true,
                operations: Self.committingThreads * Self.concurrentCommitsAThread, values: concurrent.rates,
                latency: Latency(nanoseconds: concurrent.latencies)))
        // The same ratios taken repetition by repetition, each round over the one measured right
        // before it: what the turns are for, beside the ratio of medians the targets compare.
        figures.append(
            Figure(
                workload: "single_commit_paired", engine: "coffer",
                variant: "single_commit's rate over the fdatasync round's right before it, each repetition",
                size: size, unit: "×", higherIsBetter: true, operations: Self.singleCommitsARound,
                values: zip(single.rates, syncRates[0]).map { $0 / $1 }))
        figures.append(
            Figure(
                workload: "concurrent_commit_paired", engine: "coffer",
                variant: "concurrent_commit's rate over the single_commit round's right before it, each repetition",
                size: size, threads: Self.committingThreads, unit: "×", higherIsBetter: true,
                operations: Self.committingThreads * Self.concurrentCommitsAThread,
                values: zip(concurrent.rates, single.rates).map { $0 / $1 }))
    }

    static let singleCommitsARound = 300
    static let committingThreads = 8
    static let concurrentCommitsAThread = 150

    /// The rates and latencies of the rounds of one commit workload, warm-ups left out.
    struct CommitRounds {
        var rates: [Double] = []
        var latencies: [UInt64] = []

        mutating func add(_ round: (rate: Double, latencies: [UInt64]), isWarmUp: Bool) {
            guard !isWarmUp else { return }
            rates.append(round.rate)
            latencies += round.latencies
        }
    }

    /// One durable transaction at a time, ``singleCommitsARound`` of them: their rate and
    /// each one's latency.
    func singleCommitRound(_ vault: Vault) throws -> (rate: Double, latencies: [UInt64]) {
        let work = (0..<Self.singleCommitsARound).map { _ in nextExtra() }
        var latencies: [UInt64] = []
        let seconds = try Clock.seconds {
            for (draft, scope, organization) in work {
                let start = Clock.nanoseconds()
                _ = try vault.mutate(actor: "bench") {
                    try $0.createCredential(in: organization, draft, scopes: [scope])
                }
                latencies.append(Clock.nanoseconds() - start)
            }
        }
        return (Double(work.count) / seconds, latencies)
    }

    /// Eight threads calling `mutate` at once. The mutations that wait while a batch is
    /// planned are planned and sealed together by one of them, under the writer lock,
    /// then wait outside it for a write and `fdatasync` they share with the mutations queued
    /// beside them (group commit). Their rate and each one's latency.
    func concurrentCommitRound(_ vault: Vault) throws -> (rate: Double, latencies: [UInt64]) {
        let threads = Self.committingThreads
        let work = (0..<threads).map { _ in (0..<Self.concurrentCommitsAThread).map { _ in nextExtra() } }
        let latencies = PerThread<[UInt64]>(count: threads, initial: [])
        let failures = PerThread<String?>(count: threads, initial: nil)
        let seconds = runThreads(threads) { thread in
            var local: [UInt64] = []
            for (draft, scope, organization) in work[thread] {
                let start = Clock.nanoseconds()
                do {
                    _ = try vault.mutate(actor: "bench") {
                        try $0.createCredential(in: organization, draft, scopes: [scope])
                    }
                } catch {
                    failures.set(thread, "\(error)")
                    return
                }
                local.append(Clock.nanoseconds() - start)
            }
            latencies.set(thread, local)
        }
        if let failure = failures.values.compactMap({ $0 }).first { throw WrongAnswer(description: failure) }
        return (Double(threads * Self.concurrentCommitsAThread) / seconds, latencies.values.flatMap { $0 })
    }

    // MARK: Memory

    /// Resident bytes per credential after open, in fresh processes (`coffer-bench memory`).
    func memory() throws {
        var values: [Double] = []
        // Each child replays the whole vault: at 1M, three children instead of five.
        for _ in 0..<(size >= 1_000_000 ? min(3, repetitions) : repetitions) {
            let output = try runSelf([
                "memory", "--vault", path, "--key", keyHex, "--size", "\(size)", "--seed", "\(dataset.seed)",
            ])
            guard let delta = Double(output) else {
                throw WrongAnswer(description: "the memory child printed \(output)")
            }
            values.append(delta / Double(size))
        }
        figures.append(
            Figure(
                workload: "memory", engine: "coffer",
                variant:
                    "VmRSS after Vault.open and a first resolution minus VmRSS before, fresh process; the index only, no secret revealed",
                size: size, unit: "B/credential", higherIsBetter: false, operations: 1, values: values))
    }

    /// The child side of ``memory()``.
    static func memoryChild(_ arguments: Arguments) throws {
        let dataset = Dataset(
            size: arguments.int("size", default: 10_000), seed: UInt64(arguments.int("seed", default: 1)))
        let key = SecureBytes(copying: bytes(fromHex: arguments.string("key", default: "")))
        let spec = dataset.requests[0]
        let before = ProcessFacts.residentBytes()
        let vault = try Vault.open(path: arguments.string("vault", default: ""), unlock: .keyFile(key))
        let directory = try Directory.lookUp(in: vault, dataset: dataset)
        _ = try vault.resolve(directory.request(spec))
        let after = ProcessFacts.residentBytes()
        print(after - before)
    }

    // MARK: Compaction

    /// The vault of the other workloads plus as many credentials again, created and then
    /// deleted one transaction each: about half of the file is dead.
    func prepareHalfDead(_ file: String) throws {
        removeVault(file)
        precondition(ProcessFacts.run(["cp", path, file]).isEmpty && ProcessFacts.fileSize(file) > 0)
        let vault = try Vault.open(path: file, unlock: unlock, options: Vault.Options(durability: .unsafeNoSync))
        var created: [(CredentialID, String)] = []
        created.reserveCapacity(size)
        for _ in 0..<size {
            let (draft, scope, organization) = nextExtra()
            let id = try vault.mutate(actor: "bench") {
                try $0.createCredential(in: organization, draft, scopes: [scope])
            }
            created.append((id[0], organization))
        }
        for (id, organization) in created {
            _ = try vault.mutate(actor: "bench") { try $0.deleteCredential(id.description, in: organization) }
        }
        vault.close()
        ProcessFacts.syncFile(file)
    }

    /// Compaction of the half-dead vault, each repetition on a fresh copy in a fresh process
    /// (`coffer-bench compact`), so that its peak resident memory is its own; then `open` of
    /// the compacted vault beside `open` of the freshly written one.
    func compaction() throws {
        let halfDead = "\(directoryPath)/coffer-halfdead-\(size).coffer"
        let work = "\(directoryPath)/coffer-compact-\(size).coffer"
        progress("coffer: preparing a half-dead vault of \(size) live credentials")
        try prepareHalfDead(halfDead)
        for reencrypt in [false, true] {
            var results: [CompactionResult] = []
            _ = try repeatRuns(repetitions: repetitions) { repetition in
                removeVault(work)
                precondition(ProcessFacts.run(["cp", halfDead, work]).isEmpty && ProcessFacts.fileSize(work) > 0)
                var arguments = ["compact", "--vault", work, "--key", keyHex]
                if reencrypt { arguments.append("--reencrypt") }
                let output = try runSelf(arguments)
                guard let result = CompactionResult(output) else {
                    throw WrongAnswer(description: "the compaction child printed \(output)")
                }
                if repetition >= 0 { results.append(result) }
                progress(
                    "coffer compaction \(size)\(reencrypt ? " re-encrypting" : "") rep \(repetition): "
                        + String(format: "%.2f s", result.seconds))
                return result.seconds
            }
            let what = reencrypt ? "Vault.compact(reencrypt: true): every record resealed under a new epoch" : "Vault.compact()"
            let suffix = reencrypt ? "_reencrypt" : ""
            let first = results[0]
            let shape =
                "\(first.bytesBefore) → \(first.bytesAfter) bytes, \(first.recordsBefore) → \(first.recordsAfter) records, dead share \(String(format: "%.2f", first.deadShare))"
            figures.append(
                Figure(
                    workload: "compaction\(suffix)", engine: "coffer",
                    variant: "\(what), half-dead vault, fresh process; MB of the old file per second",
                    size: size, unit: "MB/s", higherIsBetter: true, operations: Int(first.recordsBefore),
                    values: results.map { Double($0.bytesBefore) / 1e6 / $0.seconds }, note: shape))
            figures.append(
                Figure(
                    workload: "compaction_records\(suffix)", engine: "coffer",
                    variant: "\(what), half-dead vault; records of the old file per second",
                    size: size, unit: "records/s", higherIsBetter: true, operations: Int(first.recordsBefore),
                    values: results.map { Double($0.recordsBefore) / $0.seconds }))
            figures.append(
                Figure(
                    workload: "compaction_memory\(suffix)", engine: "coffer",
                    variant:
                        "\(what): peak VmHWM during the compaction minus VmRSS after open, in percent of the index (VmRSS after open minus before)",
                    size: size, unit: "% of index", higherIsBetter: false, operations: 1,
                    values: results.map { 100 * Double($0.peakAboveOpen) / Double($0.index) },
                    note:
                        "index \(first.index / 1_048_576) MiB, peak above it \(first.peakAboveOpen / 1_048_576) MiB (first repetition)"))
        }
        try open(
            work, workload: "open_compacted",
            variant: "Vault.open with a key file of the re-encrypted compacted vault, replaying it (its checkpoint unused), first resolve")
        figures.append(
            Frames(path: work).decryptOnce(repetitions: repetitions, size: size, workload: "decrypt_once_compacted"))
        removeVault(work)
        removeVault(halfDead)
    }

    /// What the `compact` child prints, one line of numbers.
    struct CompactionResult {
        var seconds: Double
        var bytesBefore: UInt64
        var bytesAfter: UInt64
        var recordsBefore: UInt64
        var recordsAfter: UInt64
        var deadShare: Double
        var index: Int
        var peakAboveOpen: Int

        init?(_ line: String) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 8, let seconds = Double(fields[0]), let bytesBefore = UInt64(fields[1]),
                let bytesAfter = UInt64(fields[2]), let recordsBefore = UInt64(fields[3]),
                let recordsAfter = UInt64(fields[4]), let deadShare = Double(fields[5]), let index = Int(fields[6]),
                let peak = Int(fields[7])
            else { return nil }
            self.seconds = seconds
            self.bytesBefore = bytesBefore
            self.bytesAfter = bytesAfter
            self.recordsBefore = recordsBefore
            self.recordsAfter = recordsAfter
            self.deadShare = deadShare
            self.index = index
            self.peakAboveOpen = peak
        }
    }

    /// The child side of ``compaction()``: opens, measures the index, resets the peak,
    /// compacts, and prints a ``CompactionResult``.
    static func compactionChild(_ arguments: Arguments) throws {
        let key = SecureBytes(copying: bytes(fromHex: arguments.string("key", default: "")))
        let before = ProcessFacts.residentBytes()
        let vault = try Vault.open(path: arguments.string("vault", default: ""), unlock: .keyFile(key))
        let opened = ProcessFacts.residentBytes()
        let deadShare = try vault.statistics().deadShare
        ProcessFacts.resetPeakResidentBytes()
        let start = Clock.nanoseconds()
        let report = try vault.compact(CompactionOptions(reencrypt: arguments.has("reencrypt")))
        let seconds = Double(Clock.nanoseconds() - start) / 1e9
        let peak = ProcessFacts.peakResidentBytes()
        vault.close()
        print(
            seconds, report.bytesBefore, report.bytesAfter, report.recordsBefore, report.recordsAfter, deadShare,
            opened - before, max(0, peak - opened))
    }

    // MARK: Running

    func run(machine: MachineLimits) throws -> (figures: [Figure], frames: Frames) {
        progress("coffer: generating \(size) credentials")
        let specs = (0..<size).map(dataset.credential)
        try bulkLoad(specs)
        // The batch variant shows the cost of one record per credential; at 1M it would add
        // about ten minutes to --full and says nothing the smaller sizes do not.
        if size < 1_000_000 { try bulkLoadBatches(specs) }
        let frames = fileSize()
        try open(
            path, workload: "open",
            variant:
                "Vault.open with a key file (no KDF), replay of every record (no checkpoint used), first resolve; freshly written vault, no compaction"
        )
        figures += frames.decryptOnceAndOpenRate(repetitions: repetitions, size: size)
        try openCheckpointed()
        figures.append(machine.readAndOpen(bytes: checkpointBytes(), size: size))
        let vault = try Vault.open(path: path, unlock: unlock)
        try pointReads(vault)
        try pointReadsFromCache()
        try pointReadsFromMapping()
        try resolutions(vault)
        try commits(vault, machine: machine)
        vault.close()
        try memory()
        try compaction()
        removeVault(path)
        return (figures, frames)
    }
}

/// Runs this executable with `arguments` and returns its standard output, trimmed.
func runSelf(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
