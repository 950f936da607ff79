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
            keeps working (neither revokes a removed secret: `coffer key revoke-old-headers` does). Compaction starts the chain's next generation (the head gains a GENERATION: prefix); a head kept from \
            before still verifies with --expect-head, and a rollback to before it is still refused. When the live \
            state would take as much room as the log it is in, there is nothing to reclaim: the vault is left as it \
            was and the command says so (exit 0), unless --reencrypt, --new-master-key or --force. Ctrl-C before the \
            switch stops it, removes the new file and leaves the vault as it was (exit 130).

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

    @Flag(help: "Compact even when there is nothing to reclaim.")
    var force = false

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let report = try CompactionRun.run(
            vault, CompactionOptions(reencrypt: reencrypt, newMasterKey: newMasterKey, skipsUnlessSmaller: !force),
            in: context, quiet: global.quiet)
        let saved = report.bytesBefore > report.bytesAfter ? report.bytesBefore - report.bytesAfter : 0
        global.output(context).emit(
            [
                "bytes_before": .unsigned(report.bytesBefore), "bytes_after": .unsigned(report.bytesAfter),
                "records_before": .unsigned(report.recordsBefore), "records_after": .unsigned(report.recordsAfter),
                "retired_epochs": .array(report.retiredEpochs.map { .unsigned(UInt64($0)) }),
                "epoch": .unsigned(UInt64(report.currentEpoch)), "head": .string(report.head.description),
                "new_master_key": .bool(newMasterKey), "skipped": .bool(report.skipped),
            ],
            text: {
                if report.skipped {
                    return "Nothing to reclaim: the live state would take \(Describe.bytes(report.bytesAfter)) bytes "
                        + "for a vault of \(Describe.bytes(report.bytesBefore)). The vault was left as it was "
                        + "(--force compacts anyway; --reencrypt always rewrites)."
                }
                var lines = [
                    "Compacted: \(Describe.bytes(report.bytesBefore)) → \(Describe.bytes(report.bytesAfter)) bytes "
                        + "(\(Describe.bytes(saved)) reclaimed), "
                        + "\(Describe.bytes(report.recordsBefore)) → \(Describe.bytes(report.recordsAfter)) records."
                ]
                if !report.retiredEpochs.isEmpty {
                    lines.append(
                        "Retired key epochs \(report.retiredEpochs.map(String.init).joined(separator: ", ")); new records use epoch \(report.currentEpoch)."
                    )
                }
                if newMasterKey { lines.append("New master key; every keyslot still unlocks the vault.") }
                lines.append(
                    "New head \(report.head) (a compaction starts the chain's next generation; a head kept from before still verifies)."
                )
                return lines.joined(separator: "\n")
            })
    }
}

/// A compaction run from the command line: a progress bar, and Ctrl-C stopping it before
/// its switch (shared by `compact` and `key revoke-old-headers`).
enum CompactionRun {
    static func run(
        _ vault: Vault, _ options: CompactionOptions, in context: CommandContext, quiet: Bool
    ) throws -> CompactionReport {
        let progress = ProgressBar(label: "compacting", context: context, quiet: quiet)
        let reporter = CompactionProgressReporter(progress)
        Interruption.install()
        defer { Interruption.uninstall() }
        let report: CompactionReport
        do {
            report = try vault.compact(
                CompactionOptions(
                    reencrypt: options.reencrypt, newMasterKey: options.newMasterKey,
                    newUnlockKey: options.newUnlockKey,
                    skipsUnlessSmaller: options.skipsUnlessSmaller, progress: { reporter.report($0) },
                    isCancelled: { Interruption.isRequested }))
        } catch {
            progress.finish()
            if error.code == .cancelled {
                throw CommandFailure(
                    .interrupted, code: "cancelled",
                    "Interrupted: the compaction stopped before its switch and removed its new file; the vault is as it was."
                )
            }
            throw error
        }
        progress.finish()
        return report
    }
}

/// Hands compaction progress to the bar; the bar is only touched from the compacting thread.
private final class CompactionProgressReporter: @unchecked Sendable {
    private let bar: ProgressBar

    init(_ bar: ProgressBar) { self.bar = bar }

    func report(_ progress: CompactionProgress) {
        bar.update(
            count: progress.records, done: progress.operations,
            total: max(progress.operationsTotal, progress.operations),
            bytes: progress.bytes)
    }
}
