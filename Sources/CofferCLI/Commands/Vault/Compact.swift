import ArgumentParser

/// `coffer compact`: reserved. Compaction and master-key rotation are not in this version;
/// the options are the ones the compaction work will wire, so scripts can be written now.
struct Compact: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Rewrite the vault without dead records (not available in this version).",
        discussion: """
            Compaction will write a new file holding only live records, optionally re-encrypted under a new data \
            key (--reencrypt) or a new master key with every keyslot rewrapped (--new-master-key), and rename it \
            over the vault. This version does not have it: the command exits 2 and changes nothing.

            Example:
              coffer compact --vault team.coffer --key-file team.key --reencrypt
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Flag(help: "Re-encrypt every live record under a new data key.")
    var reencrypt = false

    @Flag(name: .customLong("new-master-key"), help: "Also make a new master key and rewrap every keyslot.")
    var newMasterKey = false

    func execute(in context: CommandContext) throws {
        throw CommandFailure.notAvailable(
            "Compaction is not available in this version of coffer; nothing was changed. Data-key rotation (`coffer key rotate`) works now.")
    }
}
