import ArgumentParser

/// `coffer org`: organizations.
struct Organization: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "org",
        abstract: "Create, list, rename and remove organizations.",
        discussion: """
            Example:
              coffer org create acme --name "Acme Corp."
            """,
        subcommands: [OrgCreate.self, OrgList.self, OrgRename.self, OrgRemove.self])
}
