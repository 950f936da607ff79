import ArgumentParser
import Coffer

/// `coffer credentials update SELECTOR --org ORG`: slug, label, default mark, fields.
struct CredentialsUpdate: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change a credential's slug, label, default mark or fields.",
        discussion: """
            Fields not given keep their values; a field change makes a new version holding every field. \
            --default marks the credential as the one default for its app and scope (clearing the previous one); \
            --no-default clears the mark. --clear removes an optional field. A custom credential's object is edited \
            member by member: --set NAME=VALUE sets one member and keeps the others, a blank value keeps the stored one, \
            --clear NAME removes a member; --set json=OBJECT replaces the whole object. Values that are all blank or \
            equal to the stored ones change nothing: the answer says "Unchanged" and nothing is written. --new-slug \
            renames the instance (APP/SLUG): the new slug must be free at its scope; its id, assignments and default \
            mark stay, and history records the change.

            Examples:
              coffer credentials update linear/work --org acme --default \\
                  --label "Production Linear"
              coffer credentials update smtp/main --org acme \\
                  --set port=465 --set encryption=ssl
              coffer credentials update svc/main --org acme --set region=us --clear zone
              coffer credentials update linear/work --org acme --new-slug production
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    @Option(help: "A new label.")
    var label: String?

    @Option(
        name: .customLong("new-slug"),
        help: ArgumentHelp("A new instance slug: APP/SLUG names it from then on.", valueName: "slug"))
    var newSlug: String?

    @Flag(
        name: .customLong("default"), inversion: .prefixedNo, exclusivity: .exclusive,
        help: "Mark as the default for its app and scope, or clear the mark.")
    var isDefault: Bool?

    @OptionGroup var fields: FieldOptions

    @Option(
        name: .customLong("clear"), parsing: .singleValue,
        help: ArgumentHelp("Remove an optional field, or a member of a custom object.", valueName: "field"))
    var clearedFields: [String] = []

    func validate() throws {
        if newSlug == nil && label == nil && isDefault == nil && fields.inputs.isEmpty && clearedFields.isEmpty {
            throw ValidationError(
                "Nothing to change: give --new-slug, --label, --default, --no-default, --set or --clear.")
        }
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
        let update = CredentialUpdate(
            label: label, isDefault: isDefault, fields: try CredentialFields.shaped(given, for: type),
            clearedFields: Set(clearedFields),
            slug: newSlug)
        let before = vault.head
        let id = try vault.mutate(actor: global.actor) { planner in
            try planner.updateCredential(selected, in: organization.organization, update) {
                location throws(CofferError) in
                try vault.readOperation(at: location)
            }
        }
        // Blank values and values equal to the stored ones change nothing: nothing was written.
        try CredentialChangeOutput.emit(
            id: id, verb: "Updated", vault: vault, output: global.output(context), changed: vault.head != before)
    }
}

/// The answer of the commands that change one credential: its metadata afterwards.
enum CredentialChangeOutput {
    /// A command that changes one selected credential with one planner call (revoke,
    /// restore): opens for writing, selects with the filters, checks the acting user, plans,
    /// commits and answers with the credential as `verb` left it.
    static func change(
        _ selector: String, filters: SelectorFilters, verb: String, in context: CommandContext,
        command: some OrganizationCommand, preferring: ((CredentialInfo) -> Bool)? = nil,
        _ plan: @escaping (Planner, String, String) throws -> Plan<CredentialID>
    ) throws {
        let global = command.global
        let organization = command.organization.organization
        let vault = try command.access.openForWriting(in: context)
        defer { vault.close() }
        let selected = try vault.selectedID(selector, in: organization, filters: filters, preferring: preferring)
        try ActingUser.checkMayChange(selected, in: organization, acting: global.actingUser, vault: vault)
        let id = try vault.mutate(actor: global.actor) { try plan($0, selected, organization) }
        try emit(id: id, verb: verb, vault: vault, output: global.output(context))
    }

    /// - Parameter changed: false when the command wrote nothing (every value was blank or
    ///   equal to the stored one): the answer then says "Unchanged", and JSON `"changed": false`.
    static func emit(
        id: CredentialID, verb: String, vault: Vault, output: Output, changed: Bool = true,
        unchanged: String = "Unchanged (the values given equal the stored ones; nothing was written):"
    ) throws {
        guard let view = vault.read({ index in index.credential(id: id).map { CredentialView($0, in: index) } }) else {
            throw CofferError(.notFound, "The credential \(id) vanished.")
        }
        var members = view.members
        members["changed"] = .bool(changed)
        output.emit(
            .object(members),
            text: {
                (changed ? verb : unchanged)
                    + " \(view.info.appKey)/\(view.info.slug) (\(view.info.id)): version \(view.info.version), \(view.info.state.word)"
                    + (view.info.isDefault ? ", default" : "") + ", label \"\(view.info.label)\""
                    + (view.fieldsText.isEmpty ? "" : ", " + view.fieldsText)
            })
    }
}
