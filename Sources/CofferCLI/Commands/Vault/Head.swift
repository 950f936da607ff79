import ArgumentParser
import Coffer

/// `coffer head`: the chain head, to keep and check later with `verify --expect-head`.
struct Head: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Print the chain head: the last record's sequence number and chain digest.",
        discussion: """
            The head names the whole log. Keep it somewhere the vault's host cannot rewrite, and later run \
            `coffer verify --expect-head HEAD` to detect a truncated or rolled-back file. Read-only.

            Example:
              coffer head --vault team.coffer --key-file team.key > last-head.txt
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let head = vault.head
        global.output(context).emit(
            [
                "head": .string(head.description), "generation": .unsigned(UInt64(head.generation)),
                "sequence": .unsigned(head.sequence), "digest": .string(head.digestHex),
            ],
            text: { head.description })
    }
}
