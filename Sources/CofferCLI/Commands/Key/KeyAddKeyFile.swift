import ArgumentParser
import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer key add-keyfile PATH`: adds a key-file keyslot.
struct KeyAddKeyFile: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-keyfile",
        abstract: "Add a keyslot for a key file.",
        discussion: """
            The key file at PATH holds 32 bytes or 64 hexadecimal characters; with --generate a new random one is \
            written there first (mode 0600, never over an existing file).

            Examples:
              coffer key add-keyfile backup.key --generate --key-file team.key
              coffer key add-keyfile existing.key
            """,
        aliases: ["add-key-file"])

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The key file to add.", completion: .file())
    var path: String

    @Flag(help: "Write a new random key file at PATH first.")
    var generate = false

    func execute(in context: CommandContext) throws {
        if generate {
            // A new key file never takes the name of a file the vault depends on, made yet or not.
            try OutputPaths.refuse(
                path, option: "The key file", namingAFileOf: global.vaultCompanions(in: context),
                what: "the vault, its checkpoint or head file")
        }
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let key: SecureBytes
        if generate {
            key = try SecretFiles.createKeyFile(path)
        } else {
            do throws(CommandFailure) {
                key = try SecretFiles.keyFile(path, in: context)
            } catch {
                // The file to add is input, not what opened the vault: a missing or malformed one
                // is a "no" (exit 1), not a vault that cannot be opened.
                var failure = error
                if failure.code == "not_found" && SecretFiles.looksLikeAPath(path) {
                    failure.message += " To make a new key file there, pass --generate."
                }
                if failure.code != "io" && failure.status != .usage { failure.status = .no }
                throw failure
            }
        }
        let slot: UInt16
        do throws(CofferError) {
            slot = try vault.addKeyslot(.keyFile(key))
        } catch {
            if generate {
                if error.code == .invalidInput {
                    // Refused before the header was touched: the key opens nothing.
                    unlink(path)
                } else {
                    // A failed write or sync may have put the new slot in force in one header
                    // copy, which the next writer makes whole: the key may open the vault.
                    global.output(context).warn(
                        "The new key file \(path) was kept: the header change may have been written in part. "
                            + "`coffer inspect` lists the keyslots: see whether a key-file slot was added; if none was, delete the file."
                    )
                }
            }
            throw error
        }
        let slots = vault.keyslots
        global.output(context).emit(
            ["slot": .unsigned(UInt64(slot)), "key_file": .string(path), "keyslots": KeyslotListing.json(slots)],
            text: { "Added key-file keyslot \(slot) for \(path).\n" + KeyslotListing.text(slots) })
    }
}
