import ArgumentParser
import Coffer

/// `coffer credentials list --org ORG`: metadata and previews, never values.
struct CredentialsList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List credentials with masked previews.",
        discussion: """
            Secret fields show only a preview (••••a1b2); revoked credentials are listed too.

            Examples:
              coffer credentials list --org acme
              coffer credentials list --org acme --app linear --scope project --json
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

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let views = try vault.read { index throws(CofferError) in
            let organizationID = try index.organizationID(organization.organization)
            let filter = CredentialFilter(
                organization: organizationID, appKey: app, scope: scope?.value,
                project: try project.map { reference throws(CofferError) in try index.projectID(reference, in: organizationID) },
                user: try user.map { reference throws(CofferError) in try index.userID(reference) })
            return index.credentials(matching: filter).map { CredentialView($0, in: index) }
        }
        let output = global.output(context)
        output.emit(
            ["credentials": .array(views.map(\.json))],
            text: {
                var table = Table("ID", "APP", "SLUG", "SCOPE", "OWNER", "LABEL", "TYPE", "STATE", "DEFAULT", "VERSION", "FIELDS")
                for view in views {
                    let info = view.info
                    table.append(
                        info.id.description, info.appKey, info.slug, info.scope.word, view.ownerName, info.label, info.type.word,
                        info.state.word, info.isDefault ? "yes" : "", String(info.version), view.fieldsText)
                }
                return table.render(style: output.style)
            })
    }
}
