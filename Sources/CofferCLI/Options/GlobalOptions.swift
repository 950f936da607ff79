import ArgumentParser
import Coffer

/// The options every command takes: the vault, the output form, and the acting user.
///
/// They can be given before or after the command name (`coffer --json org list` or
/// `coffer org list --json`): the root command declares the same group, and argument-parser
/// hands its values down to the subcommand.
struct GlobalOptions: ParsableArguments {
    /// The actor recorded when no `--as` is given.
    static let defaultActor = "cli"

    @Option(
        name: .customLong("vault"),
        help: ArgumentHelp(
            "The vault file, or a vault in PostgreSQL as postgres://user@host/database?vault=NAME (default: $COFFER_VAULT).",
            valueName: "path|url"),
        completion: .file())
    var vaultPath: String?

    @Flag(help: "Print one JSON document on standard output, and errors as JSON on standard error.")
    var json = false

    @Flag(name: [.customShort("q"), .long], help: "Print no progress bar and no notes on standard error.")
    var quiet = false

    @Option(
        name: .customLong("as"),
        help: ArgumentHelp(
            "The acting user, recorded in history as who made a change: an existing user, a member of the organization the command works in. A claim, not an authentication.",
            valueName: "user"))
    var actingUser: String?

    /// The vault's path or URL: `--vault`, else `COFFER_VAULT`.
    func vaultText(in context: CommandContext) throws(CommandFailure) -> String {
        if let vaultPath, !vaultPath.isEmpty { return vaultPath }
        if let path = context.variable("COFFER_VAULT") { return path }
        throw CommandFailure.usage("No vault is given. Pass --vault PATH or set COFFER_VAULT.")
    }

    /// The vault's location: a file, or a PostgreSQL vault (connected to now).
    func vault(in context: CommandContext) throws(CommandFailure) -> VaultLocation {
        try VaultLocation.resolve(vaultText(in: context), environment: context.environment)
    }

    /// Who history records as making a change.
    var actor: String { actingUser ?? Self.defaultActor }

    func output(_ context: CommandContext) -> Output {
        Output(context: context, json: json, quiet: quiet)
    }
}
