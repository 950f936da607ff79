import ArgumentParser
import Coffer

/// `coffer checkpoint`: writes the index checkpoint beside the vault, so that the next
/// command opens it without replaying the whole log.
struct CheckpointCommand: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Write the index checkpoint beside the vault, so that opens replay only what follows.",
        discussion: """
            Every command that opens the vault replays its log to build the index; with a checkpoint it reads the \
            index as of the checkpoint's record and replays only the records after it. The checkpoint is the file \
            <vault>.checkpoint beside the vault, sealed under a key of the vault and bound to its log: one that is \
            damaged, of another copy or left from before a compaction is ignored (the log is replayed) and \
            `coffer verify` reports it. It is written whole beside the vault, synced and renamed over the old one: a \
            crash leaves the old or the new. A vault in PostgreSQL keeps it in a row of the database instead. \
            `coffer compact` writes one by itself. The vault is not changed.

            Example:
              coffer checkpoint --vault team.coffer --key-file team.key
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let sequence = try vault.checkpoint()
        global.output(context).emit(
            ["sequence": .unsigned(sequence), "head": .string(vault.head.description)],
            text: { "Wrote the index checkpoint after record \(sequence); opens replay only the records after it." })
    }
}
