import ArgumentParser
import Coffer

/// `coffer key remove-slot N`: removes a keyslot; never the last one, and the one that opened
/// the vault for this command only with `--yes`.
struct KeyRemoveSlot: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-slot",
        abstract: "Remove a keyslot (never the last one).",
        discussion: """
            The removed secret no longer opens the vault's current header; with a header copy from before (a \
            backup, a copy) it still would, until `coffer key revoke-old-headers`. The header is rewritten in both copies; the last keyslot \
            is refused, since the vault could then never be opened. Removing the keyslot whose secret opened the \
            vault for this command needs --yes: without it the command says which slots would remain and changes \
            nothing (exit 1), so that no one locks themselves out with a secret they no longer hold.

            Example:
              coffer key remove-slot 2 --vault team.coffer --key-file team.key
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The keyslot number, as `coffer inspect` lists it.")
    var slot: UInt16

    @Flag(help: "Remove the keyslot even when its secret is the one that opened the vault for this command.")
    var yes = false

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let output = global.output(context)
        let used = vault.unlockedKeyslot
        if slot == used && !yes, vault.keyslots.count > 1, vault.keyslots.contains(where: { $0.id == slot }) {
            let remaining = vault.keyslots.filter { $0.id != slot }
            output.emit(
                [
                    "removed": false, "slot": .unsigned(UInt64(slot)), "unlocked_slot": .unsigned(UInt64(slot)),
                    "keyslots": KeyslotListing.json(remaining),
                ],
                text: {
                    "Keyslot \(slot) holds the secret that opened the vault for this command. Removing it would leave:\n"
                        + KeyslotListing.text(remaining)
                        + "Nothing was changed. Make sure you hold one of those secrets, then run again with --yes."
                })
            throw CommandFailure.reported(.no)
        }
        try vault.removeKeyslot(id: slot)
        let slots = vault.keyslots
        output.emit(
            [
                "removed": .unsigned(UInt64(slot)), "keyslots": KeyslotListing.json(slots),
                "unlocked_slot": used.map { .unsigned(UInt64($0)) } ?? .null,
            ],
            text: { "Removed keyslot \(slot).\n" + KeyslotListing.text(slots) + KeyslotListing.oldHeaderNote })
    }
}
