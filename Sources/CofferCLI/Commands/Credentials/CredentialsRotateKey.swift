import ArgumentParser
import Coffer

/// `coffer credentials rotate-key SELECTOR --org ORG --set FIELD=VALUE…`.
struct CredentialsRotateKey: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Replace a credential's secret: a new version, the other fields kept.",
        discussion: """
            At least one secret field must get a new value. The previous version stays readable (`get --version`) \
            while it is retained.

            Example:
              coffer credentials rotate-key exa/main --org acme \\
                  --set apiKey=@env:NEW_EXA_API_KEY
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    @OptionGroup var fields: FieldOptions

    func validate() throws {
        if fields.inputs.isEmpty { throw ValidationError("Give the new secret with --set FIELD=VALUE.") }
    }

    func execute(in context: CommandContext) throws {
        let given = try SecretInput.fieldValues(fields.inputs, in: context)
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let selected = try vault.selectedID(selector, in: organization.organization, filters: filters)
        try ActingUser.checkMayChange(selected, in: organization.organization, acting: global.actingUser, vault: vault)
        let type = try vault.read { index throws(CofferError) in
            try index.selected(selected, in: organization.organization).info.type
        }
        let shaped = try CredentialFields.shaped(given, for: type)
        let id = try vault.mutate(actor: global.actor) { planner in
            try planner.rotateCredential(selected, in: organization.organization, fields: shaped) {
                location throws(CofferError) in
                try vault.readOperation(at: location)
            }
        }
        try CredentialChangeOutput.emit(id: id, verb: "Rotated", vault: vault, output: global.output(context))
    }
}
