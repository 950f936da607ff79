import ArgumentParser
import Coffer

/// `coffer credentials restore SELECTOR --org ORG`: a revoked credential made active again.
struct CredentialsRestore: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Reinstate a revoked credential: it resolves again.",
        discussion: """
            The credential becomes active with the values and version it had; the assignments it kept while revoked \
            pin it again. Its default mark, cleared by the revocation, is not given back: use \
            `credentials update --default`. History records the change as `reinstated`.

            Example:
              coffer credentials restore linear/work --org acme
            """,
        aliases: ["reinstate", "unrevoke"])

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    func execute(in context: CommandContext) throws {
        // Of several matches, the one revoked.
        let revoked = { (credential: CredentialInfo) in credential.state == .revoked }
        try CredentialChangeOutput.change(
            selector, filters: filters, verb: "Reinstated", in: context, command: self, preferring: revoked
        ) { planner, selected, organization in try planner.reinstateCredential(selected, in: organization) }
    }
}
