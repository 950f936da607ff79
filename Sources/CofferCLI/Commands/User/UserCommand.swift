import ArgumentParser

/// `coffer user`: users.
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Create, list, rename and remove users.",
        discussion: """
            Example:
              coffer user create alice --name "Alice Martin"
            """,
        subcommands: [UserCreate.self, UserList.self, UserRename.self, UserRemove.self])
}
