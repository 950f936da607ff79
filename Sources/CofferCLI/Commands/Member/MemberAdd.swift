import ArgumentParser
import Coffer

/// `coffer member add HANDLE --org ORG --role ROLE`.
struct MemberAdd: OrganizationCommand {
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
        let organization = organization.organization
        let role = role.value
        let added = Result { () throws(CofferError) in
            try vault.mutate(actor: global.actor) { try $0.addMember(user, to: organization, role: role) }
        }
        if case .failure(let error) = added {
            guard error.code == .alreadyExists else { throw error }
            throw CommandFailure(
                .no, code: "already_exists",
                "\(user) is a member of \(organization) already. Change the role with "
                    + "`coffer member set-role \(user) --org \(organization) --role \(role.word)`.")
        }
        global.output(context).emit(
            ["user": .string(user), "organization": .string(organization), "role": .string(role.word)],
            text: { "Added \(user) to \(organization) as \(role.word)." })
    }
}
