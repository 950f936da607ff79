import ArgumentParser
import Coffer

/// `coffer user remove HANDLE`.
struct UserRemove: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a user.",
        discussion: """
            A user who belongs to no organization is removed at once. A member is removed from every organization \
            (their user-scope credentials deleted, their API keys revoked) only with --yes; without it the command \
            lists what would go, changes nothing and exits 1.

            Example:
              coffer user remove alice --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The user, by handle or id.")
    var user: String

    @Flag(help: "Also end the user's memberships, deleting their credentials and revoking their API keys.")
    var yes = false

    func execute(in context: CommandContext) throws {
        try Removal(plan: { try $0.removeUser(user) }, ownShare: { _ in Impact() }, subject: "user \(user)")
            .run(access: access, yes: yes, in: context)
    }
}
