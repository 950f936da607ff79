import ArgumentParser

/// `coffer`: the command-line tool for a Coffer vault, for operators and for scripts.
///
/// ```
/// coffer init --vault team.coffer --generate-key-file team.key
/// export COFFER_VAULT=team.coffer COFFER_KEY_FILE=team.key
/// coffer org create acme --name "Acme"
/// coffer credentials set exa --org acme --set apiKey=@env:EXA_API_KEY
/// coffer resolve exa --org acme --explain
/// ```
struct Coffer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "Manage a Coffer vault: an encrypted, append-only file of credentials.",
        discussion: """
            Global options (--vault, --key-file, --passphrase-file, --json, --quiet, --as) go before or after the \
            command name. The vault is unlocked with a key file, a passphrase file, COFFER_PASSPHRASE, or a prompt \
            when standard input is a terminal. Exit codes: 0 success, 1 the answer is no, 2 the vault could not be \
            opened or changed, 3-5 resolution refused, 64 usage error. See docs/cli.md.

            Example:
              coffer init --vault team.coffer --generate-key-file team.key
              COFFER_VAULT=team.coffer COFFER_KEY_FILE=team.key coffer inspect
            """,
        version: CofferTool.version,
        groupedSubcommands: [
            CommandGroup(
                name: "Vault",
                subcommands: [
                    Init.self, Inspect.self, Verify.self, Head.self, Log.self, Salvage.self, Copy.self, Key.self,
                    Compact.self,
                    CheckpointCommand.self,
                    Export.self, Import.self,
                ]),
            CommandGroup(
                name: "People and places",
                subcommands: [Organization.self, ProjectCommand.self, UserCommand.self, Member.self]),
            CommandGroup(
                name: "Credentials",
                subcommands: [Credentials.self, Assignments.self, Resolve.self, Run.self, APIKey.self, Types.self]),
            CommandGroup(name: "Shell", subcommands: [Completions.self]),
        ])

    /// Declared here too so the options can come before the command name; subcommands
    /// receive the values parsed here.
    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
}
