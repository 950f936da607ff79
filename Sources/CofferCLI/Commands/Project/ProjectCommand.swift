import ArgumentParser

/// `coffer project`: projects of an organization.
struct ProjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project",
        abstract: "Create, list, rename and remove projects of an organization.",
        discussion: """
            Example:
              coffer project create web --org acme --name "Web app"
            """,
        subcommands: [ProjectCreate.self, ProjectList.self, ProjectRename.self, ProjectRemove.self])
}
