import ArgumentParser
import Coffer

/// `coffer credentials update SELECTOR --org ORG`: label, default mark, fields.
struct CredentialsUpdate: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a credential's label, default mark or fields.",
        discussion: """
            Fields not given keep their values; a field change makes a new version holding every field. \
            --default marks the credential as the one default for its app and scope (clearing the previous one); \
            --no-default clears the mark. --clear removes an optional field.

            Examples:
              coffer credentials update linear/work --org acme --default \\
                  --label "Production Linear"
              coffer credentials update smtp/main --org acme \\
                  --set port=465 --set encryption=ssl
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @Option(help: "A new label.")
    var label: String?

    @Flag(name: .customLong("default"), inversion: .prefixedNo, help: "Mark as the default for its app and scope, or clear the mark.")
    var isDefault: Bool?

    @OptionGroup var fields: FieldOptions

    @Option(name: .customLong("clear"), parsing: .singleValue, help: ArgumentHelp("Remove an optional field.", valueName: "field"))
    var clearedFields: [String] = []

    func validate() throws {
        if label == nil && isDefault == nil && fields.inputs.isEmpty && clearedFields.isEmpty {
            throw ValidationError("Nothing to change: give --label, --default, --no-default, --set or --clear.")
        }
    }

    func execute(in context: CommandContext) throws {
        let given = try SecretInput.fieldValues(fields.inputs, in: context)
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let type = try vault.read { index throws(CofferError) in try index.selected(selector, in: organization.organization).info.type }
        let update = CredentialUpdate(
            label: label, isDefault: isDefault, fields: CredentialFields.shaped(given, for: type), clearedFields: Set(clearedFields))
        let id = try vault.mutate(actor: global.actor) { planner in
            try planner.updateCredential(selector, in: organization.organization, update) { location throws(CofferError) in
                try vault.readOperation(at: location)
            }
        }
        try CredentialChangeOutput.emit(id: id, verb: "Updated", vault: vault, output: global.output(context))
    }
}

/// The answer of the commands that change one credential: its metadata afterwards.
enum CredentialChangeOutput {
    static func emit(id: CredentialID, verb: String, vault: Vault, output: Output) throws {
        guard let view = vault.read({ index in index.credential(id: id).map { CredentialView($0, in: index) } }) else {
            throw CofferError(.notFound, "The credential \(id) vanished.")
        }
        output.emit(
            view.json,
            text: {
                "\(verb) \(view.info.appKey)/\(view.info.slug) (\(view.info.id)): version \(view.info.version), \(view.info.state.word)"
                    + (view.info.isDefault ? ", default" : "") + ", label \"\(view.info.label)\"" + (view.fieldsText.isEmpty ? "" : ", " + view.fieldsText)
            })
    }
}
