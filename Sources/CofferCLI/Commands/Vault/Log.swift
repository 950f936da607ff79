import ArgumentParser
import Coffer
import CofferStorage

/// `coffer log`: the history of transactions, newest first. Never a secret value.
struct Log: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show the history of transactions: sequence, time, actor and what changed.",
        discussion: """
            Newest first. Each transaction lists its operations by id and slug; credential fields are named, \
            never shown. Key-epoch records (data-key rotations) are listed too. Read-only.

            Example:
              coffer log --vault team.coffer --key-file team.key --limit 20
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Option(help: "Show only the most recent N records.")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1.") }
    }

    /// One record of the log, as shown.
    private struct Entry {
        let sequence: UInt64
        let epoch: UInt32
        let time: UInt64?
        let actor: String?
        let operations: [(word: String, text: String)]
    }

    func execute(in context: CommandContext) throws {
        let (location, secret) = try access.locationAndSecret(in: context)
        let path = location.path
        let expectedHead = try global.expectedHead(in: context)
        let witness = try global.headWitness(in: context, vault: location, unlock: unlock)
        var entries: [Entry] = []
        let keep = limit ?? Int.max
        let recovery: VaultStore.Recovery
        do {
            recovery = try Vault.history(
                path: path, unlock: secret, storage: location.storage, expectedHead: expectedHead, headWitness: witness
            ) { record throws(CofferError) in
                let entry: Entry
                if let time = record.timeMilliseconds, let actor = record.actor {
                    entry = Entry(
                        sequence: record.sequence, epoch: record.epoch, time: time, actor: actor,
                        operations: record.operations.map(OperationText.describe))
                } else {
                    entry = Entry(
                        sequence: record.sequence, epoch: record.epoch, time: nil, actor: nil,
                        operations: [("key_epoch", "start key epoch \(record.epoch) (a new data key)")])
                }
                entries.append(entry)
                // With --limit only the newest entries are kept, so a long log needs little memory.
                if let limit, entries.count >= 2 * limit { entries.removeFirst(entries.count - limit) }
            }
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: path), status: .vaultUnavailable)
        }
        VaultAccess.reportRecovery(recovery, output: global.output(context))
        let shown = Array(entries.suffix(keep).reversed())
        let output = global.output(context)
        output.emit(
            [
                "records": .array(
                    shown.map { entry in
                        [
                            "seq": .unsigned(entry.sequence), "epoch": .unsigned(UInt64(entry.epoch)),
                            "type": .string(entry.time == nil ? "key_epoch" : "transaction"),
                            "time": entry.time.map { .string(Describe.time($0)) } ?? .null,
                            "actor": .optional(entry.actor),
                            "operations": .array(
                                entry.operations.map { ["op": .string($0.word), "description": .string($0.text)] }),
                        ]
                    })
            ],
            text: {
                shown.map { entry in
                    var header = output.style.bold("#\(entry.sequence)")
                    if let time = entry.time { header += "  \(Describe.time(time))" }
                    if let actor = entry.actor { header += "  \(actor.isEmpty ? "(no actor)" : actor)" }
                    header += "  epoch \(entry.epoch)"
                    return ([header] + entry.operations.map { "  " + $0.text }).joined(separator: "\n")
                }.joined(separator: "\n")
            })
    }
}
