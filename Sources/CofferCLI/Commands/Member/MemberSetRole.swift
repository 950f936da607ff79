import ArgumentParser
import Coffer

/// `coffer member set-role HANDLE --org ORG --role ROLE`.
struct MemberSetRole: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-role",
        abstract: "Change a member's role in an organization.",
        discussion: """
            An organization always keeps an owner: its last owner cannot be given another role (make another member \
            an owner first). Giving a member the role it has changes nothing.

            Example:
              coffer member set-role bob --org acme --role admin
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The member, by handle or id.")
    var user: String

    @Option(help: "The member's new role.")
    var role: Word<Role>

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let before = vault.head
        try vault.mutate(actor: global.actor) {
            try $0.changeRole(of: user, in: organization.organization, to: role.value)
        }
        let changed = vault.head != before
        global.output(context).emit(
            [
                "user": .string(user), "organization": .string(organization.organization),
                "role": .string(role.value.word), "changed": .bool(changed),
            ],
            text: {
                changed
                    ? "\(user) is now \(role.value.word) in \(organization.organization)."
                    : "Unchanged: \(user) is \(role.value.word) in \(organization.organization) already."
            })
    }
}
