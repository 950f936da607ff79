import ArgumentParser
import Coffer

/// `coffer api-key create --org ORG --as USER --name NAME`: prints the key once.
struct APIKeyCreate: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a platform API key acting as the --as member; the key is printed once.",
        discussion: """
            The key goes to standard output alone on its line (or as "key" under --json), the notes to standard \
            error, so `KEY=$(coffer api-key create …)` captures only the key. Copy it now: it is never shown again.

            Example:
              coffer api-key create --org acme --as alice --name "Production automation"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Option(help: "The key's name, to recognise it later.")
    var name: String

    func validate() throws {
        try global.requireActingUser()
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let created = try vault.createAPIKey(in: organization.organization, creator: global.actingUser!, name: name)
        let output = global.output(context)
        if output.json {
            JSON.object([
                "id": .string(created.id.description), "name": .string(name), "preview": .string(created.preview),
                "organization": .string(organization.organization), "created_by": .string(global.actingUser!),
                "key": .secret(created.secret),
            ]).write(to: context.standardOutput)
            return
        }
        output.note(
            "Created API key \(created.id) \"\(name)\" (\(created.preview)), acting as \(global.actingUser!). Copy it now; it is not shown again:"
        )
        created.secret.withUnsafeBytes { context.standardOutput.write($0) }
        context.standardOutput.write("\n")
    }
}
