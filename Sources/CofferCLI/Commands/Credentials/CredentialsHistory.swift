import ArgumentParser
import Coffer

/// `coffer credentials history SELECTOR --org ORG`.
struct CredentialsHistory: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show every change of a credential: what changed, when and by whom; never values.",
        discussion: """
            Example:
              coffer credentials history linear/work --org acme
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let (view, changes, retained) = try vault.read { index throws(CofferError) in
            let view = try index.selected(selector, in: organization.organization)
            return (view, index.history(of: view.info.id), index.versions(of: view.info.id).map(\.version))
        }
        let output = global.output(context)
        output.emit(
            [
                "credential": .object(view.identity),
                "retained_versions": .array(retained.map { .unsigned(UInt64($0)) }),
                "history": .array(
                    changes.map {
                        [
                            "change": .string($0.kind.word), "version": .unsigned(UInt64($0.version)),
                            "changed": .array($0.changedFields.map(JSON.string)), "time": .string(Describe.time($0.stamp.timeMilliseconds)),
                            "actor": .string($0.stamp.actor), "seq": .unsigned($0.location.sequence),
                        ]
                    }),
            ],
            text: {
                var table = Table("VERSION", "CHANGE", "FIELDS", "TIME", "ACTOR", "SEQ")
                for change in changes {
                    table.append(
                        String(change.version), change.kind.word, change.changedFields.joined(separator: ", "),
                        Describe.time(change.stamp.timeMilliseconds), change.stamp.actor, String(change.location.sequence))
                }
                return "\(view.info.appKey)/\(view.info.slug) (\(view.info.id)); retained versions: "
                    + retained.map(String.init).joined(separator: ", ") + "\n" + table.render(style: output.style)
            })
    }
}
