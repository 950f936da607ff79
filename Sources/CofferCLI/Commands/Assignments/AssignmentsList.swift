import ArgumentParser
import Coffer

/// `coffer assignments list --org ORG [--workflow W | --agent A | --poll P]`.
struct AssignmentsList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the assignments of an organization, or of one workflow, agent or poll.",
        discussion: """
            Without a target, every assignment of the organization.

            Examples:
              coffer assignments list --org acme
              coffer assignments list --org acme --agent support
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption
    @OptionGroup var target: TargetOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let wanted = target.target
        let consumer = target.consumer
        let (documents, rows) = try vault.read { index throws(CofferError) in
            let assignments = index.assignments(
                organization: try index.organizationID(organization.organization), kind: wanted?.kind,
                targetSlug: wanted?.slug
            ).filter { consumer == nil || $0.target.consumer == consumer }
            return (
                assignments.map { AssignmentText.json($0, in: index) },
                assignments.map { AssignmentText.row($0, in: index) }
            )
        }
        let output = global.output(context)
        output.emit(
            ["assignments": .array(documents)],
            text: {
                var table = Table(headers: AssignmentText.headers)
                table.rows = rows
                return table.render(style: output.style)
            })
    }
}
