import ArgumentParser
import Coffer

/// `coffer org rename ORG [--slug NEW] [--name NAME]`.
struct OrgRename: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Change an organization's slug or name.",
        discussion: """
            Its id, and everything it holds, stay. A rename to the names it has writes nothing and says so.

            Example:
              coffer org rename acme --slug acme-corp --name "Acme Corporation"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The organization, by slug or id.")
    var organization: String

    var actingOrganization: String? { organization }

    @Option(help: "The new slug: a-z, 0-9, '-' and '_'.")
    var slug: String?

    @Option(help: "The new display name.")
    var name: String?

    func validate() throws {
        if slug == nil && name == nil { throw ValidationError("Give the new --slug, the new --name, or both.") }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let before = vault.head
        try vault.mutate(actor: global.actor) { try $0.renameOrganization(organization, slug: slug, name: name) }
        let renamed = try vault.read { index throws(CofferError) in
            index.organization(id: try index.organizationID(slug ?? organization))!
        }
        RenameOutput.emit(
            "organization \(renamed.slug)", id: renamed.id.description,
            names: [("slug", renamed.slug), ("name", renamed.name)], changed: vault.head != before,
            output: global.output(context))
    }
}
