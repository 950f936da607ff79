import ArgumentParser
import Coffer

/// `coffer key`: data-key rotation and keyslot changes.
struct Key: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Rotate the data key and change the keyslots (passphrases and key files).",
        discussion: """
            Keyslot changes rewrite only the header (never a record); the last keyslot cannot be removed. \
            `coffer inspect` lists the keyslots.

            Example:
              coffer key add-keyfile backup.key --generate
            """,
        subcommands: [KeyRotate.self, KeyPassphrase.self, KeyAddKeyFile.self, KeyRemoveSlot.self])
}

/// Keyslot listings shared by the key commands.
enum KeyslotListing {
    static func json(_ slots: [Keyslot]) -> JSON {
        .array(slots.map(KeyslotText.json))
    }

    static func text(_ slots: [Keyslot]) -> String {
        var table = Table("SLOT", "KIND", "CREATED")
        for slot in slots { table.append(String(slot.id), KeyslotText.text(slot), Describe.time(slot.createdMilliseconds)) }
        return table.render(style: Style(enabled: false))
    }
}
