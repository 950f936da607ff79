import CofferErrors
import XCTest

@testable import CofferModel

/// The index's checkpoint encoding (F-CHECKPOINT-INDEX): an index rebuilt from its encoding is
/// the same index — it answers every query the same, encodes to the same bytes, and goes on
/// agreeing with the reference model as random actions continue on it — and damaged bytes are
/// refused or rebuild an index every query can run on.
extension RandomizedModelTests {
    func testAnIndexRebuiltFromItsCheckpointEncodingIsTheSameAndStaysSo() throws {
        for seed: UInt64 in [21, 22, 23] {
            var run = Self.start(seed: seed)
            for step in 0..<300 {
                run.step = step
                Self.randomAction(&run)
                guard step % 50 == 49 else { continue }
                let bytes = run.vault.index.checkpointEncoding()
                let rebuilt = try VaultIndex(checkpointEncoding: bytes)
                XCTAssertEqual(rebuilt.checkpointEncoding(), bytes, "seed \(seed) step \(step): encoding differs")
                XCTAssertEqual(
                    fingerprint(of: rebuilt), fingerprint(of: run.vault.index),
                    "seed \(seed) step \(step): answers differ")
                // What follows applies to the rebuilt index, as an open replays the records after
                // a checkpoint onto the index it holds.
                run.vault.index = rebuilt
                run.action = "after a rebuild from the checkpoint encoding"
                try compare(run)
            }
            XCTAssertEqual(
                try run.vault.replayed().checkpointEncoding(), run.vault.index.checkpointEncoding(),
                "seed \(seed): a full replay encodes differently")
        }
    }

    /// A free slot holds no text: an encoding that gives one a label is refused, so no text
    /// reference outlives the arena it points into.
    func testAFreeSlotWithATextIsRefused() throws {
        var run = Self.start(seed: 24)
        var step = 0
        while !run.vault.index.tables.credentials.contains(where: { $0.organization == IndexTables.freeSlotMarker }) {
            run.step = step
            Self.randomAction(&run)
            step += 1
            XCTAssertLessThan(step, 2000, "seed 24: no credential was ever deleted")
        }
        var index = run.vault.index
        XCTAssertNoThrow(try VaultIndex(checkpointEncoding: index.checkpointEncoding()), "seed 24")
        let free = try XCTUnwrap(index.tables.credentials.firstIndex { $0.organization == IndexTables.freeSlotMarker })
        index.tables.credentials[free].texts = try XCTUnwrap(index.tables.texts.add(label: "left behind", display: ""))
        XCTAssertThrowsError(try VaultIndex(checkpointEncoding: index.checkpointEncoding()), "seed 24")
    }

    /// A credential's label and display text are only shown: their UTF-8 is not checked
    /// (F-CHECKPOINT-INDEX), what is not UTF-8 reads as U+FFFD, and the bytes encode back as
    /// they came. Every other text is checked: an interned string that is not UTF-8 is refused.
    func testOnlyShownTextsAreReadWithoutAUTF8Check() throws {
        var run = Self.start(seed: 25)
        for step in 0..<40 {
            run.step = step
            Self.randomAction(&run)
        }
        var index = run.vault.index
        let live = try XCTUnwrap(
            index.tables.credentials.firstIndex { $0.organization != IndexTables.freeSlotMarker }, "seed 25")
        let notUTF8: [UInt8] = [0x41, 0xFF, 0x42]
        index.tables.credentials[live].texts = try XCTUnwrap(
            notUTF8.withUnsafeBytes { label in
                notUTF8.withUnsafeBytes { index.tables.texts.add(label: label, display: $0) }
            })
        let bytes = index.checkpointEncoding()
        let rebuilt = try VaultIndex(checkpointEncoding: bytes)
        let texts = rebuilt.tables.credentials[live].texts
        XCTAssertEqual(rebuilt.tables.texts.label(texts), "A\u{FFFD}B", "seed 25")
        XCTAssertEqual(rebuilt.tables.texts.display(texts), "A\u{FFFD}B", "seed 25")
        XCTAssertEqual(rebuilt.checkpointEncoding(), bytes, "seed 25: the bytes do not encode back")

        // The credential's slug, an interned string, with a byte that is not UTF-8.
        let slug = Array(index.tables.strings[Int(index.tables.credentials[live].slug)].utf8)
        let prefixed = withUnsafeBytes(of: UInt32(slug.count).littleEndian, Array.init) + slug
        let start = try XCTUnwrap(
            (0...(bytes.count - prefixed.count)).first { bytes[$0..<$0 + prefixed.count].elementsEqual(prefixed) },
            "seed 25: the slug is not in the encoding")
        var damaged = bytes
        damaged[start + 4] = 0xFF
        XCTAssertThrowsError(try VaultIndex(checkpointEncoding: damaged), "seed 25: a slug that is not UTF-8")
        // The same byte made another ASCII one decodes: the refusal is the UTF-8 check's.
        damaged[start + 4] = UInt8(ascii: "~")
        XCTAssertNoThrow(try VaultIndex(checkpointEncoding: damaged), "seed 25: a slug with another ASCII byte")
    }

    /// A text past what a reference reaches is refused before a byte of it is read, so a
    /// replayed record's display text fails the record, never the process.
    func testATextPastTheArenasReachIsRefused() {
        var arena = TextArena()
        var byte: UInt8 = 0x41
        withUnsafeMutableBytes(of: &byte) { one in
            // Only the count is past the limit: `add` must refuse before it reads.
            // With the label's byte and the label, one byte past the limit.
            let claimed = UnsafeRawBufferPointer(start: one.baseAddress, count: TextReference.countMax - 1)
            XCTAssertNil(arena.add(label: UnsafeRawBufferPointer(one), display: claimed))
            XCTAssertNotNil(arena.add(label: UnsafeRawBufferPointer(one), display: UnsafeRawBufferPointer(one)))
        }
        // The label's length, the label, the display text.
        XCTAssertEqual(arena.count, 3)
    }

    /// A credential's label and display text share one reference: each reads back apart, an
    /// empty one too, both empty take no bytes, and a label longer than its length byte
    /// counts is refused (apply caps labels at 200 bytes; a checkpoint's are not capped).
    func testALabelAndDisplayTextShareOneReference() {
        var arena = TextArena()
        let long = String(repeating: "l", count: 255)
        for (label, display) in [("Stripe", "sk_live_…abcd\u{1F}ops@example.com"), ("", "only a display"), (long, "")] {
            let reference = arena.add(label: label, display: display)
            XCTAssertEqual(reference.map(arena.label), label)
            XCTAssertEqual(reference.map(arena.display), display)
        }
        let count = arena.count
        XCTAssertEqual(arena.add(label: "", display: ""), .empty)
        XCTAssertNil(arena.add(label: long + "l", display: "refused"))
        XCTAssertEqual(arena.count, count)
        XCTAssertEqual(arena.label(.empty), "")
        XCTAssertEqual(arena.display(.empty), "")
    }

    /// Each live credential's owner must be of its organization: the decoder remembers the last
    /// owner it found with its organization (credentials come in runs of one), and a credential
    /// is still refused when its owner is a project of another organization or a user who is
    /// not a member — even right after a credential of that other organization with that very
    /// owner. The damaged credential is alone in its candidate group, so no lookup list
    /// disagrees with it: only the owner check can refuse it.
    func testEachCredentialsOwnerIsChecked() throws {
        var fixture = try Fixture()
        try fixture.token("exa", "one", at: [.project("web")])
        try fixture.token("slack", "mine", at: [.user("bob")])
        try fixture.token("exa", "theirs", at: [.project("web")], in: "globex")
        let project = try fixture.token("linear", "alone", at: [.project("web")])[0]
        try fixture.token("slack", "theirs", at: [.user("erin")], in: "globex")
        let user = try fixture.token("notion", "alone", at: [.user("bob")])[0]
        let index = fixture.index
        XCTAssertNoThrow(try VaultIndex(checkpointEncoding: index.checkpointEncoding()))
        let globexWeb = try XCTUnwrap(index.tables.projectHandle(fixture.globexWeb))
        let erin = try XCTUnwrap(index.tables.userHandle(fixture.erin))
        for (what, id, owner) in [
            ("a project of another organization", project, globexWeb), ("a user who is not a member", user, erin),
        ] {
            var damaged = index
            let slot = try XCTUnwrap(index.tables.credentialSlot(id))
            damaged.tables.credentials[Int(slot)].owner = owner
            XCTAssertThrowsError(try VaultIndex(checkpointEncoding: damaged.checkpointEncoding()), what)
        }
    }

    /// A list that loops, a loop of a group's credentials that no head reaches, a credential
    /// in no list or in another key's list is refused: the decoder proves the lists whole in
    /// slot order, walking only from the heads that have a successor.
    func testBrokenLookupListsAreRefused() throws {
        var fixture = try Fixture()
        let ids = try ["one", "two", "three"].map { try fixture.token("exa", $0)[0] }
        let index = fixture.index
        XCTAssertNoThrow(try VaultIndex(checkpointEncoding: index.checkpointEncoding()))
        // One candidate group, newest first: three, two, one.
        let slots = try ids.map { try XCTUnwrap(index.tables.credentialSlot($0)) }
        XCTAssertEqual(index.tables.group(index.tables.credential(slots[0]).candidateKey), slots.reversed())
        func refuses(_ what: String, _ change: (inout [CredentialRecord]) -> Void) {
            var damaged = index
            change(&damaged.tables.credentials)
            XCTAssertThrowsError(try VaultIndex(checkpointEncoding: damaged.checkpointEncoding()), what)
        }
        refuses("the oldest links back to the head") { $0[Int(slots[0])].nextInGroup = slots[2] }
        refuses("the oldest links to the one before it") { $0[Int(slots[0])].nextInGroup = slots[1] }
        refuses("a loop no head reaches") {
            $0[Int(slots[1])].nextInGroup = noHandle
            $0[Int(slots[0])].nextInGroup = slots[0]
        }
        refuses("the oldest is in no list") { $0[Int(slots[1])].nextInGroup = noHandle }
        refuses("a slug list holds another slug's credential") { $0[Int(slots[1])].nextWithSlug = slots[0] }

        // The tables of heads and defaults: the encoder writes each entry's key from its
        // record, so an entry is damaged by pointing it at another record.
        let key = index.tables.credential(slots[0]).candidateKey
        func refusesTables(_ what: String, _ change: (inout IndexTables) -> Void) {
            var damaged = index
            change(&damaged.tables)
            XCTAssertThrowsError(try VaultIndex(checkpointEncoding: damaged.checkpointEncoding()), what)
        }
        refusesTables("a group's head that does not start its list") { tables in
            let credentials = tables.credentials
            _ = tables.candidateHeads.set(key, to: slots[1], in: credentials)
        }
        refusesTables("a default that is not marked default") { tables in
            let credentials = tables.credentials
            _ = tables.defaults.set(key, to: slots[1], in: credentials)
        }
        refusesTables("a slug list's head that is a free slot") { tables in
            let credentials = tables.credentials
            let slugKey = credentials[Int(slots[2])].slugKey
            tables.credentials[Int(slots[2])] = .freeSlot
            _ = tables.slugHeads.set(slugKey, to: slots[2], in: credentials)
        }
    }

    func testAnEmptyIndexRoundTrips() throws {
        let bytes = VaultIndex().checkpointEncoding()
        // What the small vault's checkpoint vector holds: version 1, next principal 0,
        // retention 10, four zero counters, thirteen empty tables.
        XCTAssertEqual(bytes, [1, 0, 0, 0, 0, 0, 10, 0] + [UInt8](repeating: 0, count: 4 * 8 + 13 * 4))
        XCTAssertEqual(try VaultIndex(checkpointEncoding: bytes).checkpointEncoding(), bytes)
    }

    func testDamagedCheckpointEncodingsAreRefusedOrRebuildAUsableIndex() throws {
        let seed: UInt64 = 31
        var run = Self.start(seed: seed)
        for step in 0..<120 {
            run.step = step
            Self.randomAction(&run)
        }
        let bytes = run.vault.index.checkpointEncoding()
        // Every cut in the fixed fields at the start, then cuts at seeded places (each decode
        // of a cut reads up to it, so every cut of the whole would be quadratic).
        let random = SplitMix64(seed: seed)
        for length in Array(0..<min(64, bytes.count)) + (0..<300).map({ _ in random.below(bytes.count) }) {
            XCTAssertThrowsError(
                try VaultIndex(checkpointEncoding: Array(bytes[..<length])), "seed \(seed): cut at \(length)")
        }
        XCTAssertThrowsError(try VaultIndex(checkpointEncoding: bytes + [0]), "seed \(seed): a trailing byte")
        // A flipped byte may still describe an index (a changed letter of a label, a version
        // number); then every query must run on it without trapping or looping.
        var accepted = 0
        for _ in 0..<200 {
            var damaged = bytes
            let position = random.below(damaged.count)
            damaged[position] ^= UInt8(1 + random.below(255))
            guard let rebuilt = try? VaultIndex(checkpointEncoding: damaged) else { continue }
            accepted += 1
            _ = Snapshot(rebuilt)
            for organization in rebuilt.organizations() {
                for app in Self.apps {
                    _ = rebuilt.resolve(
                        ResolutionRequest(appKey: app, context: RunContext(organization: organization.id)))
                }
            }
        }
        print("seed \(seed): \(accepted) of 200 damaged encodings decoded; every query ran on them")
    }
}
