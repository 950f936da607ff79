import ArgumentParser
import Coffer

/// `coffer key remove-slot N`: removes a keyslot; never the last one.
struct KeyRemoveSlot: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-slot",
        abstract: "Remove a keyslot (never the last one).",
        discussion: """
            The removed secret no longer opens the vault. The header is rewritten in both copies; the last keyslot \
            is refused, since the vault could then never be opened.

            Example:
              coffer key remove-slot 2 --vault team.coffer --key-file team.key
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The keyslot number, as `coffer inspect` lists it.")
    var slot: UInt16

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        try vault.removeKeyslot(id: slot)
        let slots = vault.keyslots
        global.output(context).emit(
            ["removed": .unsigned(UInt64(slot)), "keyslots": KeyslotListing.json(slots)],
            text: { "Removed keyslot \(slot).\n" + KeyslotListing.text(slots) })
    }
}
