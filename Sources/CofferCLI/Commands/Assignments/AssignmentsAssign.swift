import ArgumentParser
import Coffer

/// `coffer assignments assign --org ORG (--workflow W | --agent A | --poll P) [--consumer C] --credential SELECTOR`.
struct AssignmentsAssign: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: "Pin a credential to a consumer (or every consumer) of a workflow, agent or poll.",
        discussion: """
            The consumer's previous assignment for the same app is replaced. --credential takes a selector as \
            `credentials get` does (an id, SLUG, SCOPE/SLUG, APP/SLUG or an app key alone), narrowed by --project, \
            --user or --scope.

            Examples:
              coffer assignments assign --org acme --workflow triage \\
                  --consumer fetch-issues --credential linear/work
              coffer assignments assign --org acme --poll inbox --credential org/gmail
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption
    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The credential to pin.", valueName: "selector"))
    var credential: String

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    func validate() throws {
        try target.requireTarget()
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let wanted = target.target!
        let selected = try vault.selectedID(credential, in: organization.organization, filters: filters)
        // Acting as another user, a user's own credential is not given to a consumer either.
        try ActingUser.checkMayChange(
            selected, in: organization.organization, acting: global.actingUser, vault: vault,
            refusal: "it is not assigned")
        // What the consumer had for the app before, read over the index the plan is made on.
        let (assignment, previous, changed) = try vault.mutate(actor: global.actor) { planner in
            let plan = try planner.assign(selected, to: wanted, in: organization.organization)
            let previous = planner.index.assignment(
                organization: plan.value.organization, target: wanted, appKey: plan.value.appKey)
            return Plan(operations: plan.operations, value: (plan.value, previous?.credential, !plan.isEmpty))
        }
        let replaced = changed ? previous : nil
        let (document, name, replacedName) = vault.read { index in
            let document = AssignmentText.json(
                assignment, in: index,
                adding: ["changed": .bool(changed), "replaced": replaced.map { .string($0.description) } ?? .null])
            return (
                document, Describe.credentialName(assignment.credential, in: index),
                replaced.map { Describe.credentialName($0, in: index) }
            )
        }
        global.output(context).emit(
            document,
            text: {
                guard changed else {
                    return
                        "Unchanged: \(name) is assigned to \(Describe.target(wanted)) for \(assignment.appKey) already."
                }
                return "Assigned \(name) to \(Describe.target(wanted)) for \(assignment.appKey)"
                    + (replacedName.map { ", replacing \($0)." } ?? ".")
            })
    }
}
