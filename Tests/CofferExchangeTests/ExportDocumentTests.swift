import Coffer
import Foundation
import XCTest

@testable import CofferExchange

/// Reading an export: every structural rule of X-READ, each error naming its JSON path.
final class ExportDocumentTests: XCTestCase {
    /// The vector's content as a mutable JSON object.
    func content() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(BundleVectorBuilder.content)) as! [String: Any]
    }

    func decode(_ object: [String: Any]) throws -> ExportDocument {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try Array(data).withUnsafeBytes { try ExportDocument.decode($0) }
    }

    /// Asserts the changed document is refused with `code` and a message holding `words`, and
    /// not `absent`.
    func assertRefused(
        _ words: String, code: CofferError.Code = .invalidInput, absent: String? = nil,
        file: StaticString = #filePath, line: UInt = #line, _ change: (inout [String: Any]) -> Void
    ) throws {
        var object = try content()
        change(&object)
        XCTAssertThrowsError(try decode(object), file: file, line: line) { error in
            let error = error as! CofferError
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(words), error.message, file: file, line: line)
            if let absent {
                XCTAssertFalse(error.message.contains(absent), "a refused name was repeated", file: file, line: line)
            }
        }
    }

    /// Edits element `index` of array `name`.
    func edit(_ object: inout [String: Any], _ name: String, _ index: Int = 0, _ change: (inout [String: Any]) -> Void)
    {
        var array = object[name] as! [[String: Any]]
        change(&array[index])
        object[name] = array
    }

    func testTheVectorContentDecodesAndWritesBackTheSameBytes() throws {
        let document = try BundleVectorBuilder.content.withUnsafeBytes { try ExportDocument.decode($0) }
        let buffer = SecretBuffer()
        document.write(to: buffer)
        XCTAssertEqual(buffer.withUnsafeBytes { Array($0) }, BundleVectorBuilder.content)
        XCTAssertEqual(
            document.credentials[0].olderVersions[0].fields?.fieldValues?["token"],
            Fixture.secret("sk-live-old\"quoted\"\n"))
    }

    func testStructuralRulesNameThePath() throws {
        try assertRefused("not a Coffer export") { $0["format"] = "something-else" }
        try assertRefused("format version 2", code: .unsupportedVersion) { $0["format_version"] = 2 }
        try assertRefused("$: the member \"users\" is missing") { $0["users"] = nil }
        try assertRefused("$: the member \"extra\" is not part of the format") { $0["extra"] = 1 }
        try assertRefused("$.version_retention: expected a whole number from 0 to 1000") {
            $0["version_retention"] = 1001
        }
        try assertRefused("$.organizations[0].id: expected an identifier `org_`") {
            self.edit(&$0, "organizations") { $0["id"] = "acme" }
        }
        try assertRefused("$.organizations[0].created: expected an object") {
            self.edit(&$0, "organizations") { $0["created"] = 5 }
        }
        try assertRefused("$.projects[0].organization: no organization of the export") {
            self.edit(&$0, "projects") { $0["organization"] = "org_0000000000000g000000000009" }
        }
        try assertRefused("$.memberships[0].role: expected one of owner, admin, builder") {
            self.edit(&$0, "memberships") { $0["role"] = "root" }
        }
        try assertRefused("$.credentials[0].owner: no member of the credential's organization") {
            self.edit(&$0, "credentials") {
                $0["scope"] = "user"
                $0["owner"] = "usr_0000000000001g000000000009"
            }
        }
        try assertRefused("$.credentials[0].owner: an organization credential is owned by its own organization") {
            self.edit(&$0, "credentials") { $0["owner"] = "org_0000000000000g000000000009" }
        }
        try assertRefused("$.credentials[0].fields: a name in it is not a field of the api_token type") {
            self.edit(&$0, "credentials") { $0["fields"] = ["token": "x", "password": "y"] }
        }
        // A name that is not a field is never repeated: it may be a secret put there by mistake.
        let misplaced = "sk-live-0123456789abcdef"
        try assertRefused("$.credentials[0].fields: a name in it is not a field", absent: misplaced) {
            self.edit(&$0, "credentials") { $0["fields"] = ["token": "x", misplaced: "y"] }
        }
        try assertRefused("$.credentials[0].version: the version must be that of the last change") {
            self.edit(&$0, "credentials") { $0["version"] = 3 }
        }
        try assertRefused("$.credentials[0].history[0].fields[0]: expected a field of the api_token type") {
            self.edit(&$0, "credentials") {
                var history = $0["history"] as! [[String: Any]]
                history[0]["fields"] = ["secret"]
                $0["history"] = history
            }
        }
        try assertRefused("$.credentials[0].retained_versions[0].version: retained versions are older") {
            self.edit(&$0, "credentials") { $0["retained_versions"] = [["version": 2, "fields": ["token": "x"]]] }
        }
        try assertRefused("$.assignments[0].credential: no `slack` credential of the organization") {
            self.edit(&$0, "assignments") { $0["app"] = "slack" }
        }
        try assertRefused("$.api_keys[0].revoked: a revoked key has its revocation stamp") {
            self.edit(&$0, "api_keys") { $0["state"] = "active" }
        }
        try assertRefused("$.users[1].handle: another user has this handle") {
            var users = $0["users"] as! [[String: Any]]
            var copy = users[0]
            copy["id"] = "usr_0000000000001g000000000002"
            users.append(copy)
            $0["users"] = users
        }
    }
}
