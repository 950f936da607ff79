import ArgumentParser
import Coffer

/// `coffer project remove SLUG --org ORG`.
struct ProjectRemove: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a project.",
        discussion: """
            A project without credentials is removed at once. One with credentials is removed with them (and \
            their assignments and default marks) only with --yes; without it the command lists them, changes \
            nothing and exits 1.

            Example:
              coffer project remove web --org acme --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The project, by slug or id.")
    var project: String

    @Flag(help: "Also delete the project's credentials.")
    var yes = false

    func execute(in context: CommandContext) throws {
        try Removal(
            plan: { try $0.removeProject(project, in: organization.organization) },
            ownShare: { impact in
                var own = Impact()
                own.removedProjects = impact.removedProjects
                return own
            },
            subject: "project \(project)"
        ).run(access: access, yes: yes, in: context)
    }
}
