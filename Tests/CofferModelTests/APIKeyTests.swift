import CofferCrypto
import CofferTestSupport
import XCTest

@testable import CofferModel

final class APIKeyTests: XCTestCase {
    let hashKey = SecureBytes(randomCount: 32)

    func testKeyIsShownOnceAndOnlyItsHashIsStored() throws {
        var fixture = try Fixture()
        let created = try fixture.vault.commit(
            fixture.vault.planner.createAPIKey(in: "acme", creator: "bob", name: "CI", hashKey: hashKey))
        let text = plaintext(created.secret)
        XCTAssertTrue(text.hasPrefix("ck_live_"))
        XCTAssertEqual(text.count, APIKeyFormat.characterCount)
        XCTAssertTrue(APIKeyFormat.isWellFormed(created.secret))
        XCTAssertEqual(created.preview, "ck_live_••••" + text.suffix(4))
        // Neither the index nor the log holds the key.
        let info = try XCTUnwrap(fixture.index.apiKey(id: created.id))
        XCTAssertEqual(info.preview, created.preview)
        XCTAssertEqual(info.creator, fixture.bob)
        let logged = fixture.vault.log.last![0].body.withUnsafeBytes { Array($0) }
        XCTAssertNil(logged.firstRange(of: Array(text.utf8)))
        XCTAssertNotNil(logged.firstRange(of: APIKeyFormat.hash(of: created.secret, hashKey: hashKey)))
        XCTAssertFalse("\(fixture.vault.log.last![0])".contains(text))
    }

    func testCheckReturnsOrganizationCreatorAndRole() throws {
        var fixture = try Fixture()
        let created = try fixture.vault.commit(
            fixture.vault.planner.createAPIKey(in: "acme", creator: "carol", name: "CI", hashKey: hashKey))
        let check = try fixture.index.checkAPIKey(created.secret, hashKey: hashKey)
        XCTAssertEqual(
            check, APIKeyCheck(apiKey: created.id, organization: fixture.acme, user: fixture.carol, role: .admin))
        // The role is the creator's current role.
        try fixture.vault.commit(fixture.vault.planner.changeRole(of: "carol", in: "acme", to: .builder))
        XCTAssertEqual(try fixture.index.checkAPIKey(created.secret, hashKey: hashKey).role, .builder)
        // A wrong hash key, another key, or a malformed one all fail the same way.
        let otherKey = SecureBytes(randomCount: 32)
        let wrong = assertThrowsCoffer(.permissionDenied) {
            try fixture.index.checkAPIKey(created.secret, hashKey: otherKey)
        }
        let unknown = assertThrowsCoffer(.permissionDenied) {
            try fixture.index.checkAPIKey(APIKeyFormat.generate(), hashKey: hashKey)
        }
        let malformed = assertThrowsCoffer(.permissionDenied) {
            try fixture.index.checkAPIKey(secret("ck_live_short"), hashKey: hashKey)
        }
        XCTAssertEqual(wrong?.message, unknown?.message)
        XCTAssertEqual(unknown?.message, malformed?.message)
        XCTAssertFalse(wrong?.message.contains(plaintext(created.secret)) ?? true)
    }

    func testRevocationIsImmediate() throws {
        var fixture = try Fixture()
        let created = try fixture.vault.commit(
            fixture.vault.planner.createAPIKey(in: "acme", creator: "bob", name: "CI", hashKey: hashKey))
        XCTAssertNoThrow(try fixture.index.checkAPIKey(created.secret, hashKey: hashKey))
        try fixture.vault.commit(fixture.vault.planner.revokeAPIKey(created.id, in: "acme", actingUser: "bob"))
        assertThrowsCoffer(.permissionDenied) { try fixture.index.checkAPIKey(created.secret, hashKey: hashKey) }
        XCTAssertEqual(fixture.index.apiKey(id: created.id)?.state, .revoked)
        XCTAssertNotNil(fixture.index.apiKey(id: created.id)?.revoked)
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.revokeAPIKey(created.id, in: "acme", actingUser: "alice")
        }
    }

    func testVisibilityFollowsTheRole() throws {
        var fixture = try Fixture()
        var keys: [String: APIKeyID] = [:]
        for creator in ["alice", "bob", "carol", "dave"] {
            keys[creator] = try fixture.vault.commit(
                fixture.vault.planner.createAPIKey(
                    in: "acme", creator: creator, name: "\(creator)'s key", hashKey: hashKey)
            ).id
        }
        let index = fixture.index
        XCTAssertEqual(
            Set(try index.apiKeys(organization: fixture.acme, visibleTo: fixture.alice).map(\.id)), Set(keys.values))
        XCTAssertEqual(
            Set(try index.apiKeys(organization: fixture.acme, visibleTo: fixture.carol).map(\.id)), Set(keys.values))
        XCTAssertEqual(try index.apiKeys(organization: fixture.acme, visibleTo: fixture.bob).map(\.id), [keys["bob"]!])
        XCTAssertEqual(
            try index.apiKeys(organization: fixture.acme, visibleTo: fixture.dave).map(\.id), [keys["dave"]!])
        assertThrowsCoffer(.permissionDenied) { try index.apiKeys(organization: fixture.acme, visibleTo: fixture.erin) }
        // A builder revokes its own key only; an admin revokes anyone's.
        assertThrowsCoffer(.permissionDenied) {
            try fixture.vault.planner.revokeAPIKey(keys["dave"]!, in: "acme", actingUser: "bob")
        }
        assertThrowsCoffer(.permissionDenied) {
            try fixture.vault.planner.revokeAPIKey(keys["alice"]!, in: "acme", actingUser: "bob")
        }
        XCTAssertNoThrow(try fixture.vault.planner.revokeAPIKey(keys["bob"]!, in: "acme", actingUser: "bob"))
        XCTAssertNoThrow(try fixture.vault.planner.revokeAPIKey(keys["alice"]!, in: "acme", actingUser: "carol"))
        assertThrowsCoffer(.notFound) {
            try fixture.vault.planner.revokeAPIKey(keys["alice"]!, in: "globex", actingUser: "erin")
        }
        // Only members create keys.
        assertThrowsCoffer(.permissionDenied) {
            try fixture.vault.planner.createAPIKey(in: "acme", creator: "erin", name: "x", hashKey: hashKey)
        }
    }

    func testHashFormula() {
        let key = secret("ck_live_0123456789abcdefghjkmnpqrstvwxyz")
        let expected = Blake2b.keyedHash(key: hashKey, Array("ck_live_0123456789abcdefghjkmnpqrstvwxyz".utf8))
        XCTAssertEqual(APIKeyFormat.hash(of: key, hashKey: hashKey), expected)
        XCTAssertTrue(APIKeyFormat.isWellFormed(key))
        XCTAssertFalse(APIKeyFormat.isWellFormed(secret("ck_live_0123456789abcdefghjkmnpqrstvwxyu")))
        XCTAssertFalse(APIKeyFormat.isWellFormed(secret("ck_test_0123456789abcdefghjkmnpqrstvwxyz")))
    }
}
