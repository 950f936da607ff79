import ArgumentParser
import Coffer

/// `coffer credentials rollback SELECTOR --org ORG --to-version N`.
struct CredentialsRollback: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Make a new version with the values of a retained older version.",
        discussion: """
            As `vault kv rollback` does: nothing is erased, the credential gets a new version holding the field \
            values version N had (fields N did not have are cleared), and history records it. N must be an \
            earlier version whose values the vault still retains (`credentials history` lists them). When the \
            current values are N's, nothing is written and the answer says so.

            Example:
              coffer credentials rollback exa/main --org acme --to-version 2
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    @Option(
        name: .customLong("to-version"), help: ArgumentHelp("The earlier version whose values to take.", valueName: "n")
    )
    var version: UInt32

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let selected = try vault.selectedID(selector, in: organization.organization, filters: filters)
        try ActingUser.checkMayChange(selected, in: organization.organization, acting: global.actingUser, vault: vault)
        let before = vault.head
        let id = try vault.mutate(actor: global.actor) { planner in
            try planner.rollbackCredential(selected, in: organization.organization, toVersion: version) {
                location throws(CofferError) in try vault.readOperation(at: location)
            }
        }
        try CredentialChangeOutput.emit(
            id: id, verb: "Rolled back to the values of version \(version):", vault: vault,
            output: global.output(context),
            changed: vault.head != before,
            unchanged: "Unchanged (the current values are version \(version)'s; nothing was written):")
    }
}
