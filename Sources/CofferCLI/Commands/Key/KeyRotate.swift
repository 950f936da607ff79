import ArgumentParser
import Coffer

/// `coffer key rotate`: starts a new key epoch.
struct KeyRotate: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate the data key: every later record is sealed under a new key epoch.",
        discussion: """
            O(1): one key-epoch record is appended; older records stay readable under their own epoch until \
            compaction rewrites them.

            Example:
              coffer key rotate --vault team.coffer --key-file team.key
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let epoch = try vault.rotateDataKey()
        let head = vault.head
        global.output(context).emit(
            ["epoch": .unsigned(UInt64(epoch)), "head": .string(head.description)],
            text: { "Started key epoch \(epoch); new records are sealed under its data key. Head \(head)." })
    }
}
