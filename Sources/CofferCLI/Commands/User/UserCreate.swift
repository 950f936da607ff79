import ArgumentParser
import Coffer

/// `coffer user create HANDLE`.
struct UserCreate: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a user.",
        discussion: """
            Example:
              coffer user create alice --name "Alice Martin"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The user's handle: a-z, 0-9, '-' and '_'.")
    var handle: String

    @Option(help: "The display name (default: the handle).")
    var name: String?

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let id = try vault.mutate(actor: global.actor) {
            try $0.createUser(handle: handle, displayName: name ?? handle)
        }
        global.output(context).emit(
            ["id": .string(id.description), "handle": .string(handle), "name": .string(name ?? handle)],
            text: { "Created user \(handle) (\(id))." })
    }
}
