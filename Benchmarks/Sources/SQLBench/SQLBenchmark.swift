import BenchSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How one SQL baseline is set up.
public struct SQLEngineSetup: Sendable {
    /// `sqlcipher` or `sqlite_sealed`.
    public var engine: String
    public var calls: SQLiteCalls
    /// SQLCipher: the raw 32-byte key given as `PRAGMA key = "x'…'"`, so no KDF runs.
    public var rawKey: [UInt8]?
    /// SQLite with sealed blobs: each row's fields sealed with XChaCha20-Poly1305 under this
    /// key, the row id as associated data.
    public var sealingKey: [UInt8]?
    /// SQLCipher: also measure an open with a passphrase through its default KDF.
    public var measuresPassphraseOpen: Bool

    public init(
        engine: String, calls: SQLiteCalls, rawKey: [UInt8]?, sealingKey: [UInt8]?, measuresPassphraseOpen: Bool
    ) {
        self.engine = engine
        self.calls = calls
        self.rawKey = rawKey
        self.sealingKey = sealingKey
        self.measuresPassphraseOpen = measuresPassphraseOpen
    }
}

/// The workloads of BENCHMARKS.md against one SQL baseline: one `credentials` table with the
/// same rows as the Coffer vault, plus organizations, projects, users, memberships and
/// assignments, in WAL mode.
/// Threads only read it while a workload runs; `extraNumber` changes between runs, on the main thread.
public final class SQLBenchmark: @unchecked Sendable {
    let setup: SQLEngineSetup
    let dataset: Dataset
    let directory: String
    let repetitions: Int
    let path: String
    var figures: [Figure] = []
    var notes: [String] = []
    /// The ids of the dataset's rows (16 random-looking bytes, as Coffer's are).
    let credentialIDs: [[UInt8]]
    let organizationIDs: [[UInt8]]
    let projectIDs: [[UInt8]]
    let userIDs: [[UInt8]]

    static let passphrase = "correct horse battery staple"

    public init(setup: SQLEngineSetup, dataset: Dataset, directory: String, repetitions: Int) {
        self.setup = setup
        self.dataset = dataset
        self.directory = directory
        self.repetitions = repetitions
        path = "\(directory)/\(setup.engine)-\(dataset.size).db"
        func ids(_ kind: UInt64, _ count: Int) -> [[UInt8]] {
            (0..<count).map { index in
                var random = SplitMix(seed: dataset.seed ^ kind, item: UInt64(index))
                return withUnsafeBytes(of: (random.next(), random.next())) { Array($0) }
            }
        }
        credentialIDs = ids(0xC0, dataset.size)
        organizationIDs = ids(0x0A, dataset.organizationCount)
        projectIDs = ids(0x0B, dataset.organizationCount * Dataset.projectsPerOrganization)
        userIDs = ids(0x0C, dataset.organizationCount * Dataset.usersPerOrganization)
    }

    var engine: String { setup.engine }
    var size: Int { dataset.size }

    // MARK: Running

    /// Runs every workload and returns the figures.
    public func run() throws -> EngineReport {
        var version = "SQLite " + (setup.calls.libraryVersion().map { String(cString: $0) } ?? "?")
        if setup.rawKey != nil {
            let database = try Database(path: ":memory:", calls: setup.calls)
            version = "SQLCipher \(try database.execute("PRAGMA cipher_version").first ?? "?") on " + version
        }
        progress("\(engine) \(version): generating \(size) credentials")
        let specs = (0..<size).map(dataset.credential)
        try bulkLoad(specs)
        try fileSize()
        try open()
        try pointReads()
        try resolutions()
        try singleCommits(synchronous: "FULL")
        try singleCommits(synchronous: "NORMAL")
        try concurrentCommits()
        try memory()
        removeFiles(path)
        removeFiles(path + ".passphrase")
        return EngineReport(engine: engine, version: version, figures: figures, notes: notes)
    }

    func removeFiles(_ base: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { ProcessFacts.remove(base + suffix) }
    }

    /// A connection configured as every workload uses it: the key (SQLCipher), WAL, the
    /// synchronous level.
    func connect(_ file: String? = nil, synchronous: String = "FULL", passphrase: Bool = false) throws -> Database {
        let database = try Database(path: file ?? path, calls: setup.calls)
        if passphrase {
            try database.execute("PRAGMA key = '\(Self.passphrase)'")
        } else if let key = setup.rawKey {
            try database.execute("PRAGMA key = \"x'\(hexString(key))'\"")
        }
        try database.execute("PRAGMA journal_mode = WAL")
        try database.execute("PRAGMA synchronous = \(synchronous)")
        try database.execute("PRAGMA busy_timeout = 10000")
        return database
    }

    static let schema = [
        "CREATE TABLE organizations (id BLOB PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL)",
        "CREATE TABLE projects (id BLOB PRIMARY KEY, org BLOB NOT NULL, slug TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (org, slug))",
        "CREATE TABLE users (id BLOB PRIMARY KEY, handle TEXT NOT NULL UNIQUE, name TEXT NOT NULL)",
        "CREATE TABLE memberships (user BLOB NOT NULL, org BLOB NOT NULL, role INTEGER NOT NULL, PRIMARY KEY (user, org))",
        """
        CREATE TABLE credentials (id BLOB PRIMARY KEY, org BLOB NOT NULL, app TEXT NOT NULL, slug TEXT NOT NULL,
            label TEXT NOT NULL, kind INTEGER NOT NULL, type INTEGER NOT NULL, category INTEGER NOT NULL,
            scope INTEGER NOT NULL, owner BLOB NOT NULL, state INTEGER NOT NULL, version INTEGER NOT NULL,
            is_default INTEGER NOT NULL, created_ms INTEGER NOT NULL, actor TEXT NOT NULL, fields BLOB NOT NULL)
        """,
        "CREATE INDEX credentials_by_owner ON credentials (org, app, owner)",
        """
        CREATE TABLE assignments (org BLOB NOT NULL, kind INTEGER NOT NULL, target TEXT NOT NULL,
            consumer TEXT NOT NULL, app TEXT NOT NULL, credential BLOB NOT NULL,
            PRIMARY KEY (org, kind, target, consumer, app))
        """,
    ]

    static let insertCredential = """
        INSERT INTO credentials (id, org, app, slug, label, kind, type, category, scope, owner, state, version,
            is_default, created_ms, actor, fields) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, 1, 1, ?10, ?11, 'loader', ?12)
        """

    func ownerID(_ spec: CredentialSpec) -> [UInt8] {
        switch spec.scope {
        case .organization: organizationIDs[spec.organization]
        case .project: projectIDs[spec.organization * Dataset.projectsPerOrganization + spec.owner]
        case .user: userIDs[spec.organization * Dataset.usersPerOrganization + spec.owner]
        }
    }

    /// Binds one credential row: fields encoded, and sealed for the SQLite baseline.
    func bindCredential(_ statement: Statement, _ spec: CredentialSpec, id: [UInt8]) {
        statement.bind(1, id)
        statement.bind(2, organizationIDs[spec.organization])
        statement.bind(3, spec.appKey)
        statement.bind(4, spec.slug)
        statement.bind(5, spec.label)
        statement.bind(6, Int(spec.type.rawValue))
        statement.bind(7, Int(spec.category))
        statement.bind(8, Int(spec.scope.rawValue))
        statement.bind(9, ownerID(spec))
        statement.bind(10, spec.isDefault ? 1 : 0)
        statement.bind(11, 1_767_225_600_000 + spec.index)
        let encoded = FieldCoding.encode(spec.fields)
        if let key = setup.sealingKey {
            statement.bind(12, Sealer.seal(encoded, key: key, associatedData: id))
        } else {
            statement.bind(12, encoded)
        }
    }

    // MARK: Bulk load

    /// Organizations, projects, users and memberships (untimed), then every credential in one
    /// transaction (timed, the commit's sync included), on a fresh file each repetition.
    func bulkLoad(_ specs: [CredentialSpec]) throws {
        let values = try repeatRuns(repetitions: repetitions) { repetition in
            removeFiles(path)
            let database = try connect()
            for statement in Self.schema { try database.execute(statement) }
            try loadDirectory(database)
            let insert = try database.prepare(Self.insertCredential)
            let seconds = try Clock.seconds {
                try database.execute("BEGIN")
                for (index, spec) in specs.enumerated() {
                    bindCredential(insert, spec, id: credentialIDs[index])
                    try insert.run()
                }
                try database.execute("COMMIT")
            }
            progress("\(engine) bulk load \(size) rep \(repetition): \(String(format: "%.2f", seconds)) s")
            return Double(size) / seconds
        }
        figures.append(
            Figure(
                workload: "bulk_load", engine: engine,
                variant: "one transaction of \(size) INSERTs, WAL, synchronous=FULL (one sync at COMMIT)",
                size: size, unit: "credentials/s", higherIsBetter: true, operations: size, values: values))
        let database = try connect()
        try loadAssignments(database)
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    func loadDirectory(_ database: Database) throws {
        try database.execute("BEGIN")
        let organization = try database.prepare("INSERT INTO organizations VALUES (?1, ?2, ?3)")
        let project = try database.prepare("INSERT INTO projects VALUES (?1, ?2, ?3, ?4)")
        let user = try database.prepare("INSERT INTO users VALUES (?1, ?2, ?3)")
        let membership = try database.prepare("INSERT INTO memberships VALUES (?1, ?2, 3)")
        for org in 0..<dataset.organizationCount {
            organization.bind(1, organizationIDs[org])
            organization.bind(2, Dataset.organizationSlug(org))
            organization.bind(3, "Acme \(org)")
            try organization.run()
            for index in 0..<Dataset.projectsPerOrganization {
                project.bind(1, projectIDs[org * Dataset.projectsPerOrganization + index])
                project.bind(2, organizationIDs[org])
                project.bind(3, Dataset.projectSlug(index))
                project.bind(4, "Web \(index)")
                try project.run()
            }
            for index in 0..<Dataset.usersPerOrganization {
                let id = userIDs[org * Dataset.usersPerOrganization + index]
                user.bind(1, id)
                user.bind(2, Dataset.userHandle(organization: org, user: index))
                user.bind(3, "User \(index)")
                try user.run()
                membership.bind(1, id)
                membership.bind(2, organizationIDs[org])
                try membership.run()
            }
        }
        try database.execute("COMMIT")
    }

    func loadAssignments(_ database: Database) throws {
        try database.execute("BEGIN")
        let insert = try database.prepare("INSERT INTO assignments VALUES (?1, 1, ?2, ?3, ?4, ?5)")
        for assignment in dataset.assignments {
            insert.bind(1, organizationIDs[assignment.organization])
            insert.bind(2, assignment.workflow)
            insert.bind(3, assignment.consumer)
            insert.bind(4, Dataset.appKeys[assignment.app])
            insert.bind(5, credentialIDs[assignment.credential])
            try insert.run()
        }
        try database.execute("COMMIT")
    }

    // MARK: File size

    func fileSize() throws {
        let bytes = ProcessFacts.fileSize(path) + ProcessFacts.fileSize(path + "-wal")
        figures.append(
            Figure(
                workload: "file_size", engine: engine, variant: "database file after a WAL checkpoint (TRUNCATE)",
                size: size, unit: "B/credential", higherIsBetter: false, operations: size,
                values: [Double(bytes) / Double(size)], note: "\(bytes) bytes"))
    }

    // MARK: Open

    /// From nothing to the first successful resolution: open, key, WAL, prepare, resolve.
    func open() throws {
        func measure(file: String, passphrase: Bool) throws -> [Double] {
            try repeatRuns(repetitions: repetitions) { _ in
                try Clock.seconds {
                    let database = try connect(file, passphrase: passphrase)
                    let resolver = try Resolver(database: database, benchmark: self)
                    let request = dataset.requests[0]
                    guard try resolver.resolve(request) == credentialIDs[request.expectedCredential] else {
                        throw SQLiteFailure(description: "the first resolution gave a wrong answer")
                    }
                }
            }
        }
        figures.append(
            Figure(
                workload: "open", engine: engine,
                variant: setup.rawKey != nil
                    ? "open, raw key (no KDF), WAL, prepare, first resolution" : "open, WAL, prepare, first resolution",
                size: size, unit: "s", higherIsBetter: false, operations: 1,
                values: try measure(file: path, passphrase: false),
                note: "SQLite reads pages on demand: an open does not read the rows"))
        if setup.measuresPassphraseOpen {
            let copy = path + ".passphrase"
            removeFiles(copy)
            let database = try connect()
            try database.execute("ATTACH DATABASE '\(copy)' AS copy KEY '\(Self.passphrase)'")
            try database.execute("SELECT sqlcipher_export('copy')")
            try database.execute("DETACH DATABASE copy")
            let iterations = try connect(copy, passphrase: true).execute("PRAGMA kdf_iter").first ?? "?"
            figures.append(
                Figure(
                    workload: "open_passphrase", engine: engine,
                    variant:
                        "open with a passphrase through SQLCipher's default KDF (PBKDF2-HMAC-SHA1, \(iterations) iterations), first resolution",
                    size: size, unit: "s", higherIsBetter: false, operations: 1,
                    values: try measure(file: copy, passphrase: true)))
        }
    }

    // MARK: Point reads

    /// Get by id with the secret decoded (and opened, for sealed rows).
    func pointReads() throws {
        let operations = 20_000
        for threads in [1, 2] {
            let connections = try (0..<threads).map { _ in try Reader(database: try connect(), benchmark: self) }
            let reads = dataset.pointReads
            let credentialIDs = self.credentialIDs
            let (values, latency) = readRounds(
                threads: threads, operations: operations, repetitions: repetitions, threadStride: 7919,
                roundStride: 104_729, latencyOffset: 31
            ) { thread, position in
                let fields = try! connections[thread].reveal(credentialIDs[Int(reads[position % reads.count])])
                precondition(fields > 0, "no fields")
            }
            figures.append(
                Figure(
                    workload: "reveal", engine: engine,
                    variant: setup.sealingKey != nil
                        ? "SELECT by id, open the sealed blob, decode the fields" : "SELECT by id, decode the fields",
                    size: size, threads: threads, unit: "ops/s", higherIsBetter: true, operations: operations * threads,
                    values: values, latency: latency))
        }
    }

    // MARK: Resolution

    func resolutions() throws {
        let operations = 20_000
        // Every engine must give the dataset's answer to every request.
        let check = try Resolver(database: try connect(), benchmark: self)
        for request in dataset.requests {
            guard try check.resolve(request) == credentialIDs[request.expectedCredential] else {
                throw SQLiteFailure(description: "resolution gave a wrong answer for \(request)")
            }
        }
        for threads in [1, 2] {
            let resolvers = try (0..<threads).map { _ in try Resolver(database: try connect(), benchmark: self) }
            let requests = dataset.requests
            let (values, latency) = readRounds(
                threads: threads, operations: operations, repetitions: repetitions, threadStride: 1031,
                roundStride: 613, latencyOffset: 17
            ) { thread, position in
                let id = try! resolvers[thread].resolve(requests[position % requests.count])
                precondition(id != nil, "unresolved")
            }
            figures.append(
                Figure(
                    workload: "resolve", engine: engine,
                    variant:
                        "the same order as Coffer in prepared SELECTs: context checks, exact then wildcard assignment, pinned scope, project, organization",
                    size: size, threads: threads, unit: "ops/s", higherIsBetter: true, operations: operations * threads,
                    values: values, latency: latency))
        }
    }

    // MARK: Commits

    var extraNumber = 0

    /// One INSERT per transaction (autocommit).
    func singleCommits(synchronous: String) throws {
        let operations = 300
        let database = try connect(synchronous: synchronous)
        let insert = try database.prepare(Self.insertCredential)
        var samples: [UInt64] = []
        let values = try repeatRuns(repetitions: repetitions) { _ in
            let specs = (0..<operations).map { _ in
                extraNumber += 1
                return (dataset.extraCredential(extraNumber), Self.extraID(extraNumber))
            }
            let seconds = try Clock.seconds {
                for (spec, id) in specs {
                    let start = Clock.nanoseconds()
                    bindCredential(insert, spec, id: id)
                    try insert.run()
                    samples.append(Clock.nanoseconds() - start)
                }
            }
            return Double(operations) / seconds
        }
        let durable = synchronous == "FULL"
        figures.append(
            Figure(
                workload: durable ? "single_commit" : "single_commit_normal", engine: engine,
                variant: "one INSERT per transaction, WAL, synchronous=\(synchronous)"
                    + (durable ? "" : " (NOT durable: WAL commits are synced only at checkpoints)"),
                size: size, unit: "commits/s", higherIsBetter: true, operations: operations, values: values,
                latency: Latency(nanoseconds: samples)))
    }

    static func extraID(_ number: Int) -> [UInt8] {
        var random = SplitMix(seed: 0xE7_7A_1D, item: UInt64(number))
        return withUnsafeBytes(of: (random.next(), random.next())) { Array($0) }
    }

    /// Eight threads, each with its own connection, committing one INSERT per transaction.
    /// SQLite allows one writer at a time: the threads take an in-process mutex around each
    /// write transaction (what an application does instead of spinning on SQLITE_BUSY).
    func concurrentCommits() throws {
        let threads = 8
        let perThread = 150
        let connections = try (0..<threads).map { _ in
            let database = try connect()
            return (database, try database.prepare(Self.insertCredential))
        }
        let writer = PlainLock()
        var samples: [UInt64] = []
        let values = try repeatRuns(repetitions: repetitions) { _ in
            let work = (0..<threads).map { _ in
                (0..<perThread).map { _ in
                    extraNumber += 1
                    return (dataset.extraCredential(extraNumber), Self.extraID(extraNumber))
                }
            }
            let latencies = PerThread<[UInt64]>(count: threads, initial: [])
            let failures = PerThread<String?>(count: threads, initial: nil)
            let seconds = runThreads(threads) { thread in
                let (_, insert) = connections[thread]
                var local: [UInt64] = []
                for (spec, id) in work[thread] {
                    let start = Clock.nanoseconds()
                    do {
                        try writer.withLock {
                            self.bindCredential(insert, spec, id: id)
                            try insert.run()
                        }
                    } catch {
                        failures.set(thread, "\(error)")
                        return
                    }
                    local.append(Clock.nanoseconds() - start)
                }
                latencies.set(thread, local)
            }
            if let failure = failures.values.compactMap({ $0 }).first { throw SQLiteFailure(description: failure) }
            samples += latencies.values.flatMap { $0 }
            return Double(threads * perThread) / seconds
        }
        figures.append(
            Figure(
                workload: "concurrent_commit", engine: engine,
                variant:
                    "8 threads, a connection each, one INSERT per transaction, synchronous=FULL, writers serialized by a mutex",
                size: size, threads: threads, unit: "commits/s", higherIsBetter: true, operations: threads * perThread,
                values: values, latency: Latency(nanoseconds: samples)))
    }

    // MARK: Memory

    /// Resident bytes after open and a first resolution, in fresh processes (this executable
    /// run with `memory`).
    func memory() throws {
        var values: [Double] = []
        for _ in 0..<(size >= 1_000_000 ? min(3, repetitions) : repetitions) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            var arguments = ["memory", "--db", path, "--size", "\(size)", "--seed", "\(dataset.seed)"]
            if let key = setup.rawKey { arguments += ["--key", hexString(key)] }
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard let text = String(data: output, encoding: .utf8),
                let delta = Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw SQLiteFailure(description: "the memory child printed nothing")
            }
            values.append(delta / Double(size))
        }
        figures.append(
            Figure(
                workload: "memory", engine: engine,
                variant:
                    "VmRSS after open and a first resolution minus VmRSS before, fresh process (default page cache)",
                size: size, unit: "B/credential", higherIsBetter: false, operations: 1, values: values))
    }

    /// The child side of ``memory()``: prints the resident-byte growth of open + one resolution.
    public static func memoryChild(setup: SQLEngineSetup, arguments: Arguments) throws {
        let dataset = Dataset(
            size: arguments.int("size", default: 10_000), seed: UInt64(arguments.int("seed", default: 1)))
        let benchmark = SQLBenchmark(setup: setup, dataset: dataset, directory: "/tmp", repetitions: 1)
        let path = arguments.string("db", default: "")
        let request = dataset.requests[0]
        let expected = benchmark.credentialIDs[request.expectedCredential]
        let before = ProcessFacts.residentBytes()
        let database = try benchmark.connect(path)
        let resolver = try Resolver(database: database, benchmark: benchmark)
        guard try resolver.resolve(request) == expected else { throw SQLiteFailure(description: "wrong answer") }
        let after = ProcessFacts.residentBytes()
        print(after - before)
    }
}

/// Reads one credential by id and decodes its fields.
final class Reader: @unchecked Sendable {
    let database: Database
    let select: Statement
    let sealingKey: [UInt8]?

    init(database: Database, benchmark: SQLBenchmark) throws {
        self.database = database
        select = try database.prepare("SELECT type, fields FROM credentials WHERE id = ?1")
        sealingKey = benchmark.setup.sealingKey
    }

    /// Returns the number of fields revealed.
    func reveal(_ id: [UInt8]) throws -> Int {
        select.bind(1, id)
        defer { select.reset() }
        guard try select.step() else { throw SQLiteFailure(description: "no such credential") }
        _ = select.int(0)
        return try select.withBlob(1) { blob in
            if let key = sealingKey {
                guard let plaintext = Sealer.open(blob, key: key, associatedData: id) else {
                    throw SQLiteFailure(description: "a sealed row does not authenticate")
                }
                return plaintext.withUnsafeBytes { FieldCoding.decode($0)?.count ?? 0 }
            }
            return FieldCoding.decode(blob)?.count ?? 0
        }
    }
}

/// Coffer's resolution order in SQL, over prepared statements.
final class Resolver: @unchecked Sendable {
    let database: Database
    let organization: Statement
    let project: Statement
    let user: Statement
    let assignment: Statement
    let credential: Statement
    let candidates: Statement
    let benchmark: SQLBenchmark

    init(database: Database, benchmark: SQLBenchmark) throws {
        self.database = database
        self.benchmark = benchmark
        organization = try database.prepare("SELECT 1 FROM organizations WHERE id = ?1")
        project = try database.prepare("SELECT org FROM projects WHERE id = ?1")
        user = try database.prepare("SELECT 1 FROM users WHERE id = ?1")
        assignment = try database.prepare(
            "SELECT credential FROM assignments WHERE org = ?1 AND kind = ?2 AND target = ?3 AND consumer = ?4 AND app = ?5"
        )
        credential = try database.prepare("SELECT org, scope, owner, app, state FROM credentials WHERE id = ?1")
        candidates = try database.prepare(
            "SELECT id, state, is_default FROM credentials WHERE org = ?1 AND app = ?2 AND owner = ?3")
    }

    /// The id of the credential the request resolves to; `nil` when it is missing.
    func resolve(_ request: RequestSpec) throws -> [UInt8]? {
        let organizationID = benchmark.organizationIDs[request.organization]
        let projectID = benchmark.projectIDs[request.organization * Dataset.projectsPerOrganization + request.project]
        let userID = request.user.map { benchmark.userIDs[request.organization * Dataset.usersPerOrganization + $0] }
        let app = Dataset.appKeys[request.app]
        // The run's context must exist, and its project belong to its organization.
        guard try exists(organization, organizationID) else { throw SQLiteFailure(description: "no organization") }
        project.bind(1, projectID)
        guard try project.step(), project.blob(0) == organizationID else {
            project.reset()
            throw SQLiteFailure(description: "no project")
        }
        project.reset()
        if let userID, !(try exists(user, userID)) { throw SQLiteFailure(description: "no user") }
        // Assignments: the exact consumer, then the wildcard.
        if let workflow = request.workflow, let consumer = request.consumer {
            for candidate in [consumer, "*"] {
                if let id = try assigned(organizationID, workflow, candidate, app) {
                    try accept(id, organizationID: organizationID, projectID: projectID, userID: userID, app: app)
                    return id
                }
            }
        }
        if let pinned = request.pinned {
            switch pinned {
            case .organization: return try attempt(organizationID, app, owner: organizationID)
            case .project: return try attempt(organizationID, app, owner: projectID)
            case .user:
                guard let userID else { throw SQLiteFailure(description: "no user actor") }
                return try attempt(organizationID, app, owner: userID)
            }
        }
        if let id = try attempt(organizationID, app, owner: projectID) { return id }
        return try attempt(organizationID, app, owner: organizationID)
    }

    private func exists(_ statement: Statement, _ id: [UInt8]) throws -> Bool {
        statement.bind(1, id)
        defer { statement.reset() }
        return try statement.step()
    }

    private func assigned(_ organizationID: [UInt8], _ workflow: String, _ consumer: String, _ app: String) throws
        -> [UInt8]?
    {
        assignment.bind(1, organizationID)
        assignment.bind(2, 1)
        assignment.bind(3, workflow)
        assignment.bind(4, consumer)
        assignment.bind(5, app)
        defer { assignment.reset() }
        return try assignment.step() ? assignment.blob(0) : nil
    }

    /// An assigned instance must be visible to the run, of the app, and active.
    private func accept(_ id: [UInt8], organizationID: [UInt8], projectID: [UInt8], userID: [UInt8]?, app: String)
        throws
    {
        credential.bind(1, id)
        defer { credential.reset() }
        guard try credential.step() else { throw SQLiteFailure(description: "assigned credential missing") }
        let scope = credential.int(1)
        let owner = credential.blob(2)
        guard credential.blob(0) == organizationID,
            scope != Int(CredentialScopeKind.project.rawValue) || owner == projectID,
            scope != Int(CredentialScopeKind.user.rawValue) || owner == userID,
            credential.text(3) == app, credential.int(4) == 1
        else { throw SQLiteFailure(description: "assigned credential not usable") }
    }

    /// One scope owner: the only active instance, or the default among several.
    private func attempt(_ organizationID: [UInt8], _ app: String, owner: [UInt8]) throws -> [UInt8]? {
        candidates.bind(1, organizationID)
        candidates.bind(2, app)
        candidates.bind(3, owner)
        defer { candidates.reset() }
        var active = 0
        var only: [UInt8]?
        var chosen: [UInt8]?
        while try candidates.step() {
            guard candidates.int(1) == 1 else { continue }
            active += 1
            if active == 1 { only = candidates.blob(0) }
            if candidates.int(2) == 1 { chosen = candidates.blob(0) }
        }
        if active == 1 { return only }
        if active == 0 { return nil }
        guard let chosen else { throw SQLiteFailure(description: "ambiguous") }
        return chosen
    }
}
