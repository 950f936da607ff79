import ArgumentParser
import Coffer
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer init`: creates a vault with one keyslot.
struct Init: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new vault with a key file or a passphrase.",
        discussion: """
            The vault file is created with mode 0600 and must not exist. Its one keyslot takes the key file \
            (--key-file, or a new random one with --generate-key-file) or a passphrase (--passphrase-file, \
            COFFER_PASSPHRASE, or asked twice on a terminal), stretched with Argon2id at the --kdf cost.

            Examples:
              coffer init --vault team.coffer --generate-key-file team.key
              coffer init --vault team.coffer --kdf sensitive
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Option(help: "The Argon2id cost of a passphrase keyslot.")
    var kdf: KDFCost = .moderate

    @Option(
        name: .customLong("generate-key-file"),
        help: ArgumentHelp(
            "Write a new random 32-byte key file here (mode 0600; never overwritten) and use it.", valueName: "path"),
        completion: .file())
    var generateKeyFile: String?

    func validate() throws {
        if generateKeyFile != nil && (unlock.keyFile != nil || unlock.passphraseFile != nil) {
            throw ValidationError(
                "--generate-key-file makes the key; do not also give --key-file or --passphrase-file.")
        }
    }

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let location = try global.vault(in: context)
        let path = location.path
        var information = stat()
        if !location.isShared && lstat(path, &information) == 0 {
            throw CommandFailure(
                .no, code: "already_exists",
                "A file exists at \(path) already; a vault is never created over it. Choose another path.")
        }
        if let generateKeyFile {
            // The only key never takes the name of a file the vault depends on, made yet or not.
            try OutputPaths.refuse(
                generateKeyFile, option: "--generate-key-file", namingAFileOf: global.vaultCompanions(in: context),
                what: "the vault, its checkpoint or head file")
        }
        let witness = try global.headWitness(
            in: context, vault: location, unlock: unlock, alsoInUse: [generateKeyFile].compactMap { $0 },
            warnsWhenMissing: false)
        if let witness {
            let held: WitnessedHead?
            do throws(CofferError) {
                held = try witness.read()
            } catch {
                throw CommandFailure(error, status: .vaultUnavailable)
            }
            if held != nil {
                throw CommandFailure(
                    .no, code: "already_exists",
                    "The head file \(witness.path) holds another vault's head already; a new vault never replaces it. Choose another head file."
                )
            }
        }
        let secret: Keyslot.Secret
        if let generateKeyFile {
            secret = .keyFile(try SecretFiles.createKeyFile(generateKeyFile))
        } else {
            secret = try unlock.secret(in: context, vaultPath: path, confirm: true)
        }
        let vault: Vault
        do {
            vault = try Vault.create(
                path: path, unlock: secret, cost: try kdf.cost(in: context),
                options: Vault.Options(storage: location.storage, headWitness: witness))
        } catch {
            // The key file was made for this vault alone: without the vault it is useless, and
            // with it (a head file that could not be written after the vault was made) it is the key.
            var information = stat()
            let vaultMayExist = location.isShared ? witness != nil : lstat(path, &information) == 0
            if let generateKeyFile, !vaultMayExist { unlink(generateKeyFile) }
            throw error
        }
        let head = vault.head
        let slots = vault.keyslots
        vault.close()
        let info = try VaultFileInfo.read(path: path, storage: location.storage)
        let slot = slots[0]
        output.emit(
            [
                "vault": .string(path), "uuid": .string(Describe.uuid(info.header.vaultID)),
                "head": .string(head.description),
                "keyslot": KeyslotText.json(slot), "key_file": .optional(generateKeyFile),
            ],
            text: {
                var text =
                    "Created the vault \(path) (\(Describe.uuid(info.header.vaultID))) with keyslot \(slot.id): \(KeyslotText.text(slot))."
                if let generateKeyFile {
                    text +=
                        "\nThe key file is \(generateKeyFile). Keep a copy somewhere safe: without it the vault cannot be opened."
                }
                return text
            })
    }
}

/// How keyslots are shown: kind and cost, never anything that unlocks them.
enum KeyslotText {
    static func text(_ slot: Keyslot) -> String {
        // A slot from before recipients cannot take a new unlock key (key revoke-old-headers).
        let recipient = slot.recipient == nil ? ", no recipient" : ""
        guard let cost = slot.cost else { return slot.kind.description + (recipient.isEmpty ? "" : " (no recipient)") }
        return "\(slot.kind) (argon2id, \(cost.operations) pass\(cost.operations == 1 ? "" : "es"), "
            + "\(memory(cost.memoryBytes))\(recipient))"
    }

    static func memory(_ bytes: UInt64) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }

    static func json(_ slot: Keyslot) -> JSON {
        var object: [String: JSON] = [
            "id": .unsigned(UInt64(slot.id)), "kind": .string(slot.kind.description),
            "created": .string(Describe.time(slot.createdMilliseconds)), "recipient": .bool(slot.recipient != nil),
        ]
        if let cost = slot.cost {
            object["kdf"] = [
                "algorithm": "argon2id", "ops": .unsigned(UInt64(cost.operations)),
                "memory_bytes": .unsigned(cost.memoryBytes),
            ]
        } else {
            object["kdf"] = .null
        }
        return .object(object)
    }
}
