import ArgumentParser
import Coffer

/// `coffer project list --org ORG`.
struct ProjectList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the projects of an organization.",
        discussion: """
            Example:
              coffer project list --org acme
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let projects = try vault.read { index in try index.projects(in: index.organizationID(organization.organization))
        }
        let output = global.output(context)
        output.emit(
            [
                "projects": .array(
                    projects.map {
                        [
                            "id": .string($0.id.description), "slug": .string($0.slug), "name": .string($0.name),
                            "created": .string(Describe.time($0.created.timeMilliseconds)),
                        ]
                    })
            ],
            text: {
                var table = Table("SLUG", "NAME", "ID", "CREATED")
                for project in projects {
                    table.append(
                        project.slug, project.name, project.id.description,
                        Describe.time(project.created.timeMilliseconds))
                }
                return table.render(style: output.style)
            })
    }
}
