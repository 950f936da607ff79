import ArgumentParser
import Coffer

/// `coffer assignments`: pinning a credential to a workflow step, agent tool or poll action.
struct Assignments: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assignments",
        abstract: "List, make and remove assignments of credentials to consumers.",
        discussion: """
            An assignment pins one exact credential to one consumer of a workflow (a step), an agent (a tool) or a \
            poll (an action), for the credential's app. It wins over scope defaults. No --consumer, or `*`, binds \
            every consumer of the target.

            Example:
              coffer assignments assign --org acme --workflow triage \\
                  --consumer fetch-issues --credential linear/work
            """,
        subcommands: [
            AssignmentsList.self, AssignmentsConsumers.self, AssignmentsAssign.self, AssignmentsUnassign.self,
        ])
}

/// How assignments are shown.
enum AssignmentText {
    /// The assignment as JSON, with `extra` members (what an `assign` changed) beside it.
    static func json(
        _ assignment: AssignmentInfo, in index: borrowing VaultIndex, adding extra: [String: JSON] = [:]
    ) -> JSON {
        var credential: [String: JSON] = ["id": .string(assignment.credential.description)]
        if let info = index.credential(id: assignment.credential) {
            credential = CredentialView(info, in: index).identity
        }
        let fields: [String: JSON] = [
            "target": Describe.targetJSON(assignment.target), "app": .string(assignment.appKey),
            "credential": .object(credential),
        ]
        return .object(fields.merging(extra) { kept, _ in kept })
    }

    static func row(_ assignment: AssignmentInfo, in index: borrowing VaultIndex) -> [String] {
        [
            "\(assignment.target.kind.word) \(assignment.target.slug)", assignment.target.consumer, assignment.appKey,
            Describe.credentialName(assignment.credential, in: index), assignment.credential.description,
        ]
    }

    static let headers = ["TARGET", "CONSUMER", "APP", "CREDENTIAL", "ID"]
}
