import ArgumentParser
import Coffer

/// `coffer credentials delete SELECTOR --org ORG [--yes]`.
struct CredentialsDelete: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a credential, with its assignments and default mark.",
        discussion: """
            Without --yes it lists the consumers that would lose the credential, changes nothing and exits 1. \
            With --yes it deletes the credential and lists them.

            Examples:
              coffer credentials delete linear/work --org acme
              coffer credentials delete linear/work --org acme --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The credential: an id, SLUG, SCOPE/SLUG or APP/SLUG.")
    var selector: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    @Flag(help: "Delete it.")
    var yes = false

    private struct Described: Sendable {
        var credential: JSON
        var name: String
        var consumers: [String]
        var impact: JSON
    }

    private static func describe(
        _ impact: Impact, selector: String, organization: String, in index: borrowing VaultIndex
    ) throws(CofferError) -> Described {
        let view = try index.selected(selector, in: organization)
        var consumers = impact.removedAssignments.map { "\(Describe.target($0.target)) (\($0.appKey))" }
        if !impact.clearedDefaults.isEmpty {
            consumers.append("the default for \(view.info.appKey) at \(view.info.scope.word) \(view.ownerName)")
        }
        return Described(
            credential: .object(view.identity), name: "\(view.info.appKey)/\(view.info.slug) (\(view.info.id))",
            consumers: consumers,
            impact: Describe.impactJSON(impact, in: index))
    }

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let described: Described
        if yes {
            let vault = try access.openForWriting(in: context)
            defer { vault.close() }
            let selected = try vault.selectedID(selector, in: organization.organization, filters: filters)
            try ActingUser.checkMayChange(
                selected, in: organization.organization, acting: global.actingUser, vault: vault)
            described = try vault.mutate(actor: global.actor) { planner in
                let plan = try planner.deleteCredential(selected, in: organization.organization)
                return Plan(
                    operations: plan.operations,
                    value: try Self.describe(
                        plan.value, selector: selected, organization: organization.organization, in: planner.index))
            }
        } else {
            let vault = try access.openReadOnly(in: context)
            defer { vault.close() }
            let selected = try vault.selectedID(selector, in: organization.organization, filters: filters)
            described = try vault.read { index in
                let impact = try Planner(index: copy index).deletionImpact(of: selected, in: organization.organization)
                return try Self.describe(impact, selector: selected, organization: organization.organization, in: index)
            }
        }
        output.emit(
            [
                "deleted": .bool(yes), "credential": described.credential,
                "affected": .array(described.consumers.map(JSON.string)), "impact": described.impact,
            ],
            text: {
                let list =
                    described.consumers.isEmpty
                    ? "  (no consumer is assigned to it)"
                    : described.consumers.map { "  " + $0 }.joined(separator: "\n")
                return yes
                    ? "Deleted \(described.name). Consumers that lost it:\n\(list)"
                    : "Deleting \(described.name) would affect:\n\(list)\nNothing was changed. Run again with --yes to delete it."
            })
        if !yes { throw CommandFailure.reported(.no) }
    }
}
