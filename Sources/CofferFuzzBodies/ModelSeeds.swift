import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel

/// The seeds of the credential model's targets: real encoded operations of every code for
/// ``FuzzTarget/modelOperation``, and hand-written programs covering every opcode for
/// ``FuzzTarget/operationSequence``.
enum ModelSeeds {
    // MARK: - FuzzModelOperation

    /// One raw seed per operation code (its `u16` code, then its body), planned against
    /// ``ModelScenario/baseline`` so that each applies to it, the restore operations taken
    /// from its compaction; and whole transactions: the baseline, its compacted log (both
    /// apply to an empty index) and a cascade (applies to the baseline).
    static func modelOperationSeeds() -> [Seed] {
        var first: [OperationCode: ModelOperation] = [:]
        func note(_ operations: [ModelOperation]) {
            for operation in operations where first[operation.code] == nil { first[operation.code] = operation }
        }
        let (scenario, planned, compacted) = operations()
        for transaction in scenario.transactions { note(transaction.operations) }
        for operations in planned { note(operations) }
        note(compacted)

        var seeds: [Seed] = []
        for code in OperationCode.allCases {
            guard let operation = first[code] else { continue }
            let encoded = operation.encode()
            let name = "\(operation)".prefix { $0 != "(" }
            let bytes =
                [UInt8(code.rawValue & 0xFF), UInt8(code.rawValue >> 8)] + encoded.body.withUnsafeBytes { Array($0) }
            seeds.append(
                Seed(target: .modelOperation, name: "op-\(code.description.dropFirst(2))-\(name).bin", bytes: bytes))
        }
        func transaction(_ name: String, actor: String, _ operations: [ModelOperation]) -> Seed {
            let payload = TransactionPayload(
                timeMilliseconds: ModelScenario.firstTimeMilliseconds, actor: actor,
                operations: operations.map { $0.encode() }
            ).encode()!
            return Seed(target: .modelOperation, name: name, bytes: payload.withUnsafeBytes { Array($0) })
        }
        seeds.append(
            transaction("transaction-baseline.bin", actor: "seed", scenario.transactions.flatMap(\.operations)))
        seeds.append(transaction("transaction-compacted.bin", actor: VaultIndex.compactionActor, compacted))
        seeds.append(transaction("transaction-cascade.bin", actor: "ann", planned[planned.count - 1]))
        return seeds
    }

    /// The operation codes no seed of ``FuzzTarget/modelOperation`` holds; empty, or the
    /// scenario lost one.
    static func missingOperationCodes() -> [OperationCode] {
        let (scenario, planned, compacted) = operations()
        let codes = Set((scenario.transactions.flatMap(\.operations) + planned.flatMap { $0 } + compacted).map(\.code))
        return OperationCode.allCases.filter { !codes.contains($0) }
    }

    /// The baseline, plans against it that reach the codes it lacks (the removal cascade of
    /// an organization last), and its compacted log in transactions small enough to split
    /// histories.
    static func operations() -> (ModelScenario, [[ModelOperation]], [ModelOperation]) {
        let scenario = ModelScenario.makeBaseline()
        let reader = scenario.reader
        let planned: [[ModelOperation]] = [
            scenario.plan { planner throws(CofferError) in
                try planner.renameOrganization("beta", slug: "beta-2", name: "Beta Two")
            },
            scenario.plan { planner throws(CofferError) in try planner.removeOrganization("gamma") },
            scenario.plan { planner throws(CofferError) in
                try planner.renameProject("web", in: "acme", slug: "web-2", name: "Web Two")
            },
            scenario.plan { planner throws(CofferError) in try planner.removeProject("data", in: "acme") },
            scenario.plan { planner throws(CofferError) in
                try planner.renameUser("cy", handle: "cy-2", displayName: "Cy Two")
            },
            scenario.plan { planner throws(CofferError) in try planner.removeUser("cy") },
            scenario.plan { planner throws(CofferError) in try planner.changeRole(of: "bob", in: "acme", to: .admin) },
            scenario.plan { planner throws(CofferError) in try planner.removeMember("bob", from: "beta") },
            scenario.plan { planner throws(CofferError) in
                try planner.updateCredential("exa/ci", in: "acme", CredentialUpdate(isDefault: true), reveal: reader)
            },
            scenario.plan { planner throws(CofferError) in try planner.revokeCredential("slack/home", in: "acme") },
            scenario.plan { planner throws(CofferError) in try planner.reinstateCredential("linear/old", in: "acme") },
            scenario.plan { planner throws(CofferError) in
                try planner.updateCredential("exa/ci", in: "acme", CredentialUpdate(slug: "deploy"), reveal: reader)
            },
            scenario.plan { planner throws(CofferError) in try planner.deleteCredential("exa/ci", in: "acme") },
            scenario.plan { planner throws(CofferError) in
                try planner.unassign(AssignmentTarget(kind: .agent, slug: "helper"), appKey: "exa", in: "acme")
            },
            scenario.plan { planner throws(CofferError) in try planner.removeOrganization("beta", cascade: true) },
            scenario.plan { planner throws(CofferError) in try planner.removeOrganization("acme", cascade: true) },
        ]
        let compacted = scenario.compacted(transactionBytesTarget: 200).flatMap(\.operations)
        return (scenario, planned, compacted)
    }

    // MARK: - FuzzOperationSequence

    /// Hand-written programs: together they use every opcode, and each runs to its end with
    /// the vault and the model agreeing.
    static func sequenceSeeds() -> [Seed] {
        [
            Seed(target: .operationSequence, name: "basics.program", bytes: basics()),
            Seed(target: .operationSequence, name: "lifecycle.program", bytes: lifecycle()),
            Seed(target: .operationSequence, name: "storage.program", bytes: storage()),
            Seed(target: .operationSequence, name: "cascades.program", bytes: cascades()),
            Seed(target: .operationSequence, name: "refusals.program", bytes: refusals()),
            Seed(target: .operationSequence, name: "compaction-edges.program", bytes: compactionEdges()),
        ]
    }

    /// The opcodes no seed of ``FuzzTarget/operationSequence`` runs; empty, or a seed lost one.
    static func missingOpcodes() -> [SequenceOpcode] {
        let run = sequenceSeeds().reduce(into: Set<SequenceOpcode>()) {
            $0.formUnion(OperationSequenceBody.opcodes($1.bytes))
        }
        return SequenceOpcode.allCases.filter { !run.contains($0) }
    }

    /// Organizations acme and beta; projects web and data in acme; users ann, bob, cy; ann
    /// owner and bob builder of acme, bob admin of beta.
    static func setUp(_ program: inout ProgramWriter) {
        program.step(.createOrganization, 0)
        program.step(.createOrganization, 1)
        program.step(.createProject, 0, 0)
        program.step(.createProject, 0, 1)
        for user in 0..<3 { program.step(.createUser, user) }
        program.step(.membership, 0, 0, 0)
        program.step(.membership, 0, 1, 2)
        program.step(.membership, 1, 1, 1)
    }

    // Selector bytes: the credential's position among all created, plus the form.
    static let byID = 0x00
    static let byAppSlug = 0x40
    static let bySlug = 0x80
    static let byScopeSlug = 0xC0

    /// Credentials at every scope, a fan-out with a default, resolution and reveal.
    static func basics() -> [UInt8] {
        var program = ProgramWriter()
        setUp(&program)
        // 0, 1: exa/work tokens at acme and acme/web, each its group's default.
        program.step(.createCredential, 0, 0, 0, 0, 0b11, 1, 1)
        // 2: exa/home username and password at acme: two exa instances there, work the default.
        program.step(.createCredential, 0, 0, 1, 1, 0, 0, 1, 2)
        // 3: slack/work SSH key of ann, with a public key and no passphrase.
        program.step(.createCredential, 0, 1, 0, 2, 0b1000, 0, 1, 1, 0)
        // 4: EXA/work: another app than exa.
        program.step(.createCredential, 0, 2, 0, 0, 0, 0, 2)
        // 5: slack/work at beta.
        program.step(.createCredential, 1, 1, 0, 0, 0, 1, 3)
        program.step(.resolve, 0, 0, 0b01, 0, 0)  // exa in acme/web
        program.step(.resolve, 0, 1, 0b11_01_00, 0, 0)  // slack pinned to user ann
        program.step(.resolve, 0, 1, 0b11_00_00, 0, 0)  // slack pinned to user, no user actor
        program.step(.resolve, 0, 0, 0, 0, 4)  // selection of credential 3 (ann's): no user actor
        program.step(.resolve, 1, 1, 0b11, 0, 0)  // project web of the other organization
        program.step(.reveal, 0, 0)
        program.step(.reveal, 3, 1)
        program.step(.reveal, 2, 2)
        return program.bytes
    }

    /// Updates with blanks and cleared fields, rotations past a small retention, defaults,
    /// assignments, revocation, deletion, API keys.
    static func lifecycle() -> [UInt8] {
        var program = ProgramWriter()
        setUp(&program)
        program.step(.createCredential, 0, 0, 0, 1, 0, 1, 1, 1)  // 0: exa/work username+password, default
        program.step(.createCredential, 0, 0, 1, 2, 0, 0, 1, 1, 1)  // 1: exa/home SSH key with everything
        // A new label, a blank username (kept) and a new password.
        program.step(.updateCredential, 0, byID + 0, 0b0000_0001, 0, 2)
        // Clear the SSH key's public key (field 1) and its passphrase is given anew: version 2.
        program.step(.updateCredential, 0, byAppSlug + 1, 0b0011_0000, 0, 0, 3)
        // Mark exa/home the default: exa/work's mark is cleared in the same transaction.
        program.step(.updateCredential, 0, byAppSlug + 1, 0b0000_0100, 0, 0, 0)
        program.step(.setRetention, 1)  // keep 2 versions
        for value in [3, 1, 2] { program.step(.rotateCredential, 0, byID + 0, 0, value) }
        program.step(.rotateCredential, 0, byID + 0, 1, 0)  // only the username: refused
        program.step(.reveal, 0, 1)  // let go
        program.step(.reveal, 0, 4)
        program.step(.assign, 0, byID + 0, 2)  // exa/work to agent helper, consumer search
        program.step(.assign, 0, byID + 1, 0)  // exa/home to agent helper, every consumer
        program.step(.resolve, 0, 0, 0, 3, 0)  // agent helper search: the exact assignment
        program.step(.resolve, 0, 0, 0, 5, 0)  // agent helper fetch: the wildcard
        program.step(.revokeCredential, 0, byAppSlug + 1)  // clears its default mark too
        program.step(.resolve, 0, 0, 0, 5, 0)  // the wildcard names a revoked credential
        program.step(.updateCredential, 0, byAppSlug + 1, 0b0000_0011, 0, 0, 0)  // relabel a revoked one
        program.step(.changeCredentialSlug, 0, byAppSlug + 1, 2)  // exa/home becomes exa/ci, revoked
        program.step(.changeCredentialSlug, 0, byID + 0, 2)  // exa/work cannot take ci: taken
        program.step(.reinstateCredential, 0, byID + 0)  // exa/work is active: refused
        program.step(.reinstateCredential, 0, byID + 1)  // exa/ci again, without its default mark
        program.step(.resolve, 0, 0, 0, 5, 0)  // the wildcard names it again
        program.step(.changeCredentialSlug, 0, byID + 1, 1)  // back to home
        program.step(.unassign, 0, 0, 0)
        program.step(.deleteCredential, 0, byScopeSlug + 0)  // org/work: drops its assignment
        program.step(.resolve, 0, 0, 0, 3, 0)
        program.step(.createAPIKey, 0, 1)  // bob's key
        program.step(.createAPIKey, 0, 0)  // ann's key
        program.step(.revokeAPIKey, 0, 1, 1)  // bob, a builder, may not revoke ann's
        program.step(.revokeAPIKey, 0, 0, 0)  // ann, an owner, revokes bob's
        program.step(.membership, 0, 1, 4)  // bob becomes admin
        program.step(.revokeAPIKey, 0, 1, 1)
        return program.bytes
    }

    /// Data-key rotation, keyslots, reopening with each secret, compaction with and without
    /// re-encryption.
    static func storage() -> [UInt8] {
        var program = ProgramWriter()
        setUp(&program)
        program.step(.createCredential, 0, 0, 0, 0, 0b11, 1, 1)
        program.step(.rotateDataKey)
        program.step(.rotateCredential, 0, byID + 0, 2)
        program.step(.addKeyslot, 3)  // a passphrase, slot 2
        program.step(.addKeyslot, 1)  // another key file, slot 3
        program.step(.reopen, 0x81)  // a wrong secret first, then slot 2's passphrase
        program.step(.removeKeyslot, 1)  // the first key file
        program.step(.reopen, 0x80)  // the removed key file is refused; slot 2 opens
        program.step(.rotateDataKey)
        program.step(.compact, 0)
        program.step(.rotateCredential, 0, byID + 1, 3)
        program.step(.reopen, 1)
        program.step(.compact, 1)  // re-encrypt: epochs 1 to 3 retired
        program.step(.rotateDataKey)
        program.step(.removeKeyslot, 9)  // no such slot
        program.step(.reopen, 0)
        return program.bytes
    }

    /// Removals and their cascades.
    static func cascades() -> [UInt8] {
        var program = ProgramWriter()
        setUp(&program)
        program.step(.createCredential, 0, 1, 0, 0, 0b10000, 1, 1)  // 0: slack/work of bob
        program.step(.createCredential, 0, 0, 0, 0, 0b110, 1, 2)  // 1, 2: exa/work at web and data
        program.step(.assign, 0, byID + 0, 1)
        program.step(.createAPIKey, 0, 1)
        program.step(.createAPIKey, 1, 1)
        program.step(.removeMember, 0, 1)  // bob: his credential, its assignment, his acme key
        program.step(.removeProject, 0, 1)  // data: its credential
        program.step(.removeOrganization, 1, 0)  // beta holds bob's membership and key: refused
        program.step(.removeUser, 1)  // bob: his beta membership and key
        program.step(.removeOrganization, 1, 0)  // beta still holds the revoked key: refused
        program.step(.removeOrganization, 1, 1)
        program.step(.removeOrganization, 0, 1)
        program.step(.createOrganization, 0)
        program.step(.resolve, 0, 0, 0, 0, 2)
        return program.bytes
    }

    /// State only restore operations can rebuild: an assignment naming a revoked credential,
    /// a revoked API key whose creator is gone, versions let go under a lowered retention
    /// then a raised one, a deleted default whose slot a new credential takes.
    static func compactionEdges() -> [UInt8] {
        var program = ProgramWriter()
        setUp(&program)
        program.step(.createCredential, 0, 0, 0, 0, 0, 1, 1)  // 0: exa/work, the default
        program.step(.createCredential, 0, 0, 1, 0, 0, 0, 2)  // 1: exa/home
        program.step(.assign, 0, byID + 1, 0)
        program.step(.revokeCredential, 0, byID + 1)
        program.step(.createAPIKey, 0, 1)
        program.step(.removeMember, 0, 1)  // bob's key is revoked
        program.step(.removeUser, 1)  // and its creator removed
        program.step(.setRetention, 1)  // 2 versions
        for value in [2, 3, 1] { program.step(.rotateCredential, 0, byID + 0, value) }
        program.step(.setRetention, 3)  // 10 versions: the let-go ones stay gone
        program.step(.rotateCredential, 0, byID + 0, 2)
        program.step(.compact, 0)
        program.step(.reveal, 0, 2)
        program.step(.reopen, 0)
        program.step(.deleteCredential, 0, byID + 0)
        program.step(.createCredential, 0, 0, 0, 0, 0, 1, 3)  // 2: exa/work again, the default
        program.step(.resolve, 0, 0, 0, 1, 0)  // agent helper: the revoked assignment
        program.step(.compact, 1)
        program.step(.reopen, 0x80)
        program.step(.resolve, 0, 0, 0, 0, 3)
        return program.bytes
    }

    /// Steps the vault must refuse, and with which code.
    static func refusals() -> [UInt8] {
        var program = ProgramWriter()
        program.step(.createProject, 0, 0)  // no organization
        program.step(.createOrganization, 0)
        program.step(.createOrganization, 0)  // taken
        program.step(.membership, 0, 0, 0)  // no user
        program.step(.createUser, 0)
        program.step(.membership, 0, 0, 3)  // not a member yet
        program.step(.createCredential, 0, 0, 0, 0, 0b1000, 0, 1)  // ann is not a member
        program.step(.createCredential, 0, 0, 0, 0, 0b10, 0, 1)  // no project web
        program.step(.createCredential, 0, 0, 0, 0, 0, 0, 0)  // blank token
        program.step(.createCredential, 0, 0, 0, 0, 0, 0, 7)  // a token with a NUL
        program.step(.createCredential, 0, 0, 0, 0, 0, 0, 1)
        program.step(.createCredential, 0, 0, 0, 0, 0, 0, 2)  // exa/work taken
        program.step(.createCredential, 0, 1, 0, 0, 0, 0, 2)  // slack/work
        program.step(.revokeCredential, 0, bySlug + 0)  // `work` is ambiguous
        program.step(.rotateCredential, 0, byID + 0, 1)  // the same value
        program.step(.updateCredential, 0, byID + 0, 0b0001_0000, 2)  // clears the required token
        program.step(.createAPIKey, 0, 0)  // ann is not a member
        program.step(.unassign, 0, 0, 0)
        program.step(.removeKeyslot, 1)  // the last slot
        program.step(.resolve, 0, 0, 0, 0, 0)  // one active instance
        return program.bytes
    }
}
