import CofferCrypto

/// Credential resolution (FORMAT.md, OPS-RESOLVE): which instance a run uses for an app key.
extension VaultIndex {
    /// Resolves a request, recording each step tried.
    ///
    /// Order: (1) the explicit selection; (2) the consumer's assignment, exact consumer before
    /// `*`; (3) a pinned scope, alone, with no fallback; (4) the run's project; (5) the
    /// organization; (6) a missing-credential error. Within a scope, the one active instance
    /// wins, or the default among several; several without a default is an ambiguity and does
    /// not fall through. User scope is tried only when pinned, and only for the run's user.
    /// A selected or assigned instance must be visible to the run, of the app, and active,
    /// or resolution fails saying why: never a silent substitute.
    public func resolve(_ request: ResolutionRequest) -> Resolution {
        var resolver = Resolver(tables: tables, request: request)
        switch resolver.run() {
        case .success(let slot):
            let record = tables.credential(slot)
            let resolved = ResolvedCredential(
                id: record.id, appKey: request.appKey, owner: tables.scopeOwner(record), version: record.version,
                location: tables.history[Int(record.currentVersionEntry)].location, stage: resolver.winningStage)
            return .resolved(resolved, trace: resolver.trace)
        case .failure(let error):
            return .failed(error, trace: resolver.trace)
        }
    }

    /// Resolves a request and returns the instance.
    /// - Throws: the resolution error; see ``resolve(_:)``.
    public func resolveCredential(_ request: ResolutionRequest) throws(CofferError) -> ResolvedCredential {
        try resolve(request).get()
    }
}

/// One resolution in progress: the request, what the run can see, and the trace so far.
private struct Resolver {
    let tables: IndexTables
    let request: ResolutionRequest
    var trace: [ResolutionStep] = []
    /// The stage of the last step recorded as won.
    private(set) var winningStage: ResolutionStage = .explicitSelection
    private var organization: Handle = noHandle
    private var project: Handle?
    private var user: Handle?
    private var app: Handle?
    private var tried: [String] = []

    init(tables: IndexTables, request: ResolutionRequest) {
        self.tables = tables
        self.request = request
    }

    /// Who needs the credential, for messages: "This agent", "This workflow", "This poll".
    private var needer: String { "This \(request.consumer?.kind.word ?? "agent")" }

    private var key: String { "`\(request.appKey)`" }

    mutating func run() -> Result<Handle, CofferError> {
        Result { () throws(CofferError) -> Handle in try resolve() }
    }

    private mutating func resolve() throws(CofferError) -> Handle {
        try readContext()
        // OPS-RESOLVE-1: explicit selection.
        if let selection = request.selection {
            guard let slot = tables.credentialSlotByID[selection] else {
                let error = CofferError(
                    .notFound, "No credential has the id \(selection). Select an existing credential.")
                record(.explicitSelection, [selection], .failed, "the selected instance does not exist")
                throw error
            }
            return try accept(slot, stage: .explicitSelection, source: "selected for this run")
        }
        record(.explicitSelection, [], .skipped, "no instance was selected for this run")
        // OPS-RESOLVE-2: assignments, the exact consumer before the wildcard.
        if let consumer = request.consumer {
            if !consumer.isWildcard {
                if let slot = assignment(consumer) {
                    return try accept(slot, stage: .exactAssignment, source: "assigned to \(consumer)")
                }
                record(.exactAssignment, [], .skipped, "no assignment for \(consumer)")
            }
            var wildcard = consumer
            wildcard.consumer = AssignmentTarget.everyConsumer
            if let slot = assignment(wildcard) {
                return try accept(slot, stage: .wildcardAssignment, source: "assigned to \(wildcard)")
            }
            record(.wildcardAssignment, [], .skipped, "no assignment for \(wildcard)")
        } else {
            record(.exactAssignment, [], .skipped, "the request names no consumer")
        }
        // OPS-RESOLVE-3: a pinned scope is tried alone.
        if let pinned = request.pinnedScope {
            let owner: Handle
            switch pinned {
            case .organization:
                owner = organization
            case .project:
                guard let project else {
                    record(.pinnedScope, [], .failed, "the run has no project", scope: .project)
                    throw CofferError(
                        .credentialMissing,
                        "\(needer) needs the \(key) credential at the pinned project scope, but the run has no project. Run it in a project, or check the pinned scope."
                    )
                }
                owner = project
            case .user:
                guard let user else {
                    record(.pinnedScope, [], .failed, "the run has no user actor", scope: .user)
                    throw CofferError(
                        .noUserActor,
                        "\(needer) pins the \(key) credential to user scope, but the run has no user actor. Run it as a signed-in user, or pin organization or project scope."
                    )
                }
                owner = user
            }
            if let slot = try attempt(.pinnedScope, scope: pinned, owner: owner) { return slot }
            throw CofferError(
                .credentialMissing,
                "\(needer) needs the \(key) credential, but none is connected at the pinned scope (\(tried.joined())), and a pinned scope does not fall back. Connect the credential at that scope, or check the pinned scope."
            )
        }
        // OPS-RESOLVE-4 and -5: the project, then the organization; never the user.
        if let project {
            if let slot = try attempt(.projectScope, scope: .project, owner: project) { return slot }
        } else {
            record(.projectScope, [], .skipped, "the run has no project", scope: .project)
        }
        if let slot = try attempt(.organizationScope, scope: .organization, owner: organization) { return slot }
        // OPS-RESOLVE-6
        throw CofferError(
            .credentialMissing,
            "\(needer) needs the \(key) credential, but none is connected for \(tried.joined(separator: " or ")). Connect the credential (credentials set \(request.appKey), or the Apps page), or check the action's pinned scope."
        )
    }

    private mutating func readContext() throws(CofferError) {
        guard let organization = tables.organizationByID[request.context.organization] else {
            throw CofferError(.notFound, "The run's organization \(request.context.organization) does not exist.")
        }
        self.organization = organization
        if let projectID = request.context.project {
            guard let project = tables.projectByID[projectID] else {
                throw CofferError(.notFound, "The run's project \(projectID) does not exist.")
            }
            guard tables.project(project).organization == organization else {
                throw CofferError(.invalidInput, "The run's project \(projectID) belongs to another organization.")
            }
            self.project = project
        }
        if let userID = request.context.user {
            guard let user = tables.userByID[userID] else {
                throw CofferError(.notFound, "The run's user \(userID) does not exist.")
            }
            self.user = user
        }
        app = tables.stringHandle(request.appKey)
    }

    private func assignment(_ target: AssignmentTarget) -> Handle? {
        tables.assignmentKey(organization: organization, target: target, appKey: request.appKey).flatMap {
            tables.assignments[$0]
        }
    }

    /// OPS-RESOLVE-PICKED: a selected or assigned instance is used only when the run can see
    /// it, it is of the requested app, and it is active.
    private mutating func accept(_ slot: Handle, stage: ResolutionStage, source: String) throws(CofferError) -> Handle {
        let chosen = tables.credential(slot)
        let named = "The \(key) credential \(chosen.id) \(source)"
        var refusal: CofferError?
        if chosen.organization != organization {
            refusal = CofferError(
                .notVisible, "\(named) belongs to another organization. Select one of this organization's credentials.")
        } else if chosen.scope == .project, chosen.owner != project {
            let runProject = project.map { "project \(tables.project($0).slug)" } ?? "no project"
            refusal = CofferError(
                .notVisible,
                "\(named) belongs to \(tables.ownerName(chosen)), and the run is in \(runProject). Select or assign a credential this run can see."
            )
        } else if chosen.scope == .user, user == nil {
            refusal = CofferError(
                .noUserActor,
                "\(named) is a user credential, but the run has no user actor. Run it as a signed-in user, or select a shared credential."
            )
        } else if chosen.scope == .user, chosen.owner != user {
            refusal = CofferError(
                .notVisible, "\(named) belongs to another user. Select or assign a credential of the run's user.")
        } else if chosen.app != app {
            refusal = CofferError(
                .wrongApp,
                "The credential \(chosen.id) \(source) is for `\(tables.string(chosen.app))`, not \(key). Select a \(key) credential."
            )
        } else if chosen.state != .active {
            refusal = CofferError(.credentialRevoked, "\(named) is revoked. Select or assign an active credential.")
        }
        if let refusal {
            record(stage, [chosen.id], .failed, "\(chosen.id) cannot be used: \(refusal.code)")
            throw refusal
        }
        record(stage, [chosen.id], .won, "\(chosen.id) \(source)")
        return slot
    }

    /// OPS-RESOLVE-SCOPE: tries one scope owner. Returns the winner, `nil` when it has no
    /// active instance, and throws `.ambiguous` when several are active and none is the
    /// default.
    private mutating func attempt(_ stage: ResolutionStage, scope: CredentialScope, owner: Handle) throws(CofferError)
        -> Handle?
    {
        let ownerName: String
        switch scope {
        case .organization: ownerName = "organization \(tables.organization(owner).slug)"
        case .project: ownerName = "project \(tables.project(owner).slug)"
        case .user: ownerName = "user \(tables.user(owner).handle)"
        }
        tried.append(ownerName)
        let candidateKey = app.map { CandidateKey(organization: organization, app: $0, owner: owner, scope: scope) }
        let group = candidateKey.map { tables.group($0) } ?? []
        let ids = group.map { tables.credential($0).id }
        let active = group.filter { tables.credential($0).state == .active }
        if active.count == 1 {
            record(
                stage, ids, .won, "\(tables.credential(active[0]).id) is the only active instance for \(ownerName)",
                scope: scope)
            return active[0]
        }
        if active.isEmpty {
            let revoked = group.count
            record(
                stage, ids, .skipped,
                "no active instance for \(ownerName)" + (revoked > 0 ? " (\(revoked) revoked)" : ""), scope: scope)
            return nil
        }
        if let candidateKey, let slot = tables.defaults[candidateKey] {
            record(
                stage, ids, .won,
                "\(tables.credential(slot).id) is the default among \(active.count) active instances for \(ownerName)",
                scope: scope)
            return slot
        }
        record(
            stage, ids, .failed, "\(active.count) active instances for \(ownerName) and none is the default",
            scope: scope)
        throw CofferError(
            .ambiguous,
            "Multiple \(key) credentials are available for \(ownerName). Pick one: mark one default, or pass an explicit selection.",
            candidates: active.sorted { tables.credential($0).id < tables.credential($1).id }.map(tables.candidateName))
    }

    private mutating func record(
        _ stage: ResolutionStage, _ candidates: [CredentialID], _ outcome: ResolutionStep.Outcome, _ reason: String,
        scope: CredentialScope? = nil
    ) {
        trace.append(
            ResolutionStep(stage: stage, scope: scope, candidates: candidates, outcome: outcome, reason: reason))
        if outcome == .won { winningStage = stage }
    }
}
