import ArgumentParser
import Coffer

/// `coffer org list`.
struct OrgList: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List organizations.",
        discussion: """
            Example:
              coffer org list --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let organizations = vault.read { $0.organizations() }
        let output = global.output(context)
        output.emit(
            [
                "organizations": .array(
                    organizations.map {
                        [
                            "id": .string($0.id.description), "slug": .string($0.slug), "name": .string($0.name),
                            "created": .string(Describe.time($0.created.timeMilliseconds)),
                        ]
                    })
            ],
            text: {
                var table = Table("SLUG", "NAME", "ID", "CREATED")
                for organization in organizations {
                    table.append(
                        organization.slug, organization.name, organization.id.description,
                        Describe.time(organization.created.timeMilliseconds))
                }
                return table.render(style: output.style)
            })
    }
}
