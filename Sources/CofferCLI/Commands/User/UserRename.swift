import ArgumentParser
import Coffer

/// `coffer user rename USER [--handle NEW] [--name NAME]`.
struct UserRename: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Change a user's handle or display name.",
        discussion: """
            Its id, memberships and user-scope credentials stay. A rename to the names it has writes nothing and \
            says so.

            Example:
              coffer user rename alice --handle alice.w --name "Alice Walker"
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The user, by handle or id.")
    var user: String

    @Option(help: "The new handle: a-z, 0-9, '-' and '_'.")
    var handle: String?

    @Option(help: "The new display name.")
    var name: String?

    func validate() throws {
        if handle == nil && name == nil { throw ValidationError("Give the new --handle, the new --name, or both.") }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let before = vault.head
        try vault.mutate(actor: global.actor) { try $0.renameUser(user, handle: handle, displayName: name) }
        let renamed = try vault.read { index throws(CofferError) in index.user(id: try index.userID(handle ?? user))! }
        RenameOutput.emit(
            "user \(renamed.handle)", id: renamed.id.description,
            names: [("handle", renamed.handle), ("name", renamed.displayName)], changed: vault.head != before,
            output: global.output(context))
    }
}
