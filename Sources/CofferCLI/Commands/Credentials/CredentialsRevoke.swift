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
        // Of several matches, the one still active.
        let active = { (credential: CredentialInfo) in credential.state == .active }
        try CredentialChangeOutput.change(
            selector, filters: filters, verb: "Revoked", in: context, command: self, preferring: active
        ) { planner, selected, organization in try planner.revokeCredential(selected, in: organization) }
    }
}
