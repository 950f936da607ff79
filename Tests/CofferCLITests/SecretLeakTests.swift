import Foundation
import XCTest

/// No secret value appears in any output, on either stream, except where the contract says
/// it does: `credentials get --reveal` and `api-key create`.
final class SecretLeakTests: XCTestCase {
    /// Distinctive values, so that a leak cannot be a coincidence. Each is long enough that
    /// its preview shows at most its last four characters.
    let secrets = [
        "tokenvalue-QX7Z-inline-9f8e7d6c5b4a",
        "tokenvalue-QX7Z-fromenv-1a2b3c4d5e6f",
        "tokenvalue-QX7Z-fromfile-0f1e2d3c4b5a",
        "tokenvalue-QX7Z-rotated-6a5b4c3d2e1f",
        "tokenvalue-QX7Z-custom-77aa88bb99cc",
        "passwordvalue-QX7Z-smtp-4455667788",
    ]

    /// The secrets, and their halves: a leak of a prefix or a suffix counts too.
    var needles: [String] {
        secrets + secrets.flatMap { [String($0.prefix(20)), String($0.dropFirst(12))] }
    }

    func assertNoSecret(_ result: RunResult, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line)
    {
        for needle in needles where result.allOutput.contains(needle) {
            XCTFail("`coffer \(arguments.joined(separator: " "))` printed a secret: \(needle)", file: file, line: line)
        }
    }

    func testNoSecretInAnyOutputButRevealAndAPIKeyCreate() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        coffer.environment["SECRET_FROM_ENV"] = secrets[1]
        try coffer.write("secret.txt", text: secrets[2] + "\n")
        var runs: [[String]] = [
            ["credentials", "set", "exa", "--org", "acme", "--set", "token=\(secrets[0])", "--default"],
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "project", "--project-slug", "web", "--set",
                "apiKey=@env:SECRET_FROM_ENV",
            ],
            [
                "credentials", "set", "gh", "--org", "acme", "--scope", "user", "--user", "alice", "--set",
                "token=@file:\(coffer.path("secret.txt"))",
            ],
            ["credentials", "set", "internal", "--org", "acme", "--set", "key=\(secrets[4])", "--set", "region=eu"],
            [
                "credentials", "set", "smtp", "--org", "acme", "--type", "smtp", "--set", "host=mail.example.com",
                "--set", "port=587",
                "--set", "encryption=tls", "--set", "username=bot", "--set", "password=\(secrets[5])",
            ],
            ["credentials", "rotate-key", "exa/main", "--org", "acme", "--set", "token=\(secrets[3])"],
            ["credentials", "update", "smtp/main", "--org", "acme", "--set", "port=465"],
            ["credentials", "rotate-key", "exa/main", "--org", "acme", "--set", "token=\(secrets[3])"],
            ["credentials", "set", "exa", "--org", "acme", "--set", "token=\(secrets[0])"],
            ["credentials", "set", "exa", "--org", "acme", "token=\(secrets[0])"],
            ["credentials", "set", "exa", "--org", "acme", "--type", "smtp", "--set", "token=\(secrets[0])"],
            ["assignments", "assign", "--org", "acme", "--agent", "support", "--credential", "exa/main"],
        ]
        var reads: [[String]] = [
            ["credentials", "list", "--org", "acme"], ["credentials", "get", "exa/main", "--org", "acme"],
            ["credentials", "get", "exa/main", "--org", "acme", "--at-version", "1"],
            ["credentials", "get", "smtp/main", "--org", "acme"],
            ["credentials", "get", "internal/main", "--org", "acme"],
            ["credentials", "history", "exa/main", "--org", "acme"],
            ["credentials", "delete", "exa/main", "--org", "acme"], ["resolve", "exa", "--org", "acme", "--explain"],
            ["resolve", "gh", "--org", "acme", "--pin", "user", "--user", "alice", "--explain"],
            ["assignments", "list", "--org", "acme", "--agent", "support"], ["log"], ["inspect"], ["verify"], ["head"],
            ["api-key", "list", "--org", "acme", "--as", "alice"],
        ]
        reads += reads.map { $0 + ["--json"] }
        runs += reads
        for arguments in runs {
            assertNoSecret(try coffer.run(arguments), arguments)
        }
        // API keys: printed by create only, never again.
        let created = try coffer.expect(0, ["api-key", "create", "--org", "acme", "--as", "alice", "--name", "k"])
        let key = created.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(key.hasPrefix("ck_live_"))
        for arguments in [
            ["api-key", "list", "--org", "acme", "--as", "alice", "--json"], ["log", "--json"], ["inspect", "--json"],
        ] {
            XCTAssertFalse(try coffer.run(arguments).allOutput.contains(key), "\(arguments) printed the API key")
        }
        XCTAssertFalse(
            try coffer.run(["api-key", "check", "--org", "acme"], standardInput: key).allOutput.contains(key))
        XCTAssertFalse(
            try coffer.run(["api-key", "check", "--org", "acme"], standardInput: key + "x").allOutput.contains(key))
        // The one place values are printed.
        let revealed = try coffer.expect(0, ["credentials", "get", "exa/main", "--org", "acme", "--reveal"])
            .standardOutput
        XCTAssertTrue(revealed.contains(secrets[3]))
        let smtp = try coffer.expect(0, ["credentials", "get", "smtp/main", "--org", "acme", "--reveal", "--json"])
            .standardOutput
        XCTAssertTrue(smtp.contains(secrets[5]))
        // No secret in the file in clear either.
        let file = String(decoding: try coffer.bytes("v.coffer"), as: UTF8.self)
        for needle in needles { XCTAssertFalse(file.contains(needle), "the vault file holds \(needle) in clear") }
    }
}
