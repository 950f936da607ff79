import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferSimulation

/// A small credential model built deterministically through the ``Planner``, as the engine
/// builds one, but on a bare ``VaultIndex`` with a seeded random source and fixed times, so
/// that its identifiers and operations are the same on every run.
///
/// ``FuzzTarget/modelOperation`` applies its inputs on top of ``baseline`` (so that fuzzed
/// operations can name entities that exist), and the seed corpus takes its operations from it.
struct ModelScenario {
    /// The index and every operation that built it.
    private(set) var index = VaultIndex()
    /// Every operation applied, by its location, as the log would hold it: the reader that
    /// reveal, the planner and compaction need.
    private(set) var log: [RecordLocation: ModelOperation] = [:]
    /// Every transaction applied, in order.
    private(set) var transactions: [(context: TransactionContext, operations: [ModelOperation])] = []
    private let random: RandomSource

    /// The key platform API key hashes are made with (not a secret: fuzzing only).
    static let apiKeyHashKey = SecureBytes(copying: (0..<32).map { 0x5A ^ UInt8($0) })
    /// The time of the first transaction; each later one is a second later.
    static let firstTimeMilliseconds: UInt64 = 1_767_225_600_000
    /// Record offsets in the scenario's imaginary log: the log start, then 1 KiB per record.
    static let firstOffset: UInt64 = 8192

    init(seed: UInt64) {
        random = RandomSource(seed: seed)
    }

    /// The next transaction's context.
    var nextContext: TransactionContext {
        let sequence = UInt64(transactions.count) + 1
        return TransactionContext(
            sequence: sequence, offset: Self.firstOffset + 1024 * (sequence - 1),
            timeMilliseconds: Self.firstTimeMilliseconds + 1000 * sequence, actor: "")
    }

    /// A planner over the current index, drawing identifiers and API keys from the seeded source.
    var planner: Planner {
        let random = self.random
        return Planner(index: index, randomBytes: { random.bytes($0) })
    }

    /// Reads the operation at a location of the scenario's log.
    var reader: OperationReader {
        let log = self.log
        return { location throws(CofferError) in
            guard let operation = log[location] else {
                throw CofferError(.notFound, "No operation at \(location) in the scenario's log.")
            }
            return operation.encode()
        }
    }

    /// Applies one transaction; the scenario is written so that every one applies.
    mutating func apply(_ operations: [ModelOperation], actor: String) {
        var context = nextContext
        context.actor = actor
        do {
            try index.apply(operations, context: context)
        } catch {
            preconditionFailure("the model scenario does not apply: \(error)")
        }
        for (position, operation) in operations.enumerated() {
            log[context.location(ofOperation: position)] = operation
        }
        transactions.append((context, operations))
    }

    /// Plans with the planner and applies the plan; returns its value.
    @discardableResult
    mutating func run<Value>(_ actor: String, _ plan: (Planner) throws(CofferError) -> Plan<Value>) -> Value {
        let planned: Plan<Value>
        do {
            planned = try plan(planner)
        } catch {
            preconditionFailure("the model scenario does not plan: \(error)")
        }
        apply(planned.operations, actor: actor)
        return planned.value
    }

    /// Plans against the current index without applying; the operations of the plan.
    func plan<Value>(_ plan: (Planner) throws(CofferError) -> Plan<Value>) -> [ModelOperation] {
        do {
            return try plan(planner).operations
        } catch {
            preconditionFailure("the model scenario does not plan: \(error)")
        }
    }

    /// The compacted log of the current index, with `transactionBytesTarget` small enough to
    /// split long histories into restore credential history operations.
    func compacted(transactionBytesTarget: Int) -> [CompactedTransaction] {
        var transactions: [CompactedTransaction] = []
        do {
            try index.compactionTransactions(reader: reader, transactionBytesTarget: transactionBytesTarget) {
                transactions.append($0)
            }
        } catch {
            preconditionFailure("the model scenario does not compact: \(error)")
        }
        return transactions
    }

    static func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    static func token(_ app: String, _ slug: String, _ value: String, isDefault: Bool = false) -> CredentialDraft {
        CredentialDraft(
            appKey: app, slug: slug, label: "\(app) \(slug)", type: .apiToken,
            fields: FieldValues(["token": secret(value)]), isDefault: isDefault)
    }

    /// The scenario every fuzzed operation is also applied on top of: two organizations with
    /// projects and members, credentials of three types at every scope (a default, a fan-out,
    /// a rotated one whose oldest versions were let go under a retention of 3, a relabeled
    /// one, a revoked one), an assignment, an active and a revoked API key, an empty organization and a user
    /// with no membership.
    ///
    /// Built anew by each call, from the same seed: a scenario's planner draws from its seeded
    /// source, so a shared one would give the second caller other identifiers.
    static func makeBaseline() -> ModelScenario {
        var scenario = ModelScenario(seed: 0x5EED)
        scenario.run("admin") { planner throws(CofferError) in try planner.setVersionRetention(3) }
        for (slug, name) in [("acme", "Acme"), ("beta", "Beta"), ("gamma", "Gamma")] {
            scenario.run("admin") { planner throws(CofferError) in
                try planner.createOrganization(slug: slug, name: name)
            }
        }
        for slug in ["web", "data"] {
            scenario.run("admin") { planner throws(CofferError) in
                try planner.createProject(in: "acme", slug: slug, name: slug)
            }
        }
        for (handle, name) in [("ann", "Ann"), ("bob", "Bob"), ("cy", "Cy")] {
            scenario.run("admin") { planner throws(CofferError) in
                try planner.createUser(handle: handle, displayName: name)
            }
        }
        for (user, organization, role) in [
            ("ann", "acme", Role.owner), ("bob", "acme", .builder), ("bob", "beta", .admin),
        ] {
            scenario.run("admin") { planner throws(CofferError) in
                try planner.addMember(user, to: organization, role: role)
            }
        }
        scenario.run("ann") { planner throws(CofferError) in
            try planner.createCredential(
                in: "acme", token("exa", "work", "exa-work-version-1", isDefault: true),
                scopes: [.organization, .project("web")])
        }
        scenario.run("bob") { planner throws(CofferError) in
            try planner.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "slack", slug: "home", label: "Slack", type: .usernamePassword,
                    fields: FieldValues(["username": secret("bot"), "password": secret("hunter2-hunter2")])),
                scopes: [.user("bob")])
        }
        scenario.run("ann") { planner throws(CofferError) in
            try planner.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "exa", slug: "ci", label: "Deploy key", type: .sshKey,
                    fields: FieldValues([
                        "private_key": secret(
                            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"),
                        "public_key": secret("ssh-ed25519 AAAAC3Nz ci@example.com"),
                    ])))
        }
        for round in 2...5 {
            let reader = scenario.reader
            scenario.run("ann") { planner throws(CofferError) in
                try planner.rotateCredential(
                    "org/work", in: "acme", fields: FieldValues(["token": secret("exa-work-version-\(round)")]),
                    reveal: reader)
            }
        }
        let reader = scenario.reader
        scenario.run("bob") { planner throws(CofferError) in
            try planner.updateCredential(
                "slack/home", in: "acme",
                CredentialUpdate(
                    label: "Slack bot", fields: FieldValues(["username": secret("robot"), "password": secret("")])),
                reveal: reader)
        }
        scenario.run("ann") { planner throws(CofferError) in
            try planner.createCredential(in: "acme", token("linear", "old", "linear-old-token-0123456789"))
        }
        scenario.run("ann") { planner throws(CofferError) in try planner.revokeCredential("linear/old", in: "acme") }
        scenario.run("ann") { planner throws(CofferError) in
            try planner.assign("org/work", to: AssignmentTarget(kind: .agent, slug: "helper"), in: "acme")
        }
        scenario.run("ann") { planner throws(CofferError) in
            try planner.createAPIKey(in: "acme", creator: "ann", name: "automation", hashKey: apiKeyHashKey)
        }
        let revoked = scenario.run("bob") { planner throws(CofferError) in
            try planner.createAPIKey(in: "beta", creator: "bob", name: "old", hashKey: apiKeyHashKey)
        }
        scenario.run("bob") { planner throws(CofferError) in
            try planner.revokeAPIKey(revoked.id, in: "beta", actingUser: "bob")
        }
        return scenario
    }

    /// ``makeBaseline()`` once, for the fuzz body, which only reads it (never plans with it).
    static let baseline = makeBaseline()
}

/// A seeded source of random bytes shared by the planners of one scenario.
private final class RandomSource: @unchecked Sendable {
    private var generator: SeededGenerator

    init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
    }

    func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
