import XCTest

@testable import CofferModel

/// ``IDTable`` against a dictionary, as the index's undo journal drives it: ids added, refused
/// when present, removed and added again at random, then every step undone newest first; after
/// each step and each undo the table finds every id it holds with its handle and organization,
/// and no other, and lists them in the ids' order.
final class IDTableTests: XCTestCase {
    private enum Step {
        case added
        case removed(place: Handle)
    }

    private struct Reference {
        var entries: [ProjectID: (handle: Handle, organization: Handle)] = [:]
    }

    private func check(_ table: IDTable<ProjectIDKind>, _ reference: Reference, ids: [ProjectID], _ context: String) {
        XCTAssertEqual(table.count, reference.entries.count, context)
        for id in ids {
            let found = table.find(id)
            XCTAssertEqual(found?.id, reference.entries[id] == nil ? nil : id, "\(context): \(id)")
            XCTAssertEqual(found?.handle, reference.entries[id]?.handle, "\(context): \(id)")
            XCTAssertEqual(found?.organization, reference.entries[id]?.organization, "\(context): \(id)")
        }
        XCTAssertEqual(table.sortedByID.map(\.id), reference.entries.keys.sorted(), context)
    }

    func testChangesAndTheirUndoAgreeWithADictionary() {
        for seed: UInt64 in [1, 2, 3] {
            let random = SplitMix64(seed: seed)
            // Few ids, so that the same id is added, refused, removed and added again; ids that
            // differ in one half only, as tests and fuzzers make them.
            let ids = (0..<40).map { ProjectID(high: $0 % 2 == 0 ? 7 : random.next(), low: UInt64($0 / 2)) }
            var table = IDTable<ProjectIDKind>()
            var reference = Reference()
            var steps: [(Step, Reference)] = []
            var nextHandle: Handle = 0
            for step in 0..<600 {
                let context = "seed \(seed), step \(step)"
                let id = random.pick(ids)
                let before = reference
                if reference.entries[id] == nil || random.chance(20) {
                    let organization = Handle(random.below(5))
                    let added = table.add(id, handle: nextHandle, organization: organization)
                    XCTAssertEqual(added, reference.entries[id] == nil, context)
                    if added {
                        reference.entries[id] = (nextHandle, organization)
                        steps.append((.added, before))
                        nextHandle += 1
                    }
                } else {
                    guard let place = table.remove(id) else {
                        XCTFail("\(context): \(id) not removed")
                        continue
                    }
                    reference.entries[id] = nil
                    steps.append((.removed(place: place), before))
                }
                XCTAssertNil(table.remove(ProjectID(high: 1, low: 1 << 40)), context)
                if step % 50 == 0 { check(table, reference, ids: ids, context) }
            }
            check(table, reference, ids: ids, "seed \(seed), end")
            for (undone, (step, before)) in steps.reversed().enumerated() {
                switch step {
                case .added: table.removeLastAdded()
                case .removed(let place): table.restore(place)
                }
                if undone % 25 == 0 { check(table, before, ids: ids, "seed \(seed), undo \(undone)") }
            }
            check(table, Reference(), ids: ids, "seed \(seed), all undone")
        }
    }

    /// `verify`'s INV-LOOKUP holds each id's entry to its record: a project's entry that names
    /// another organization — which resolution reads instead of the record — is reported.
    func testVerifyReportsAnEntryThatDisagreesWithItsRecord() throws {
        let fixture = try Fixture()
        var damaged = fixture.index
        let handle = try XCTUnwrap(damaged.tables.projectHandle(fixture.web))
        let globex = try XCTUnwrap(damaged.tables.organizationHandle(fixture.globex))
        XCTAssertNotNil(damaged.tables.projectIDs.remove(fixture.web))
        XCTAssertTrue(damaged.tables.projectIDs.add(fixture.web, handle: handle, organization: globex))
        XCTAssertEqual(fixture.index.checkInvariants(), [])
        XCTAssertEqual(
            damaged.checkInvariants(), ["INV-LOOKUP: project \(fixture.web) is not found by its id or slug."])
    }
}
