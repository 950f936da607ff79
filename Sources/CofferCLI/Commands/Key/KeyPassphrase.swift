import ArgumentParser
import Coffer

/// `coffer key passphrase`: changes the passphrase slot, or adds one.
struct KeyPassphrase: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "passphrase",
        abstract: "Change the passphrase keyslot, or add one.",
        discussion: """
            The vault is unlocked with the current key (any keyslot). The new passphrase comes from \
            --new-passphrase-file, COFFER_NEW_PASSPHRASE, or is asked twice on a terminal. With one passphrase \
            slot it is replaced; with none, or with --add, a slot is added; with several, name one with --slot.

            Examples:
              coffer key passphrase --vault team.coffer --key-file team.key
              coffer key passphrase --add --kdf sensitive --new-passphrase-file new.txt
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Option(help: "The passphrase keyslot to replace.")
    var slot: UInt16?

    @Flag(help: "Add a new passphrase keyslot instead of replacing one.")
    var add = false

    @Option(help: "The Argon2id cost of the new passphrase keyslot.")
    var kdf: KDFCost = .moderate

    @Option(
        name: .customLong("new-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the new passphrase (default: $COFFER_NEW_PASSPHRASE, or asked).", valueName: "path"),
        completion: .file())
    var newPassphraseFile: String?

    func validate() throws {
        if add && slot != nil { throw ValidationError("Give --add or --slot, not both.") }
    }

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let passphraseSlots = vault.keyslots.filter { $0.kind == .passphrase }
        var replacing: UInt16?
        if let slot {
            guard passphraseSlots.contains(where: { $0.id == slot }) else {
                throw CommandFailure(
                    .no, code: "not_found",
                    "The vault has no passphrase keyslot \(slot). `coffer inspect` lists the keyslots.")
            }
            replacing = slot
        } else if !add {
            if passphraseSlots.count > 1 {
                throw CommandFailure(
                    .no, code: "ambiguous",
                    "The vault has several passphrase keyslots. Name one with --slot, or pass --add.",
                    candidates: passphraseSlots.map { "slot \($0.id)" })
            }
            replacing = passphraseSlots.first?.id
        }
        let passphrase = try newPassphrase(in: context)
        let cost = try kdf.cost(in: context)
        let changed: UInt16
        if let replacing {
            try vault.replaceKeyslot(id: replacing, with: .passphrase(passphrase), cost: cost)
            changed = replacing
        } else {
            changed = try vault.addKeyslot(.passphrase(passphrase), cost: cost)
        }
        let slots = vault.keyslots
        output.emit(
            [
                "slot": .unsigned(UInt64(changed)), "replaced": .bool(replacing != nil),
                "keyslots": KeyslotListing.json(slots),
            ],
            text: {
                (replacing != nil
                    ? "Replaced the passphrase of keyslot \(changed)." : "Added passphrase keyslot \(changed).") + "\n"
                    + KeyslotListing.text(slots) + (replacing != nil ? KeyslotListing.oldHeaderNote : "")
            })
    }

    private func newPassphrase(in context: CommandContext) throws(CommandFailure) -> SecureBytes {
        if let newPassphraseFile {
            try OutputPaths.refuse(
                newPassphraseFile, option: "--new-passphrase-file", namingAFileOf: global.vaultCompanions(in: context),
                what: "the vault, its checkpoint or head file",
                reason: "its bytes change as the vault does, and the passphrase would be lost with them")
            let passphrase = try SecretFiles.passphraseFile(newPassphraseFile, in: context)
            UnlockOptions.warnIfShort(passphrase, in: context)
            return passphrase
        }
        if let text = context.variable("COFFER_NEW_PASSPHRASE") {
            let passphrase = SecureBytes.copying(text: text)
            UnlockOptions.warnIfShort(passphrase, in: context)
            return passphrase
        }
        guard context.standardInputIsTerminal else {
            throw CommandFailure(
                .usage, code: "no_key",
                "No new passphrase is given and standard input is not a terminal. Pass --new-passphrase-file or set COFFER_NEW_PASSPHRASE."
            )
        }
        return try UnlockOptions.promptPassphrase(in: context, prompt: "New passphrase: ", confirm: true)
    }
}
