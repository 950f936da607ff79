import ArgumentParser
import Coffer

/// `coffer project create SLUG --org ORG`.
struct ProjectCreate: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a project in an organization.",
        discussion: """
            Example:
              coffer project create web --org acme --name "Web app"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The project's slug, unique in the organization.")
    var slug: String

    @Option(help: "Its display name (default: the slug).")
    var name: String?

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let id = try vault.mutate(actor: global.actor) {
            try $0.createProject(in: organization.organization, slug: slug, name: name ?? slug)
        }
        global.output(context).emit(
            [
                "id": .string(id.description), "slug": .string(slug), "name": .string(name ?? slug),
                "organization": .string(organization.organization),
            ],
            text: { "Created project \(slug) (\(id)) in \(organization.organization)." })
    }
}
