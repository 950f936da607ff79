import CofferCrypto
import CofferErrors
import CofferFormat
import CofferTestSupport
import Foundation
import XCTest

@testable import CofferModel

/// OPS-FIELD-CUSTOM: a `custom` credential's members are edited one by one; a blank value
/// keeps the stored one, a cleared member goes, everything else stays byte for byte.
final class CustomObjectTests: XCTestCase {
    /// The object of the current version, parsed (tests only).
    func object(_ vault: TestVault, _ id: CredentialID) throws -> [String: Any] {
        let text = try XCTUnwrap(try vault.revealed(id)["json"])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func strings(_ object: [String: Any]) -> [String: String] {
        object.compactMapValues { $0 as? String }
    }

    func custom(_ fixture: inout Fixture, _ values: [String: String]) throws -> CredentialID {
        let draft = CredentialDraft(
            appKey: "svc", slug: "main", label: "Service", type: .custom, fields: fields(values))
        return try fixture.vault.commit(fixture.vault.planner.createCredential(in: "acme", draft))[0]
    }

    func update(
        _ fixture: inout Fixture, _ id: CredentialID, _ values: [String: String], clearing: Set<String> = []
    ) throws -> Plan<CredentialID> {
        try fixture.vault.planner.updateCredential(
            id.description, in: "acme", CredentialUpdate(fields: fields(values), clearedFields: clearing),
            reveal: fixture.vault.read)
    }

    /// Commits a plan unless it is empty, as the engine does.
    func commitIfAny(_ fixture: inout Fixture, _ plan: Plan<CredentialID>) throws {
        if !plan.isEmpty { try fixture.vault.commit(plan) }
    }

    func testMembersAreMergedKeptAndClearedOneByOne() throws {
        var fixture = try Fixture()
        let id = try custom(&fixture, ["key": "secret-key-0001", "region": "eu"])
        XCTAssertEqual(
            try fixture.vault.revealed(id)["json"], #"{"key":"secret-key-0001","region":"eu"}"#, "names in byte order")

        // A blank member keeps its value: nothing changes, nothing is written.
        XCTAssertTrue(try update(&fixture, id, ["key": ""]).isEmpty)
        // The same value again changes nothing either.
        XCTAssertTrue(try update(&fixture, id, ["region": "eu"]).isEmpty)
        // One member changes; the secret stays.
        let plan = try update(&fixture, id, ["region": "us"])
        guard case .setCredentialFields(let change)? = plan.operations.first else { return XCTFail("no new version") }
        XCTAssertEqual(change.changedFields, ["json", "json.region"])
        try fixture.vault.commit(plan)
        XCTAssertEqual(strings(try object(fixture.vault, id)), ["key": "secret-key-0001", "region": "us"])
        // A rotation of one member keeps the others.
        try fixture.vault.commit(
            fixture.vault.planner.rotateCredential(
                id.description, in: "acme", fields: fields(["key": "secret-key-0002"]), reveal: fixture.vault.read))
        XCTAssertEqual(strings(try object(fixture.vault, id)), ["key": "secret-key-0002", "region": "us"])
        // A new member is added; a cleared one removed.
        try fixture.vault.commit(try update(&fixture, id, ["zone": "b"], clearing: ["region"]))
        XCTAssertEqual(strings(try object(fixture.vault, id)), ["key": "secret-key-0002", "zone": "b"])
        XCTAssertEqual(fixture.index.credential(id: id)?.version, 4)
        XCTAssertEqual(fixture.index.history(of: id).last?.changedFields, ["json"])

        // Mistakes are refused and write nothing.
        assertThrowsCoffer(.invalidInput) { try self.update(&fixture, id, [:], clearing: ["region"]) }
        assertThrowsCoffer(.invalidInput) { try self.update(&fixture, id, ["zone": "c"], clearing: ["zone"]) }
        assertThrowsCoffer(.invalidInput) { try self.update(&fixture, id, ["json": "{}", "zone": "c"]) }
        assertThrowsCoffer(.invalidInput) {
            try self.update(&fixture, id, [String(repeating: "n", count: 256): "x"])
        }
        XCTAssertEqual(fixture.index.credential(id: id)?.version, 4)
        // The log replays to the same index: the changed member names are valid history.
        XCTAssertEqual(Snapshot(try fixture.vault.replayed()), Snapshot(fixture.index))
    }

    /// An object given whole, or a rollback to an older one, lists the members it changed,
    /// added or dropped, as an edit of members does (OP-CRED-VERSION-1).
    func testAnObjectGivenWholeListsTheMembersItChanged() throws {
        var fixture = try Fixture()
        let id = try custom(&fixture, ["host": "a", "key": "secret-key-0001", "user": "u"])
        let plan = try update(&fixture, id, ["json": #"{"host":"b","key":"secret-key-0001","extra":1}"#])
        guard case .setCredentialFields(let change)? = plan.operations.first else { return XCTFail("no new version") }
        XCTAssertEqual(change.changedFields, ["json", "json.host", "json.extra", "json.user"])
        try fixture.vault.commit(plan)
        let rollback = try fixture.vault.planner.rollbackCredential(
            id.description, in: "acme", toVersion: 1, reveal: fixture.vault.read)
        guard case .setCredentialFields(let back)? = rollback.operations.first else { return XCTFail("no rollback") }
        XCTAssertEqual(back.changedFields, ["json", "json.host", "json.user", "json.extra"])
        try fixture.vault.commit(rollback)
        // The same object again is no change at all.
        XCTAssertTrue(try update(&fixture, id, ["json": #"{"host":"a","key":"secret-key-0001","user":"u"}"#]).isEmpty)
        // A member name no edit could give (empty) is not listed: `json` alone, and the
        // version is written, not refused.
        try fixture.vault.commit(try update(&fixture, id, ["json": #"{"":"a","k":"v"}"#]))
        let odd = try update(&fixture, id, ["json": #"{"":"b","k":"v"}"#])
        guard case .setCredentialFields(let oddChange)? = odd.operations.first else { return XCTFail("no version") }
        XCTAssertEqual(oddChange.changedFields, ["json"])
        try fixture.vault.commit(odd)
        XCTAssertEqual(Snapshot(try fixture.vault.replayed()), Snapshot(fixture.index))
    }

    func testOtherMembersKeepTheirJSONTextExactly() throws {
        var fixture = try Fixture()
        let stored = #"{"n": 12.50, "nested": {"a": [1, "x\u00e9"]}, "key": "k1"}"#
        let id = try custom(&fixture, ["json": stored])
        try fixture.vault.commit(try update(&fixture, id, ["key": "k2"]))
        XCTAssertEqual(
            try fixture.vault.revealed(id)["json"], #"{"n":12.50,"nested":{"a": [1, "x\u00e9"]},"key":"k2"}"#)
        // The whole object can still be replaced, given alone as `json`.
        try fixture.vault.commit(try update(&fixture, id, ["json": #"{"only":"one"}"#]))
        XCTAssertEqual(try fixture.vault.revealed(id)["json"], #"{"only":"one"}"#)
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "svc", slug: "two", label: "Two", type: .custom,
                    fields: fields(["json": "{}", "key": "x"])))
        }
    }

    /// An object merged in (`CredentialUpdate.mergesMembers`, an import's `replace`) sets each
    /// of its members, whatever its type, and keeps the others byte for byte.
    func testAnObjectMergedInSetsItsMembersAndKeepsTheOthers() throws {
        var fixture = try Fixture()
        let id = try custom(&fixture, ["json": #"{"n": 12.50, "key": "k1", "region": "eu"}"#])
        func merge(_ object: String, clearing: Set<String> = []) throws -> Plan<CredentialID> {
            try fixture.vault.planner.updateCredential(
                id.description, in: "acme",
                CredentialUpdate(fields: fields(["json": object]), clearedFields: clearing, mergesMembers: true),
                reveal: fixture.vault.read)
        }
        let plan = try merge(#"{"zone": "b", "key": "k2", "port": 5432, "region": "eu"}"#)
        guard case .setCredentialFields(let change)? = plan.operations.first else { return XCTFail("no new version") }
        XCTAssertEqual(change.changedFields, ["json", "json.key", "json.port", "json.zone"])
        try fixture.vault.commit(plan)
        XCTAssertEqual(
            try fixture.vault.revealed(id)["json"], #"{"n":12.50,"key":"k2","region":"eu","port":5432,"zone":"b"}"#)
        XCTAssertTrue(try merge(#"{"key": "k2"}"#).isEmpty, "nothing differs: nothing to write")
        for refused in ["[1]", "{\"a\":", "\"text\""] {
            assertThrowsCoffer(.invalidInput) { try merge(refused) }
        }
        assertThrowsCoffer(.invalidInput) { try merge(#"{"key": "k3"}"#, clearing: ["zone"]) }
        XCTAssertEqual(fixture.index.credential(id: id)?.version, 2)
        XCTAssertEqual(Snapshot(try fixture.vault.replayed()), Snapshot(fixture.index))
    }

    /// Any sequence of member updates, rotations, blanks, clears and whole replacements
    /// leaves exactly the members a small reference model expects.
    func testRandomEditsMatchAReferenceModel() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        let random = SplitMix64(seed: seed)
        var fixture = try Fixture(seed: seed)
        var model: [String: String] = ["key": "initial-secret-0001", "region": "eu"]
        let id = try custom(&fixture, model)
        let names = ["key", "region", "zone", "note", "a\"b", "ünï", "x y"]
        let values = ["", "", "v1", "v2", "quote\"and\\slash", "line\nbreak", "ü-ñ", "v1"]
        for step in 0..<200 {
            let expectedVersion = fixture.index.credential(id: id)!.version
            var given: [String: String] = [:]
            for _ in 0..<(1 + random.below(3)) { given[random.pick(names)] = random.pick(values) }
            var cleared: Set<String> = []
            if random.chance(25) { cleared.insert(random.pick(names)) }
            cleared.subtract(given.keys)
            let whole = random.chance(5)
            let rotate = !whole && cleared.isEmpty && random.chance(30)
            do {
                if whole {
                    let replacement = Dictionary(
                        uniqueKeysWithValues: given.filter { !$0.value.isEmpty }.map { ($0.key, $0.value) })
                    let text = String(
                        decoding: try JSONSerialization.data(withJSONObject: replacement, options: [.sortedKeys]),
                        as: UTF8.self)
                    try commitIfAny(&fixture, try update(&fixture, id, ["json": text]))
                    model = replacement
                } else if rotate {
                    try fixture.vault.commit(
                        fixture.vault.planner.rotateCredential(
                            id.description, in: "acme", fields: fields(given), reveal: fixture.vault.read))
                    for (name, value) in given where !value.isEmpty { model[name] = value }
                } else {
                    try commitIfAny(&fixture, try update(&fixture, id, given, clearing: cleared))
                    for (name, value) in given where !value.isEmpty { model[name] = value }
                    for name in cleared { model[name] = nil }
                }
            } catch let error as CofferError where error.code == .invalidInput {
                // Refused: clearing a member that is not there, a rotation to the same
                // values or of blanks only, or a whole object with nothing to replace.
                XCTAssertEqual(fixture.index.credential(id: id)!.version, expectedVersion, "seed \(seed) step \(step)")
            }
            XCTAssertEqual(strings(try object(fixture.vault, id)), model, "seed \(seed) step \(step)")
        }
        XCTAssertEqual(Snapshot(try fixture.vault.replayed()), Snapshot(fixture.index), "seed \(seed)")
    }
}
