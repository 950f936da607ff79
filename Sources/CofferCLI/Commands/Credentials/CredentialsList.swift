import ArgumentParser
import Coffer

/// `coffer credentials list --org ORG`: metadata and previews, never values.
struct CredentialsList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List credentials with masked previews.",
        discussion: """
            Secret fields show only a preview (••••a1b2); revoked credentials are listed too. The table shows \
            CREDENTIAL (APP/SLUG), OWNER, TYPE, STATE, VERSION and FIELDS, cut to the terminal's width; \
            --output wide shows every column, --columns the ones named (id, app, slug, credential, scope, owner, \
            label, type, kind, category, state, default, version, created, updated, fields).

            Examples:
              coffer credentials list --org acme
              coffer credentials list --org acme --app linear --scope project --json
              coffer credentials list --org acme --columns id,credential,owner
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Option(help: "Only this app key.")
    var app: String?

    @Option(help: "Only this scope: org, project or user.")
    var scope: ScopeWord?

    @Option(help: "Only credentials of this project (slug or id).")
    var project: String?

    @Option(help: "Only credentials of this user (handle or id).")
    var user: String?

    @Option(
        name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("wide: every column.", valueName: "wide"))
    var outputForm: OutputForm?

    @Option(help: ArgumentHelp("The columns to show, comma-separated.", valueName: "names"))
    var columns: String?

    enum OutputForm: String, ExpressibleByArgument, CaseIterable {
        case wide
    }

    /// The columns a table can show, by name, and what each shows.
    static var allColumns: [(name: String, header: String, cell: (CredentialView) -> String)] {
        [
            ("id", "ID", { $0.info.id.description }),
            ("app", "APP", { $0.info.appKey }),
            ("slug", "SLUG", { $0.info.slug }),
            ("credential", "CREDENTIAL", { "\($0.info.appKey)/\($0.info.slug)" }),
            ("scope", "SCOPE", { $0.info.scope.word }),
            ("owner", "OWNER", { "\($0.info.scope == .organization ? "org" : $0.info.scope.word) \($0.ownerName)" }),
            ("label", "LABEL", { $0.info.label }),
            ("type", "TYPE", { $0.info.type.word }),
            ("kind", "KIND", { $0.info.kind.word }),
            ("category", "CATEGORY", { $0.info.category.word }),
            ("state", "STATE", { $0.info.state.word + ($0.info.isDefault ? ", default" : "") }),
            ("default", "DEFAULT", { $0.info.isDefault ? "yes" : "" }),
            ("version", "VERSION", { String($0.info.version) }),
            ("created", "CREATED", { Describe.time($0.info.created.timeMilliseconds) }),
            ("updated", "UPDATED", { Describe.time($0.info.updated.timeMilliseconds) }),
            ("fields", "FIELDS", { $0.fieldsText }),
        ]
    }
    static let defaultColumns = ["credential", "owner", "type", "state", "version", "fields"]
    static let wideColumns = [
        "id", "app", "slug", "scope", "owner", "label", "type", "state", "default", "version", "fields",
    ]

    func validate() throws {
        if outputForm != nil && columns != nil { throw ValidationError("Give --output wide or --columns, not both.") }
        // Filters that no credential can match together would list nothing without a word.
        if project != nil && user != nil {
            throw ValidationError("--project and --user name two owners, and a credential has one; give one of them.")
        }
        if let scope = scope?.value, project != nil && scope != .project || user != nil && scope != .user {
            throw ValidationError(
                "--\(project != nil ? "project" : "user") lists credentials of that owner, at scope "
                    + "\(project != nil ? "project" : "user"); leave out --scope \(scope.word), or give that scope.")
        }
        if let columns {
            let names = Self.allColumns.map(\.name)
            for name in columns.split(separator: ",", omittingEmptySubsequences: false)
            where !names.contains(String(name)) {
                throw ValidationError("--columns takes names from: \(names.joined(separator: ", ")).")
            }
        }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let views = try vault.read { index throws(CofferError) in
            let organizationID = try index.organizationID(organization.organization)
            let filter = CredentialFilter(
                organization: organizationID, appKey: app, scope: scope?.value,
                project: try project.map { reference throws(CofferError) in
                    try index.projectID(reference, in: organizationID)
                },
                user: try user.map { reference throws(CofferError) in try index.userID(reference) })
            return index.credentials(matching: filter).map { CredentialView($0, in: index) }
        }
        let output = global.output(context)
        output.emit(
            ["credentials": .array(views.map(\.json))],
            text: {
                let names =
                    columns.map { $0.split(separator: ",").map(String.init) }
                    ?? (outputForm == .wide ? Self.wideColumns : Self.defaultColumns)
                let shown = names.compactMap { name in Self.allColumns.first { $0.name == name } }
                var table = Table(headers: shown.map(\.header))
                // What a row is read and selected by stays whole; fields and labels give way.
                table.whole = ["ID", "CREDENTIAL", "OWNER", "STATE"]
                for view in views { table.append(row: shown.map { $0.cell(view) }) }
                // Cut to the terminal unless every column was asked for.
                return table.render(style: output.style, columns: outputForm == .wide ? nil : context.outputColumns)
            })
    }
}
