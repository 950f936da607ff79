import Coffer

/// Removals whose cascade can take more than their target (a project's credentials, a
/// member's API keys): like `credentials delete`, they list what would go and change nothing
/// unless `--yes` is given.
struct Removal {
    /// The removal, planned against an index.
    let plan: (Planner) throws -> Plan<Impact>
    /// What the removal takes of the target itself, which needs no confirmation.
    let ownShare: (Impact) -> Impact
    /// What is removed, for messages: "project web".
    let subject: String

    /// What a plan's impact looks like to a person, captured before the change.
    private struct Described: Sendable {
        var lines: [String]
        var json: JSON
        var needsConfirmation: Bool
    }

    private func describe(_ impact: Impact, in index: borrowing VaultIndex) -> Described {
        let names = Describe.credentialNames(impact, in: index)
        let own = ownShare(impact)
        var extra = impact
        extra.removedProjects.removeAll { own.removedProjects.contains($0) }
        extra.removedMemberships.removeAll { own.removedMemberships.contains($0) }
        return Described(
            lines: Describe.impactLines(extra, in: index, names: names), json: Describe.impactJSON(impact, in: index),
            needsConfirmation: !extra.isEmpty)
    }

    /// Without `yes`, a dry run first (read-only); the removal runs when it needs no
    /// confirmation or `yes` is given.
    func run(access: VaultAccess, yes: Bool, in context: CommandContext) throws {
        let output = access.global.output(context)
        if !yes {
            let vault = try access.openReadOnly(in: context)
            defer { vault.close() }
            let described = try vault.read { index in try describe(plan(Planner(index: copy index)).value, in: index) }
            if described.needsConfirmation {
                output.emit(
                    ["removed": false, "subject": .string(subject), "impact": described.json],
                    text: {
                        "Removing \(subject) would also remove:\n"
                            + described.lines.map { "  " + $0 }.joined(separator: "\n")
                            + "\nNothing was changed. Run again with --yes to remove them."
                    })
                throw CommandFailure.reported(.no)
            }
        }
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let described = try vault.mutate(actor: access.global.actor) { planner in
            let planned = try plan(planner)
            return Plan(operations: planned.operations, value: describe(planned.value, in: planner.index))
        }
        output.emit(
            ["removed": true, "subject": .string(subject), "impact": described.json],
            text: {
                "Removed \(subject)."
                    + (described.lines.isEmpty
                        ? "" : " Also removed:\n" + described.lines.map { "  " + $0 }.joined(separator: "\n"))
            })
    }
}
