import ArgumentParser
import Coffer

/// `coffer assignments consumers --org ORG (--workflow W | --agent A | --poll P)`.
struct AssignmentsConsumers: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumers",
        abstract: "List the consumers of a workflow, agent or poll that assignments name.",
        discussion: """
            The vault knows a target's consumers (a workflow's steps, an agent's tools, a poll's actions) only \
            from the assignments that bind them: each consumer once, with the apps assigned to it. `*` stands for \
            every consumer of the target. The platform knows the others.

            Example:
              coffer assignments consumers --org acme --workflow triage
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption
    @OptionGroup var target: TargetOptions

    func validate() throws {
        try target.requireTarget()
        if target.consumer != nil {
            throw ValidationError("consumers lists every consumer of the target; leave out --consumer.")
        }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let wanted = target.target!
        let assignments = try vault.read { index throws(CofferError) in
            index.assignments(
                organization: try index.organizationID(organization.organization), kind: wanted.kind,
                targetSlug: wanted.slug)
        }
        var apps: [String: [String]] = [:]
        for assignment in assignments { apps[assignment.target.consumer, default: []].append(assignment.appKey) }
        let consumers = apps.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let output = global.output(context)
        output.emit(
            [
                "target": .string("\(wanted.kind.word) \(wanted.slug)"),
                "consumers": .array(
                    consumers.map { ["consumer": .string($0), "apps": .array(apps[$0]!.sorted().map(JSON.string))] }),
            ],
            text: {
                guard !consumers.isEmpty else {
                    return "No assignment names a consumer of \(wanted.kind.word) \(wanted.slug)."
                }
                var table = Table("CONSUMER", "APPS")
                for consumer in consumers { table.append(consumer, apps[consumer]!.sorted().joined(separator: ", ")) }
                return table.render(style: output.style)
            })
    }
}
