import ArgumentParser
import Coffer

/// `coffer member list --org ORG`.
struct MemberList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the members of an organization.",
        discussion: """
            Example:
              coffer member list --org acme
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let members = try vault.read { index in
            try index.memberships(in: index.organizationID(organization.organization)).map {
                (handle: Describe.userName($0.user, in: index), id: $0.user.description, role: $0.role.word)
            }
        }
        let output = global.output(context)
        output.emit(
            [
                "members": .array(
                    members.map { ["user": .string($0.handle), "user_id": .string($0.id), "role": .string($0.role)] })
            ],
            text: {
                var table = Table("USER", "ROLE", "ID")
                for member in members { table.append(member.handle, member.role, member.id) }
                return table.render(style: output.style)
            })
    }
}
