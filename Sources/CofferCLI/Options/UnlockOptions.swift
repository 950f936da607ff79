import ArgumentParser
import Coffer

/// How the vault is unlocked: a key file, a passphrase file, `COFFER_PASSPHRASE`, or a
/// prompt without echo when standard input is a terminal.
///
/// A secret never comes from the command line itself: options name files, and the
/// environment can hold the passphrase for scripts that have nowhere better to keep it.
struct UnlockOptions: ParsableArguments {
    @Option(
        name: .customLong("key-file"),
        help: ArgumentHelp(
            "A key file: exactly 32 bytes, or 64 hexadecimal characters (default: $COFFER_KEY_FILE).", valueName: "path"
        ),
        completion: .file())
    var keyFile: String?

    @Option(
        name: .customLong("passphrase-file"),
        help: ArgumentHelp(
            "A file holding the passphrase; one final newline is ignored (default: $COFFER_PASSPHRASE_FILE).",
            valueName: "path"),
        completion: .file())
    var passphraseFile: String?

    @Option(
        name: .customLong("unlock-slot"),
        help: ArgumentHelp(
            "The keyslot to try first, as `inspect` lists them: an open spends a bounded Argon2id work on passphrase slots.",
            valueName: "n"))
    var unlockSlot: UInt16?

    func validate() throws {
        if keyFile != nil && passphraseFile != nil {
            throw ValidationError("Give --key-file or --passphrase-file, not both.")
        }
    }

    /// Where the secret comes from, in order of precedence.
    enum Source: Equatable {
        case keyFile(String)
        case passphraseFile(String)
        case passphraseVariable
        case prompt
    }

    /// The first source that is given: the options, then `COFFER_KEY_FILE`,
    /// `COFFER_PASSPHRASE_FILE`, `COFFER_PASSPHRASE`, then a prompt on a terminal; `nil`
    /// when there is none.
    func source(in context: CommandContext) -> Source? {
        if let keyFile { return .keyFile(keyFile) }
        if let passphraseFile { return .passphraseFile(passphraseFile) }
        if let path = context.variable("COFFER_KEY_FILE") { return .keyFile(path) }
        if let path = context.variable("COFFER_PASSPHRASE_FILE") { return .passphraseFile(path) }
        if context.variable("COFFER_PASSPHRASE") != nil { return .passphraseVariable }
        if context.standardInputIsTerminal { return .prompt }
        return nil
    }

    /// Whether a secret is given without asking (an option or the environment).
    func isGiven(in context: CommandContext) -> Bool {
        switch source(in: context) {
        case nil, .prompt?: false
        default: true
        }
    }

    /// The secret that unlocks the vault at `vaultPath`.
    ///
    /// - Parameter confirm: a new vault's: ask twice at a prompt, refusing a mismatch, and warn
    ///   when a passphrase from anywhere is short.
    /// - Throws: a usage failure when no source is given and standard input is not a terminal.
    func secret(in context: CommandContext, vaultPath: String, confirm: Bool = false) throws(CommandFailure)
        -> Keyslot.Secret
    {
        switch source(in: context) {
        case .keyFile(let path)?:
            return .keyFile(try SecretFiles.keyFile(path, in: context))
        case .passphraseFile(let path)?:
            let passphrase = try SecretFiles.passphraseFile(path, in: context)
            if confirm { Self.warnIfShort(passphrase, in: context) }
            return .passphrase(passphrase)
        case .passphraseVariable?:
            // The environment holds it as a `String` already; it is copied once into secure memory.
            let passphrase = SecureBytes.copying(text: context.environment["COFFER_PASSPHRASE"]!)
            if confirm { Self.warnIfShort(passphrase, in: context) }
            return .passphrase(passphrase)
        case .prompt?:
            return .passphrase(
                try Self.promptPassphrase(in: context, prompt: "Passphrase for \(vaultPath): ", confirm: confirm))
        case nil:
            throw CommandFailure(
                .usage, code: "no_key",
                "No key is given and standard input is not a terminal. Pass --key-file or --passphrase-file, or set COFFER_KEY_FILE, COFFER_PASSPHRASE_FILE or COFFER_PASSPHRASE."
            )
        }
    }

    /// How many times a new passphrase is asked for when its repetition differs.
    static let confirmationAttempts = 3
    /// A new passphrase shorter than this (in characters) gets a warning.
    static let passphraseCharactersAdvised = 12

    /// Warns when a new passphrase, however given (a prompt, a file, the environment), has
    /// fewer than ``passphraseCharactersAdvised`` characters.
    static func warnIfShort(_ passphrase: SecureBytes, in context: CommandContext) {
        let characters = passphrase.withUnsafeBytes { $0.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) } }
        guard characters < passphraseCharactersAdvised else { return }
        context.warn(
            "The passphrase has fewer than \(passphraseCharactersAdvised) characters: anyone with the file can "
                + "try guesses offline. A longer one (several words), or a key file, is safer.")
    }

    /// Prompts for a passphrase; when `confirm` (a new one), twice, asking again on a
    /// mismatch up to ``confirmationAttempts`` times, and warning when it is short.
    static func promptPassphrase(in context: CommandContext, prompt: String, confirm: Bool) throws(CommandFailure)
        -> SecureBytes
    {
        guard confirm else { return try context.promptSecret(prompt) }
        for attempt in 1...confirmationAttempts {
            let first = try context.promptSecret(prompt)
            let second = try context.promptSecret("Repeat the passphrase: ")
            if first == second {
                warnIfShort(first, in: context)
                return first
            }
            if attempt < confirmationAttempts { context.warn("The two passphrases differ. Enter it again.") }
        }
        throw CommandFailure(
            .no, code: "invalid_input",
            "The two passphrases differed \(confirmationAttempts) times; nothing was changed. Try again.")
    }
}
