import ArgumentParser
import Coffer

/// `coffer api-key list --org ORG --as USER`.
struct APIKeyList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the API keys the --as member may see.",
        discussion: """
            Owners and admins see every key of the organization; a builder only its own.

            Example:
              coffer api-key list --org acme --as alice
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    func validate() throws {
        try global.requireActingUser()
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let (documents, rows) = try vault.read { index throws(CofferError) in
            let keys = try index.apiKeys(
                organization: index.organizationID(organization.organization),
                visibleTo: index.userID(global.actingUser!))
            return (keys.map { APIKeyText.json($0, in: index) }, keys.map { APIKeyText.row($0, in: index) })
        }
        let output = global.output(context)
        output.emit(
            ["api_keys": .array(documents)],
            text: {
                var table = Table(headers: APIKeyText.headers)
                table.rows = rows
                return table.render(style: output.style)
            })
    }
}
