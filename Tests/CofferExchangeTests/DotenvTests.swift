import Coffer
import CofferSimulation
import XCTest

@testable import CofferExchange

/// dotenv files: the syntax (D-SYNTAX), the mapping to credentials (D-MAP), and imports.
final class DotenvTests: XCTestCase {
    func parse(_ text: String) throws -> [Dotenv.Entry] {
        try Array(text.utf8).withUnsafeBytes { try Dotenv.parse($0) }
    }

    func value(_ entry: Dotenv.Entry) -> String { entry.value.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    func testTheSyntax() throws {
        let entries = try parse(
            """
            # a comment
            EXA_API_KEY=sk-live-plain   
            export  LINEAR_TOKEN = lin_api_x # a comment after a blank
            HASH=abc#not-a-comment
            SINGLE='lit$eral \\n "kept" # kept'
            DOUBLE="line one\\nline two \\"quoted\\" \\$HOME \\\\ \\q"
            MULTI="-----BEGIN PRIVATE KEY-----
            MIIE
            -----END PRIVATE KEY-----"   # after the closing quote
            EMPTY=
            \tINDENTED=yes\r
            dotted.key_1=x
            LAST=no newline at the end
            """)
        XCTAssertEqual(
            entries.map(\.key),
            [
                "EXA_API_KEY", "LINEAR_TOKEN", "HASH", "SINGLE", "DOUBLE", "MULTI", "EMPTY", "INDENTED", "dotted.key_1",
                "LAST",
            ])
        XCTAssertEqual(entries.map(\.line), [2, 3, 4, 5, 6, 7, 10, 11, 12, 13])
        XCTAssertEqual(
            entries.map(value),
            [
                "sk-live-plain", "lin_api_x", "abc#not-a-comment", "lit$eral \\n \"kept\" # kept",
                "line one\nline two \"quoted\" $HOME \\ \\q",
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "", "yes",
                "x", "no newline at the end",
            ])
        // A byte-order mark before the first line is skipped, as `run --env-file` and the CSV
        // reader skip it; anywhere else it is part of the text.
        let marked = try parse("\u{FEFF}EXA_TOKEN=t\n")
        XCTAssertEqual(marked.map(\.key), ["EXA_TOKEN"])
        XCTAssertThrowsError(try parse("EXA_TOKEN=t\n\u{FEFF}B=c\n"))
    }

    func testErrorsNameTheLineAndNeverTheValue() {
        let cases: [(String, String)] = [
            ("A=1\nB=\"never closed\nC=3\n", "line 2: the double quote opened here is never closed"),
            ("A='never closed\n", "line 1: the single quote opened here is never closed"),
            ("A=\"x\" trailing\n", "line 1: unexpected text after the closing quote"),
            ("A=1\nsk-live-secret-value\n", "line 2: expected `=` after the key"),
            ("A=1\n\n=value\n", "line 3: expected KEY=VALUE"),
            ("1A=x\n", "line 1: expected KEY=VALUE"),
            ("A-B=x\n", "line 1: expected `=`"),
            ("A=1\nB=2\nA=3\n", "line 3: the key `A` is given twice (lines 1 and 3)"),
        ]
        for (text, words) in cases {
            XCTAssertThrowsError(try parse(text), text) { error in
                let error = error as! CofferError
                XCTAssertEqual(error.code, .invalidInput)
                XCTAssertTrue(error.message.contains(words), "\(text): \(error.message)")
                XCTAssertFalse(
                    error.message.contains("sk-live") || error.message.contains("never closed\n"), error.message)
            }
        }
        XCTAssertThrowsError(
            try [0x41, 0x3D, 0x31, 0x0A, 0x42, 0x3D, 0xFF, 0x0A].withUnsafeBytes { try Dotenv.parse($0) }
        ) { error in
            XCTAssertTrue("\(error)".contains("line 2: the file is not UTF-8"), "\(error)")
        }
    }

    func testTheMappingFromPrefixes() throws {
        let entries = try parse(
            """
            EXA_API_KEY=sk-exa
            AWS_ACCESS_KEY_ID=AKIA
            AWS_SECRET_ACCESS_KEY=wJal
            DB_USER=admin
            DB_PASSWORD=hunter2
            SMTP_HOST=smtp.example.com
            SMTP_USER=bot
            SMTP_PASSWORD=p"w
            TOKEN=no-prefix
            EMPTY_VALUE=
            """)
        let result = Dotenv.credentials(entries, app: .fromPrefix)
        XCTAssertEqual(result.entries.map(\.appKey), ["exa", "aws", "db", "smtp"])
        XCTAssertEqual(result.entries.map(\.type), [.apiToken, .apiKeyPair, .usernamePassword, .custom])
        XCTAssertEqual(result.entries.map(\.source), ["line 1", "lines 2, 3", "lines 4, 5", "lines 6, 7, 8"])
        XCTAssertEqual(result.entries[0].fields["token"], Fixture.secret("sk-exa"))
        XCTAssertEqual(result.entries[1].fields["api_key"], Fixture.secret("AKIA"))
        XCTAssertEqual(result.entries[1].fields["api_secret"], Fixture.secret("wJal"))
        XCTAssertEqual(result.entries[2].fields["username"], Fixture.secret("admin"))
        XCTAssertEqual(
            result.entries[3].fields["json"],
            Fixture.secret("{\"host\":\"smtp.example.com\",\"password\":\"p\\\"w\",\"user\":\"bot\"}"))
        XCTAssertEqual(result.skipped.map(\.source), ["line 9", "line 10"])
        XCTAssertTrue(result.skipped[0].reason.contains("no APP_ prefix"))
        XCTAssertTrue(result.skipped[1].reason.contains("empty value"))

        let one = Dotenv.credentials(entries, app: .app("backend"), slug: "prod")
        XCTAssertEqual(one.entries.count, 1)
        XCTAssertEqual(one.entries[0].appKey, "backend")
        XCTAssertEqual(one.entries[0].slug, "prod")
        XCTAssertEqual(one.entries[0].type, .custom)
        let json = try XCTUnwrap(one.entries[0].fields["json"]).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        XCTAssertTrue(json.hasPrefix("{\"aws_access_key_id\":\"AKIA\""), json)
        XCTAssertTrue(json.contains("\"token\":\"no-prefix\""), json)

        // Only names that collide once lower-cased keep their spelling (without the prefix).
        let colliding = Dotenv.credentials(try parse("SVC_DOLLAR=x\nSVC_HASH=y\nSVC_Z=1\nSVC_z=2\n"), app: .fromPrefix)
        XCTAssertEqual(
            colliding.entries.first?.fields["json"], Fixture.secret(#"{"Z":"1","dollar":"x","hash":"y","z":"2"}"#))
    }

    /// A credential built from many lines names a few of them, not thousands.
    func testASourceNamesAtMostAFewLines() throws {
        let entries = try parse((1...20).map { "SVC_K\($0)=v\($0)" }.joined(separator: "\n"))
        let result = Dotenv.credentials(entries, app: .fromPrefix)
        XCTAssertEqual(result.entries.map(\.source), ["lines 1, 2, 3, 4, 5, 6, 7, 8 and 12 more"])
    }

    func testImportIntoAVault() throws {
        let disk = SimulatedDisk()
        let vault = try Fixture.populatedVault(on: disk)
        let entries = Dotenv.credentials(
            try parse(
                "NEWAPP_API_KEY=sk-new-0123456789\nDB_USER=admin\nDB_PASSWORD=hunter2-hunter2\nEXA_TOKEN=sk-exa-from-env\n"
            ), app: .fromPrefix)
        // exa/main exists in no scope of acme; newapp and db are new; the project fan-out
        // makes one instance per project.
        let report = try Importer.importEntries(
            entries, into: vault, organization: "acme", scopes: [.organization, .project("web")], actor: "ops")
        XCTAssertEqual(report.count(.created), 6)
        let acme = try vault.read { try $0.organizationID("acme") }
        let db = try vault.resolve(ResolutionRequest(appKey: "db", context: RunContext(organization: acme)))
        XCTAssertEqual(try vault.reveal(db.id)["password"], Fixture.secret("hunter2-hunter2"))
        XCTAssertEqual(vault.read { $0.credential(id: db.id)?.type }, .usernamePassword)

        // Again: every one is a conflict; skip keeps them; replace writes what differs.
        XCTAssertThrowsError(try Importer.importEntries(entries, into: vault, organization: "acme", actor: "ops")) {
            error in
            XCTAssertEqual((error as? CofferError)?.code, .alreadyExists)
            XCTAssertEqual(
                (error as? CofferError)?.candidates.first, "credential newapp/main (organization acme) (line 1)")
            // --map-org is for an export: a dotenv import is not told to use it.
            XCTAssertFalse("\(error)".contains("--map-org"), "\(error)")
        }
        let skipped = try Importer.importEntries(
            entries, into: vault, organization: "acme", actor: "ops", onConflict: .skip)
        XCTAssertEqual(skipped.count(.skipped), 3)
        let changed = Dotenv.credentials(try parse("DB_USER=admin\nDB_PASSWORD=rotated-password\n"), app: .fromPrefix)
        let replaced = try Importer.importEntries(
            changed, into: vault, organization: "acme", actor: "ops", onConflict: .replace)
        XCTAssertEqual(replaced.count(.changed), 1)
        XCTAssertEqual(try vault.reveal(db.id)["password"], Fixture.secret("rotated-password"))
        XCTAssertEqual(vault.read { $0.credential(id: db.id)?.version }, 2)

        // A custom credential's replacement sets the members given and keeps the others
        // (D-MAP), and history names the members it changed.
        let settings = Dotenv.credentials(
            try parse("CFG_HOST=db.internal\nCFG_USER=admin\nCFG_PASSWORD=pw-0123456789\n"), app: .fromPrefix)
        _ = try Importer.importEntries(settings, into: vault, organization: "acme", actor: "ops")
        let cfg = try vault.resolve(ResolutionRequest(appKey: "cfg", context: RunContext(organization: acme)))
        let moved = Dotenv.credentials(try parse("CFG_HOST=db2.internal\nCFG_PORT=5432\n"), app: .fromPrefix)
        let merged = try Importer.importEntries(
            moved, into: vault, organization: "acme", actor: "ops", onConflict: .replace)
        XCTAssertEqual(merged.items.first { $0.action == .changed }?.detail, "members host, port")
        let object = try XCTUnwrap(vault.reveal(cfg.id)["json"]).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(object, #"{"host":"db2.internal","password":"pw-0123456789","user":"admin","port":"5432"}"#)
        let change = try XCTUnwrap(vault.read { $0.history(of: cfg.id).last })
        XCTAssertEqual(vault.changedMembers(of: change), ["host", "port"])
        let again = try Importer.importEntries(
            moved, into: vault, organization: "acme", actor: "ops", onConflict: .replace)
        XCTAssertEqual(again.items.first { $0.kind == "credential" }?.detail, "identical in the vault")

        // A value the schema refuses names its line, and nothing lands.
        let head = vault.head
        let bad = Dotenv.credentials(
            try parse("OK_TOKEN=fine-token\nWEB_USER=a\\u0001\nWEB_PASSWORD=x\n"), app: .fromPrefix)
        var badEntries = bad
        badEntries.entries[1].fields["username"] = Fixture.secret("line\nbreak")
        XCTAssertThrowsError(try Importer.importEntries(badEntries, into: vault, organization: "acme", actor: "ops")) {
            error in
            XCTAssertTrue("\(error)".contains("lines 2, 3: The `username` field"), "\(error)")
        }
        XCTAssertEqual(vault.head, head)
    }
}
