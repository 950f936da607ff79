import ArgumentParser
import Coffer

/// `coffer org remove SLUG`.
struct OrgRemove: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove an organization.",
        discussion: """
            An empty organization is removed at once. One that still holds projects, members, credentials or API \
            keys is removed with all of them only with --yes; without it the command lists them, changes nothing \
            and exits 1.

            Example:
              coffer org remove acme --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The organization, by slug or id.")
    var organization: String

    var actingOrganization: String? { organization }

    @Flag(help: "Also remove everything the organization holds.")
    var yes = false

    func execute(in context: CommandContext) throws {
        try Removal(
            plan: { try $0.removeOrganization(organization, cascade: true) }, ownShare: { _ in Impact() },
            subject: "organization \(organization)"
        ).run(access: access, yes: yes, in: context)
    }
}
