import ArgumentParser
import Coffer

/// `coffer org create SLUG`.
struct OrgCreate: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an organization.",
        discussion: """
            Example:
              coffer org create acme --name "Acme Corp."
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The organization's slug: a-z, 0-9, '-' and '_'.")
    var slug: String

    @Option(help: "Its display name (default: the slug).")
    var name: String?

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let id = try vault.mutate(actor: global.actor) { try $0.createOrganization(slug: slug, name: name ?? slug) }
        global.output(context).emit(
            ["id": .string(id.description), "slug": .string(slug), "name": .string(name ?? slug)],
            text: { "Created organization \(slug) (\(id))." })
    }
}
