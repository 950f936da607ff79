import ArgumentParser
import Coffer

/// `coffer compact`: rewrites the vault without dead records; with `--reencrypt` under a new
/// data key (retiring the old epochs), with `--new-master-key` under a new master key.
struct Compact: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Rewrite the vault without dead records, optionally re-encrypting it.",
        discussion: """
            Writes the live state (every live credential's current and retained versions, its history, and every \
            live organization, project, user, assignment and API key) into a new file beside the vault, syncs it, \
            renames it over the vault and syncs the directory: a crash at any point leaves the old or the new vault, \
            complete. --reencrypt seals everything under a new data key and retires every older key epoch (their \
            keys leave the file). --new-master-key also replaces the master key; every passphrase and key file \
            keeps working. Compaction starts a new chain: replace a head you keep with the one printed.

            Examples:
              coffer compact --vault team.coffer --key-file team.key
              coffer compact --reencrypt --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Flag(help: "Re-encrypt every live record under a new data key and retire the old epochs.")
    var reencrypt = false

    @Flag(name: .customLong("new-master-key"), help: "Also make a new master key (implies --reencrypt).")
    var newMasterKey = false

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let progress = ProgressBar(label: "compacting", context: context, quiet: global.quiet)
        progress.update(count: 0, done: 0, total: 1)
        let report = try vault.compact(CompactionOptions(reencrypt: reencrypt, newMasterKey: newMasterKey))
        progress.finish()
        let saved = report.bytesBefore > report.bytesAfter ? report.bytesBefore - report.bytesAfter : 0
        global.output(context).emit(
            [
                "bytes_before": .unsigned(report.bytesBefore), "bytes_after": .unsigned(report.bytesAfter),
                "records_before": .unsigned(report.recordsBefore), "records_after": .unsigned(report.recordsAfter),
                "retired_epochs": .array(report.retiredEpochs.map { .unsigned(UInt64($0)) }),
                "epoch": .unsigned(UInt64(report.currentEpoch)), "head": .string(report.head.description),
                "new_master_key": .bool(newMasterKey),
            ],
            text: {
                var lines = [
                    "Compacted: \(report.bytesBefore) → \(report.bytesAfter) bytes (\(saved) reclaimed), "
                        + "\(report.recordsBefore) → \(report.recordsAfter) records."
                ]
                if !report.retiredEpochs.isEmpty {
                    lines.append("Retired key epochs \(report.retiredEpochs.map(String.init).joined(separator: ", ")); new records use epoch \(report.currentEpoch).")
                }
                if newMasterKey { lines.append("New master key; every keyslot still unlocks the vault.") }
                lines.append("New head \(report.head) (compaction starts a new chain).")
                return lines.joined(separator: "\n")
            })
    }
}
