import ArgumentParser
import Coffer

/// `coffer api-key check --org ORG`: checks a key read from standard input.
struct APIKeyCheck: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check an API key read from standard input: who it acts as, or exit 1.",
        discussion: """
            The key is read from standard input (one line), or asked for without echo on a terminal, never from \
            the command line. Exits 0 when it is valid in the organization, 1 otherwise (unknown, revoked, \
            malformed, or of another organization: one message for all).

            Example:
              printf '%s\\n' "$KEY" | coffer api-key check --org acme --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let presented =
            context.standardInputIsTerminal
            ? try context.promptSecret("API key: ") : try context.readStandardInputLine()
        let check = try vault.checkAPIKey(presented)
        let (organizationSlug, user, belongs) = try vault.read { index throws(CofferError) in
            let wanted = try index.organizationID(organization.organization)
            return (
                index.organization(id: check.organization)?.slug ?? check.organization.description,
                Describe.userName(check.user, in: index), wanted == check.organization
            )
        }
        guard belongs else {
            // The same words as for an unknown key: the caller learns nothing about other organizations.
            throw CommandFailure(
                .no, code: "permission_denied",
                "The API key is not valid: it is unknown or revoked. Create a new key in the organization's settings.")
        }
        global.output(context).emit(
            [
                "valid": true, "api_key": .string(check.apiKey.description), "organization": .string(organizationSlug),
                "user": .string(user), "role": .string(check.role.word),
            ],
            text: { "valid: \(check.apiKey) acts as \(user) (\(check.role.word)) in \(organizationSlug)" })
    }
}
