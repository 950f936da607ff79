import ArgumentParser
import Coffer

/// `coffer resolve APP --org ORG …`: which credential a run would use, and why.
struct Resolve: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Resolve which credential a run would use for an app, and explain why.",
        discussion: """
            The order: an explicit selection (--select), the consumer's assignment (exact consumer, then `*`), a \
            pinned scope alone (--pin), the project's default, the organization's default. User credentials resolve \
            only when pinned to user scope and the run has a user (--user). Exits 0 when resolved, 3 when no \
            credential is found, 4 when several match and none is the default, 5 for any other refusal (no user \
            actor, revoked, not visible, wrong app, unknown selection). Read-only.

            Examples:
              coffer resolve linear --org acme --project web --explain
              coffer resolve slack --org acme --pin user --user alice
              coffer resolve linear --org acme --workflow triage \\
                  --consumer fetch-issues --json
              LINEAR_TOKEN=$(coffer resolve linear --org acme --project web --field token)

            --field prints the resolved credential's value of that field alone, with no newline (as \
            `credentials get --field`), refusing a terminal unless --force.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The app key the action declares.")
    var app: String

    @OptionGroup var runContext: RunContextOptions

    @Option(help: ArgumentHelp("A credential id selected for the run.", valueName: "id"))
    var select: String?

    @OptionGroup var target: TargetOptions

    @Flag(help: "Show every step tried.")
    var explain = false

    @Option(help: ArgumentHelp("Print only this field's value of the resolved credential, raw.", valueName: "name"))
    var field: String?

    @Flag(help: "With --field, print the value even on a terminal.")
    var force = false

    func validate() throws {
        if field != nil && explain { throw ValidationError("--field prints the value alone; leave out --explain.") }
        if let select, CredentialID(select) == nil {
            throw ValidationError("--select takes a credential id (cred_…).")
        }
    }

    func execute(in context: CommandContext) throws {
        try RawField.checkOutput(field: field, json: global.json, force: force, in: context)
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let request = try Self.request(
            app: app, organization: organization.organization, run: runContext,
            select: select.flatMap(CredentialID.init),
            target: target.target, in: vault)
        let resolution = vault.resolution(request)
        let trace = resolution.trace
        let output = global.output(context)
        switch resolution {
        case .resolved(let resolved, _):
            let view = vault.read { index in index.credential(id: resolved.id).map { CredentialView($0, in: index) } }
            if let field {
                // The index answered the resolution under the same read: the credential is there.
                let info = view!.info
                try ActingUser.checkValuesVisible(info, acting: global.actingUser, in: vault)
                let values = try vault.reveal(resolved.id, version: resolved.version)
                RawField.write(try RawField.value(field, of: values, type: info.type), in: context)
                return
            }
            var credential = view?.identity ?? ["id": .string(resolved.id.description)]
            credential["version"] = .unsigned(UInt64(resolved.version))
            output.emit(
                [
                    "status": "resolved", "credential": .object(credential), "stage": .string(resolved.stage.word),
                    "trace": Self.json(trace),
                ],
                text: {
                    var text = resolved.id.description
                    if let view {
                        text += "  \(view.info.appKey)/\(view.info.slug)  \(view.info.scope.word) \(view.ownerName)"
                    }
                    text += "  (\(resolved.stage.word))"
                    return explain ? text + "\n" + Self.text(trace, style: output.style) : text
                })
        case .failed(let error, _):
            let status = ExitStatus(forResolution: error.code)
            if output.json {
                JSON.object([
                    "status": "error", "code": .string(error.code.word), "message": .string(error.message),
                    "exit_code": .int(Int64(status.rawValue)), "candidates": .array(error.candidates.map(JSON.string)),
                    "trace": Self.json(trace),
                ]).write(to: context.standardOutput)
                throw CommandFailure.reported(status)
            }
            if explain && !trace.isEmpty { context.print(Self.text(trace, style: output.style)) }
            throw Self.failure(error, app: app, organization: organization.organization, in: vault, run: runContext)
        }
    }

    /// The request a run in `organization` makes for `app`, references resolved in `vault`.
    static func request(
        app: String, organization: String, run: RunContextOptions, select: CredentialID?, target: AssignmentTarget?,
        in vault: Vault
    ) throws(CofferError) -> ResolutionRequest {
        let (project, user, pin) = (run.project, run.user, run.pin?.value)
        // A consumer no assignment can name is refused as `assign` refuses it, not passed over.
        try target?.check()
        return try vault.read { index throws(CofferError) in
            let organizationID = try index.organizationID(organization)
            return ResolutionRequest(
                appKey: app,
                context: RunContext(
                    organization: organizationID,
                    project: try project.map { reference throws(CofferError) in
                        try index.projectID(reference, in: organizationID)
                    },
                    user: try user.map { reference throws(CofferError) in try index.userID(reference) }),
                selection: select, pinnedScope: pin, consumer: target)
        }
    }

    /// A resolution that failed, with its exit code (3, 4 or 5) and, for a missing
    /// credential, where the app's credentials are (a project's or a user's, which this run
    /// did not ask for), or else how to connect one with this tool.
    /// - Parameter selects: whether the command takes an explicit selection (`--select`);
    ///   `run` does not, and an ambiguity then says what it can do instead.
    ///   - run: the run's project, user and pinned scope: a pinned run is told how to make a
    ///     credential at that scope, which is the only one it tries.
    static func failure(
        _ error: CofferError, app: String, organization: String, in vault: Vault, selects: Bool = true,
        run: RunContextOptions? = nil
    ) -> CommandFailure {
        var failure = CommandFailure(error, status: ExitStatus(forResolution: error.code))
        if error.code == .ambiguous && !selects {
            // The engine's advice ends with "or pass an explicit selection", which this
            // command cannot take: its own advice replaces that sentence.
            if let advice = failure.message.range(of: " Pick one: ") {
                failure.message.removeSubrange(advice.lowerBound...)
            }
            failure.message +=
                " This command takes no --select; pick one: mark one default (coffer credentials update APP/SLUG "
                + "--org \(organization) --default), or assign one to the consumer (coffer assignments assign)."
        }
        guard error.code == .credentialMissing else { return failure }
        let (projects, users) = vault.read { index -> ([String], [String]) in
            guard let organizationID = try? index.organizationID(organization) else { return ([], []) }
            let active = index.credentials(
                matching: CredentialFilter(organization: organizationID, appKey: app, includesRevoked: false))
            var projects = Set<String>()
            var users = Set<String>()
            for credential in active {
                switch credential.owner {
                case .project(let id): projects.insert(index.project(id: id)?.slug ?? id.description)
                case .user(let id): users.insert(index.user(id: id)?.handle ?? id.description)
                case .organization: break
                }
            }
            return (projects.sorted(), users.sorted())
        }
        if !projects.isEmpty {
            failure.message +=
                " \(app) has credentials in project\(projects.count == 1 ? "" : "s") \(projects.joined(separator: ", ")): "
                + "a run of one of them resolves with --project."
        }
        if !users.isEmpty {
            failure.message +=
                " \(app) has user credentials (\(users.joined(separator: ", "))): a run resolves one with "
                + "--pin user --user HANDLE."
        }
        // The engine says what is missing; the CLI says how to connect it: at the pinned scope,
        // the only one a pinned run tries, else at the organization, which every run falls back to.
        let scope: String?
        switch run?.pin?.value {
        case .user?: scope = " --scope user --user \(run?.user ?? "HANDLE")"
        case .project?: scope = " --scope project --project \(run?.project ?? "SLUG")"
        case .organization?, nil: scope = projects.isEmpty && users.isEmpty ? "" : nil
        }
        if let scope {
            failure.message +=
                " With this tool: coffer credentials set \(app) --org \(organization)\(scope) --set token=@env:VARIABLE."
        }
        return failure
    }

    static func json(_ trace: [ResolutionStep]) -> JSON {
        .array(
            trace.map { step in
                [
                    "stage": .string(step.stage.word), "scope": .optional(step.scope?.word),
                    "candidates": .array(step.candidates.map { .string($0.description) }),
                    "outcome": .string(outcomeWord(step.outcome)), "reason": .string(step.reason),
                ]
            })
    }

    static func text(_ trace: [ResolutionStep], style: Style) -> String {
        var table = Table("STEP", "SCOPE", "OUTCOME", "REASON")
        for step in trace {
            table.append(step.stage.word, step.scope?.word ?? "", outcomeWord(step.outcome), step.reason)
        }
        return table.render(style: style)
    }

    static func outcomeWord(_ outcome: ResolutionStep.Outcome) -> String {
        switch outcome {
        case .won: "won"
        case .skipped: "skipped"
        case .failed: "failed"
        }
    }
}
