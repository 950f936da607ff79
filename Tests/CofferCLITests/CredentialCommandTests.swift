import Foundation
import XCTest

@testable import CofferCLI

/// Organizations, projects, users, members, credentials, assignments, resolution and API
/// keys, end to end through the binary, with the JSON contract and the exit codes.
final class CredentialCommandTests: XCTestCase {
    func testOrganizationsProjectsUsersAndMembers() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let organizations = try XCTUnwrap(
            try coffer.expect(0, ["org", "list", "--json"]).json()["organizations"] as? [[String: Any]])
        XCTAssertEqual(organizations.map { $0["slug"] as? String }, ["acme"])
        XCTAssertEqual(organizations[0]["name"] as? String, "Acme Corp.")
        let projects = try XCTUnwrap(
            try coffer.expect(0, ["project", "list", "--org", "acme", "--json"]).json()["projects"] as? [[String: Any]])
        XCTAssertEqual(projects.map { $0["slug"] as? String }, ["data", "web"])
        let members = try XCTUnwrap(
            try coffer.expect(0, ["member", "list", "--org", "acme", "--json"]).json()["members"] as? [[String: Any]])
        XCTAssertEqual(members.map { $0["user"] as? String }, ["alice", "bob"])
        XCTAssertTrue(try coffer.expect(0, ["user", "list"]).standardOutput.contains("acme (admin)"))
        // Errors: taken slug, bad slug, unknown organization: exit 1 with a sentence.
        XCTAssertTrue(try coffer.expect(1, ["org", "create", "acme"]).standardError.contains("exists already"))
        try coffer.expect(1, ["org", "create", "Not A Slug"])
        XCTAssertEqual(
            try coffer.expect(1, ["project", "list", "--org", "nope", "--json"]).errorJSON()["code"] as? String,
            "not_found")
        let again = try coffer.expect(1, ["member", "add", "alice", "--org", "acme", "--role", "owner"])
        XCTAssertTrue(
            again.standardError.contains("coffer member set-role alice --org acme --role owner"), again.standardError)
        // Roles change; the last owner keeps the organization owned.
        XCTAssertEqual(
            try coffer.expect(0, ["member", "set-role", "alice", "--org", "acme", "--role", "owner", "--json"]).json()[
                "changed"] as? Bool, true)
        let last = try coffer.expect(1, ["member", "set-role", "alice", "--org", "acme", "--role", "admin"])
        XCTAssertTrue(last.standardError.contains("last owner"), last.standardError)
        try coffer.expect(0, ["member", "set-role", "bob", "--org", "acme", "--role", "owner"])
        try coffer.expect(0, ["member", "set-role", "alice", "--org", "acme", "--role", "admin"])
        XCTAssertTrue(
            try coffer.expect(0, ["member", "set-role", "alice", "--org", "acme", "--role", "admin"]).standardOutput
                .hasPrefix("Unchanged"))
        try coffer.expect(1, ["member", "set-role", "carol", "--org", "acme", "--role", "admin"])
        let roles = try XCTUnwrap(
            try coffer.expect(0, ["member", "list", "--org", "acme", "--json"]).json()["members"] as? [[String: Any]])
        XCTAssertEqual(roles.map { $0["role"] as? String }, ["admin", "owner"])
        // Nor is the last owner removed, alone or with the user (OP-MEMBER-REMOVE-2).
        for arguments in [["member", "remove", "bob", "--org", "acme", "--yes"], ["user", "remove", "bob", "--yes"]] {
            let refused = try coffer.expect(1, arguments)
            XCTAssertTrue(
                refused.standardError.contains("last owner of the organization `acme`"), refused.standardError)
        }
        XCTAssertEqual(
            (try coffer.expect(0, ["member", "list", "--org", "acme", "--json"]).json()["members"] as? [Any])?.count, 2)
        // Removing what holds nothing needs no confirmation.
        try coffer.expect(0, ["project", "remove", "data", "--org", "acme"])
        try coffer.expect(0, ["user", "remove", "carol"])
        try coffer.expect(0, ["org", "create", "empty"])
        try coffer.expect(0, ["org", "remove", "empty"])
    }

    func testRemovalsThatCascadeNeedYes() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "project", "--project-slug", "web", "--set",
                "token=lin-project-token-1",
            ])
        try coffer.expect(
            0,
            [
                "credentials", "set", "slack", "--org", "acme", "--scope", "user", "--user", "bob", "--set",
                "token=slack-user-token-1",
            ])
        let dry = try coffer.expect(1, ["project", "remove", "web", "--org", "acme"])
        XCTAssertTrue(dry.standardOutput.contains("credential linear/main"), dry.standardOutput)
        XCTAssertTrue(dry.standardOutput.contains("--yes"), dry.standardOutput)
        try coffer.expect(1, ["member", "remove", "bob", "--org", "acme"])
        try coffer.expect(1, ["user", "remove", "bob"])
        try coffer.expect(1, ["org", "remove", "acme"])
        let removed = try coffer.expect(0, ["project", "remove", "web", "--org", "acme", "--yes", "--json"]).json()
        XCTAssertEqual(removed["removed"] as? Bool, true)
        XCTAssertEqual(((removed["impact"] as? [String: Any])?["deleted_credentials"] as? [Any])?.count, 1)
        try coffer.expect(0, ["member", "remove", "bob", "--org", "acme", "--yes"])
        try coffer.expect(0, ["org", "remove", "acme", "--yes"])
        XCTAssertEqual((try coffer.expect(0, ["org", "list", "--json"]).json()["organizations"] as? [Any])?.count, 0)
    }

    func testCredentialsSetFansOutAndInfersTheType() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let created = try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "org", "--scope", "project",
                "--project-slug", "web",
                "--project-slug", "data", "--slug", "work", "--set", "apiKey=@env:LINEAR_KEY", "--json",
            ], environment: ["LINEAR_KEY": "lin_api_0123456789abcdef"]
        ).json()
        let instances = try XCTUnwrap(created["created"] as? [[String: Any]])
        XCTAssertEqual(instances.map { $0["scope"] as? String }, ["organization", "project", "project"])
        XCTAssertEqual(instances.map { $0["owner"] as? String }, ["acme", "web", "data"])
        XCTAssertEqual(Set(instances.compactMap { $0["id"] as? String }).count, 3)
        for instance in instances {
            XCTAssertEqual(instance["app"] as? String, "linear")
            XCTAssertEqual(instance["slug"] as? String, "work")
        }
        let get = try coffer.expect(1, ["credentials", "get", "linear/work", "--org", "acme", "--json"])
        XCTAssertEqual(try get.errorJSON()["code"] as? String, "ambiguous")
        let project = try coffer.expect(0, ["credentials", "list", "--org", "acme", "--project", "web", "--json"])
            .json()
        XCTAssertEqual((project["credentials"] as? [[String: Any]])?.map { $0["type"] as? String }, ["api_token"])
    }

    func testAmbiguousSelectorListsCandidates() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "project", "--project-slug", "web",
                "--project-slug", "data", "--set", "token=lin_api_0123456789abcdef",
            ])
        let result = try coffer.expect(1, ["credentials", "get", "linear/main", "--org", "acme", "--json"])
        let error = try result.errorJSON()
        XCTAssertEqual(error["code"] as? String, "ambiguous")
        XCTAssertEqual((error["candidates"] as? [Any])?.count, 2)
        XCTAssertEqual(error["exit_code"] as? Int, 1)
        // Issue 18 #4: each candidate comes with the selector and filter that pick it, and
        // they do, in every command that names one credential.
        let candidates = try XCTUnwrap(error["candidates"] as? [String]).sorted()
        XCTAssertTrue(candidates.contains { $0.hasSuffix(": linear/main --project data") }, "\(candidates)")
        XCTAssertTrue(candidates.contains { $0.hasSuffix(": linear/main --project web") }, "\(candidates)")
        let web = try coffer.expect(
            0, ["credentials", "get", "linear/main", "--org", "acme", "--project", "web", "--json"]
        ).json()
        XCTAssertEqual(web["owner"] as? String, "web")
        try coffer.expect(
            0,
            [
                "credentials", "rotate-key", "linear/main", "--org", "acme", "--project", "data", "--set",
                "token=lin_api_rotated_0000000002",
            ])
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "linear/main", "--org", "acme", "--project", "data", "--json"])
                .json()["version"] as? Int, 2)
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "linear/main", "--org", "acme", "--project", "web", "--json"])
                .json()["version"] as? Int, 1)
        try coffer.expect(0, ["credentials", "update", "main", "--org", "acme", "--project", "web", "--label", "Web"])
        try coffer.expect(0, ["credentials", "history", "linear/main", "--org", "acme", "--project", "web"])
        try coffer.expect(0, ["credentials", "revoke", "linear/main", "--org", "acme", "--project", "web"])
        try coffer.expect(0, ["credentials", "delete", "linear/main", "--org", "acme", "--project", "web", "--yes"])
        try coffer.expect(1, ["credentials", "get", "linear/main", "--org", "acme", "--scope", "org"])
        try coffer.expect(1, ["credentials", "get", "linear/main", "--org", "acme", "--project", "nope"])
        // An app key alone names its one credential.
        try coffer.expect(
            0, ["credentials", "set", "notion", "--org", "acme", "--set", "token=notion_0123456789abcdef"])
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "notion", "--org", "acme", "--json"]).json()["app"] as? String,
            "notion")
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "linear", "--org", "acme", "--json"]).json()["owner"]
                as? String, "data")
        // assign and unassign take the same selectors and filters.
        try coffer.expect(
            0, ["assignments", "assign", "--org", "acme", "--workflow", "sync", "--credential", "linear"])
        try coffer.expect(
            0,
            [
                "assignments", "assign", "--org", "acme", "--agent", "bot", "--credential", "linear/main", "--project",
                "data",
            ])
        try coffer.expect(
            1,
            [
                "assignments", "assign", "--org", "acme", "--agent", "bot", "--credential", "linear/main", "--scope",
                "org",
            ])
        try coffer.expect(
            0,
            [
                "assignments", "unassign", "--org", "acme", "--agent", "bot", "--credential", "linear/main",
                "--project", "data",
            ])
        try coffer.expect(0, ["assignments", "unassign", "--org", "acme", "--workflow", "sync", "--app", "linear"])
        // A run without the project is told where the app's credentials are, not to make an org-wide one.
        let missing = try coffer.expect(3, ["resolve", "linear", "--org", "acme"])
        XCTAssertTrue(missing.standardError.contains("credentials in project data"), missing.standardError)
        XCTAssertFalse(missing.standardError.contains("credentials set"), missing.standardError)
        // Acting as another user, a user's credential is not assigned.
        try coffer.expect(
            0,
            [
                "credentials", "set", "own", "--org", "acme", "--scope", "user", "--user", "alice", "--set",
                "token=own_token_0123456789",
            ])
        let notTheirs = try coffer.expect(
            1, ["assignments", "assign", "--org", "acme", "--agent", "x", "--credential", "own", "--as", "bob"])
        XCTAssertTrue(notTheirs.standardError.contains("it is not assigned"), notTheirs.standardError)
        try coffer.expect(
            0, ["assignments", "assign", "--org", "acme", "--agent", "x", "--credential", "own", "--as", "alice"])
        // A pinned run is told how to connect one at its scope, the only one it tries.
        let pinned = try coffer.expect(3, ["resolve", "linear", "--org", "acme", "--user", "alice", "--pin", "user"])
        XCTAssertTrue(pinned.standardError.contains("--scope user --user alice --set"), pinned.standardError)
        // A target no assignment can name is refused as `assign` refuses it, not passed over.
        try coffer.expect(1, ["resolve", "linear", "--org", "acme", "--workflow", "Bad Name", "--consumer", "a b"])
        try coffer.expect(1, ["resolve", "linear", "--org", "acme", "--project", "data", "--workflow", ""])
        // An app named like a scope reads as SCOPE/SLUG: its candidate is named by id.
        try coffer.expect(0, ["credentials", "set", "org", "--org", "acme", "--set", "token=org_app_0123456789abcdef"])
        let scopeLike = try coffer.expect(1, ["credentials", "get", "org/main", "--org", "acme", "--json"]).errorJSON()
        XCTAssertTrue(
            (scopeLike["candidates"] as? [String] ?? []).contains { $0.contains("by its id") }, "\(scopeLike)")
    }

    /// A new default takes the place of the old one, and says so.
    func testANewDefaultNamesTheOneItReplaces() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0, ["credentials", "set", "mover", "--org", "acme", "--set", "token=first-abcdefgh1", "--default"])
        let second = try coffer.expect(
            0,
            [
                "credentials", "set", "mover", "--org", "acme", "--slug", "next", "--set", "token=second-abcdefgh2",
                "--default",
            ])
        XCTAssertTrue(second.standardError.contains("moved from mover/main"), second.standardError)
        let listed = try coffer.expect(0, ["credentials", "list", "--org", "acme", "--app", "mover", "--json"]).json()
        let defaults = (listed["credentials"] as? [[String: Any]] ?? []).filter { $0["default"] as? Bool == true }
        XCTAssertEqual(defaults.map { $0["slug"] as? String }, ["next"])
        let third = try coffer.expect(
            0,
            [
                "credentials", "set", "mover", "--org", "acme", "--slug", "third", "--set", "token=third-abcdefgh3",
                "--default", "--json",
            ]
        ).json()
        let replaced = third["replaced_defaults"] as? [[String: Any]] ?? []
        XCTAssertEqual(replaced.map { $0["slug"] as? String }, ["next"])
    }

    func testGetPreviewsRevealsAndShowsOldVersions() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.write("token.txt", text: "exa-first-secret-a1b2\n")
        try coffer.expect(
            0,
            [
                "credentials", "set", "exa", "--org", "acme", "--set", "token=@file:\(coffer.path("token.txt"))",
                "--default", "--label", "Exa",
            ])
        let preview = try coffer.expect(0, ["credentials", "get", "exa/main", "--org", "acme", "--json"]).json()
        XCTAssertEqual(preview["scope"] as? String, "organization")
        XCTAssertEqual(preview["owner"] as? String, "acme")
        XCTAssertEqual(preview["state"] as? String, "active")
        XCTAssertEqual(preview["version"] as? Int, 1)
        XCTAssertEqual(preview["default"] as? Bool, true)
        XCTAssertEqual(preview["fields"] as? [String: String], ["token": "••••a1b2"])
        // A file that is not there, or a directory: the answer is no (1), nothing written.
        for (path, code) in [(coffer.path("no-such-token"), "not_found"), (coffer.path(""), "invalid_input")] {
            let refused = try coffer.expect(
                1, ["credentials", "set", "gone", "--org", "acme", "--set", "token=@file:\(path)", "--json"])
            XCTAssertEqual(try refused.errorJSON()["code"] as? String, code, path)
        }
        // @file: drops the one final newline of a one-line file.
        let revealed = try coffer.expect(0, ["credentials", "get", "exa/main", "--org", "acme", "--json", "--reveal"])
            .json()
        XCTAssertEqual(revealed["fields"] as? [String: String], ["token": "exa-first-secret-a1b2"])
        let text = try coffer.expect(0, ["credentials", "get", "org/main", "--org", "acme", "--reveal"]).standardOutput
        XCTAssertTrue(text.contains("token:  exa-first-secret-a1b2\n"), text)
        try coffer.expect(
            0, ["credentials", "rotate-key", "exa/main", "--org", "acme", "--set", "token=exa-second-secret-c3d4"])
        let old = try coffer.expect(
            0, ["credentials", "get", "exa/main", "--org", "acme", "--at-version", "1", "--json"]
        ).json()
        XCTAssertEqual(old["version"] as? Int, 1)
        XCTAssertEqual(old["fields"] as? [String: String], ["token": "••••a1b2"])
        let oldRevealed = try coffer.expect(
            0, ["credentials", "get", "exa/main", "--org", "acme", "--at-version", "1", "--reveal", "--json"]
        ).json()
        XCTAssertEqual(oldRevealed["fields"] as? [String: String], ["token": "exa-first-secret-a1b2"])
        let beyond = try coffer.expect(1, ["credentials", "get", "exa/main", "--org", "acme", "--at-version", "7"])
        XCTAssertTrue(beyond.standardError.contains("no version 7: its versions are 1 to 2"), beyond.standardError)
        let zero = try coffer.expect(1, ["credentials", "get", "exa/main", "--org", "acme", "--at-version", "0"])
        XCTAssertTrue(zero.standardError.contains("no version 0"), zero.standardError)
        try coffer.expect(1, ["credentials", "get", "nothing", "--org", "acme"])
    }

    func testUpdateRotateRevokeDeleteAndHistory() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "smtp", "--org", "acme", "--type", "smtp", "--set", "host=smtp.example.com",
                "--set", "port=587",
                "--set", "encryption=starttls", "--set", "username=bot", "--set", "password=@env:SMTP_PASSWORD",
            ], environment: ["SMTP_PASSWORD": "smtp-password-value-99"])
        // Fields not given keep their values.
        let updated = try coffer.expect(
            0,
            [
                "credentials", "update", "smtp/main", "--org", "acme", "--set", "port=465", "--label", "Mail",
                "--default", "--json",
            ]
        ).json()
        XCTAssertEqual(updated["version"] as? Int, 2)
        XCTAssertEqual(updated["label"] as? String, "Mail")
        XCTAssertEqual(updated["default"] as? Bool, true)
        let revealed = try coffer.expect(0, ["credentials", "get", "smtp/main", "--org", "acme", "--reveal", "--json"])
            .json()
        XCTAssertEqual((revealed["fields"] as? [String: String])?["password"], "smtp-password-value-99")
        XCTAssertEqual((revealed["fields"] as? [String: String])?["port"], "465")
        try coffer.expect(1, ["credentials", "update", "smtp/main", "--org", "acme", "--set", "port=99999"])
        try coffer.expect(1, ["credentials", "update", "smtp/main", "--org", "acme", "--set", "colour=blue"])
        try coffer.expect(1, ["credentials", "rotate-key", "smtp/main", "--org", "acme", "--set", "port=25"])
        try coffer.expect(
            0, ["credentials", "rotate-key", "smtp/main", "--org", "acme", "--set", "password=another-password-77"])
        let history = try coffer.expect(0, ["credentials", "history", "smtp/main", "--org", "acme", "--json"]).json()
        let changes = try XCTUnwrap(history["history"] as? [[String: Any]])
        XCTAssertEqual(
            changes.map { $0["change"] as? String },
            ["created", "relabeled", "fields_updated", "default_set", "rotated"])
        XCTAssertEqual(changes.map { $0["version"] as? Int }, [1, 1, 2, 2, 3])
        XCTAssertEqual(changes.first?["change"] as? String, "created")
        XCTAssertEqual(changes.last?["change"] as? String, "rotated")
        XCTAssertEqual(changes.last?["changed"] as? [String], ["password"])
        let revoked = try coffer.expect(0, ["credentials", "revoke", "smtp/main", "--org", "acme", "--json"]).json()
        XCTAssertEqual(revoked["state"] as? String, "revoked")
        XCTAssertEqual(revoked["default"] as? Bool, false)
        try coffer.expect(1, ["credentials", "revoke", "smtp/main", "--org", "acme"])
        let listed = try XCTUnwrap(
            try coffer.expect(0, ["credentials", "list", "--org", "acme", "--json"]).json()["credentials"]
                as? [[String: Any]])
        XCTAssertEqual(listed.map { $0["state"] as? String }, ["revoked"])
        try coffer.expect(0, ["credentials", "delete", "smtp/main", "--org", "acme", "--yes"])
        XCTAssertEqual(
            (try coffer.expect(0, ["credentials", "list", "--org", "acme", "--json"]).json()["credentials"] as? [Any])?
                .count, 0)
    }

    func testCustomCredentialsFromSeveralFields() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "internal", "--org", "acme", "--set", "region=eu-west", "--set",
                "api_secret=internal-\"quoted\"-secret",
            ])
        let preview = try coffer.expect(0, ["credentials", "get", "internal/main", "--org", "acme", "--json"]).json()
        XCTAssertEqual(preview["type"] as? String, "custom")
        XCTAssertEqual((preview["fields"] as? [String: String])?["json"], "{api_secret: ••••, region: ••••}")
        let revealed = try coffer.expect(
            0, ["credentials", "get", "internal/main", "--org", "acme", "--json", "--reveal"]
        ).json()
        let object = try JSONSerialization.jsonObject(
            with: Data(((revealed["fields"] as? [String: String])?["json"] ?? "").utf8))
        XCTAssertEqual(object as? [String: String], ["region": "eu-west", "api_secret": "internal-\"quoted\"-secret"])
    }

    func testAssignmentsAndResolutionExitCodes() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        // 3: nothing connected.
        let missing = try coffer.expect(3, ["resolve", "linear", "--org", "acme", "--json"])
        let missingDocument = try missing.json()
        XCTAssertEqual(missingDocument["status"] as? String, "error")
        XCTAssertEqual(missingDocument["code"] as? String, "missing")
        XCTAssertEqual(missingDocument["exit_code"] as? Int, 3, "like every JSON error")
        XCTAssertNotNil(missingDocument["trace"] as? [Any])
        let ids = try XCTUnwrap(
            try coffer.expect(
                0,
                [
                    "credentials", "set", "linear", "--org", "acme", "--slug", "one", "--set", "token=lin_api_one_0001",
                    "--json",
                ]
            ).json()["created"] as? [[String: Any]]
        ).compactMap { $0["id"] as? String }
        try coffer.expect(
            0, ["credentials", "set", "linear", "--org", "acme", "--slug", "two", "--set", "token=lin_api_two_0002"])
        // 4: two organization credentials and no default.
        let ambiguous = try coffer.expect(4, ["resolve", "linear", "--org", "acme", "--json"]).json()
        XCTAssertEqual(ambiguous["code"] as? String, "ambiguous")
        XCTAssertEqual(ambiguous["exit_code"] as? Int, 4)
        XCTAssertEqual((ambiguous["candidates"] as? [Any])?.count, 2)
        XCTAssertTrue(try coffer.expect(4, ["resolve", "linear", "--org", "acme"]).standardError.contains("linear"))
        // 0 once one is the default, with the trace.
        try coffer.expect(0, ["credentials", "update", "linear/one", "--org", "acme", "--default"])
        let resolved = try coffer.expect(0, ["resolve", "linear", "--org", "acme", "--project", "web", "--json"]).json()
        XCTAssertEqual(resolved["status"] as? String, "resolved")
        let credential = try XCTUnwrap(resolved["credential"] as? [String: Any])
        XCTAssertEqual(credential["id"] as? String, ids[0])
        XCTAssertEqual(credential["app"] as? String, "linear")
        XCTAssertEqual(credential["slug"] as? String, "one")
        XCTAssertEqual(credential["scope"] as? String, "organization")
        XCTAssertEqual(credential["owner"] as? String, "acme")
        XCTAssertFalse((resolved["trace"] as? [Any] ?? []).isEmpty)
        let explained = try coffer.expect(0, ["resolve", "linear", "--org", "acme", "--explain"]).standardOutput
        XCTAssertTrue(explained.contains("organization_scope"), explained)
        // An assignment wins over the default.
        try coffer.expect(
            0,
            [
                "assignments", "assign", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--credential",
                "linear/two",
            ])
        let assigned = try coffer.expect(
            0, ["resolve", "linear", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--json"]
        ).json()
        XCTAssertEqual((assigned["credential"] as? [String: Any])?["slug"] as? String, "two")
        XCTAssertEqual(assigned["stage"] as? String, "exact_assignment")
        let list = try XCTUnwrap(
            try coffer.expect(0, ["assignments", "list", "--org", "acme", "--workflow", "triage", "--json"]).json()[
                "assignments"] as? [[String: Any]])
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual((list[0]["target"] as? [String: Any])?["consumer"] as? String, "fetch")
        // Assigning what is assigned changes nothing and says so; another credential for the
        // consumer's app replaces it, and says which.
        let fetch = ["assignments", "assign", "--org", "acme", "--workflow", "triage", "--consumer", "fetch"]
        let same = try coffer.expect(0, fetch + ["--credential", "linear/two"]).standardOutput
        XCTAssertTrue(same.hasPrefix("Unchanged"), same)
        let replacing = try coffer.expect(0, fetch + ["--credential", "linear/one", "--json"]).json()
        XCTAssertEqual(replacing["changed"] as? Bool, true)
        XCTAssertNotNil(replacing["replaced"] as? String)
        let back = try coffer.expect(0, fetch + ["--credential", "linear/two"]).standardOutput
        XCTAssertTrue(back.contains("replacing linear/one"), back)
        // Issue 18 #6: the organization's assignments without a target, and a target's consumers.
        try coffer.expect(
            0,
            [
                "assignments", "assign", "--org", "acme", "--workflow", "triage", "--consumer", "post", "--credential",
                "linear/one",
            ])
        try coffer.expect(
            0, ["assignments", "assign", "--org", "acme", "--agent", "helper", "--credential", "linear/one"])
        let everything = try XCTUnwrap(
            try coffer.expect(0, ["assignments", "list", "--org", "acme", "--json"]).json()["assignments"]
                as? [[String: Any]])
        XCTAssertEqual(everything.count, 3)
        let consumers = try XCTUnwrap(
            try coffer.expect(0, ["assignments", "consumers", "--org", "acme", "--workflow", "triage", "--json"])
                .json()["consumers"]
                as? [[String: Any]])
        XCTAssertEqual(consumers.map { $0["consumer"] as? String }, ["fetch", "post"])
        XCTAssertEqual(consumers.first?["apps"] as? [String], ["linear"])
        XCTAssertTrue(
            try coffer.expect(0, ["assignments", "consumers", "--org", "acme", "--poll", "none"]).standardOutput
                .contains("No assignment"))
        try coffer.expect(64, ["assignments", "consumers", "--org", "acme"])
        try coffer.expect(
            0,
            [
                "assignments", "unassign", "--org", "acme", "--workflow", "triage", "--consumer", "post", "--app",
                "linear",
            ])
        try coffer.expect(0, ["assignments", "unassign", "--org", "acme", "--agent", "helper", "--app", "linear"])
        // 5: the assigned credential is revoked.
        try coffer.expect(0, ["credentials", "revoke", "linear/two", "--org", "acme"])
        let refused = try coffer.expect(
            5, ["resolve", "linear", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--json"]
        ).json()
        XCTAssertEqual(refused["code"] as? String, "revoked")
        XCTAssertEqual(refused["exit_code"] as? Int, 5)
        // 5: user scope without a user actor; a selection that does not exist.
        XCTAssertEqual(
            try coffer.expect(5, ["resolve", "linear", "--org", "acme", "--pin", "user", "--json"]).json()["code"]
                as? String, "no_user_actor")
        // Another organization's credential is answered as an unknown id: neither its
        // existence nor its app is confirmed.
        try coffer.expect(0, ["org", "create", "globex"])
        let foreign = try XCTUnwrap(
            (try coffer.expect(
                0,
                ["credentials", "set", "hubspot", "--org", "globex", "--set", "token=hub-foreign-secret-1", "--json"]
            ).json()["created"] as? [[String: Any]])?.first?["id"] as? String)
        let probe = try coffer.expect(5, ["resolve", "linear", "--org", "acme", "--select", foreign, "--json"]).json()
        XCTAssertEqual(probe["code"] as? String, "not_found")
        XCTAssertFalse((probe["message"] as? String ?? "").contains("hubspot"), "\(probe)")
        let unknown = "cred_" + String(repeating: "0", count: 26)
        XCTAssertEqual(
            try coffer.expect(5, ["resolve", "linear", "--org", "acme", "--select", unknown, "--json"]).json()["code"]
                as? String, "not_found")
        try coffer.expect(
            0,
            [
                "assignments", "unassign", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--app",
                "linear",
            ])
        try coffer.expect(
            1,
            [
                "assignments", "unassign", "--org", "acme", "--workflow", "triage", "--consumer", "fetch", "--app",
                "linear",
            ])
        try coffer.expect(0, ["resolve", "linear", "--org", "acme", "--workflow", "triage", "--consumer", "fetch"])
        // A dry-run delete lists the consumers, changes nothing and exits 1.
        try coffer.expect(
            0, ["assignments", "assign", "--org", "acme", "--agent", "support", "--credential", "linear/one"])
        let dry = try coffer.expect(1, ["credentials", "delete", "linear/one", "--org", "acme"])
        XCTAssertTrue(dry.standardOutput.contains("agent support / *"), dry.standardOutput)
        let deleted = try coffer.expect(0, ["credentials", "delete", "linear/one", "--org", "acme", "--yes", "--json"])
            .json()
        XCTAssertEqual(deleted["deleted"] as? Bool, true)
        XCTAssertEqual((deleted["affected"] as? [String])?.count, 2)
        try coffer.expect(1, ["resolve", "linear", "--org", "nope"])
    }

    /// `--as` is a claim, but a consistent one (issue: identity): the user exists, is a member
    /// of the organization the command works in, and reveals only its own user credentials;
    /// a run's user must be a member too. Every command that takes `--org` is tried.
    func testTheActingUserMustExistBelongAndSeeOnlyItsOwnUserCredentials() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=org-token"])
        try coffer.expect(
            0,
            [
                "credentials", "set", "github", "--org", "acme", "--scope", "user", "--user", "bob", "--set",
                "token=bob-token",
            ])
        let keyID = try XCTUnwrap(
            try coffer.expect(0, ["api-key", "create", "--org", "acme", "--as", "alice", "--name", "ci", "--json"])
                .json()["id"]
                as? String)
        let recordsBefore = try coffer.bytes("v.coffer")

        let unknown = try coffer.expect(
            1, ["credentials", "get", "exa/main", "--org", "acme", "--reveal", "--as", "nobody-real", "--json"])
        XCTAssertEqual(try unknown.errorJSON()["code"] as? String, "not_found")
        XCTAssertFalse(unknown.standardOutput.contains("org-token"))
        XCTAssertFalse(unknown.standardError.contains("nobody-real"), unknown.standardError)
        try coffer.expect(1, ["user", "list", "--as", "nobody-real"])

        let commands: [[String]] = [
            ["assignments", "list", "--agent", "a"], ["assignments", "assign", "--credential", "exa", "--agent", "a"],
            ["assignments", "unassign", "--app", "exa", "--agent", "a"], ["member", "list"],
            ["member", "add", "carol", "--role", "builder"], ["member", "remove", "bob"],
            ["member", "set-role", "bob", "--role", "admin"], ["credentials", "list"],
            ["credentials", "get", "exa", "--reveal"],
            ["credentials", "set", "exa", "--set", "token=t"], ["credentials", "update", "exa", "--label", "x"],
            ["credentials", "history", "exa"], ["credentials", "rotate-key", "exa", "--set", "token=t"],
            ["credentials", "revoke", "exa"], ["credentials", "delete", "exa", "--yes"], ["project", "list"],
            ["project", "create", "x"], ["project", "remove", "web", "--yes"], ["api-key", "list"],
            ["api-key", "create", "--name", "n"], ["api-key", "revoke", keyID], ["resolve", "exa"],
        ]
        for command in commands {
            let result = try coffer.run(command + ["--org", "acme", "--as", "carol", "--json"], standardInput: "")
            XCTAssertEqual(result.status, 1, "\(command): \(result.standardError)")
            XCTAssertEqual(try result.errorJSON()["code"] as? String, "permission_denied", "\(command)")
        }
        try coffer.expect(1, ["org", "remove", "acme", "--yes", "--as", "carol"])
        XCTAssertEqual(try coffer.bytes("v.coffer"), recordsBefore, "a refused command changed the vault")

        // A user credential reveals for its own user, or for the operator (no --as).
        let other = try coffer.expect(
            1, ["credentials", "get", "github/main", "--org", "acme", "--reveal", "--as", "alice", "--json"])
        XCTAssertEqual(try other.errorJSON()["code"] as? String, "not_visible")
        XCTAssertFalse(other.standardOutput.contains("bob-token"))
        XCTAssertTrue(
            try coffer.expect(0, ["credentials", "get", "github/main", "--org", "acme", "--reveal", "--as", "bob"])
                .standardOutput.contains("bob-token"))
        XCTAssertTrue(
            try coffer.expect(0, ["credentials", "get", "github/main", "--org", "acme", "--reveal"]).standardOutput
                .contains("bob-token"))
        // Nor is it changed acting as another user.
        let beforeChanges = try coffer.bytes("v.coffer")
        for change in [
            ["credentials", "update", "github/main", "--label", "Alice's now"],
            ["credentials", "rotate-key", "github/main", "--set", "token=alice-token"],
            ["credentials", "revoke", "github/main"], ["credentials", "delete", "github/main", "--yes"],
            [
                "credentials", "set", "github", "--scope", "user", "--user", "bob", "--slug", "planted", "--default",
                "--set", "token=alice-chose-it",
            ],
        ] {
            let refused = try coffer.expect(1, change + ["--org", "acme", "--as", "alice", "--json"])
            XCTAssertEqual(try refused.errorJSON()["code"] as? String, "not_visible", "\(change)")
        }
        XCTAssertEqual(try coffer.bytes("v.coffer"), beforeChanges, "a refused change changed the vault")
        try coffer.expect(
            0, ["credentials", "update", "github/main", "--org", "acme", "--label", "Bob's", "--as", "bob"])
        // History records the member who acted.
        try coffer.expect(
            0, ["credentials", "update", "exa/main", "--org", "acme", "--label", "By Alice", "--as", "alice"])
        XCTAssertTrue(
            try coffer.expect(0, ["credentials", "history", "exa/main", "--org", "acme"]).standardOutput.contains(
                "alice"))

        // A run's user must be a member of the organization.
        let run = try coffer.run(["resolve", "github", "--org", "acme", "--pin", "user", "--user", "carol", "--json"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(try run.json()["code"] as? String, "invalid_input")
        try coffer.expect(0, ["resolve", "github", "--org", "acme", "--pin", "user", "--user", "bob"])
    }

    func testAPIKeys() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let created = try coffer.expect(
            0, ["api-key", "create", "--org", "acme", "--as", "bob", "--name", "Builder script"])
        let key = created.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(key.hasPrefix("ck_live_"), key)
        XCTAssertFalse(created.standardError.contains(key))
        let json = try coffer.expect(
            0, ["api-key", "create", "--org", "acme", "--as", "alice", "--name", "Admin script", "--json"]
        ).json()
        let adminKey = try XCTUnwrap(json["key"] as? String)
        let adminKeyID = try XCTUnwrap(json["id"] as? String)
        // A builder sees only its own keys; an admin sees all.
        let bobKeys = try XCTUnwrap(
            try coffer.expect(0, ["api-key", "list", "--org", "acme", "--as", "bob", "--json"]).json()["api_keys"]
                as? [[String: Any]])
        XCTAssertEqual(bobKeys.map { $0["name"] as? String }, ["Builder script"])
        let aliceKeys = try XCTUnwrap(
            try coffer.expect(0, ["api-key", "list", "--org", "acme", "--as", "alice", "--json"]).json()["api_keys"]
                as? [[String: Any]])
        XCTAssertEqual(aliceKeys.count, 2)
        XCTAssertTrue(aliceKeys.allSatisfy { ($0["preview"] as? String)?.contains("••••") ?? false })
        try coffer.expect(1, ["api-key", "list", "--org", "acme", "--as", "carol"])
        let check = try coffer.expect(0, ["api-key", "check", "--org", "acme", "--json"], standardInput: key + "\n")
            .json()
        XCTAssertEqual(check["user"] as? String, "bob")
        XCTAssertEqual(check["role"] as? String, "builder")
        try coffer.expect(1, ["api-key", "check", "--org", "acme"], standardInput: "ck_live_notarealkey\n")
        try coffer.expect(1, ["api-key", "revoke", adminKeyID, "--org", "acme", "--as", "bob"])
        try coffer.expect(0, ["api-key", "revoke", adminKeyID, "--org", "acme", "--as", "alice"])
        try coffer.expect(1, ["api-key", "check", "--org", "acme"], standardInput: adminKey)
    }

    /// Issue 17 #4: putting back a copy of the vault from before a revocation re-enables the
    /// revoked API key, by the file alone; with a head file (or an expected head) every command
    /// refuses that copy.
    func testARollbackThatWouldReEnableARevokedAPIKeyIsRefusedWithAHeadFile() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        coffer.environment["COFFER_HEAD_FILE"] = coffer.path("team.head")
        let json = try coffer.expect(
            0, ["api-key", "create", "--org", "acme", "--as", "alice", "--name", "ci", "--json"]
        ).json()
        let key = try XCTUnwrap(json["key"] as? String)
        let beforeRevocation = try coffer.bytes("v.coffer")
        try coffer.expect(
            0, ["api-key", "revoke", try XCTUnwrap(json["id"] as? String), "--org", "acme", "--as", "alice"])
        let head = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        try coffer.expect(1, ["api-key", "check", "--org", "acme"], standardInput: key + "\n")
        try coffer.write("v.coffer", beforeRevocation)
        let refused = try coffer.expect(2, ["api-key", "check", "--org", "acme"], standardInput: key + "\n")
        XCTAssertTrue(refused.standardError.contains("rolled back"), refused.standardError)
        try coffer.expect(
            2, ["api-key", "check", "--org", "acme"],
            environment: ["COFFER_HEAD_FILE": "", "COFFER_EXPECT_HEAD": head],
            standardInput: key + "\n")
        // The attack itself: without a head to check, the old copy accepts the revoked key.
        try coffer.expect(
            0, ["api-key", "check", "--org", "acme"], environment: ["COFFER_HEAD_FILE": ""], standardInput: key + "\n")
    }

    /// `--field NAME` (issue 18 #2): exactly the value's bytes and nothing else, from `get` and
    /// from `resolve`, a custom credential's members included; a terminal only with --force;
    /// an unknown field names the fields there are and never repeats what was given.
    func testOneFieldRawFromGetAndResolve() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=sk-exa-0123456789"])
        try coffer.expect(
            0,
            [
                "credentials", "set", "svc", "--org", "acme", "--type", "custom", "--set", "key=k-1", "--set",
                #"quote=a"b\c é"#,
            ])
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "exa/main", "--org", "acme", "--field", "token"])
                .standardOutput, "sk-exa-0123456789")
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "svc/main", "--org", "acme", "--field", "quote"])
                .standardOutput, #"a"b\c é"#)
        XCTAssertEqual(
            try coffer.expect(0, ["credentials", "get", "svc/main", "--org", "acme", "--field", "json"]).standardOutput,
            #"{"key":"k-1","quote":"a\"b\\c é"}"#)
        XCTAssertEqual(
            try coffer.expect(0, ["resolve", "exa", "--org", "acme", "--project", "web", "--field", "token"])
                .standardOutput,
            "sk-exa-0123456789")
        try coffer.expect(
            0, ["credentials", "update", "exa/main", "--org", "acme", "--set", "token=sk-exa-rotated-000"])
        XCTAssertEqual(
            try coffer.expect(
                0, ["credentials", "get", "exa/main", "--org", "acme", "--field", "token", "--at-version", "1"]
            ).standardOutput,
            "sk-exa-0123456789")

        let unknown = try coffer.expect(
            1, ["credentials", "get", "exa/main", "--org", "acme", "--field", "sk-pasted-by-mistake"])
        XCTAssertEqual(unknown.standardOutput, "")
        XCTAssertTrue(unknown.standardError.contains("Its fields with a value: token;"), unknown.standardError)
        // A field of the type without a value is not listed among those with one.
        try coffer.expect(
            0,
            [
                "credentials", "set", "mail", "--org", "acme", "--type", "smtp", "--set", "host=smtp.example.com",
                "--set", "port=587", "--set", "encryption=starttls",
            ])
        let unset = try coffer.expect(1, ["credentials", "get", "mail/main", "--org", "acme", "--field", "password"])
        XCTAssertTrue(unset.standardError.contains("has no value for the field"), unset.standardError)
        XCTAssertTrue(
            unset.standardError.contains("Its fields with a value: host, port, encryption;"), unset.standardError)
        XCTAssertFalse(unknown.standardError.contains("sk-pasted"), unknown.standardError)
        let member = try coffer.expect(1, ["credentials", "get", "svc/main", "--org", "acme", "--field", "region"])
        XCTAssertTrue(member.standardError.contains("Its members: key, quote"), member.standardError)
        try coffer.expect(64, ["credentials", "get", "exa/main", "--org", "acme", "--field", "token", "--json"])
        try coffer.expect(64, ["resolve", "exa", "--org", "acme", "--field", "token", "--explain"])
        try coffer.expect(3, ["resolve", "linear", "--org", "acme", "--field", "token"])
        try coffer.expect(1, ["credentials", "get", "exa/main", "--org", "acme", "--field", "token", "--as", "carol"])

        func onTerminal(_ arguments: [String]) -> (ExitStatus, String) {
            let output = BufferSink()
            let context = CommandContext(
                standardOutput: output, standardError: BufferSink(), environment: coffer.environment,
                standardOutputIsTerminal: true)
            return (CofferTool.run(arguments, in: context), output.text)
        }
        XCTAssertEqual(onTerminal(["credentials", "get", "exa/main", "--org", "acme", "--field", "token"]).0, .usage)
        XCTAssertEqual(onTerminal(["resolve", "exa", "--org", "acme", "--field", "token"]).0, .usage)
        let forced = onTerminal(["credentials", "get", "exa/main", "--org", "acme", "--field", "token", "--force"])
        XCTAssertEqual(forced.0, .success)
        XCTAssertEqual(forced.1, "sk-exa-rotated-000\n", "a newline on a terminal only")
    }

    /// Issue 18 #7: a table a person reads at 80 columns; every column with --output wide;
    /// chosen columns; the last column cut to a terminal's width, never in a pipe.
    func testCredentialTablesFitTheTerminal() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "exa", "--org", "acme", "--scope", "project", "--project", "web", "--label",
                "A long label that would make the table wide", "--set", "token=sk-exa-0123456789abcdef0123456789",
            ])
        let narrow = try coffer.expect(0, ["credentials", "list", "--org", "acme"]).standardOutput
        XCTAssertTrue(narrow.hasPrefix("CREDENTIAL  OWNER        TYPE       STATE   VERSION  FIELDS\n"), narrow)
        XCTAssertTrue(narrow.contains("exa/main    project web  api_token  active  1        token=••••6789"), narrow)
        XCTAssertTrue(narrow.split(separator: "\n").allSatisfy { $0.count <= 80 }, narrow)
        let wide = try coffer.expect(0, ["credentials", "list", "--org", "acme", "-o", "wide"]).standardOutput
        XCTAssertTrue(wide.contains("A long label that would make the table wide"), wide)
        XCTAssertTrue(wide.hasPrefix("ID "), wide)
        let chosen = try coffer.expect(0, ["credentials", "list", "--org", "acme", "--columns", "credential,label"])
            .standardOutput
        XCTAssertEqual(chosen, "CREDENTIAL  LABEL\nexa/main    A long label that would make the table wide\n")
        try coffer.expect(64, ["credentials", "list", "--org", "acme", "--columns", "credential,secret"])
        try coffer.expect(64, ["credentials", "list", "--org", "acme", "--columns", "id", "-o", "wide"])
        let output = BufferSink()
        var context = CommandContext(
            standardOutput: output, standardError: BufferSink(),
            environment: coffer.environment.merging(["NO_COLOR": "1"]) { $1 },
            standardOutputIsTerminal: true)
        context.outputColumns = 40
        XCTAssertEqual(
            CofferTool.run(["credentials", "list", "--org", "acme", "--columns", "credential,label"], in: context),
            .success)
        XCTAssertEqual(
            output.text, "CREDENTIAL  LABEL\nexa/main    A long label that would mak…\n", "40 columns exactly")
        // One slug fanned out to two projects: at any width the rows differ by their owner.
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--scope", "project", "--project", "web", "--project",
                "data", "--slug", "work", "--set", "token=lin-0123456789abcdef0123",
            ])
        let fanned = BufferSink()
        context = CommandContext(
            standardOutput: fanned, standardError: BufferSink(),
            environment: coffer.environment.merging(["NO_COLOR": "1"]) { $1 }, standardOutputIsTerminal: true)
        context.outputColumns = 50
        XCTAssertEqual(
            CofferTool.run(["credentials", "list", "--org", "acme", "--app", "linear"], in: context), .success)
        XCTAssertTrue(fanned.text.contains("project web "), fanned.text)
        XCTAssertTrue(fanned.text.contains("project data "), fanned.text)
    }

    /// Issue 18 #5: rollback to a retained version as a new version; renames of organizations,
    /// projects and users that keep every id; each a no-op when nothing changes.
    func testRollbackAndRenames() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "mail", "--org", "acme", "--type", "smtp", "--set", "host=smtp.example.com",
                "--set", "port=587", "--set", "encryption=starttls", "--set", "username=bot", "--set",
                "password=first-password",
            ])
        try coffer.expect(
            0, ["credentials", "rotate-key", "mail/main", "--org", "acme", "--set", "password=second-password"])
        try coffer.expect(
            0, ["credentials", "update", "mail/main", "--org", "acme", "--set", "username=other", "--set", "port=465"])
        let rolled = try coffer.expect(
            0, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "1", "--json"]
        ).json()
        XCTAssertEqual(rolled["version"] as? Int, 4)
        XCTAssertEqual(rolled["changed"] as? Bool, true)
        func field(_ name: String) throws -> String {
            try coffer.expect(0, ["credentials", "get", "mail/main", "--org", "acme", "--field", name]).standardOutput
        }
        XCTAssertEqual(try field("password"), "first-password")
        XCTAssertEqual(try field("username"), "bot")
        XCTAssertEqual(try field("port"), "587")
        let history = try coffer.expect(0, ["credentials", "history", "mail/main", "--org", "acme", "--json"])
            .standardOutput
        XCTAssertTrue(history.contains("\"version\":4") || history.contains("\"version\": 4"), history)
        let again = try coffer.expect(
            0, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "1", "--json"]
        ).json()
        XCTAssertEqual(again["changed"] as? Bool, false)
        XCTAssertEqual(again["version"] as? Int, 4)
        let unchangedText = try coffer.expect(
            0, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "1"]
        ).standardOutput
        XCTAssertTrue(unchangedText.contains("the current values are version 1's"), unchangedText)
        let never = try coffer.expect(1, ["credentials", "get", "mail/main", "--org", "acme", "--at-version", "9"])
        XCTAssertTrue(never.standardError.contains("has no version 9"), never.standardError)
        try coffer.expect(64, ["credentials", "get", "mail/main", "--org", "acme", "--field", "host", "--reveal"])
        try coffer.expect(64, ["credentials", "get", "mail/main", "--org", "acme", "--force"])
        try coffer.expect(1, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "4"])
        try coffer.expect(1, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "0"])
        try coffer.expect(0, ["credentials", "revoke", "mail/main", "--org", "acme"])
        try coffer.expect(1, ["credentials", "rollback", "mail/main", "--org", "acme", "--to-version", "2"])

        let org = try coffer.expect(
            0, ["org", "rename", "acme", "--slug", "acme-corp", "--name", "Acme Corporation", "--json"]
        ).json()
        XCTAssertEqual(org["slug"] as? String, "acme-corp")
        XCTAssertEqual(org["changed"] as? Bool, true)
        try coffer.expect(0, ["project", "rename", "web", "--org", "acme-corp", "--slug", "website"])
        try coffer.expect(0, ["user", "rename", "alice", "--handle", "alice-w", "--name", "Alice W."])
        XCTAssertEqual(
            try coffer.expect(0, ["org", "rename", "acme-corp", "--name", "Acme Corporation", "--json"]).json()[
                "changed"] as? Bool, false)
        try coffer.expect(1, ["org", "rename", "acme-corp", "--slug", "Not A Slug"])
        try coffer.expect(64, ["project", "rename", "website", "--org", "acme-corp"])
        try coffer.expect(1, ["project", "rename", "website", "--org", "acme-corp", "--slug", "data"])
        try coffer.expect(1, ["org", "rename", "acme-corp", "--name", "x", "--as", "carol"])
        // Every id stayed: the credential resolves under the new names.
        try coffer.expect(0, ["member", "list", "--org", "acme-corp"])
        try coffer.expect(0, ["credentials", "list", "--org", "acme-corp", "--project", "website"])
        XCTAssertTrue(
            try coffer.expect(0, ["member", "list", "--org", "acme-corp"]).standardOutput.contains("alice-w"))
    }

    /// `credentials restore` un-revokes: the kept assignment pins it again, the default mark
    /// stays cleared; `update --new-slug` renames an instance, keeping its id and assignments.
    func testRestoreARevokedCredentialAndChangeItsSlug() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--slug", "work", "--default", "--set",
                "token=lin-restore-secret-1",
            ])
        try coffer.expect(
            0, ["assignments", "assign", "--org", "acme", "--workflow", "triage", "--credential", "linear/work"])
        let resolve = ["resolve", "linear", "--org", "acme", "--workflow", "triage", "--field", "token"]
        try coffer.expect(0, ["credentials", "revoke", "linear/work", "--org", "acme"])
        try coffer.expect(5, resolve)
        let restored = try coffer.expect(0, ["credentials", "restore", "linear/work", "--org", "acme", "--json"]).json()
        XCTAssertEqual(restored["state"] as? String, "active")
        XCTAssertEqual(restored["default"] as? Bool, false)
        XCTAssertEqual(try coffer.expect(0, resolve).standardOutput, "lin-restore-secret-1")
        let notRevoked = try coffer.expect(1, ["credentials", "reinstate", "linear/work", "--org", "acme", "--json"])
        XCTAssertEqual(try notRevoked.errorJSON()["code"] as? String, "invalid_input")

        let id = try XCTUnwrap(restored["id"] as? String)
        let renamed = try coffer.expect(
            0, ["credentials", "update", "linear/work", "--org", "acme", "--new-slug", "production", "--json"]
        ).json()
        XCTAssertEqual(renamed["slug"] as? String, "production")
        XCTAssertEqual(renamed["id"] as? String, id)
        try coffer.expect(1, ["credentials", "get", "linear/work", "--org", "acme"])
        XCTAssertEqual(try coffer.expect(0, resolve).standardOutput, "lin-restore-secret-1")
        try coffer.expect(
            0,
            [
                "credentials", "set", "linear", "--org", "acme", "--slug", "work", "--set",
                "token=lin-other-secret-2",
            ])
        let taken = try coffer.expect(
            1, ["credentials", "update", "linear/work", "--org", "acme", "--new-slug", "production", "--json"])
        XCTAssertEqual(try taken.errorJSON()["code"] as? String, "already_exists")
        let bad = try coffer.expect(
            1, ["credentials", "update", "linear/work", "--org", "acme", "--new-slug", "No Good"])
        XCTAssertFalse(bad.standardError.contains("No Good"), bad.standardError)
        let history = try coffer.expect(0, ["credentials", "history", "linear/production", "--org", "acme", "--json"])
            .json()
        let kinds = (history["history"] as? [[String: Any]] ?? []).compactMap { $0["change"] as? String }
        XCTAssertEqual(kinds.suffix(4), ["default_cleared", "revoked", "reinstated", "slug_changed"])

        // One slug in two projects: of the two, restore takes the revoked one and revoke the
        // active one, without a filter; both revoked, restore asks which.
        for project in ["web", "data"] {
            try coffer.expect(
                0,
                [
                    "credentials", "set", "exa", "--org", "acme", "--scope", "project", "--project", project,
                    "--set", "token=exa-\(project)-secret-123456",
                ])
        }
        try coffer.expect(0, ["credentials", "revoke", "exa/main", "--org", "acme", "--project", "web"])
        let revoked = try coffer.expect(0, ["credentials", "revoke", "exa/main", "--org", "acme", "--json"]).json()
        XCTAssertEqual(revoked["owner"] as? String, "data", "\(revoked)")
        let ambiguous = try coffer.expect(1, ["credentials", "restore", "exa/main", "--org", "acme", "--json"])
        XCTAssertEqual(try ambiguous.errorJSON()["code"] as? String, "ambiguous")
        try coffer.expect(0, ["credentials", "restore", "exa/main", "--org", "acme", "--project", "data"])
        let picked = try coffer.expect(0, ["credentials", "restore", "exa/main", "--org", "acme", "--json"]).json()
        XCTAssertEqual(picked["owner"] as? String, "web", "\(picked)")
        try coffer.expect(0, ["verify"])
    }

    /// A `custom` credential keeps every member through edits: the case that erased them.
    func testCustomMembersSurviveUpdatesRotationsBlanksAndClears() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0, ["credentials", "set", "svc", "--org", "acme", "--set", "key=svc-secret-0001", "--set", "region=eu"])
        func members() throws -> [String: String] {
            let revealed = try coffer.expect(
                0, ["credentials", "get", "svc/main", "--org", "acme", "--reveal", "--json"]
            ).json()
            let text = try XCTUnwrap((revealed["fields"] as? [String: String])?["json"])
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        }
        // A blank member is no change: nothing written, and the answer says so.
        let blank = try coffer.expect(
            0, ["credentials", "update", "svc/main", "--org", "acme", "--set", "key=", "--json"]
        ).json()
        XCTAssertEqual(blank["changed"] as? Bool, false)
        XCTAssertEqual(blank["version"] as? Int, 1)
        let same = try coffer.expect(0, ["credentials", "update", "svc/main", "--org", "acme", "--set", "region=eu"])
        XCTAssertTrue(same.standardOutput.hasPrefix("Unchanged"), same.standardOutput)
        XCTAssertEqual(try members(), ["key": "svc-secret-0001", "region": "eu"])
        // One member at a time.
        let updated = try coffer.expect(
            0, ["credentials", "update", "svc/main", "--org", "acme", "--set", "region=us", "--json"]
        ).json()
        XCTAssertEqual(updated["changed"] as? Bool, true)
        XCTAssertEqual(try members(), ["key": "svc-secret-0001", "region": "us"])
        try coffer.expect(
            0, ["credentials", "rotate-key", "svc/main", "--org", "acme", "--set", "key=svc-secret-0002"])
        XCTAssertEqual(try members(), ["key": "svc-secret-0002", "region": "us"])
        try coffer.expect(
            0, ["credentials", "update", "svc/main", "--org", "acme", "--clear", "region", "--set", "zone=b"])
        XCTAssertEqual(try members(), ["key": "svc-secret-0002", "zone": "b"])
        try coffer.expect(1, ["credentials", "update", "svc/main", "--org", "acme", "--clear", "region"])
        // History names the members each version changed.
        let history = try coffer.expect(0, ["credentials", "history", "svc/main", "--org", "acme", "--json"]).json()
        let entries = try XCTUnwrap(history["history"] as? [[String: Any]])
        XCTAssertEqual(
            entries.compactMap { $0["changed_members"] as? [String] }, [["region"], ["key"], ["region", "zone"]])
        let text = try coffer.expect(0, ["credentials", "history", "svc/main", "--org", "acme"]).standardOutput
        XCTAssertTrue(text.contains("json (region, zone)"), text)
        XCTAssertFalse(text.contains("svc-secret"), "no value in history")
    }
}
