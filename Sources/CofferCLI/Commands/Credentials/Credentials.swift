import ArgumentParser
import Coffer

/// `coffer credentials`: credential instances of an organization.
struct Credentials: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Store, list, show, update, rotate, revoke and delete credentials.",
        discussion: """
            A SELECTOR names one credential: its id (cred_…), its SLUG, SCOPE/SLUG (org/work, project/work, \
            user/work) or APP/SLUG (linear/work). Values given with --set FIELD=VALUE may be inline, @env:VAR or \
            @file:PATH; only `get --reveal` ever prints a secret value.

            Example:
              coffer credentials set exa --org acme --set apiKey=@env:EXA_API_KEY --default
            """,
        subcommands: [
            CredentialsSet.self, CredentialsList.self, CredentialsGet.self, CredentialsUpdate.self,
            CredentialsRotateKey.self,
            CredentialsRollback.self, CredentialsRevoke.self, CredentialsRestore.self, CredentialsDelete.self,
            CredentialsHistory.self,
        ])
}

/// The `--set FIELD=VALUE` option as every credentials command declares it.
struct FieldOptions: ParsableArguments {
    @Option(
        name: .customLong("set"), parsing: .singleValue,
        help: ArgumentHelp(
            "A field value: FIELD=VALUE, FIELD=@env:VAR or FIELD=@file:PATH (repeat for several fields).",
            valueName: "field=value"))
    var inputs: [SecretInput] = []

    func validate() throws {
        for input in inputs {
            do { try input.check() } catch { throw ValidationError(error.message) }
        }
    }
}
