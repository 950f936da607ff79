import ArgumentParser
import Coffer

/// `coffer credentials get SELECTOR --org ORG [--reveal | --field NAME] [--at-version N]`.
struct CredentialsGet: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show one credential: previews, or its values with --reveal.",
        discussion: """
            Without --reveal secret fields show a masked preview. --reveal prints the values: the only command \
            besides `api-key create` that ever prints a secret. --at-version shows an older version, while it is \
            retained (--version is the tool's version, as on every command). --field prints one field's value \
            alone, with no newline, for a script to capture; it refuses a terminal unless --force. A custom \
            credential's members are fields too.

            Examples:
              coffer credentials get linear/work --org acme
              coffer credentials get exa/main --org acme --reveal --json \\
                  | jq -r .fields.token
              TOKEN=$(coffer credentials get exa/main --org acme --field token)
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    @Flag(help: "Print the secret values.")
    var reveal = false

    @Option(name: .customLong("at-version"), help: ArgumentHelp("A retained older version.", valueName: "n"))
    var version: UInt32?

    @Option(
        help: ArgumentHelp("Print only this field's value, raw (a custom credential's member too).", valueName: "name"))
    var field: String?

    @Flag(help: "With --field, print the value even on a terminal.")
    var force = false

    func validate() throws {
        if field != nil && reveal {
            throw ValidationError("--field prints one value; --reveal shows them all. Give one of them.")
        }
        if force && field == nil { throw ValidationError("--force goes with --field (a value on a terminal).") }
    }

    func execute(in context: CommandContext) throws {
        try RawField.checkOutput(
            field: field, json: global.json, force: force, everyField: "--reveal --json", in: context)
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let view = try vault.read { index throws(CofferError) in
            try index.selected(selector, in: organization.organization, filters: filters.narrowing)
        }
        let info = view.info
        if reveal || version != nil || field != nil {
            try ActingUser.checkValuesVisible(info, acting: global.actingUser, in: vault)
        }
        let shownVersion = version ?? info.version
        if let version, version > info.version || version == 0 {
            throw CommandFailure(
                .no, code: "not_found",
                "The credential has no version \(version): its versions are 1 to \(info.version).")
        }
        if let field {
            RawField.write(
                try RawField.value(field, of: try vault.reveal(info.id, version: version), type: info.type), in: context
            )
            return
        }
        // Values are read only when asked for: to reveal, or for the previews of an old version.
        let values: FieldValues? = reveal || version != nil ? try vault.reveal(info.id, version: version) : nil
        var fields: [(name: String, json: JSON, text: String?, secret: SecureBytes?)] = []
        if let values {
            for spec in info.type.fields {
                guard let value = values[spec.name] else { continue }
                if reveal {
                    fields.append((spec.name, .secret(value), nil, value))
                } else {
                    let preview = Preview.of(value, for: spec)
                    fields.append((spec.name, .string(preview), preview, nil))
                }
            }
        } else {
            fields = info.fields.map { ($0.name, .string($0.text), $0.text, nil) }
        }
        var document = view.identity
        document["label"] = .string(info.label)
        document["type"] = .string(info.type.word)
        document["kind"] = .string(info.kind.word)
        document["category"] = .string(info.category.word)
        document["state"] = .string(info.state.word)
        document["version"] = .unsigned(UInt64(shownVersion))
        document["current_version"] = .unsigned(UInt64(info.version))
        document["default"] = .bool(info.isDefault)
        document["revealed"] = .bool(reveal)
        document["fields"] = .object(Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.json) }))
        let output = global.output(context)
        if output.json {
            JSON.object(document).write(to: context.standardOutput)
            return
        }
        var summary = Fields()
        summary.append("ID", info.id.description)
        summary.append("App", info.appKey)
        summary.append("Slug", info.slug)
        summary.append("Scope", "\(info.scope.word) \(view.ownerName)")
        summary.append("Label", info.label)
        summary.append("Type", "\(info.type.word) (\(info.kind.word), \(info.category.word))")
        summary.append("State", info.state.word + (info.isDefault ? ", default" : ""))
        summary.append(
            "Version", shownVersion == info.version ? "\(shownVersion)" : "\(shownVersion) (current: \(info.version))")
        if shownVersion == info.version {
            summary.append("Updated", "\(Describe.time(info.updated.timeMilliseconds)) by \(info.updated.actor)")
        } else if let made = vault.read({ $0.history(of: info.id) }).last(where: {
            $0.kind.makesVersion && $0.version == shownVersion
        }) {
            // The change that made the version shown, not the credential's last one.
            summary.append(
                "Version made",
                "\(Describe.time(made.stamp.timeMilliseconds)) by \(made.stamp.actor) (\(made.kind.word))")
        }
        context.print(summary.render(style: output.style))
        let width = fields.map(\.name.count).max() ?? 0
        context.print(output.style.bold("Fields:"))
        for field in fields {
            let label = "  " + field.name + ":" + String(repeating: " ", count: width - field.name.count + 2)
            if let secret = field.secret {
                // Written straight from secure memory, never through a String.
                context.standardOutput.write(label)
                secret.withUnsafeBytes { context.standardOutput.write($0) }
                context.standardOutput.write("\n")
            } else {
                context.print(label + (field.text ?? ""))
            }
        }
    }
}
