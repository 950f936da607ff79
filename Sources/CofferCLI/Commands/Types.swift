import ArgumentParser
import Coffer

/// `coffer types`: the credential types and their fields.
struct Types: CofferCommand {
    static let configuration = CommandConfiguration(
        commandName: "types",
        abstract: "List the credential types and their fields.",
        discussion: """
            For each type, its fields in order: required or optional, and secret (kept encrypted, shown as a \
            preview) or shown. A custom credential's fields are the members of its JSON object.

            Examples:
              coffer types
              coffer types --json | jq '.types[] | select(.type == "smtp")'

            """ + TypeFields.text)

    @OptionGroup var global: GlobalOptions

    var wantsJSON: Bool { global.json }

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        output.emit(
            [
                "types": .array(
                    CredentialType.allCases.map { type in
                        [
                            "type": .string(type.word),
                            "fields": .array(
                                type.fields.map { spec in
                                    [
                                        "name": .string(spec.name), "required": .bool(spec.isRequired),
                                        "secret": .bool(spec.isSecret),
                                    ]
                                }),
                        ]
                    })
            ],
            text: { TypeFields.text })
    }
}

/// The credential types with their fields, as help shows them.
enum TypeFields {
    /// One type a line (`  smtp: host, port, …`), wrapped under 80 columns, so help's own
    /// wrapping never breaks a line in the middle.
    static var text: String {
        CredentialType.allCases.map { type in
            let fields = type.fields.map { spec in
                var marks: [String] = []
                if !spec.isRequired { marks.append("optional") }
                if spec.isSecret { marks.append("secret") }
                return spec.name + (marks.isEmpty ? "" : " (" + marks.joined(separator: ", ") + ")")
            }
            var lines = ["  \(type.word):"]
            for (position, field) in fields.enumerated() {
                let piece = " " + field + (position < fields.count - 1 ? "," : "")
                if lines[lines.count - 1].count + piece.count > 76 { lines.append("   ") }
                lines[lines.count - 1] += piece
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
