import ArgumentParser
import Coffer

/// `--workflow W | --agent A | --poll P` and `--consumer C`: the consumer an assignment binds
/// or a resolution asks for. No `--consumer`, or `*`, means every consumer of the target.
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A workflow, by slug; its consumers are step ids.", valueName: "slug"))
    var workflow: String?

    @Option(help: ArgumentHelp("An agent, by slug; its consumers are tool slugs.", valueName: "slug"))
    var agent: String?

    @Option(help: ArgumentHelp("A poll, by slug; its consumers are action slugs.", valueName: "slug"))
    var poll: String?

    @Option(help: ArgumentHelp("One consumer of the target (`*`, the default, is every consumer).", valueName: "id"))
    var consumer: String?

    func validate() throws {
        let given = [workflow, agent, poll].compactMap { $0 }.count
        if given > 1 { throw ValidationError("Give one of --workflow, --agent or --poll, not several.") }
        if given == 0 && consumer != nil { throw ValidationError("--consumer needs --workflow, --agent or --poll.") }
    }

    /// Whether a target is given.
    var isGiven: Bool { workflow != nil || agent != nil || poll != nil }

    /// The target, with every consumer when none is named; `nil` without a target.
    var target: AssignmentTarget? {
        let consumer = consumer ?? AssignmentTarget.everyConsumer
        if let workflow { return AssignmentTarget(kind: .workflow, slug: workflow, consumer: consumer) }
        if let agent { return AssignmentTarget(kind: .agent, slug: agent, consumer: consumer) }
        if let poll { return AssignmentTarget(kind: .poll, slug: poll, consumer: consumer) }
        return nil
    }

    /// Checks that a target is given, for the commands that need one.
    func requireTarget() throws {
        guard isGiven else { throw ValidationError("Give one of --workflow, --agent or --poll.") }
    }
}
