import ArgumentParser
import Coffer

/// `coffer member add HANDLE --org ORG --role ROLE`.
struct MemberAdd: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Make a user a member of an organization.",
        discussion: """
            Roles: owner and admin see and revoke every API key of the organization; a builder sees only its own.

            Example:
              coffer member add alice --org acme --role admin
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The user, by handle or id.")
    var user: String

    @Option(help: "The member's role.")
    var role: Word<Role>

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        try vault.mutate(actor: global.actor) { try $0.addMember(user, to: organization.organization, role: role.value) }
        global.output(context).emit(
            ["user": .string(user), "organization": .string(organization.organization), "role": .string(role.value.word)],
            text: { "Added \(user) to \(organization.organization) as \(role.value.word)." })
    }
}
