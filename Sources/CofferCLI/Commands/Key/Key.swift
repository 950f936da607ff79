import ArgumentParser
import Coffer

/// `coffer key`: data-key rotation and keyslot changes.
struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Rotate the data key and change the keyslots (passphrases and key files).",
        discussion: """
            Keyslot changes rewrite only the header (never a record); the last keyslot cannot be removed. \
            `coffer inspect` lists the keyslots. A removed or replaced secret still opens header copies made \
            before; `coffer key revoke-old-headers` ends that for everything written afterwards.

            Example:
              coffer key add-keyfile backup.key --generate
            """,
        subcommands: [
            KeyRotate.self, KeyPassphrase.self, KeyAddKeyFile.self, KeyRemoveSlot.self, KeyRevokeOldHeaders.self,
        ])
}

/// Keyslot listings shared by the key commands.
enum KeyslotListing {
    static func json(_ slots: [Keyslot]) -> JSON {
        .array(slots.map(KeyslotText.json))
    }

    /// After a secret is removed or replaced: what still holds, and the command that ends it.
    static let oldHeaderNote =
        "The old secret still opens header copies made before (backups, copies); "
        + "`coffer key revoke-old-headers` makes them useless for everything written from now on.\n"

    static func text(_ slots: [Keyslot]) -> String {
        var table = Table("SLOT", "KIND", "CREATED")
        for slot in slots {
            table.append(String(slot.id), KeyslotText.text(slot), Describe.time(slot.createdMilliseconds))
        }
        return table.render(style: Style(enabled: false))
    }
}
