import ArgumentParser

/// `coffer member`: memberships of users in organizations.
struct Member: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "Add members to an organization, change their roles, remove them.",
        discussion: """
            Example:
              coffer member add alice --org acme --role admin
              coffer member set-role alice --org acme --role owner
            """,
        subcommands: [MemberAdd.self, MemberList.self, MemberSetRole.self, MemberRemove.self])
}
