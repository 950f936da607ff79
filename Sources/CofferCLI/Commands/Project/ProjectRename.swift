import ArgumentParser
import Coffer

/// `coffer project rename PROJECT --org ORG [--slug NEW] [--name NAME]`.
struct ProjectRename: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Change a project's slug or name.",
        discussion: """
            Its id, credentials and defaults stay. A rename to the names it has writes nothing and says so.

            Example:
              coffer project rename web --org acme --slug website --name "Public website"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The project, by slug or id.")
    var project: String

    @Option(help: "The new slug, unique in the organization.")
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
        try vault.mutate(actor: global.actor) {
            try $0.renameProject(project, in: organization.organization, slug: slug, name: name)
        }
        let renamed = try vault.read { index throws(CofferError) in
            let organizationID = try index.organizationID(organization.organization)
            return index.project(id: try index.projectID(slug ?? project, in: organizationID))!
        }
        RenameOutput.emit(
            "project \(renamed.slug)", id: renamed.id.description,
            names: [("slug", renamed.slug), ("name", renamed.name)], changed: vault.head != before,
            output: global.output(context))
    }
}
