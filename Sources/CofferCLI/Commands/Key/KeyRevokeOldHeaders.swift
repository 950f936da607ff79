import ArgumentParser
import Coffer

/// `coffer key revoke-old-headers`: an unlock-key rotation with a new master key and data key
/// (FORMAT.md F-UNLOCK-ROTATE), run as a compaction.
struct KeyRevokeOldHeaders: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-old-headers",
        abstract: "Make removed secrets and old header copies useless for everything written from now on.",
        discussion: """
            Every keyslot wraps the same unlock key, so removing or replacing a passphrase or key file does not \
            stop someone who holds it and an old copy of the header (a backup, a `coffer copy`, an old database \
            row, a snapshot): that header still gives the unlock key. This command makes a new unlock key, a new \
            master key and a new data key, and rewrites the vault under them (a compaction, crash-safe at every \
            step). Every remaining keyslot receives the new unlock key through its public recipient key, so no \
            passphrase or key file is asked for again and every remaining one keeps working; an old header, with \
            any secret, opens nothing written from now on.

            What it cannot do: a copy of the whole vault taken before stays readable with the secrets that \
            opened it then; rotate the credentials themselves if that matters. Other processes that have the \
            vault open must open it again with their passphrase or key file. A keyslot made before recipients \
            existed (`coffer inspect` says "no recipient") must be replaced first: `coffer key passphrase --slot N` \
            or `coffer key add-keyfile` then `coffer key remove-slot N`.

            Example:
              coffer key remove-slot 2 --vault team.coffer --key-file team.key
              coffer key revoke-old-headers --vault team.coffer --key-file team.key
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let lacking = vault.keyslots.filter { $0.recipient == nil }
        guard lacking.isEmpty else {
            throw CommandFailure(
                .no, code: "invalid_input",
                "Keyslot\(lacking.count == 1 ? "" : "s") \(lacking.map { String($0.id) }.joined(separator: ", ")) "
                    + "predate\(lacking.count == 1 ? "s" : "") recipients: a new unlock key cannot reach "
                    + "\(lacking.count == 1 ? "it" : "them") without the secret. Replace a passphrase slot with "
                    + "`coffer key passphrase --slot N`, a key-file slot with `coffer key add-keyfile PATH` then "
                    + "`coffer key remove-slot N`, and run this again. Nothing was changed.")
        }
        let report = try CompactionRun.run(
            vault, CompactionOptions(newUnlockKey: true), in: context, quiet: global.quiet)
        let slots = vault.keyslots
        global.output(context).emit(
            [
                "revoked": true, "keyslots": KeyslotListing.json(slots), "head": .string(report.head.description),
                "retired_epochs": .array(report.retiredEpochs.map { .unsigned(UInt64($0)) }),
                "epoch": .unsigned(UInt64(report.currentEpoch)), "bytes_after": .unsigned(report.bytesAfter),
            ],
            text: {
                "New unlock key, master key and data key: no header copy from before, and no removed secret, opens "
                    + "anything written from now on. These keyslots still unlock the vault, with the same secrets:\n"
                    + KeyslotListing.text(slots)
                    + "Check the list: a keyslot you do not know is one someone added, and now holds the new key.\n"
                    + "Backups and copies made before hold only what was written before; replace them with a new "
                    + "`coffer copy`. Other processes with the vault open must open it again.\n"
                    + "New head \(report.head) (a compaction starts the chain's next generation; a head kept from before still verifies)."
            })
    }
}
