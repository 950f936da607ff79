import CofferCrypto
import CofferErrors
import CofferFormat
import XCTest

@testable import CofferModel

/// SplitMix64: a tiny, seedable generator so every randomized test can be replayed from the
/// seed it prints.
final class SplitMix64: @unchecked Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next() % UInt64(bound))
    }

    func chance(_ percent: Int) -> Bool { below(100) < percent }

    func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// A secret from a string literal (tests only: the literal itself is not protected).
func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

/// The text of a secret, for comparing in tests. Never use it in a failure message.
func plaintext(_ value: SecureBytes) -> String {
    value.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
}

func fields(_ values: [String: String]) -> FieldValues {
    FieldValues(values.mapValues(secret))
}

/// A stand-in for the engine: plans are encoded, decoded, validated, "written" to an
/// in-memory log and applied, and reveals read the log back.
struct TestVault {
    var index = VaultIndex()
    var log: [[CofferFormat.Operation]] = []
    var contexts: [TransactionContext] = []
    var time: UInt64 = 1_700_000_000_000
    let random: SplitMix64

    init(seed: UInt64 = 1) {
        random = SplitMix64(seed: seed)
    }

    var planner: Planner {
        let random = self.random
        return Planner(index: index, randomBytes: { random.bytes($0) })
    }

    /// Validates, logs and applies a plan; returns its value.
    @discardableResult
    mutating func commit<Value>(_ plan: Plan<Value>, actor: String = "cli") throws -> Value {
        try commit(operations: plan.operations, actor: actor)
        return plan.value
    }

    mutating func commit(operations: [ModelOperation], actor: String = "cli") throws {
        time += 1000
        let sequence = UInt64(log.count + 1)
        let context = TransactionContext(
            sequence: sequence, offset: 8192 + sequence * 512, timeMilliseconds: time, actor: actor)
        let encoded = operations.map { $0.encode() }
        let decoded = try encoded.map { try ModelOperation.decode($0).get() }
        XCTAssertEqual(decoded, operations)
        // As the engine commits: validate before the record is written, then apply without
        // repeating the checks; `replayed()` applies with every check, for comparison.
        try index.validate(decoded, context: context)
        index.applyValidated(decoded, context: context)
        log.append(encoded)
        contexts.append(context)
    }

    /// The engine's reveal: the operation at a location.
    func read(_ location: RecordLocation) throws(CofferError) -> CofferFormat.Operation {
        let position = Int(location.sequence) - 1
        guard position >= 0, position < log.count, Int(location.operationIndex) < log[position].count else {
            throw CofferError(.notFound, "No operation at \(location).")
        }
        return log[position][Int(location.operationIndex)]
    }

    /// The plaintext fields of a credential's version (current when `nil`).
    func revealed(_ id: CredentialID, version: UInt32? = nil) throws -> [String: String] {
        guard let location = index.location(of: id, version: version) else {
            throw CofferError(.notFound, "no location")
        }
        let stored = try ModelOperation.decodeCredentialFields(from: read(location)).get()
        return stored.fields.values.mapValues(plaintext)
    }

    /// Replays the whole log into a fresh index, as the engine does on open.
    func replayed() throws -> VaultIndex {
        var fresh = VaultIndex()
        for (operations, context) in zip(log, contexts) {
            try fresh.apply(operations.map { try ModelOperation.decode($0).get() }, context: context)
        }
        return fresh
    }
}

/// Everything the public queries say about an index, for equality checks.
struct Snapshot: Equatable {
    var organizations: [OrganizationInfo] = []
    var projects: [ProjectInfo] = []
    var users: [UserInfo] = []
    var memberships: [MembershipInfo] = []
    var credentials: [CredentialInfo] = []
    var histories: [[CredentialChange]] = []
    var versions: [[CredentialVersion]] = []
    var assignments: [AssignmentInfo] = []
    var apiKeys: [APIKeyInfo] = []
    var statistics = VaultStatistics()
    var retention = 0
    var invariants: [String] = []

    init(_ index: VaultIndex) {
        organizations = index.organizations()
        users = index.users()
        for organization in organizations {
            projects += index.projects(in: organization.id)
            memberships += index.memberships(in: organization.id)
            let listed = index.credentials(matching: CredentialFilter(organization: organization.id))
            credentials += listed
            assignments += index.assignments(organization: organization.id)
            if let owner = index.memberships(in: organization.id).first(where: { $0.role == .owner }) {
                apiKeys += (try? index.apiKeys(organization: organization.id, visibleTo: owner.user)) ?? []
            }
        }
        histories = credentials.map { index.history(of: $0.id) }
        versions = credentials.map { index.versions(of: $0.id) }
        statistics = index.statistics()
        retention = index.versionRetention
        invariants = index.checkInvariants()
    }
}

/// A small organization most tests start from:
/// `acme` with projects `web` and `api`, owner `alice`, admin `carol`, builders `bob` and
/// `dave`; `globex` with project `web` and owner `erin`.
struct Fixture {
    var vault: TestVault
    let acme: OrganizationID
    let globex: OrganizationID
    let web: ProjectID
    let api: ProjectID
    let globexWeb: ProjectID
    let alice: UserID
    let bob: UserID
    let carol: UserID
    let dave: UserID
    let erin: UserID

    init(seed: UInt64 = 7) throws {
        var vault = TestVault(seed: seed)
        acme = try vault.commit(vault.planner.createOrganization(slug: "acme", name: "Acme"))
        globex = try vault.commit(vault.planner.createOrganization(slug: "globex", name: "Globex"))
        web = try vault.commit(vault.planner.createProject(in: "acme", slug: "web", name: "Web"))
        api = try vault.commit(vault.planner.createProject(in: "acme", slug: "api", name: "API"))
        globexWeb = try vault.commit(vault.planner.createProject(in: "globex", slug: "web", name: "Globex Web"))
        alice = try vault.commit(vault.planner.createUser(handle: "alice", displayName: "Alice"))
        bob = try vault.commit(vault.planner.createUser(handle: "bob", displayName: "Bob"))
        carol = try vault.commit(vault.planner.createUser(handle: "carol", displayName: "Carol"))
        dave = try vault.commit(vault.planner.createUser(handle: "dave", displayName: "Dave"))
        erin = try vault.commit(vault.planner.createUser(handle: "erin", displayName: "Erin"))
        try vault.commit(vault.planner.addMember("alice", to: "acme", role: .owner))
        try vault.commit(vault.planner.addMember("bob", to: "acme", role: .builder))
        try vault.commit(vault.planner.addMember("carol", to: "acme", role: .admin))
        try vault.commit(vault.planner.addMember("dave", to: "acme", role: .builder))
        try vault.commit(vault.planner.addMember("erin", to: "globex", role: .owner))
        self.vault = vault
    }

    var index: VaultIndex { vault.index }

    /// Creates an `api_token` credential and returns its ids (one per scope).
    @discardableResult
    mutating func token(
        _ app: String, _ slug: String, at scopes: [ScopeTarget] = [.organization], in organization: String = "acme",
        isDefault: Bool = false, value: String = "sk-test-0123456789abcdef"
    ) throws -> [CredentialID] {
        let draft = CredentialDraft(
            appKey: app, slug: slug, label: "\(app) \(slug)", type: .apiToken, fields: fields(["token": value]),
            isDefault: isDefault)
        return try vault.commit(vault.planner.createCredential(in: organization, draft, scopes: scopes))
    }
}
