import ArgumentParser
import Coffer

/// `coffer assignments list --org ORG (--workflow W | --agent A | --poll P)`.
struct AssignmentsList: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the assignments of a workflow, agent or poll.",
        discussion: """
            Example:
              coffer assignments list --org acme --agent support
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption
    @OptionGroup var target: TargetOptions

    func validate() throws {
        try target.requireTarget()
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let wanted = target.target!
        let (documents, rows) = try vault.read { index throws(CofferError) in
            let assignments = index.assignments(
                organization: try index.organizationID(organization.organization), kind: wanted.kind, targetSlug: wanted.slug
            ).filter { target.consumer == nil || $0.target.consumer == target.consumer }
            return (assignments.map { AssignmentText.json($0, in: index) }, assignments.map { AssignmentText.row($0, in: index) })
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
