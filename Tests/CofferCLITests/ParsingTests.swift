import ArgumentParser
import Coffer
import XCTest

@testable import CofferCLI

/// Option parsing and `validate()`, in process: `Coffer.parseAsRoot` as argument-parser runs it.
final class ParsingTests: XCTestCase {
    private func parse<Command: ParsableCommand>(_ arguments: [String], as type: Command.Type) throws -> Command {
        let parsed = try Coffer.parseAsRoot(arguments)
        return try XCTUnwrap(parsed as? Command, "parsed \(Swift.type(of: parsed)), expected \(Command.self)")
    }

    private func assertUsageError(
        _ arguments: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try Coffer.parseAsRoot(arguments), file: file, line: line) { error in
            XCTAssertEqual(Coffer.exitCode(for: error).rawValue, 64, file: file, line: line)
            XCTAssertTrue(
                Coffer.fullMessage(for: error).contains(text), "\(Coffer.fullMessage(for: error)) lacks \(text)",
                file: file,
                line: line)
        }
    }

    func testGlobalOptionsWorkBeforeAndAfterTheCommandName() throws {
        let after = try parse(
            ["org", "list", "--vault", "a.coffer", "--json", "--as", "alice", "--key-file", "k"], as: OrgList.self)
        XCTAssertEqual(after.access.global.vaultPath, "a.coffer")
        XCTAssertTrue(after.access.global.json)
        XCTAssertEqual(after.access.global.actingUser, "alice")
        XCTAssertEqual(after.access.unlock.keyFile, "k")
        let before = try parse(["--vault", "b.coffer", "--json", "-q", "org", "list"], as: OrgList.self)
        XCTAssertEqual(before.access.global.vaultPath, "b.coffer")
        XCTAssertTrue(before.access.global.json)
        XCTAssertTrue(before.access.global.quiet)
    }

    func testKeyFileAndPassphraseFileAreExclusive() {
        assertUsageError(["head", "--key-file", "k", "--passphrase-file", "p"], contains: "not both")
    }

    /// A vault given as a URL of a scheme Coffer does not read is a usage error that never
    /// repeats the URL (it may hold a password); a file path with a colon is a file path.
    func testAURLOfAnotherSchemeIsRefusedWithoutRepeatingIt() {
        for text in [
            "mysql://u:S3CR@/db?vault=x", "postgres:/u:S3CR@db", "jdbc:postgresql://h/db?password=S3CR",
            " postgres://u:S3CR@/db?vault=x", "postgres+ssl://u:S3CR@h/db",
        ] {
            XCTAssertNotNil(VaultLocation.urlScheme(text), text)
            XCTAssertThrowsError(try VaultLocation.resolve(text, environment: [:])) { error in
                let failure = error as? CommandFailure
                XCTAssertEqual(failure?.status, .usage, text)
                XCTAssertFalse(failure?.message.contains("S3CR") ?? true, "the password was repeated")
            }
        }
        for path in ["backup:2026.coffer", "v.coffer", "/srv/vaults/team.coffer", "./a:b"] {
            XCTAssertNil(VaultLocation.urlScheme(path), path)
        }
        XCTAssertEqual(VaultLocation.urlScheme("Postgres://u@h/db?vault=x"), "Postgres")
    }

    /// `--default` and `--no-default` are alternatives, not "the last one wins".
    func testDefaultAndNoDefaultAreExclusive() throws {
        assertUsageError(
            ["credentials", "update", "exa/main", "--org", "acme", "--default", "--no-default"], contains: "--default")
        XCTAssertEqual(
            try parse(
                ["credentials", "update", "exa/main", "--org", "acme", "--no-default"], as: CredentialsUpdate.self
            )
            .isDefault, false)
    }

    func testCredentialsSetFansOutOverScopesAndProjects() throws {
        let command = try parse(
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "org", "--scope", "project",
                "--project-slug", "web",
                "--project-slug", "data", "--set", "token=x",
            ], as: CredentialsSet.self)
        XCTAssertEqual(command.targets, [.organization, .project("web"), .project("data")])
        XCTAssertEqual(command.slug, "main")
        XCTAssertNil(command.type)
        let plain = try parse(
            ["credentials", "set", "exa", "--org", "acme", "--set", "apiKey=@env:EXA"], as: CredentialsSet.self)
        XCTAssertEqual(plain.targets, [.organization])
        let user = try parse(
            ["credentials", "set", "exa", "--org", "acme", "--scope", "user", "--as", "alice", "--set", "token=x"],
            as: CredentialsSet.self)
        XCTAssertEqual(user.targets, [.user("alice")])
    }

    func testCredentialsListRefusesFiltersNothingMatches() {
        let list = ["credentials", "list", "--org", "acme"]
        assertUsageError(list + ["--scope", "org", "--project", "web"], contains: "leave out --scope")
        assertUsageError(list + ["--scope", "project", "--user", "alice"], contains: "leave out --scope")
        assertUsageError(list + ["--project", "web", "--user", "alice"], contains: "give one of them")
        XCTAssertNoThrow(try Coffer.parseAsRoot(list + ["--scope", "project", "--project", "web"]))
    }

    func testCredentialsSetValidation() {
        // No field: refused when the command runs (after unknown options are reported).
        let noField = InProcessRun.run(["credentials", "set", "exa", "--org", "acme"], environment: [:])
        XCTAssertEqual(noField.status, .usage)
        XCTAssertTrue(noField.standardError.contains("--set FIELD=VALUE"), noField.standardError)
        assertUsageError(
            ["credentials", "set", "exa", "--org", "acme", "--scope", "project", "--set", "token=x"],
            contains: "--project SLUG")
        assertUsageError(
            ["credentials", "set", "exa", "--org", "acme", "--project-slug", "web", "--set", "token=x"],
            contains: "--scope project")
        assertUsageError(
            ["credentials", "set", "exa", "--org", "acme", "--scope", "user", "--set", "token=x"], contains: "--user")
        assertUsageError(["credentials", "set", "exa", "--org", "acme", "--set", "token"], contains: "has no `=`")
        assertUsageError(["credentials", "set", "exa", "--org", "acme", "--set", "=x"], contains: "no field name")
        assertUsageError(["credentials", "set", "exa", "--org", "acme", "--set", "token=@env:"], contains: "@env:")
        assertUsageError(
            ["credentials", "set", "exa", "--org", "acme", "--type", "bogus", "--set", "t=x"], contains: "--type")
        assertUsageError(
            ["credentials", "set", "exa", "--org", "acme", "--scope", "galaxy", "--set", "t=x"], contains: "--scope")
    }

    func testAValueIsNeverRepeatedInAUsageError() {
        XCTAssertThrowsError(try Coffer.parseAsRoot(["credentials", "set", "exa", "--org", "acme", "--set", "token"])) {
            error in
            XCTAssertFalse(Coffer.fullMessage(for: error).contains("=x"))
        }
        // A forgotten --set: argument-parser repeats the argument, the tool cuts its value.
        let run = InProcessRun.run(
            ["credentials", "set", "exa", "--org", "acme", "--set", "region=eu", "token=sk-very-secret-value"],
            environment: [:])
        XCTAssertEqual(run.status, .usage)
        XCTAssertFalse(run.standardError.contains("sk-very-secret-value"), run.standardError)
        XCTAssertTrue(run.standardError.contains("argument number 8"), run.standardError)
        // A --set without `=`, and stray positional arguments, are named by position, never
        // repeated, in text and in JSON.
        for arguments in [
            ["credentials", "set", "exa", "--org", "acme", "--set", "LEAKME-sk-0123456789"],
            ["head", "LEAKME-sk-0123456789"], ["verify", "--json", "LEAKME-sk-0123456789"],
            ["org", "create", "acme", "LEAKME-sk-0123456789", "--json"],
            // A value that starts with a dash reads as an unknown option.
            ["credentials", "set", "gh", "--org", "acme", "--set", "token=", "-XkLEAKME9"],
            ["credentials", "set", "gh", "--org", "acme", "--json", "--LEAKME-Sk"],
        ] {
            let leaked = InProcessRun.run(arguments, environment: [:])
            XCTAssertEqual(leaked.status, .usage, arguments.joined(separator: " "))
            XCTAssertFalse(
                (leaked.standardError + leaked.standardOutput).contains("LEAKME"),
                "\(arguments): \(leaked.standardError)")
        }
    }

    func testSecretInputSources() {
        let literal = SecretInput(argument: "token=a=b")
        XCTAssertEqual(literal.name, "token")
        guard case .literal("a=b")? = literal.source else { return XCTFail("\(String(describing: literal.source))") }
        guard case .environment("EXA")? = SecretInput(argument: "apiKey=@env:EXA").source else { return XCTFail() }
        guard case .file("/tmp/x")? = SecretInput(argument: "key=@file:/tmp/x").source else { return XCTFail() }
        guard case .literal("@env:X")? = SecretInput(argument: "note=@@env:X").source else { return XCTFail() }
        XCTAssertNil(SecretInput(argument: "token").source)
    }

    func testTargetOptions() throws {
        let assign = try parse(
            ["assignments", "assign", "--org", "acme", "--workflow", "triage", "--credential", "linear/work"],
            as: AssignmentsAssign.self)
        XCTAssertEqual(assign.target.target, AssignmentTarget(kind: .workflow, slug: "triage", consumer: "*"))
        let resolve = try parse(
            ["resolve", "linear", "--org", "acme", "--agent", "support", "--consumer", "search"], as: Resolve.self)
        XCTAssertEqual(resolve.target.target, AssignmentTarget(kind: .agent, slug: "support", consumer: "search"))
        assertUsageError(
            ["assignments", "list", "--org", "acme", "--agent", "a", "--poll", "p"], contains: "not several")
        assertUsageError(["resolve", "exa", "--org", "acme", "--consumer", "c"], contains: "--consumer needs")
        assertUsageError(["assignments", "unassign", "--org", "acme", "--agent", "a"], contains: "--credential")
        // Spelled as --key-file is: add-key-file names add-keyfile.
        XCTAssertTrue(try parse(["key", "add-key-file", "backup.key", "--generate"], as: KeyAddKeyFile.self).generate)
    }

    /// Issue 18 #8: help that teaches, and input in the forms people type.
    func testHelpThatTeaches() throws {
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "1970-01-01"), 0)
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "2000-03-01"), 951_868_800)
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "2027-01-31T12:00:00Z"), 1_801_396_800)
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "2027-01-31 12:00Z"), 1_801_396_800)
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "2024-02-29T23:59:59.250+02:00"), 1_709_243_999)
        // The basic form: eight digits that make a date are that date, not Unix seconds of 1970.
        XCTAssertEqual(CredentialFields.unixSeconds(fromISO8601: "20270131"), 1_801_353_600)
        for text in [
            "1801396800", "20271301", "2027013", "20270131T12:00Z", "2027-01-31X", "2027-13-01", "2027-02-29",
            "2027-04-31", "2027-01-31T25:00Z", "2027-01-31T12:00", "2027-01-31T12:00:00Zjunk", "",
        ] {
            XCTAssertNil(CredentialFields.unixSeconds(fromISO8601: text), text)
        }
        // Eight digits that are not a date, a number of seconds like an `expires_in`, or a word:
        // refused rather than read as a time in 1970.
        // A time before the earliest expiry (the first of nine digits) is refused as those are.
        for text in ["20270230", "3600", "0", "tomorrow", "2027-01-31T12:00", "19700101", "1969-12-31", "1973-03-03"] {
            let given = FieldValues(["expires_at": SecureBytes.copying(text: text)])
            XCTAssertThrowsError(try CredentialFields.shaped(given, for: .oauth2), text)
        }
        for text in ["1801396800", "", "1973-03-04", "100000000"] {
            XCTAssertNoThrow(
                try CredentialFields.shaped(FieldValues(["expires_at": SecureBytes.copying(text: text)]), for: .oauth2))
        }
        let shaped = try CredentialFields.shaped(
            FieldValues(["expires_at": SecureBytes.copying(text: "2027-01-31T12:00:00Z")]), for: .oauth2)
        XCTAssertEqual(shaped["expires_at"], SecureBytes.copying(text: "1801396800"))

        XCTAssertEqual(GlobalOptions.expandingBareWait(["org", "list"]), ["org", "list"])
        // A number with a unit is the wait's value (which validation refuses), not the next argument.
        XCTAssertEqual(
            GlobalOptions.expandingBareWait(["org", "delete", "--wait", "5s", "acme"]),
            ["org", "delete", "--wait=5s", "acme"])
        XCTAssertEqual(
            GlobalOptions.expandingBareWait(["org", "delete", "--wait", "1password"]),
            ["org", "delete", "--wait=30", "1password"])
        for text in ["5s", "1.5h", "10min", "30SEC"] { XCTAssertTrue(GlobalOptions.looksLikeDuration(text), text) }
        for (path, directory, name) in [
            ("v.coffer", ".", "v.coffer"), ("/v.coffer", "/", "v.coffer"), ("a/b/v", "a/b", "v"), ("a/", "a", ""),
        ] {
            XCTAssertTrue(TextBytes.directoryAndName(of: path) == (directory, name), path)
        }
        for text in ["1password", "s5", ".s", "5", "5seconds", "acme", "", "5/s"] {
            XCTAssertFalse(GlobalOptions.looksLikeDuration(text), text)
        }
        // A key or passphrase file's name is repeated only when it reads as a path.
        for text in [
            "Summer2024.", "ab/cdEFgh+ij/klmnopqrstuvwxyz0123456789ABCDEFG", String(repeating: "x", count: 300),
        ] {
            XCTAssertFalse(SecretFiles.looksLikeAPath(text), text)
        }
        for text in ["team.key", "./key", "/etc/coffer/key", "~/pass", "pass.txt"] {
            XCTAssertTrue(SecretFiles.looksLikeAPath(text), text)
        }
        XCTAssertEqual(CofferTool.suggestedCommand(for: ["verfy"]), "verify")
        XCTAssertEqual(CofferTool.suggestedCommand(for: ["key", "rotat", "--json"]), "key rotate")
        XCTAssertEqual(CofferTool.suggestedCommand(for: ["--json", "credentails", "list"]), "credentials")
        XCTAssertNil(CofferTool.suggestedCommand(for: ["xyzzy"]))
        // A mistyped option is reported as one, before a check of what is missing without it.
        for arguments in [
            ["credentials", "set", "x", "--org", "acme", "--sett", "token=t"],
            ["run", "--org", "acme", "--envv", "A=x.token", "--", "true"],
        ] {
            let typo = InProcessRun.run(arguments, environment: [:])
            XCTAssertEqual(typo.status, .usage)
            XCTAssertTrue(typo.standardError.contains("Unknown option"), typo.standardError)
        }
        // As JSON, the error and its suggestion without the usage lines.
        let json = InProcessRun.run(["verfy", "--json"], environment: [:])
        let document = try? JSONSerialization.jsonObject(with: Data(json.standardError.utf8)) as? [String: Any]
        XCTAssertEqual(
            document?["message"] as? String, "Unexpected argument 'verfy' Did you mean `coffer verify`?",
            json.standardError)
        // An unknown option's own suggestion stands alone: its value is no mistyped command.
        let option = InProcessRun.run(["--keyfile", "t.key", "org", "list"], environment: [:])
        XCTAssertTrue(option.standardError.contains("Did you mean '--key-file'?"), option.standardError)
        XCTAssertFalse(option.standardError.contains("coffer key`"), option.standardError)
        // A value refused by its option is not repeated, and the message still reads.
        let slot = InProcessRun.run(["org", "list", "--unlock-slot", "s3cr3t"], environment: [:])
        XCTAssertTrue(
            slot.standardError.contains("The value given as argument number 4 is invalid for '--unlock-slot"),
            slot.standardError)
        XCTAssertFalse(slot.standardError.contains("s3cr3t"), slot.standardError)
        XCTAssertEqual(InProcessRun.run([], environment: [:]).status, .usage, "bare coffer prints help and exits 64")
        XCTAssertEqual(InProcessRun.run(["key"], environment: [:]).status, .usage)
        XCTAssertEqual(InProcessRun.run(["--help"], environment: [:]).status, .success)
        XCTAssertEqual(InProcessRun.run(["completions", "bash", "--json"], environment: [:]).status, .usage)
        let types = InProcessRun.run(["types"], environment: [:])
        XCTAssertTrue(
            types.standardOutput.contains("smtp: host, port, username (optional), password (optional, secret)"),
            types.standardOutput)
        let help = CredentialsSet.helpMessage(columns: 100)
        XCTAssertTrue(help.contains("ssh_key: private_key (secret)"), help)
        XCTAssertEqual(
            try parse(
                [
                    "credentials", "set", "exa", "--org", "acme", "--scope", "project", "--project", "web", "--set",
                    "token=t",
                ], as: CredentialsSet.self
            ).projectSlugs,
            ["web"], "--project as on list and resolve; --project-slug stays")
    }

    func testOtherValidations() {
        assertUsageError(["verify", "--expect-head", "12"], contains: "SEQUENCE:HEX")
        assertUsageError(["resolve", "exa", "--org", "acme", "--select", "work"], contains: "credential id")
        assertUsageError(["api-key", "create", "--org", "acme", "--name", "n"], contains: "--as")
        assertUsageError(["api-key", "revoke", "nope", "--org", "acme", "--as", "alice"], contains: "key_")
        assertUsageError(["credentials", "update", "exa/main", "--org", "acme"], contains: "Nothing to change")
        assertUsageError(["log", "--limit", "0"], contains: "--limit")
        assertUsageError(["init", "--generate-key-file", "k", "--key-file", "j"], contains: "--generate-key-file")
        assertUsageError(["member", "add", "alice", "--org", "acme", "--role", "emperor"], contains: "--role")
        assertUsageError(["key", "passphrase", "--add", "--slot", "2"], contains: "not both")
        assertUsageError(["completions", "tcsh"], contains: "tcsh")
    }

    func testUpdateDefaultFlagHasAnInversion() throws {
        XCTAssertEqual(
            try parse(["credentials", "update", "x", "--org", "o", "--default"], as: CredentialsUpdate.self).isDefault,
            true)
        XCTAssertEqual(
            try parse(["credentials", "update", "x", "--org", "o", "--no-default"], as: CredentialsUpdate.self)
                .isDefault, false)
    }

    func testEveryCommandHasHelpWithAnExample() throws {
        func visit(_ command: ParsableCommand.Type, path: [String]) {
            let help = Coffer.helpMessage(for: command)
            XCTAssertTrue(help.contains("Example"), "`coffer \(path.joined(separator: " "))` help has no example")
            for subcommand in command.configuration.subcommands {
                visit(subcommand, path: path + [subcommand.configuration.commandName ?? "?"])
            }
        }
        visit(Coffer.self, path: [])
    }

    func testExitStatusMapping() {
        XCTAssertEqual(ExitStatus(for: .wrongKey), .vaultUnavailable)
        XCTAssertEqual(ExitStatus(for: .locked), .vaultUnavailable)
        XCTAssertEqual(ExitStatus(for: .corrupted), .vaultUnavailable)
        XCTAssertEqual(ExitStatus(for: .io(errno: 5)), .vaultUnavailable)
        XCTAssertEqual(ExitStatus(for: .notFound), .no)
        XCTAssertEqual(ExitStatus(for: .invalidInput), .no)
        XCTAssertEqual(ExitStatus(for: .permissionDenied), .no)
        XCTAssertEqual(ExitStatus(forResolution: .credentialMissing), .resolutionMissing)
        XCTAssertEqual(ExitStatus(forResolution: .ambiguous), .resolutionAmbiguous)
        XCTAssertEqual(ExitStatus(forResolution: .notFound), .resolutionRefused)
        for code: CofferError.Code in [.noUserActor, .credentialRevoked, .notVisible, .wrongApp] {
            XCTAssertEqual(ExitStatus(forResolution: code), .resolutionRefused)
        }
        XCTAssertEqual(ExitStatus(forResolution: .wrongKey), .vaultUnavailable)
    }

    /// The test-only Argon2id knob works only in a debug build; a release build refuses to
    /// run with it rather than make a new passphrase cheap to guess.
    func testTheTestKDFKnobIsRefusedOutsideTestBuilds() throws {
        let context = CommandContext(
            standardOutput: BufferSink(), standardError: BufferSink(), environment: ["COFFER_TEST_KDF": "minimum"])
        XCTAssertThrowsError(try KDFCost.moderate.cost(in: context, honouringTestKnobs: false)) { error in
            XCTAssertEqual((error as? CommandFailure)?.status, .usage)
        }
        XCTAssertEqual(try KDFCost.moderate.cost(in: context, honouringTestKnobs: true), .minimum)
        let other = CommandContext(
            standardOutput: BufferSink(), standardError: BufferSink(), environment: ["COFFER_TEST_KDF": "low"])
        XCTAssertThrowsError(try KDFCost.moderate.cost(in: other, honouringTestKnobs: true))
        let unset = CommandContext(standardOutput: BufferSink(), standardError: BufferSink(), environment: [:])
        XCTAssertEqual(try KDFCost.sensitive.cost(in: unset, honouringTestKnobs: false), .sensitive)
        // The tests run a debug build.
        XCTAssertTrue(KDFCost.honoursTestKnobs)
    }
}
