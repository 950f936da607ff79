import ArgumentParser
import Coffer

/// `coffer credentials set APP --org ORG --set FIELD=VALUE…`: creates a credential at one or
/// more scopes (fan-out).
struct CredentialsSet: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Store a new credential for an app, at one or more scopes.",
        discussion: """
            Without --scope the credential is an organization credential. --scope and --project repeat to \
            fan out: one instance per scope and project, each with its own id and the same fields. --scope user \
            stores it for --user, or for the --as user. Without --type, a single token-like field (token, apiKey, \
            api_key, secret, …) makes an api_token credential; anything else a custom one, whose fields become \
            the members of its JSON object.

            Examples:
              coffer credentials set exa --org acme --set apiKey=@env:EXA_API_KEY --default
              coffer credentials set linear --org acme --scope project \\
                  --project web --project data --slug work \\
                  --set token=@file:linear.token
              coffer credentials set smtp --org acme --type smtp \\
                  --set host=smtp.example.com --set port=587 \\
                  --set encryption=starttls --set username=bot \\
                  --set password=@env:SMTP_PASSWORD

            The types (--type) and their fields (also `coffer types`):

            """ + TypeFields.text)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The app key code looks the credential up by, e.g. exa.")
    var app: String

    @OptionGroup var fields: FieldOptions

    @Option(
        name: .customLong("scope"), parsing: .singleValue, help: "A scope: org, project or user (repeat to fan out).")
    var scopes: [ScopeWord] = []

    @Option(
        name: [.customLong("project"), .customLong("project-slug")], parsing: .singleValue,
        help: "A project for --scope project (repeat to fan out); --project-slug is the same.")
    var projectSlugs: [String] = []

    @Option(help: "The user for --scope user (default: the --as user).")
    var user: String?

    @Option(help: "The credential type (default: api_token for one token-like field, else custom).")
    var type: Word<CredentialType>?

    @Option(help: "How it connects at runtime.")
    var kind: Word<CredentialKind> = Word(.apiKey)

    @Option(help: "Its grouping for people.")
    var category: Word<CredentialCategory> = Word(.custom)

    @Option(help: "Its label (default: the app key).")
    var label: String?

    @Option(help: "The instance slug, unique per app and scope.")
    var slug = "main"

    @Flag(name: .customLong("default"), help: "Make each new instance the default for its app and scope.")
    var isDefault = false

    func validate() throws {
        let scopes = Set(scopes.map(\.value))
        if scopes.contains(.project) && projectSlugs.isEmpty {
            throw ValidationError("--scope project needs --project SLUG (repeat it for several projects).")
        }
        if !projectSlugs.isEmpty && !scopes.contains(.project) {
            throw ValidationError("--project needs --scope project.")
        }
        if user != nil && !scopes.contains(.user) { throw ValidationError("--user needs --scope user.") }
        if scopes.contains(.user) && user == nil && global.actingUser == nil {
            throw ValidationError("--scope user needs --user HANDLE or --as HANDLE.")
        }
    }

    /// Where the instances go, in the order given.
    var targets: [ScopeTarget] {
        var targets: [ScopeTarget] = []
        for scope in scopes.map(\.value) {
            let added: [ScopeTarget]
            switch scope {
            case .organization: added = [.organization]
            case .project: added = projectSlugs.map { .project($0) }
            case .user: added = [.user(user ?? global.actingUser ?? "")]
            }
            for target in added where !targets.contains(target) { targets.append(target) }
        }
        return targets.isEmpty ? [.organization] : targets
    }

    func execute(in context: CommandContext) throws {
        // Checked here, not in validate(), which runs before an unknown option is reported:
        // a mistyped `--sett` is then said to be one.
        guard !fields.inputs.isEmpty else {
            throw CommandFailure.usage("Give at least one field with --set FIELD=VALUE.")
        }
        let given = try SecretInput.fieldValues(fields.inputs, in: context)
        let type = type?.value ?? CredentialFields.inferredType(given)
        let draft = CredentialDraft(
            appKey: app, slug: slug, label: label ?? app, kind: kind.value, type: type, category: category.value,
            fields: try CredentialFields.shaped(given, for: type), isDefault: isDefault)
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        try ActingUser.checkOwnScope(user, acting: global.actingUser, in: vault)
        let targets = targets
        // The defaults a new default takes over, to say so: a default moves silently otherwise.
        let previousDefaults: [CredentialView] =
            isDefault
            ? vault.read { index in
                guard let organization = index.organization(organization.organization)?.id else { return [] }
                return index.credentials(matching: CredentialFilter(organization: organization, appKey: app))
                    .filter(\.isDefault).map { CredentialView($0, in: index) }
            } : []
        let ids = try vault.mutate(actor: global.actor) {
            try $0.createCredential(in: organization.organization, draft, scopes: targets)
        }
        let views = vault.read { index in
            ids.compactMap { index.credential(id: $0).map { CredentialView($0, in: index) } }
        }
        let output = global.output(context)
        var replaced: [CredentialView] = []
        for view in views {
            for previous in previousDefaults where previous.info.metadata.owner == view.info.metadata.owner {
                replaced.append(previous)
                output.note(
                    "The default for \(app) at \(view.info.scope.word) \(view.ownerName) moved from "
                        + "\(previous.info.appKey)/\(previous.info.slug) (\(previous.info.id)) to \(view.info.appKey)/\(view.info.slug)."
                )
            }
        }
        output.emit(
            [
                "created": .array(views.map { .object($0.identity) }),
                "replaced_defaults": .array(replaced.map { .object($0.identity) }),
            ],
            text: {
                var table = Table("ID", "APP", "SLUG", "SCOPE", "OWNER", "TYPE", "FIELDS")
                for view in views {
                    table.append(
                        view.info.id.description, view.info.appKey, view.info.slug, view.info.scope.word,
                        view.ownerName, view.info.type.word, view.fieldsText)
                }
                return table.render(style: output.style)
            })
    }
}
