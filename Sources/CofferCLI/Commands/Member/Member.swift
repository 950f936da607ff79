import ArgumentParser

/// `coffer member`: memberships of users in organizations.
struct Member: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "Add and remove members of an organization.",
        discussion: """
            Example:
              coffer member add alice --org acme --role admin
            """,
        subcommands: [MemberAdd.self, MemberList.self, MemberRemove.self])
}
