import ArgumentParser
import Coffer

/// `coffer api-key revoke ID --org ORG --as USER`.
struct APIKeyRevoke: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an API key; it stops authenticating at once.",
        discussion: """
            Any member can revoke its own keys; owners and admins any key of the organization.

            Example:
              coffer api-key revoke key_0t3m9x… --org acme --as alice
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The key's id (key_…), as `api-key list` shows it.")
    var id: String

    func validate() throws {
        try global.requireActingUser()
        if APIKeyID(id) == nil {
            throw ValidationError(
                "The API key id is `key_` and 26 lower-case letters and digits, as `coffer api-key list` shows it.")
        }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let keyID = APIKeyID(id)!
        try vault.mutate(actor: global.actor) {
            try $0.revokeAPIKey(keyID, in: organization.organization, actingUser: global.actingUser!)
        }
        global.output(context).emit(["revoked": .string(id)], text: { "Revoked API key \(id)." })
    }
}
