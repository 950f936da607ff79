import Coffer
import CofferReferenceModel
import CofferSimulation
import CofferStorage

/// ``FuzzTarget/operationSequence``: the input is a little program (``SequenceOpcode``) run
/// against a `Vault` on a `SimulatedDisk` and against ``ReferenceModel`` (and ``FileKeyModel``
/// for the file's keys) side by side. Any disagreement is a broken oracle: a step's outcome
/// (accepted, or refused with which code), and after the step, as ``SequenceChecks`` tiers
/// them, the objects that exist, resolution (OPS-RESOLVE), reveals (byte-equal), API key
/// checks and the index's invariants; after a reopen or a compaction, the index as before it,
/// the head, the keyslots and every version of every credential; after the last step, every
/// request of a fixed set.
///
/// The run stops at the first disagreement, since the states have parted.
enum OperationSequenceBody {
    /// Steps run per input at most, so that each input stays fast.
    static let stepsMax = 64
    /// Live credentials and API keys at most: a create beyond is skipped, so that the checks
    /// after each step stay cheap.
    static let credentialsMax = 16
    static let apiKeysMax = 8
    static let path = "/fuzz/sequence.coffer"
    static let actor = "fuzz"

    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        var run = SequenceRun(program: ProgramReader(Array(input)))
        run.execute()
        for problem in run.problems { findings.fail(problem) }
        // The steps up to the disagreement, to read it without a debugger.
        if !run.problems.isEmpty { findings.fail("the steps run:\n      " + run.trace.joined(separator: "\n      ")) }
    }

    /// The outcome of each step of `program`, and the disagreements: for reading a seed or
    /// a crash input.
    static func trace(_ program: [UInt8]) -> [String] {
        var run = SequenceRun(program: ProgramReader(program))
        run.execute()
        return run.trace + run.problems
    }

    /// The opcodes `program` runs.
    static func opcodes(_ program: [UInt8]) -> Set<SequenceOpcode> {
        var run = SequenceRun(program: ProgramReader(program))
        run.execute()
        return run.opcodes
    }
}

/// One program's run: the vault, the models, and what disagreed.
struct SequenceRun {
    typealias Body = OperationSequenceBody
    typealias Vocabulary = SequenceVocabulary
    typealias Model = ReferenceModel

    let disk = SimulatedDisk()
    var vault: Vault?
    /// The vocabulary's values are valid but for one refused value per field.
    var model = ReferenceModel(acceptsValue: SequenceVocabulary.isValid)
    var keys = FileKeyModel()
    var program: ProgramReader
    private(set) var problems: [String] = []
    /// One line per step: what it asked and what the engine answered. Made only when read,
    /// which is after a disagreement: building the text for every step cost a tenth of the
    /// run under AddressSanitizer.
    private var traceLines: [() -> String] = []
    var trace: [String] { traceLines.map { $0() } }
    /// The opcodes run, for the seed corpus check.
    private(set) var opcodes: Set<SequenceOpcode> = []
    var step = 0
    var stepName = "creating the vault"
    /// Credentials the step changed, revealed after it.
    var touched: [CredentialID] = []
    /// What to compare after the step: the counts after one that changed nothing, more
    /// after one the engine accepted, everything after one that reopened or rewrote the file.
    var checks = SequenceChecks.counts
    /// The organization the step named last: its resolutions are checked after the step.
    var focus: String?
    /// Whether the step could change what an API key check answers.
    var touchesAPIKeys = false
    /// Whether the step could change what a resolution answers (an API key step cannot).
    var touchesResolution = true

    init(program: ProgramReader) {
        self.program = program
    }

    var options: Vault.Options { Vault.Options(storage: disk) }

    mutating func execute() {
        do {
            vault = try Vault.create(path: Body.path, unlock: Vocabulary.secret(0), cost: .minimum, options: options)
        } catch {
            disagree("Vault.create fails: \(error)")
            return
        }
        while !program.isAtEnd, step < Body.stepsMax, problems.isEmpty {
            let opcode = SequenceOpcode.allCases[program.choose(SequenceOpcode.allCases.count)]
            stepName = "step \(step) (\(opcode))"
            opcodes.insert(opcode)
            touched = []
            checks = .counts
            focus = nil
            touchesAPIKeys = false
            touchesResolution = true
            perform(opcode)
            if problems.isEmpty { check(checks) }
            step += 1
        }
        stepName = "after the last step"
        if problems.isEmpty { check(.everything) }
        vault?.close()
    }

    mutating func note(_ line: @autoclosure @escaping () -> String) {
        let step = self.step
        traceLines.append { "\(step): \(line())" }
    }

    mutating func disagree(_ message: String) {
        problems.append("\(stepName): \(message)")
    }

    /// Runs one operation on the engine and compares its outcome with what `state` (the
    /// reference model or the file's keys) predicts.
    mutating func settle<State, Value>(
        _ expected: Prediction<State, Value>, of state: WritableKeyPath<SequenceRun, State>,
        _ what: @autoclosure @escaping () -> String, changesIndex: Bool = true,
        _ operation: (Vault) throws(CofferError) -> Value
    ) {
        guard let vault else { return }
        let actual = Result { () throws(CofferError) -> Value in try operation(vault) }
        switch actual {
        case .success: note("\(what()): accepted")
        case .failure(let error): note("\(what()): \(error.code)")
        }
        switch (expected, actual) {
        case (.refused(let code), .failure(let error)):
            if error.code != code {
                disagree(
                    "\(what()): the engine refuses with \(error.code) (\(error.message)); the model expects \(code)")
            }
        case (.refused(let code), .success):
            disagree("\(what()): the engine accepts; the model expects \(code)")
        case (.accepted, .failure(let error)):
            disagree("\(what()): the engine refuses with \(error.code) (\(error.message)); the model expects success")
        case (.accepted(let commit), .success(let value)):
            if let problem = commit(&self[keyPath: state], value) { disagree("\(what()): \(problem)") }
            if changesIndex, checks == .counts { checks = .step }
        }
    }

    /// Runs a planned mutation.
    mutating func mutate<Value: Sendable>(
        _ expected: Model.Outcome<Value>, _ what: @autoclosure @escaping () -> String,
        _ plan: (Planner) throws -> Plan<Value>
    ) {
        settle(expected, of: \.model, what()) { vault throws(CofferError) in
            try vault.mutate(actor: Body.actor, plan)
        }
    }

    // MARK: - Arguments

    mutating func organizationArgument() -> String {
        let slug = Vocabulary.organizations[program.choose(Vocabulary.organizations.count)]
        focus = slug
        return slug
    }
    mutating func projectArgument() -> String { Vocabulary.projects[program.choose(Vocabulary.projects.count)] }
    mutating func userArgument() -> String { Vocabulary.users[program.choose(Vocabulary.users.count)] }

    /// A credential argument: the low six bits pick one of every credential ever created
    /// (deleted ones too), the high two how to name it (OPS-SELECTOR). With none created
    /// yet, the slug `work`.
    mutating func selectorArgument() -> (selector: Model.Selector, type: CredentialType) {
        let byte = program.next()
        guard !model.credentials.isEmpty else { return (.slug("work"), .apiToken) }
        let credential = model.credentials[(byte & 0x3F) % model.credentials.count]
        let selector: Model.Selector
        switch byte >> 6 {
        case 0: selector = .id(credential.id)
        case 1: selector = .appSlug(credential.app, credential.slug)
        case 2: selector = .slug(credential.slug)
        default: selector = .scopeSlug(credential.owner.scope, credential.slug)
        }
        return (selector, credential.type)
    }

    /// One value argument per field of `type`: blank, one of three valid values, or one the
    /// field's rule refuses.
    mutating func fieldArguments(_ type: CredentialType) -> Model.GivenFields {
        var fields: Model.GivenFields = [:]
        for field in type.fields { fields[field.name] = Vocabulary.value(field.name, program.next()) }
        return fields
    }

    static func fieldValues(_ fields: Model.GivenFields) -> FieldValues {
        FieldValues(fields.mapValues { SecureBytes(copying: $0) })
    }

    // MARK: - Steps

    mutating func perform(_ opcode: SequenceOpcode) {
        switch opcode {
        case .createOrganization:
            let slug = organizationArgument()
            mutate(model.createOrganization(slug), "create organization \(slug)") {
                try $0.createOrganization(slug: slug, name: "Organization \(slug)")
            }
        case .createProject:
            let organization = organizationArgument()
            let slug = projectArgument()
            mutate(model.createProject(slug, in: organization), "create project \(organization)/\(slug)") {
                try $0.createProject(in: organization, slug: slug, name: "Project \(slug)")
            }
        case .createUser:
            let handle = userArgument()
            mutate(model.createUser(handle), "create user \(handle)") {
                try $0.createUser(handle: handle, displayName: "User \(handle)")
            }
        case .membership:
            touchesAPIKeys = true
            let organization = organizationArgument()
            let user = userArgument()
            let action = program.choose(6)
            let role = Vocabulary.roles[action % 3]
            if action < 3 {
                mutate(
                    model.setRole(role, of: user, in: organization, change: false),
                    "add \(user) to \(organization) as \(role)"
                ) {
                    try $0.addMember(user, to: organization, role: role)
                }
            } else {
                mutate(
                    model.setRole(role, of: user, in: organization, change: true),
                    "make \(user) \(role) of \(organization)"
                ) {
                    try $0.changeRole(of: user, in: organization, to: role)
                }
            }
        case .removeMember:
            touchesAPIKeys = true
            let organization = organizationArgument()
            let user = userArgument()
            mutate(model.removeMember(user, from: organization), "remove \(user) from \(organization)") {
                try $0.removeMember(user, from: organization)
            }
        case .createCredential: createCredential()
        case .updateCredential: updateCredential()
        case .rotateCredential:
            let organization = organizationArgument()
            let (selector, type) = selectorArgument()
            let fields = fieldArguments(type)
            let reveal = vault.map { $0.readOperation }
            mutate(
                model.rotateCredential(selector, in: organization, fields: fields),
                "rotate \(selector.text) in \(organization)"
            ) {
                try $0.rotateCredential(
                    selector.text, in: organization, fields: Self.fieldValues(fields), reveal: reveal!)
            }
            touchSelected(selector, organization)
        case .revokeCredential:
            let organization = organizationArgument()
            let (selector, _) = selectorArgument()
            mutate(model.revokeCredential(selector, in: organization), "revoke \(selector.text) in \(organization)") {
                try $0.revokeCredential(selector.text, in: organization)
            }
        case .deleteCredential:
            let organization = organizationArgument()
            let (selector, _) = selectorArgument()
            let expected = model.deleteCredential(selector, in: organization)
            if case .success(let index) = model.select(selector, in: organization) {
                touched.append(model.credentials[index].id)
            }
            mutate(expected, "delete \(selector.text) in \(organization)") {
                try $0.deleteCredential(selector.text, in: organization)
            }
        case .assign:
            let organization = organizationArgument()
            let (selector, _) = selectorArgument()
            let target = Vocabulary.consumer(program.next())
            mutate(
                model.assign(selector, to: target, in: organization),
                "assign \(selector.text) to \(target) in \(organization)"
            ) {
                try $0.assign(selector.text, to: target, in: organization)
            }
        case .unassign:
            let organization = organizationArgument()
            let target = Vocabulary.consumer(program.next())
            let app = Vocabulary.apps[program.choose(Vocabulary.apps.count)]
            mutate(
                model.unassign(target, app: app, in: organization), "unassign \(app) from \(target) in \(organization)"
            ) {
                try $0.unassign(target, appKey: app, in: organization)
            }
        case .createAPIKey:
            touchesAPIKeys = true
            touchesResolution = false
            let organization = organizationArgument()
            let user = userArgument()
            guard model.apiKeys.count(where: { !$0.isDeleted }) < Body.apiKeysMax else { return }
            settle(
                model.createAPIKey(in: organization, creator: user), of: \.model,
                "create an API key of \(user) in \(organization)"
            ) {
                vault throws(CofferError) in
                try vault.createAPIKey(in: organization, creator: user, name: "key of \(user)")
            }
        case .revokeAPIKey:
            touchesAPIKeys = true
            touchesResolution = false
            let organization = organizationArgument()
            let pick = program.next()
            let user = userArgument()
            guard !model.apiKeys.isEmpty else { return }
            let index = pick % model.apiKeys.count
            let id = model.apiKeys[index].id
            mutate(
                model.revokeAPIKey(index, in: organization, actingUser: user),
                "revoke API key \(index) in \(organization) as \(user)"
            ) {
                try $0.revokeAPIKey(id, in: organization, actingUser: user)
            }
        case .resolve: resolveOnce()
        case .reveal:
            let pick = program.next()
            let version = program.next()
            guard !model.credentials.isEmpty else { return }
            let credential = model.credentials[pick % model.credentials.count]
            note("reveal \(credential.app)/\(credential.slug) version \(version == 0 ? "current" : "\(version % 16)")")
            compareReveal(credential, version: version == 0 ? nil : UInt32(version % 16))
        case .rotateDataKey:
            settle(keys.rotateDataKey(), of: \.keys, "rotate the data key", changesIndex: false) {
                vault throws(CofferError) in
                try vault.rotateDataKey()
            }
        case .addKeyslot:
            let secret = program.choose(Vocabulary.secretCount)
            settle(
                keys.addKeyslot(secret: secret), of: \.keys, "add a keyslot for secret \(secret)", changesIndex: false
            ) {
                vault throws(CofferError) in
                try vault.addKeyslot(Vocabulary.secret(secret), cost: .minimum)
            }
            compareKeyslots()
        case .removeKeyslot:
            let id = UInt16(program.choose(Int(keys.slots.map(\.id).max() ?? 0) + 2))
            settle(keys.removeKeyslot(id: id), of: \.keys, "remove keyslot \(id)", changesIndex: false) {
                vault throws(CofferError) in try vault.removeKeyslot(id: id)
            }
            compareKeyslots()
        case .reopen: reopen()
        case .compact:
            let reencrypt = program.next() & 1 == 1
            let before = snapshot(keepingLocations: false)
            defer { compareRebuilt(before, keepingLocations: false, "the compaction") }
            settle(keys.compact(reencrypt: reencrypt), of: \.keys, "compact (re-encrypt: \(reencrypt))") {
                vault throws(CofferError) in
                let report = try vault.compact(CompactionOptions(reencrypt: reencrypt))
                guard report.head == vault.head else {
                    throw CofferError(
                        .corrupted, "the compaction reports head \(report.head), the vault is at \(vault.head)")
                }
                return report
            }
            checks = .rebuilt
        case .setRetention:
            let count = Vocabulary.retentions[program.choose(Vocabulary.retentions.count)]
            mutate(model.setRetention(count), "set the retention to \(count)") { try $0.setVersionRetention(count) }
        case .removeProject:
            let organization = organizationArgument()
            let slug = projectArgument()
            mutate(model.removeProject(slug, in: organization), "remove project \(organization)/\(slug)") {
                try $0.removeProject(slug, in: organization)
            }
        case .removeUser:
            touchesAPIKeys = true
            let handle = userArgument()
            mutate(model.removeUser(handle), "remove user \(handle)") { try $0.removeUser(handle) }
        case .removeOrganization:
            touchesAPIKeys = true
            let slug = organizationArgument()
            let cascade = program.next() & 1 == 1
            mutate(
                model.removeOrganization(slug, cascade: cascade), "remove organization \(slug) (cascade: \(cascade))"
            ) {
                try $0.removeOrganization(slug, cascade: cascade)
            }
        case .reinstateCredential:
            let organization = organizationArgument()
            let (selector, _) = selectorArgument()
            mutate(
                model.reinstateCredential(selector, in: organization), "reinstate \(selector.text) in \(organization)"
            ) {
                try $0.reinstateCredential(selector.text, in: organization)
            }
        case .changeCredentialSlug:
            let organization = organizationArgument()
            let (selector, _) = selectorArgument()
            let slug = Vocabulary.slugs[program.choose(Vocabulary.slugs.count)]
            let reveal = vault.map { $0.readOperation }
            mutate(
                model.changeSlug(selector, to: slug, in: organization),
                "change the slug of \(selector.text) in \(organization) to \(slug)"
            ) {
                try $0.updateCredential(selector.text, in: organization, CredentialUpdate(slug: slug), reveal: reveal!)
            }
        }
    }

    mutating func touchSelected(_ selector: Model.Selector, _ organization: String) {
        if case .success(let index) = model.select(selector, in: organization) {
            touched.append(model.credentials[index].id)
        }
    }

    mutating func createCredential() {
        let organization = organizationArgument()
        let app = Vocabulary.apps[program.choose(Vocabulary.apps.count)]
        let slug = Vocabulary.slugs[program.choose(Vocabulary.slugs.count)]
        let type = Vocabulary.types[program.choose(Vocabulary.types.count)]
        let mask = program.next()
        let isDefault = program.next() & 1 == 1
        let fields = fieldArguments(type)
        guard model.liveCredentials.count < Body.credentialsMax else { return }
        let scopes = Vocabulary.scopes.indices.filter { mask & (1 << $0) != 0 }.map { Vocabulary.scopes[$0] }
        let draft = CredentialDraft(
            appKey: app, slug: slug, label: "\(app) \(slug)", type: type, fields: Self.fieldValues(fields),
            isDefault: isDefault)
        let before = model.credentials.count
        mutate(
            model.createCredential(
                in: organization, app: app, slug: slug, label: draft.label, type: type, fields: fields, scopes: scopes,
                isDefault: isDefault),
            "create \(app)/\(slug) (\(type)) in \(organization) at \(scopes)"
        ) { try $0.createCredential(in: organization, draft, scopes: scopes) }
        touched += model.credentials[before...].map(\.id)
    }

    /// Arguments: organization, credential, flags, then one value per field of the picked
    /// credential's type. Flags: bit 0 gives a label (bit 1 which); bits 2–3 the default mark
    /// (1 set, 2 clear, else keep); bit 4 clears the field bits 5–6 choose; bit 7 also gives
    /// a field the type does not have.
    mutating func updateCredential() {
        let organization = organizationArgument()
        let (selector, type) = selectorArgument()
        let flags = program.next()
        var fields = fieldArguments(type)
        let label = flags & 1 == 1 ? Vocabulary.labels[(flags >> 1) & 1] : nil
        let isDefault: Bool? = [nil, true, false, nil][(flags >> 2) & 3]
        let cleared: Set<String> = flags & 0x10 != 0 ? [type.fields[((flags >> 5) & 3) % type.fields.count].name] : []
        if flags & 0x80 != 0 { fields["bogus"] = Array("x".utf8) }
        let update = CredentialUpdate(
            label: label, isDefault: isDefault, fields: Self.fieldValues(fields), clearedFields: cleared)
        let reveal = vault.map { $0.readOperation }
        mutate(
            model.updateCredential(
                selector, in: organization, label: label, isDefault: isDefault, fields: fields, cleared: cleared),
            "update \(selector.text) in \(organization) (label \(label ?? "kept"), default \(isDefault.map { "\($0)" } ?? "kept"), fields \(fields.filter { !$0.value.isEmpty }.keys.sorted()), cleared \(cleared.sorted()))"
        ) { try $0.updateCredential(selector.text, in: organization, update, reveal: reveal!) }
        touchSelected(selector, organization)
    }

    /// Close and open again, with a secret of one of the keyslots; first, with bit 7, try a
    /// secret no keyslot holds, which must be refused as the wrong key (F-HDR-SELECT).
    mutating func reopen() {
        let choice = program.next()
        guard let current = vault else { return }
        checks = .rebuilt
        let before = snapshot(keepingLocations: true)
        defer { compareRebuilt(before, keepingLocations: true, "the reopen") }
        let head = current.head
        current.close()
        vault = nil
        let held = Set(keys.slots.map(\.secret))
        let others = (0..<Vocabulary.secretCount).filter { !held.contains($0) }
        if choice & 0x80 != 0, !others.isEmpty {
            let wrong = others[choice % others.count]
            do {
                let opened = try Vault.open(path: Body.path, unlock: Vocabulary.secret(wrong), options: options)
                opened.close()
                disagree("secret \(wrong) opens the vault, but no keyslot holds it")
                return
            } catch {
                if error.code != .wrongKey {
                    disagree("opening with secret \(wrong), which no keyslot holds, fails with \(error)")
                }
            }
        }
        let secret = keys.slots[choice % keys.slots.count].secret
        note("reopen with secret \(secret)\(choice & 0x80 != 0 ? ", a wrong one first" : "")")
        do {
            let opened = try Vault.open(path: Body.path, unlock: Vocabulary.secret(secret), options: options)
            vault = opened
            if opened.head != head { disagree("the vault reopens at head \(opened.head), not \(head)") }
            if let torn = opened.recovery.tornTail { disagree("the reopened vault has a torn tail: \(torn)") }
        } catch {
            disagree(
                "the vault does not reopen with secret \(secret) of keyslot \(keys.slots[choice % keys.slots.count].id): \(error)"
            )
        }
        compareKeyslots()
    }

    mutating func compareKeyslots() {
        guard let vault else { return }
        let ids = vault.keyslots.map(\.id)
        if ids != keys.slots.map(\.id) { disagree("the keyslots are \(ids), the model has \(keys.slots.map(\.id))") }
    }
}
