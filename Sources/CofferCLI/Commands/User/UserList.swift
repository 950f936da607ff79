import ArgumentParser
import Coffer

/// `coffer user list`.
struct UserList: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List users and the organizations they belong to.",
        discussion: """
            Example:
              coffer user list
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    private struct Row {
        let user: UserInfo
        let memberships: [(organization: String, role: String)]
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let rows = vault.read { index in
            index.users().map { user in
                Row(
                    user: user,
                    memberships: index.memberships(of: user.id).map {
                        (index.organization(id: $0.organization)?.slug ?? $0.organization.description, $0.role.word)
                    })
            }
        }
        let output = global.output(context)
        output.emit(
            [
                "users": .array(
                    rows.map { row in
                        [
                            "id": .string(row.user.id.description), "handle": .string(row.user.handle),
                            "name": .string(row.user.displayName),
                            "created": .string(Describe.time(row.user.created.timeMilliseconds)),
                            "memberships": .array(
                                row.memberships.map {
                                    ["organization": .string($0.organization), "role": .string($0.role)]
                                }),
                        ]
                    })
            ],
            text: {
                var table = Table("HANDLE", "NAME", "ID", "MEMBER OF")
                for row in rows {
                    table.append(
                        row.user.handle, row.user.displayName, row.user.id.description,
                        row.memberships.map { "\($0.organization) (\($0.role))" }.joined(separator: ", "))
                }
                return table.render(style: output.style)
            })
    }
}
