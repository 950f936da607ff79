import XCTest

@testable import CofferModel

/// ``HandleTable`` against a dictionary: random inserts, refused inserts and removals, with hashes
/// that collide on purpose (long probe runs, runs that wrap past the last bucket) and with a
/// good spread; every handle is found under its key, and no other, and every run stays in
/// Robin Hood order (what lets a search for a missing key stop early).
final class HandleTableTests: XCTestCase {
    /// Keys live outside the table, as the index's records do: `keys[handle]`.
    private struct Harness {
        var table: HandleTable
        var keys: [UInt64] = []
        var reference: [UInt64: Handle] = [:]
        let hash: (UInt64) -> Int

        mutating func insert(_ key: UInt64) {
            let handle = Handle(keys.count)
            keys.append(key)
            let keys = self.keys
            XCTAssertTrue(table.insertIfAbsent(handle, hash: hash(key)) { keys[Int($0)] == key })
            reference[key] = handle
        }

        mutating func remove(_ key: UInt64) -> Handle? {
            let keys = self.keys
            let removed = table.remove(hash: hash(key)) { keys[Int($0)] == key }
            XCTAssertEqual(removed, reference.removeValue(forKey: key))
            return removed
        }

        /// Tries to add `key` again under a new handle: refused, and nothing changes.
        mutating func insertAgain(_ key: UInt64) {
            let handle = Handle(keys.count)
            keys.append(key)
            let keys = self.keys
            XCTAssertFalse(table.insertIfAbsent(handle, hash: hash(key)) { keys[Int($0)] == key })
        }

        /// Puts a new handle of `key` in place of the one there, or adds it.
        mutating func update(_ key: UInt64) {
            let handle = Handle(keys.count)
            keys.append(key)
            let keys = self.keys
            XCTAssertEqual(table.update(handle, hash: hash(key)) { keys[Int($0)] == key }, reference[key])
            reference[key] = handle
        }

        func find(_ key: UInt64) -> Handle? {
            table.find(hash: hash(key)) { keys[Int($0)] == key }
        }

        func check(_ context: String) {
            XCTAssertEqual(table.count, reference.count, context)
            XCTAssertTrue(table.runsAreInHomeOrder, context)
            XCTAssertEqual(Set(table.handles), Set(reference.values), context)
            for (key, handle) in reference { XCTAssertEqual(find(key), handle, "\(context): key \(key)") }
        }
    }

    func testRandomChangesAgreeWithADictionary() {
        // Hashes are placed by their low 32 bits scaled to the table: four values spread over
        // the top of that range make four runs that wrap past the last bucket.
        let hashes: [(String, (UInt64) -> Int)] = [
            ("spread", { Int(truncatingIfNeeded: ($0 &* 0x9E37_79B9_7F4A_7C15) >> 7) }),
            ("four values at the top", { Int(UInt32.max - UInt32($0 % 4) * 0x0100_0000) }),
            ("all at the last bucket", { _ in -1 }),
        ]
        // Tables that grow from nothing (powers of two) and tables presized for a count, as a
        // checkpoint's decoder makes them (any number of buckets).
        for (seed, capacity) in [(1, 0), (2, 0), (3, 0), (4, 1), (5, 6), (6, 13), (7, 100), (8, 1000)]
            as [(UInt64, Int)]
        {
            for (name, hash) in hashes {
                let random = SplitMix64(seed: seed)
                var harness = Harness(table: HandleTable(capacity: capacity), hash: hash)
                let context = "seed \(seed), capacity \(capacity), hashes \(name)"
                for step in 0..<1500 {
                    let key = random.next() % 300
                    switch random.below(10) {
                    case 0..<5 where harness.reference[key] == nil: harness.insert(key)
                    case 5..<8: _ = harness.remove(key)
                    case 8 where harness.reference[key] != nil: harness.insertAgain(key)
                    case 9 where step % 2 == 0: harness.update(key)
                    default: XCTAssertEqual(harness.find(key), harness.reference[key], "\(context), step \(step)")
                    }
                    if step % 100 == 0 { harness.check("\(context), step \(step)") }
                }
                harness.check(context)
                for key in Array(harness.reference.keys) { XCTAssertNotNil(harness.remove(key), context) }
                harness.check("\(context), emptied")
            }
        }
    }

    /// A table built at once (a checkpoint's decoder) holds what inserting one by one would:
    /// every handle found under its key, none under another, runs in Robin Hood order, with
    /// hashes spread, piled at the top (runs that wrap to the first bucket) or all one; and
    /// inserts and removals afterwards keep it so. Two handles with one key are refused.
    func testABulkBuiltTableHoldsWhatInsertsWould() {
        let hashes: [(String, (UInt64) -> Int)] = [
            ("spread", { Int(truncatingIfNeeded: ($0 &* 0x9E37_79B9_7F4A_7C15) >> 7) }),
            ("four values at the top", { Int(UInt32.max - UInt32($0 % 4) * 0x0100_0000) }),
            ("all at the last bucket", { _ in -1 }),
        ]
        // Each count built both ways: inserted one by one, and sorted and placed; 140,000:
        // scratch past ScratchBuffer.mappedBytesMin, mapped apart from the heap.
        let counts: [(UInt64, Int)] = [(1, 0), (2, 1), (3, 7), (4, 100), (5, 3000), (6, 140_000)]
        let ways: [(String, Int)] = [("inserted", Int.max), ("placed", 0)]
        for (seed, count) in counts {
            // Hashes that are all one make a run the length of the table: not at 140,000.
            for (name, hash) in hashes where count <= 3000 || name == "spread" {
                for (way, placedMin) in ways {
                    let context = "seed \(seed), \(count) handles \(way), hashes \(name)"
                    let random = SplitMix64(seed: seed)
                    var keys: [UInt64] = []
                    var taken = Set<UInt64>()
                    while keys.count < count {
                        let key = random.next() % 1_000_000
                        if taken.insert(key).inserted { keys.append(key) }
                    }
                    let frozenKeys = keys
                    guard
                        let table = HandleTable(
                            bulk: count, placingFrom: placedMin,
                            sameKey: { frozenKeys[Int($0)] == frozenKeys[Int($1)] },
                            listing: { add in
                                for (handle, key) in frozenKeys.enumerated() { add(Handle(handle), hash(key)) }
                                return true
                            })
                    else {
                        XCTFail("\(context): refused")
                        continue
                    }
                    var harness = Harness(table: table, keys: keys, hash: hash)
                    harness.reference = Dictionary(uniqueKeysWithValues: keys.indices.map { (keys[$0], Handle($0)) })
                    harness.check(context)
                    for _ in 0..<200 {
                        // A built key (to remove) or a new one (to insert).
                        let key =
                            count > 0 && random.below(2) == 0 ? keys[random.below(count)] : random.next() % 100_000
                        if harness.reference[key] == nil { harness.insert(key) } else { _ = harness.remove(key) }
                    }
                    harness.check("\(context), changed after")
                    guard count > 1 else { continue }
                    // Handle 0's key given to the last handle as well.
                    var twice = keys
                    twice[count - 1] = keys[0]
                    let doubled = HandleTable(
                        bulk: count, placingFrom: placedMin, sameKey: { twice[Int($0)] == twice[Int($1)] },
                        listing: { add in
                            for (handle, key) in twice.enumerated() { add(Handle(handle), hash(key)) }
                            return true
                        })
                    XCTAssertNil(doubled, context)
                    // A listing that fails is refused as well.
                    XCTAssertNil(
                        HandleTable(
                            bulk: count, placingFrom: placedMin, sameKey: { _, _ in false }, listing: { _ in false }),
                        context)
                }
            }
        }
    }

    func testInsertIfAbsentRefusesAKeyThatIsThere() {
        let keys: [UInt64] = [7, 7, 9]
        var table = HandleTable()
        for handle: Handle in 0..<3 {
            let key = keys[Int(handle)]
            let added = table.insertIfAbsent(handle, hash: Int(key % 2)) { keys[Int($0)] == key }
            XCTAssertEqual(added, handle != 1, "handle \(handle)")
        }
        XCTAssertEqual(table.count, 2)
        XCTAssertEqual(table.find(hash: 1) { keys[Int($0)] == 7 }, 0)
        XCTAssertEqual(table.find(hash: 1) { keys[Int($0)] == 9 }, 2)
    }

    /// Interned strings are one when their bytes are: canonically equivalent spellings stay
    /// two strings, and a string made in pieces (long, not a small literal) matches its copy.
    func testSameBytesComparesBytesNotCanonicalEquivalence() {
        XCTAssertTrue(TextHash.sameBytes("", ""))
        XCTAssertTrue(TextHash.sameBytes("openai", "openai"))
        XCTAssertFalse(TextHash.sameBytes("openai", "openai2"))
        XCTAssertFalse(TextHash.sameBytes("openai", "openaj"))
        XCTAssertFalse(TextHash.sameBytes("caf\u{E9}", "cafe\u{301}"))
        let long = String(repeating: "slack-workspace-", count: 5)
        XCTAssertTrue(TextHash.sameBytes(long, (0..<5).map { _ in "slack-workspace-" }.joined()))
        XCTAssertFalse(TextHash.sameBytes(long, long.dropLast() + "_"))
    }

    /// A string and its bytes hash alike (the checkpoint's decoder hashes bytes where they lie,
    /// lookups hash `String`s), at every length around the word size and its tail loads; and
    /// a change of any one byte changes the hash (a hash that ignored some byte would pile
    /// such keys in one run).
    func testTextHashReadsEveryByte() {
        for length in 0...40 {
            let bytes = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let text = String(decoding: bytes, as: UTF8.self)
            let hash = bytes.withUnsafeBytes { TextHash.hash($0) }
            XCTAssertEqual(TextHash.hash(text), hash, "length \(length)")
            XCTAssertEqual(TextHash.hash(String(repeating: text, count: 1) + ""), hash, "length \(length)")
            for position in 0..<length {
                var changed = bytes
                changed[position] ^= 0x01
                XCTAssertNotEqual(
                    changed.withUnsafeBytes { TextHash.hash($0) }, hash, "length \(length), byte \(position)")
            }
        }
    }

    /// ``SlotTable`` against a dictionary, as the index's undo journal drives it: list heads
    /// set, replaced and removed at random, and slug changes (the slot taken out of its old
    /// key, set under its new key before its record has it, then the record changed); then
    /// every step undone newest first — a record's change before the sets that came before it,
    /// so that a restore finds a slot whose record carries its old key again — and after each
    /// undo the table answers as it did before that step.
    func testSlotTableSetsAndRestoresByTheSlotItself() {
        enum Step {
            case set(key: SlugKey, slot: Handle?, previous: Handle?)
            case slug(slot: Handle, old: Handle)
        }
        for seed: UInt64 in [1, 2, 3] {
            let random = SplitMix64(seed: seed)
            var credentials = (0..<300).map { number in
                var record = CredentialRecord.freeSlot
                record.organization = Handle(number % 3)
                record.slug = Handle(number % 60)
                return record
            }
            var table = SlotTable<SlugKey>()
            var reference: [UInt64: Handle] = [:]
            var steps: [Step] = []
            var before: [[UInt64: Handle]] = []
            func name(_ key: SlugKey) -> UInt64 { UInt64(key.organization) << 32 | UInt64(key.slug) }
            func set(_ key: SlugKey, _ slot: Handle?) {
                let previous = table.set(key, to: slot, in: credentials)
                XCTAssertEqual(previous, reference[name(key)], "seed \(seed)")
                before.append(reference)
                reference[name(key)] = slot
                steps.append(.set(key: key, slot: slot, previous: previous))
            }
            func check(_ expected: [UInt64: Handle], _ context: String) {
                XCTAssertEqual(table.count, expected.count, context)
                for (name, slot) in expected {
                    let key = SlugKey(organization: Handle(name >> 32), slug: Handle(truncatingIfNeeded: name))
                    XCTAssertEqual(table.slot(for: key, in: credentials), slot, context)
                }
            }
            for step in 0..<1500 {
                let slot = Handle(random.below(300))
                let key = credentials[Int(slot)].slugKey
                if random.below(5) == 0 {
                    // A slug change: out of the old key's head, in as the new key's head, then
                    // the record takes the new slug.
                    if reference[name(key)] == slot { set(key, nil) }
                    let newSlug = Handle(100 + random.below(20))
                    set(SlugKey(organization: key.organization, slug: newSlug), slot)
                    before.append(reference)
                    steps.append(.slug(slot: slot, old: credentials[Int(slot)].slug))
                    credentials[Int(slot)].slug = newSlug
                } else if reference[name(key)] == nil || reference[name(key)] == slot || random.below(2) == 0 {
                    // Only a slot whose record carries the key, and that is in no other key's
                    // place, goes in: the engine's invariant.
                    let elsewhere = reference.contains { $0.value == slot && $0.key != name(key) }
                    if !elsewhere { set(key, random.below(4) == 0 ? nil : slot) }
                }
                if step % 100 == 0 { check(reference, "seed \(seed), step \(step)") }
            }
            XCTAssertTrue(table.isConsistent(with: credentials), "seed \(seed)")
            for (index, step) in steps.enumerated().reversed() {
                switch step {
                case .set(let key, let slot, let previous):
                    table.restore(key, from: slot, to: previous)
                    check(before[index], "seed \(seed), undoing step \(index)")
                case .slug(let slot, let old):
                    // The moment between a slug change's set and its record's change: the slot
                    // is under a key its record does not carry, and nothing searches by key.
                    credentials[Int(slot)].slug = old
                }
            }
            XCTAssertEqual(table.count, 0, "seed \(seed)")
        }
    }

    func testAnEmptyOrPresizedTableFindsNothing() {
        let keys: [UInt64] = []
        for table in [HandleTable(), HandleTable(capacity: 1000)] {
            XCTAssertNil(table.find(hash: 5) { keys[Int($0)] == 5 })
            XCTAssertEqual(table.count, 0)
            var copy = table
            XCTAssertNil(copy.remove(hash: 5) { _ in true })
        }
        XCTAssertGreaterThanOrEqual(HandleTable(capacity: 1000).allocatedBytes, 1000 * 8 / 7 * 8)
    }
}
