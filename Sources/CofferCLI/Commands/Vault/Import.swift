import ArgumentParser
import Coffer
import CofferExchange
import CofferFormat

/// `coffer import`: a bundle or a revealed JSON export, a dotenv file, or a KeePassXC CSV,
/// as one transaction.
struct Import: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a bundle or revealed export, a dotenv file, or a KeePassXC CSV, as one transaction.",
        discussion: """
            FILE is a bundle (`coffer export --bundle`; its key from --bundle-key-file, --bundle-passphrase-file, \
            COFFER_BUNDLE_PASSPHRASE or a prompt) or a JSON export made with --reveal. Ids, histories and \
            retained versions come over as they were. Objects the vault holds already (same slug, handle, \
            app/slug at the same owner, assignment, API key) are conflicts: --on-conflict fail (the default) \
            refuses the import and lists them, skip keeps the vault's, replace makes the vault's like the \
            import's. --map-org OLD=NEW imports organization OLD as NEW. API keys come over revoked: a key \
            works only in the vault that issued it.

            --dotenv FILE reads KEY=VALUE lines: --app-from-prefix takes the app from each key (EXA_API_KEY → exa), \
            --app APP puts every line in one credential. --keepassxc-csv FILE reads `keepassxc-cli export \
            --format csv`. Both need --org, and take --scope/--project-slug/--user like `credentials set`. \
            FORMAT.md §12 gives the mappings. --dry-run reports what would be created, changed or skipped \
            and writes nothing. Bad input is an error naming its line or JSON path, and nothing is written.

            Examples:
              coffer import team.bundle --bundle-key-file move.key --dry-run
              coffer import team.bundle --bundle-key-file move.key --map-org acme=acme-eu
              coffer import --dotenv .env --app-from-prefix --org acme
              coffer import --keepassxc-csv passwords.csv --org acme --on-conflict skip
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup(title: "Bundle key") var bundleKey: BundleKeyOptions

    @Argument(help: "A bundle, or a JSON export made with --reveal.", completion: .file())
    var file: String?

    @Option(
        name: .customLong("dotenv"), help: ArgumentHelp("A dotenv file of KEY=VALUE lines.", valueName: "file"),
        completion: .file())
    var dotenvFile: String?

    @Option(
        name: .customLong("keepassxc-csv"),
        help: ArgumentHelp("A CSV written by `keepassxc-cli export --format csv`.", valueName: "file"),
        completion: .file())
    var keePassXCFile: String?

    @Flag(name: .customLong("dry-run"), help: "Report what would be created, changed or skipped; write nothing.")
    var dryRun = false

    @Option(name: .customLong("on-conflict"), help: "What to do with objects the vault holds already.")
    var onConflict: ConflictWord = ConflictWord(.fail)

    @Option(
        name: .customLong("map-org"), parsing: .singleValue,
        help: ArgumentHelp("Import organization OLD as NEW (repeatable).", valueName: "OLD=NEW"))
    var organizationMappings: [String] = []

    @Option(
        name: .customLong("org"),
        help: ArgumentHelp("The organization (dotenv, KeePassXC), by slug or id.", valueName: "org"))
    var organization: String?

    var actingOrganization: String? { organization }

    @Flag(
        name: .customLong("app-from-prefix"),
        help: "dotenv: the app of each line is its key's prefix (EXA_API_KEY → exa).")
    var appFromPrefix = false

    @Option(help: "dotenv: put every line in one credential for this app.")
    var app: String?

    @Option(help: "dotenv: the instance slug of the credentials.")
    var slug = "main"

    @Option(
        name: .customLong("scope"), parsing: .singleValue,
        help: "dotenv, KeePassXC: a scope: org, project or user (repeat to fan out).")
    var scopes: [ScopeWord] = []

    @Option(
        name: .customLong("project-slug"), parsing: .singleValue,
        help: "A project for --scope project (repeat to fan out).")
    var projectSlugs: [String] = []

    @Option(help: "The user for --scope user (default: the --as user).")
    var user: String?

    func validate() throws {
        let sources = [file != nil, dotenvFile != nil, keePassXCFile != nil].filter { $0 }.count
        guard sources == 1 else {
            throw ValidationError(
                "Give one input: FILE (a bundle or JSON export), --dotenv FILE or --keepassxc-csv FILE.")
        }
        try bundleKey.validate()
        let structured = dotenvFile != nil || keePassXCFile != nil
        if structured {
            guard organization != nil else { throw ValidationError("--dotenv and --keepassxc-csv need --org ORG.") }
            if !organizationMappings.isEmpty { throw ValidationError("--map-org is for a bundle or JSON export.") }
            if bundleKey.isGiven {
                throw ValidationError("--bundle-key-file and --bundle-passphrase-file are for a bundle.")
            }
        } else {
            if organization != nil || app != nil || appFromPrefix || !scopes.isEmpty || !projectSlugs.isEmpty
                || user != nil || slug != "main"
            {
                throw ValidationError(
                    "--org, --app, --app-from-prefix, --slug, --scope, --project-slug and --user are for --dotenv and --keepassxc-csv."
                )
            }
        }
        if dotenvFile != nil {
            guard appFromPrefix != (app != nil) else {
                throw ValidationError("--dotenv needs --app-from-prefix or --app APP (one of them).")
            }
        } else if appFromPrefix || app != nil || slug != "main" {
            throw ValidationError("--app, --app-from-prefix and --slug are for --dotenv.")
        }
        _ = try organizationMap()
        let scopes = Set(scopes.map(\.value))
        if scopes.contains(.project) && projectSlugs.isEmpty {
            throw ValidationError("--scope project needs --project-slug SLUG (repeat it for several projects).")
        }
        if !projectSlugs.isEmpty && !scopes.contains(.project) {
            throw ValidationError("--project-slug needs --scope project.")
        }
        if user != nil && !scopes.contains(.user) { throw ValidationError("--user needs --scope user.") }
        if scopes.contains(.user) && user == nil && global.actingUser == nil {
            throw ValidationError("--scope user needs --user HANDLE or --as HANDLE.")
        }
    }

    /// `--map-org OLD=NEW` pairs.
    func organizationMap() throws -> [String: String] {
        var map: [String: String] = [:]
        for mapping in organizationMappings {
            let parts = mapping.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--map-org takes OLD=NEW, two organization slugs.")
            }
            guard map[String(parts[0])] == nil else { throw ValidationError("--map-org maps `\(parts[0])` twice.") }
            // The new slug is checked here, named as the option's, not as the file's organization.
            do { try Names.checkSlug(String(parts[1]), what: "new organization slug") } catch {
                throw ValidationError("--map-org \(parts[0])=…: \(error.message)")
            }
            map[String(parts[0])] = String(parts[1])
        }
        return map
    }

    /// Where the instances of a dotenv or KeePassXC import go.
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
        if file != nil, global.actingUser != nil {
            // A document holds any organization and every user's credentials, as export does.
            throw CommandFailure.usage(
                "import of a bundle or JSON export writes any organization and every user's credentials, which is no "
                    + "member's view: it is the operator's command, as export is. Leave out --as.")
        }
        let progress = ProgressBar(label: "importing", context: context, quiet: global.quiet)
        // Everything about the input is checked before the vault is opened; its problems are
        // the input's (exit 1), never the vault's.
        let source = try readInput(in: context)
        progress.update(count: 0, done: 1, total: 3)
        let vault = dryRun ? try access.openReadOnly(in: context) : try access.openForWriting(in: context)
        defer { vault.close() }
        // Acting as a member, a file's entries go into no other user's scope (as `credentials set`).
        try ActingUser.checkOwnScope(user, acting: global.actingUser, in: vault)
        progress.update(count: 0, done: 2, total: 3)
        let report: ImportReport
        switch source {
        case .document(let document):
            report = try Importer.importDocument(
                document, into: vault, actor: global.actor,
                options: ImportOptions(onConflict: onConflict.value, organizationMap: try organizationMap()),
                dryRun: dryRun)
        case .entries(let entries):
            report = try Importer.importEntries(
                entries, into: vault, organization: organization ?? "", scopes: targets, actor: global.actor,
                onConflict: onConflict.value, dryRun: dryRun)
        }
        progress.finish()
        if global.json {
            var text = report.json.text
            text.withUTF8 { context.standardOutput.write(UnsafeRawBufferPointer($0)) }
            return
        }
        var table = Table("ACTION", "KIND", "NAME", "DETAIL", "SOURCE")
        for item in report.items {
            table.append(item.action.rawValue, item.kind, item.name, item.detail ?? "", item.source)
        }
        let summary =
            "\(dryRun ? "Would create" : "Created") \(report.count(.created)), \(dryRun ? "change" : "changed") \(report.count(.changed)), "
            + "\(dryRun ? "skip" : "skipped") \(report.count(.skipped))"
            + (dryRun
                ? " (dry run: nothing was written)."
                : report.operationCount == 0
                    ? ": nothing to write, the vault is unchanged."
                    : " in one transaction of \(Describe.count(report.operationCount, "operation")).")
        context.print(table.render(style: context.outputStyle) + summary)
    }

    private enum Source {
        case document(ExportDocument)
        case entries(CredentialEntries)
    }

    /// Reads and checks the input. Its errors exit 1: the vault is fine, the input is not.
    private func readInput(in context: CommandContext) throws -> Source {
        do {
            if let dotenvFile {
                let bytes = try ExchangeFiles.read(dotenvFile)
                let entries = try bytes.withUnsafeBytes { bytes in try Dotenv.parse(bytes) }
                return .entries(Dotenv.credentials(entries, app: app.map { .app($0) } ?? .fromPrefix, slug: slug))
            }
            if let keePassXCFile {
                let bytes = try ExchangeFiles.read(keePassXCFile)
                return .entries(try bytes.withUnsafeBytes { bytes in try KeePassXCCSV.credentials(bytes) })
            }
            let bytes = try ExchangeFiles.read(file ?? "")
            if bytes.withUnsafeBytes({ $0.starts(with: FormatConstants.fileMagic) }) {
                throw CofferError(
                    .invalidInput,
                    "\(file ?? "") is a Coffer vault, not an export: `coffer copy` copies a vault, and `coffer export` "
                        + "makes a file import reads.")
            }
            let json: SecretBuffer
            if bytes.withUnsafeBytes({ ExportBundle.isBundle($0) }) {
                let secret = try bundleKey.secret(in: context, confirm: false)
                json = try bytes.withUnsafeBytes { bytes in try ExportBundle.open(bytes, secret: secret) }
            } else {
                if bundleKey.isGiven {
                    Output(context: context, json: global.json).warn(
                        "\(file ?? "") is not a bundle; the bundle key is not used.")
                }
                json = bytes
            }
            return .document(try json.withUnsafeBytes { bytes in try ExportDocument.decode(bytes) })
        } catch let error as CofferError {
            throw CommandFailure(error, status: .no)
        }
    }
}

/// `--on-conflict skip|replace|fail`.
struct ConflictWord: ExpressibleByArgument {
    let value: ConflictPolicy

    init(_ value: ConflictPolicy) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = ConflictPolicy(rawValue: argument) else { return nil }
        self.value = value
    }

    static var allValueStrings: [String] { ConflictPolicy.allCases.map(\.rawValue) }

    var defaultValueDescription: String { value.rawValue }
}
