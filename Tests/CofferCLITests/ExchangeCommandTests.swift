import Coffer
import Foundation
import XCTest

@testable import CofferCLI

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer export` and `coffer import` end to end: the round trip through a bundle, dry runs,
/// conflicts, dotenv and KeePassXC files, and every bad input refused with nothing written.
final class ExchangeCommandTests: XCTestCase {
    /// The populated vault of `CofferRunner`, with credentials of several types, a rotation,
    /// defaults, an assignment and a revoked credential.
    func makeSource() throws -> CofferRunner {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0, ["credentials", "set", "exa", "--org", "acme", "--set", "apiKey=sk-exa-0123456789abcd", "--default"])
        try coffer.expect(
            0,
            ["credentials", "set", "exa", "--org", "acme", "--slug", "backup", "--set", "apiKey=sk-exa-backup-000000"])
        try coffer.expect(
            0, ["credentials", "rotate-key", "exa/main", "--org", "acme", "--set", "token=sk-exa-rotated-99999999"])
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "project", "--project-slug", "web",
                "--slug", "work",
                "--set", "token=lin_api_web_0000000000",
            ])
        try coffer.expect(
            0,
            [
                "credentials", "set", "smtp", "--org", "acme", "--type", "smtp", "--set", "host=smtp.example.com",
                "--set", "port=587",
                "--set", "encryption=starttls", "--set", "username=bot", "--set", "password=smtp-pass-\"quoted\"",
            ])
        try coffer.expect(
            0,
            [
                "credentials", "set", "github", "--org", "acme", "--scope", "user", "--user", "alice", "--set",
                "token=ghp_alice_000000000",
            ])
        try coffer.expect(
            0,
            [
                "assignments", "assign", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--credential",
                "linear/work",
            ])
        try coffer.expect(0, ["credentials", "set", "old", "--org", "acme", "--set", "token=old-token-0000000000"])
        try coffer.expect(0, ["credentials", "revoke", "old/main", "--org", "acme"])
        return coffer
    }

    func text(_ coffer: CofferRunner, _ name: String) throws -> String {
        String(decoding: try coffer.bytes(name), as: UTF8.self)
    }

    func testExportIsRedactedStableAndWrittenPrivately() throws {
        let coffer = try makeSource()
        let standardOutput = try coffer.expect(0, ["export"]).standardOutput
        let document = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8)) as! [String: Any]
        XCTAssertEqual(document["format"] as? String, "coffer-export")
        XCTAssertEqual(document["revealed"] as? Bool, false)
        XCTAssertFalse(standardOutput.contains("sk-exa-rotated"), "no secret without --reveal")
        XCTAssertTrue(standardOutput.contains("••••9999"))
        XCTAssertEqual(
            try coffer.expect(0, ["export"]).standardOutput, standardOutput, "two exports are byte-identical")

        let written = try coffer.expect(0, ["export", "--reveal", "--output", coffer.path("revealed.json"), "--json"])
            .json()
        XCTAssertEqual(written["revealed"] as? Bool, true)
        XCTAssertEqual((written["counts"] as? [String: Int])?["credentials"], 6)
        var information = stat()
        XCTAssertEqual(stat(coffer.path("revealed.json"), &information), 0)
        XCTAssertEqual(information.st_mode & 0o777, 0o600)
        XCTAssertTrue(try text(coffer, "revealed.json").contains("sk-exa-rotated-99999999"))
        XCTAssertTrue(
            try text(coffer, "revealed.json").contains("sk-exa-0123456789abcd"), "the retained older version too")
    }

    func testRevealRefusesATerminalUnlessForced() throws {
        let coffer = try makeSource()
        func run(_ arguments: [String]) -> (ExitStatus, String, String) {
            let output = BufferSink()
            let error = BufferSink()
            let context = CommandContext(
                standardOutput: output, standardError: error, environment: coffer.environment,
                standardOutputIsTerminal: true)
            let status = CofferTool.run(arguments, in: context)
            return (status, output.text, error.text)
        }
        let (refused, nothing, message) = run(["export", "--reveal"])
        XCTAssertEqual(refused, .usage)
        XCTAssertEqual(nothing, "")
        XCTAssertTrue(message.contains("--force"), message)
        XCTAssertEqual(run(["export", "--bundle", "--generate-bundle-key-file", coffer.path("t.key")]).0, .usage)
        let (forced, secrets, _) = run(["export", "--reveal", "--force"])
        XCTAssertEqual(forced, .success)
        XCTAssertTrue(secrets.contains("sk-exa-rotated-99999999"))
        XCTAssertEqual(run(["export"]).0, .success, "previews may go to a terminal")
        // No member's view holds everything: --as is refused, whatever the output.
        XCTAssertEqual(run(["export", "--reveal", "--force", "--as", "alice"]).0, .usage)
    }

    func testBundleRoundTripIntoAnEmptyVault() throws {
        let coffer = try makeSource()
        try coffer.expect(
            0,
            [
                "export", "--bundle", "--generate-bundle-key-file", coffer.path("move.key"), "--output",
                coffer.path("v.bundle"),
            ])
        let bundle = try text(coffer, "v.bundle")
        XCTAssertFalse(bundle.contains("sk-exa") || bundle.contains("acme"), "the bundle holds nothing in the clear")
        try coffer.expect(0, ["init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key")])
        let target = ["--vault", coffer.path("w.coffer"), "--key-file", coffer.path("w.key")]

        let dryRun = try coffer.expect(
            0,
            ["import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("move.key"), "--dry-run", "--json"]
                + target
        ).json()
        XCTAssertEqual(dryRun["dry_run"] as? Bool, true)
        XCTAssertEqual((dryRun["summary"] as? [String: Int])?["created"], 1 + 2 + 3 + 2 + 6 + 1)
        XCTAssertEqual(
            (try coffer.expect(0, ["org", "list", "--json"] + target).json()["organizations"] as? [Any])?.count, 0)

        let imported = try coffer.expect(
            0, ["import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("move.key")] + target)
        XCTAssertTrue(imported.standardOutput.contains("Created 15"), imported.standardOutput)
        try coffer.expect(0, ["export", "--reveal", "--output", coffer.path("a.json")])
        try coffer.expect(0, ["export", "--reveal", "--output", coffer.path("b.json")] + target)
        XCTAssertEqual(try coffer.bytes("a.json"), try coffer.bytes("b.json"), "the same document from both vaults")
        for arguments in [
            ["resolve", "exa", "--org", "acme", "--explain", "--json"],
            ["resolve", "linear", "--org", "acme", "--project", "web", "--json"],
            ["resolve", "linear", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--json"],
            ["resolve", "github", "--org", "acme", "--user", "alice", "--pin", "user", "--json"],
            ["resolve", "old", "--org", "acme", "--json"],
        ] {
            let first = try coffer.run(arguments)
            let second = try coffer.run(arguments + target)
            XCTAssertEqual(first.status, second.status, arguments.joined(separator: " "))
            XCTAssertEqual(first.standardOutput, second.standardOutput, arguments.joined(separator: " "))
        }

        // Importing again: every object is a conflict (exit 1), and nothing changes.
        let vaultBytes = try coffer.bytes("w.coffer")
        let conflict = try coffer.expect(
            1, ["import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("move.key"), "--json"] + target)
        XCTAssertEqual(try conflict.errorJSON()["code"] as? String, "already_exists")
        XCTAssertEqual((try conflict.errorJSON()["candidates"] as? [String])?.count, 15)
        XCTAssertEqual(try coffer.bytes("w.coffer"), vaultBytes)
        let skipped = try coffer.expect(
            0,
            [
                "import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("move.key"), "--on-conflict",
                "skip", "--json",
            ] + target
        ).json()
        XCTAssertEqual((skipped["summary"] as? [String: Int])?["skipped"], 15)
        XCTAssertEqual(try coffer.bytes("w.coffer"), vaultBytes, "nothing to do writes nothing")
        // --map-org copies an organization.
        try coffer.expect(
            0,
            [
                "import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("move.key"), "--on-conflict",
                "skip", "--map-org", "acme=acme-copy",
            ] + target)
        let copied = try coffer.expect(0, ["resolve", "exa", "--org", "acme-copy", "--json"] + target).json()
        XCTAssertEqual(copied["status"] as? String, "resolved")
    }

    func testAPassphraseBundle() throws {
        let coffer = try makeSource()
        let passphrase = ["COFFER_BUNDLE_PASSPHRASE": "bundle passphrase", "COFFER_TEST_KDF": "minimum"]
        try coffer.expect(0, ["export", "--bundle", "--output", coffer.path("p.bundle")], environment: passphrase)
        try coffer.expect(0, ["init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key")])
        let target = ["--vault", coffer.path("w.coffer"), "--key-file", coffer.path("w.key")]
        let wrong = try coffer.expect(
            1, ["import", coffer.path("p.bundle"), "--json"] + target,
            environment: ["COFFER_BUNDLE_PASSPHRASE": "guess"])
        XCTAssertEqual(try wrong.errorJSON()["code"] as? String, "wrong_key")
        let noKey = try coffer.expect(64, ["import", coffer.path("p.bundle"), "--json"] + target)
        XCTAssertEqual(try noKey.errorJSON()["code"] as? String, "no_key")
        try coffer.write("pass.txt", text: "bundle passphrase\n")
        try coffer.expect(
            0, ["import", coffer.path("p.bundle"), "--bundle-passphrase-file", coffer.path("pass.txt")] + target)
    }

    func testBadInputsAreClearErrorsAndWriteNothing() throws {
        let coffer = try makeSource()
        try coffer.expect(
            0,
            ["export", "--bundle", "--generate-bundle-key-file", coffer.path("k"), "--output", coffer.path("v.bundle")])
        try coffer.expect(0, ["export", "--reveal", "--output", coffer.path("v.json")])
        try coffer.expect(0, ["init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key")])
        let target = ["--vault", coffer.path("w.coffer"), "--key-file", coffer.path("w.key")]
        let key = ["--bundle-key-file", coffer.path("k")]
        let bundle = try coffer.bytes("v.bundle")
        var flipped = bundle
        flipped[bundle.count - 40] ^= 0x01
        try coffer.write("flipped.bundle", flipped)
        try coffer.write("truncated.bundle", Array(bundle.dropLast(17)))
        try coffer.write("other.key", [UInt8](repeating: 9, count: 32))
        var json = try text(coffer, "v.json")
        try coffer.write("malformed.json", text: String(json.dropLast(3)))
        json = json.replacingOccurrences(of: "\"port\": \"587\"", with: "\"port\": \"99999\"")
        try coffer.write("invalid.json", text: json)
        try coffer.expect(0, ["export", "--output", coffer.path("redacted.json")])

        let before = try coffer.bytes("w.coffer")
        let cases: [([String], String, String)] = [
            (["import", coffer.path("flipped.bundle")] + key, "corrupted", "does not authenticate"),
            (["import", coffer.path("truncated.bundle")] + key, "corrupted", "truncated"),
            (
                ["import", coffer.path("v.bundle"), "--bundle-key-file", coffer.path("other.key")], "wrong_key",
                "does not open"
            ),
            (["import", coffer.path("malformed.json")], "invalid_input", "line "),
            (["import", coffer.path("invalid.json")], "invalid_input", "$.credentials["),
            (["import", coffer.path("redacted.json")], "invalid_input", "--reveal"),
            (["import", coffer.path("missing.json")], "not_found", "missing.json"),
            (["import", coffer.path("v.coffer")], "invalid_input", "is a Coffer vault, not an export"),
        ]
        for (arguments, code, words) in cases {
            let result = try coffer.expect(1, arguments + target + ["--json"])
            let error = try result.errorJSON()
            XCTAssertEqual(error["code"] as? String, code, arguments.joined(separator: " "))
            XCTAssertTrue((error["message"] as? String ?? "").contains(words), "\(error)")
            XCTAssertFalse(result.allOutput.contains("sk-exa"), "no secret in an error")
            XCTAssertEqual(try coffer.bytes("w.coffer"), before, arguments.joined(separator: " "))
        }
        // Usage errors.
        try coffer.expect(64, ["import"] + target)
        try coffer.expect(64, ["import", coffer.path("v.json"), "--dotenv", coffer.path("x")] + target)
        try coffer.expect(64, ["import", "--dotenv", coffer.path("x"), "--org", "acme"] + target)
        try coffer.expect(64, ["import", coffer.path("v.json"), "--map-org", "acme"] + target)
        // A new slug no organization can have is the option's mistake, not the file's.
        let badSlug = try coffer.expect(64, ["import", coffer.path("v.json"), "--map-org", "acme=Acme EU"] + target)
        XCTAssertTrue(
            badSlug.standardError.contains("--map-org acme=…: The new organization slug must be"), badSlug.standardError
        )
        try coffer.expect(64, ["export", "--bundle", "--reveal", "--output", coffer.path("x")])
        let source = try coffer.bytes("v.coffer")
        // The vault is refused as what it is, with --force or without, before "a file exists".
        try coffer.expect(64, ["export", "--reveal", "--output", coffer.path("v.coffer")])
        try coffer.expect(64, ["export", "--reveal", "--force", "--output", coffer.path("v.coffer")])
        XCTAssertEqual(try coffer.bytes("v.coffer"), source, "an export never replaces the vault")
    }

    /// `--output` replaces a file only with `--force`, and never the vault or a key or
    /// passphrase file the export depends on; a bundle that is not written leaves no key file.
    func testExportNeverReplacesAFileUnlessForcedAndNeverAKeyFile() throws {
        let coffer = try makeSource()
        try coffer.write("notes.txt", text: "keep me")
        let refused = try coffer.expect(1, ["export", "--output", coffer.path("notes.txt"), "--json"])
        XCTAssertEqual(try refused.errorJSON()["code"] as? String, "already_exists")
        XCTAssertEqual(try text(coffer, "notes.txt"), "keep me")
        try coffer.expect(0, ["export", "--output", coffer.path("notes.txt"), "--force"])
        XCTAssertTrue(try text(coffer, "notes.txt").hasPrefix("{"))
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: coffer.path("notes.txt"))[.posixPermissions] as? Int, 0o600
        )

        // The key file that unlocks the vault (here through COFFER_KEY_FILE), even with --force.
        let key = try coffer.bytes("v.key")
        for arguments in [["--output", coffer.path("v.key")], ["--output", coffer.path("v.key"), "--force"]] {
            try coffer.expect(64, ["export", "--reveal"] + arguments)
            XCTAssertEqual(try coffer.bytes("v.key"), key, "the vault's only key file was replaced")
        }
        // The vault's checkpoint and its head file, even with --force.
        try coffer.expect(0, ["checkpoint"])
        try coffer.write("v.head", [])
        try coffer.expect(0, ["org", "create", "headed", "--head-file", coffer.path("v.head")])
        let checkpoint = try coffer.bytes("v.coffer.checkpoint")
        let head = try coffer.bytes("v.head")
        for (output, extra) in [
            ("v.coffer.checkpoint", [String]()), ("v.head", ["--head-file", coffer.path("v.head")]),
        ] {
            try coffer.expect(64, ["export", "--output", coffer.path(output), "--force"] + extra)
        }
        XCTAssertEqual(try coffer.bytes("v.coffer.checkpoint"), checkpoint)
        XCTAssertEqual(try coffer.bytes("v.head"), head)
        // Not made yet, they are refused all the same: nothing is written there.
        try FileManager.default.removeItem(atPath: coffer.path("v.coffer.checkpoint"))
        let unmade = [
            ["export", "--output", coffer.path("v.coffer.checkpoint")],
            ["export", "--output", coffer.path("new.head"), "--head-file", coffer.path("new.head")],
            [
                "export", "--bundle", "--generate-bundle-key-file", coffer.path("new.head"), "--output",
                coffer.path("b.bundle"), "--head-file", coffer.path("new.head"),
            ],
        ]
        for arguments in unmade { try coffer.expect(64, arguments + ["--force"]) }
        // The vault as the new bundle key file: the usage error, not "a file exists".
        try coffer.expect(
            64, ["export", "--bundle", "--generate-bundle-key-file", "v.coffer", "--output", coffer.path("b.bundle")])
        for name in ["v.coffer.checkpoint", "new.head", "b.bundle"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path(name)), name)
        }
        // The bundle's key file, given or to be generated.
        try coffer.write("bundle.key", [UInt8](repeating: 3, count: 32))
        try coffer.expect(
            64,
            [
                "export", "--bundle", "--bundle-key-file", coffer.path("bundle.key"), "--output",
                coffer.path("bundle.key"), "--force",
            ])
        XCTAssertEqual(try coffer.bytes("bundle.key"), [UInt8](repeating: 3, count: 32))
        try coffer.expect(
            64,
            [
                "export", "--bundle", "--generate-bundle-key-file", coffer.path("new.key"), "--output",
                coffer.path("new.key"),
            ])
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("new.key")))
        // Spelled another way, or reached through a link to where it will be made: still refused,
        // with --force, and the key file made for it is gone.
        let dotted = coffer.path("new.key").replacingOccurrences(of: "/new.key", with: "/./new.key")
        XCTAssertNotEqual(dotted, coffer.path("new.key"))
        try FileManager.default.createSymbolicLink(atPath: coffer.path("link.key"), withDestinationPath: "new.key")
        for output in [dotted, coffer.path("link.key")] {
            try coffer.expect(
                64,
                [
                    "export", "--bundle", "--generate-bundle-key-file", coffer.path("new.key"), "--output", output,
                    "--force",
                ])
            XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("new.key")), output)
        }

        // A bundle whose output cannot be written removes the key file generated for it.
        try coffer.expect(
            1,
            [
                "export", "--bundle", "--generate-bundle-key-file", coffer.path("made.key"), "--output",
                coffer.path("no/such/dir/b"),
            ])
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: coffer.path("made.key")), "a key file for no bundle was left")
    }

    /// I-LIMITS, through the binary: hostile inputs far beyond what one import can hold are
    /// refused while they are read or parsed, and the process's peak memory (printed) stays a
    /// small multiple of the 64 MiB an import reads.
    func testHostileImportsAreRefusedWhileReadAndParsed() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let before = try coffer.bytes("v.coffer")
        // A 512 MiB file (sparse): refused before a byte of it is read.
        let huge = coffer.path("huge.json")
        XCTAssertTrue(FileManager.default.createFile(atPath: huge, contents: nil))
        XCTAssertEqual(truncate(huge, 512 << 20), 0)
        // 6 million values nested in a 12 MB document: refused at the value limit.
        var values = Data("{\"credentials\": [[0".utf8)
        values.append(Data(String(repeating: ",0", count: 6_000_000).utf8))
        values.append(Data("]]}".utf8))
        try values.write(to: URL(fileURLWithPath: coffer.path("values.json")))
        // 100,000 credentials, each an empty object: refused at the list limit.
        var entries = Data("{\"credentials\": [{}".utf8)
        entries.append(Data(String(repeating: ",{}", count: 99_999).utf8))
        entries.append(Data("]}".utf8))
        try entries.write(to: URL(fileURLWithPath: coffer.path("entries.json")))
        // 100,000 dotenv lines.
        try coffer.write("many.env", text: (0..<100_000).map { "KEY_\($0)=v" }.joined(separator: "\n"))

        let environment = ["COFFER_VAULT=\(coffer.path("v.coffer"))", "COFFER_KEY_FILE=\(coffer.path("v.key"))"]
        for (arguments, expected) in [
            (["import", "--dry-run", huge, "--json"], "larger than"),
            (["import", "--dry-run", coffer.path("values.json"), "--json"], "more than 4194304 values"),
            (["import", "--dry-run", coffer.path("entries.json"), "--json"], "more than 65536 entries"),
            (
                ["import", "--dry-run", "--dotenv", coffer.path("many.env"), "--org", "acme", "--app", "x", "--json"],
                "more than 65536 entries"
            ),
        ] {
            let result = try coffer.runRaw(
                arguments.map { Array($0.utf8) }, environment: environment.map { Array($0.utf8) })
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.standardError)")
            let error = try result.errorJSON()
            XCTAssertEqual(error["code"] as? String, "invalid_input", "\(arguments)")
            XCTAssertTrue((error["message"] as? String)?.contains(expected) ?? false, "\(arguments): \(error)")
            let peak = try XCTUnwrap(result.peakResidentKilobytes)
            print("import \(arguments[2]) \(arguments[3]): refused with peak RSS \(peak / 1024) MiB")
            XCTAssertLessThan(peak, 512 * 1024, "\(arguments) peaked at \(peak) KiB")
        }
        XCTAssertEqual(try coffer.bytes("v.coffer"), before)
    }

    func testDotenvImport() throws {
        let coffer = try makeSource()
        try coffer.write(
            "app.env",
            text: """
                # production
                export NEWAPP_API_KEY="sk-new-0123456789"
                DB_USER=admin
                DB_PASSWORD='hunter2 hunter2'
                NOPREFIX=x

                """)
        let dryRun = try coffer.expect(
            0, ["import", "--dotenv", coffer.path("app.env"), "--app-from-prefix", "--org", "acme", "--dry-run"])
        XCTAssertTrue(dryRun.standardOutput.contains("Would create 2"), dryRun.standardOutput)
        XCTAssertTrue(dryRun.standardOutput.contains("no APP_ prefix"), dryRun.standardOutput)
        try coffer.expect(0, ["import", "--dotenv", coffer.path("app.env"), "--app-from-prefix", "--org", "acme"])
        let revealed = try coffer.expect(0, ["credentials", "get", "db/main", "--org", "acme", "--reveal", "--json"])
            .json()
        XCTAssertEqual(revealed["type"] as? String, "username_password")
        XCTAssertEqual((revealed["fields"] as? [String: String])?["password"], "hunter2 hunter2")
        try coffer.expect(
            0, ["import", "--dotenv", coffer.path("app.env"), "--app", "backend", "--slug", "prod", "--org", "acme"])
        let backend = try coffer.expect(0, ["credentials", "get", "backend/prod", "--org", "acme", "--json"]).json()
        XCTAssertEqual(backend["type"] as? String, "custom")
        // Acting as a member, into that member's own scope only; a document import is the operator's.
        let entries = [
            "import", "--dotenv", coffer.path("app.env"), "--app", "mine", "--org", "acme", "--scope", "user",
        ]
        let intoAlice = try coffer.expect(1, entries + ["--user", "alice", "--as", "bob"])
        XCTAssertTrue(intoAlice.standardError.contains("acting user's own scope"), intoAlice.standardError)
        try coffer.expect(0, entries + ["--user", "alice", "--as", "alice"])
        try coffer.expect(0, ["export", "--reveal", "--force", "--output", coffer.path("all.json")])
        try coffer.expect(64, ["import", coffer.path("all.json"), "--on-conflict", "skip", "--as", "alice"])

        try coffer.write("broken.env", text: "A=1\nB=\"never closed\nC=3\n")
        let vaultBytes = try coffer.bytes("v.coffer")
        let broken = try coffer.expect(
            1, ["import", "--dotenv", coffer.path("broken.env"), "--app-from-prefix", "--org", "acme"])
        XCTAssertTrue(broken.standardError.contains("line 2"), broken.standardError)
        XCTAssertEqual(try coffer.bytes("v.coffer"), vaultBytes)
    }

    func testKeePassXCImportOfTheFixture() throws {
        let coffer = try makeSource()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CofferExchangeTests/Fixtures/keepassxc-export.csv")
        try coffer.write("export.csv", Array(try Data(contentsOf: fixture)))
        let report = try coffer.expect(
            0, ["import", "--keepassxc-csv", coffer.path("export.csv"), "--org", "acme", "--json"]
        ).json()
        XCTAssertEqual((report["summary"] as? [String: Int])?["created"], 8)
        XCTAssertEqual((report["summary"] as? [String: Int])?["skipped"], 2)
        XCTAssertEqual((report["items"] as? [Any])?.count, 10, "every entry accounted for")
        let github = try coffer.expect(0, ["credentials", "get", "github/work", "--org", "acme", "--reveal", "--json"])
            .json()
        XCTAssertEqual((github["fields"] as? [String: String])?["username"], "alice")

        var csv = try text(coffer, "export.csv")
        csv = csv.replacingOccurrences(of: "\"s3cr3t-Passw0rd-FAKE\"", with: "\"s3cr3t-Passw0rd-FAKE")
        try coffer.write("broken.csv", text: csv)
        let vaultBytes = try coffer.bytes("v.coffer")
        let broken = try coffer.expect(
            1, ["import", "--keepassxc-csv", coffer.path("broken.csv"), "--org", "acme", "--json"])
        XCTAssertTrue((try broken.errorJSON()["message"] as? String ?? "").contains("line 6"), broken.standardError)
        XCTAssertFalse(broken.allOutput.contains("s3cr3t"), "no secret in the error")
        XCTAssertEqual(try coffer.bytes("v.coffer"), vaultBytes)
    }
}
