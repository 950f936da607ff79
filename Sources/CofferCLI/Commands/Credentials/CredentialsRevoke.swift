import ArgumentParser
import Coffer

/// `coffer credentials revoke SELECTOR --org ORG`.
struct CredentialsRevoke: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a credential: it stays listed and never resolves again.",
        discussion: """
            Its default mark is cleared; its assignments stay, so runs that use them fail as revoked instead of \
            silently using another credential.

            Example:
              coffer credentials revoke linear/work --org acme
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let selected = try vault.selectedID(selector, in: organization.organization, filters: filters)
        try ActingUser.checkMayChange(selected, in: organization.organization, acting: global.actingUser, vault: vault)
        let id = try vault.mutate(actor: global.actor) { try $0.revokeCredential(selected, in: organization.organization) }
        try CredentialChangeOutput.emit(id: id, verb: "Revoked", vault: vault, output: global.output(context))
    }
}
