import ArgumentParser
import Coffer

/// `coffer credentials history SELECTOR --org ORG`.
struct CredentialsHistory: OrganizationCommand {
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

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let (view, changes, retained) = try vault.read { index throws(CofferError) in
            let view = try index.selected(selector, in: organization.organization, filters: filters.narrowing)
            return (view, index.history(of: view.info.id), index.versions(of: view.info.id).map(\.version))
        }
        // A custom object's edits name the members they changed: `json (region, zone)`.
        let members = view.info.type == .custom ? changes.map { vault.changedMembers(of: $0) } : changes.map { _ in [] }
        let output = global.output(context)
        output.emit(
            [
                "credential": .object(view.identity),
                "retained_versions": .array(retained.map { .unsigned(UInt64($0)) }),
                "history": .array(
                    zip(changes, members).map { change, members in
                        var entry: [String: JSON] = [
                            "change": .string(change.kind.word), "version": .unsigned(UInt64(change.version)),
                            "changed": .array(change.changedFields.map(JSON.string)),
                            "time": .string(Describe.time(change.stamp.timeMilliseconds)),
                            "actor": .string(change.stamp.actor), "seq": .unsigned(change.location.sequence),
                        ]
                        if !members.isEmpty { entry["changed_members"] = .array(members.map(JSON.string)) }
                        return .object(entry)
                    }),
            ],
            text: {
                var table = Table("VERSION", "CHANGE", "FIELDS", "TIME", "ACTOR", "SEQ")
                for (change, members) in zip(changes, members) {
                    let fields =
                        change.changedFields.joined(separator: ", ")
                        + (members.isEmpty ? "" : " (" + members.joined(separator: ", ") + ")")
                    table.append(
                        String(change.version), change.kind.word, fields,
                        Describe.time(change.stamp.timeMilliseconds), change.stamp.actor,
                        String(change.location.sequence))
                }
                return "\(view.info.appKey)/\(view.info.slug) (\(view.info.id)); retained versions: "
                    + retained.map(String.init).joined(separator: ", ") + "\n" + table.render(style: output.style)
            })
    }
}
