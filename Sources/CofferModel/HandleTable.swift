#if canImport(Glibc)
    import Glibc
#endif

/// A hash set of handles whose keys live in the index's own tables: an open-addressing table
/// of 8-byte buckets (a handle and 32 bits of its key's hash), where a dictionary from key to
/// handle would keep a copy of every key beside its value (a credential id is 16 bytes) in
/// twice to four times as many buckets.
///
/// The table keeps no key: every call gives the key's hash and says how to compare the key
/// of a handle, from the record the handle names. The low 32 bits of the hash, kept in each
/// bucket, place it (so growing and removing need no key) and turn away most other keys
/// without reading their record, which at a million credentials is a cache miss each. Linear
/// probing in Robin Hood order, at most 7/8 full: a run keeps its handles in the order of
/// their home buckets, so a search for a key that is not there stops where it would be
/// instead of at the end of the run (plain linear probing reads 13 buckets for it at 80 %
/// full, and 32 at 7/8); removal shifts the following entries back, so no tombstones build up.
///
/// Any number of buckets: the hash bits are scaled to the table (`bits × buckets >> 32`)
/// rather than masked, so a table sized for a count it knows (a checkpoint's decoder) takes
/// about 1.4 buckets per handle, where a power of two takes up to 2.3 (at a million
/// credentials, 11 bytes a handle instead of 17).
///
/// ```swift
/// _ = slots.insertIfAbsent(slot, hash: id.tableHash) { credentials[Int($0)].id == id }
/// let found = slots.find(hash: id.tableHash) { credentials[Int($0)].id == id }
/// ```
struct HandleTable: Sendable {
    /// `hash bits << 32 | handle`; `empty` when free.
    private var buckets: [UInt64] = []
    /// Handles in the table.
    private(set) var count = 0

    private static let empty = UInt64.max

    /// A table for `capacity` handles, for a reader that knows the count: 80 % full with them,
    /// so that a search stays a few buckets long and a few more handles fit before it grows.
    init(capacity: Int = 0) {
        if capacity > 0 { buckets = [UInt64](repeating: Self.empty, count: max(8, capacity + capacity / 4 + 1)) }
    }

    /// A table of the handles `listing` adds (each with its key's hash; at most `count`),
    /// built at once for a reader that has them all (a checkpoint's decoder), presized as
    /// ``init(capacity:)`` presizes. From ``sortedPlacementCountMin`` handles, the bucket
    /// contents are sorted by hash and placed in one pass — a table in Robin Hood order is its
    /// entries in the order of their homes — so that no insert waits on a bucket at random (at
    /// a million handles, a cache miss each); fewer are inserted one by one, their buckets in
    /// cache, where the sort's fixed cost would outweigh them. `nil` when `listing` answers
    /// false, or when two handles have keys that `sameKey` says are one. (`placingFrom` moves
    /// the threshold, for tests of both ways.)
    init?(
        bulk count: Int, placingFrom placedMin: Int = sortedPlacementCountMin, sameKey: (Handle, Handle) -> Bool,
        listing: (_ add: (Handle, Int) -> Void) -> Bool
    ) {
        guard count >= placedMin else {
            let inserted = withoutActuallyEscaping(sameKey) { sameKey -> HandleTable? in
                var table = HandleTable(capacity: count)
                var allDifferent = true
                let complete = listing { handle, hash in
                    precondition(table.count < count, "more handles listed than counted")
                    if !table.insertIfAbsent(handle, hash: hash, matches: { sameKey($0, handle) }) {
                        allDifferent = false
                    }
                }
                return complete && allDifferent ? table : nil
            }
            guard let inserted else { return nil }
            self = inserted
            return
        }
        let built = ScratchBuffer.with(UInt64.self, count: count) { entries -> HandleTable? in
            var listed = 0
            let complete = listing { handle, hash in
                precondition(listed < count, "more handles listed than counted")
                precondition(handle != noHandle, "the empty-bucket marker is no handle")
                entries[listed] = Self.entry(handle, hash: hash)
                listed += 1
            }
            guard complete else { return nil }
            let sorted = UnsafeMutableBufferPointer(rebasing: entries[0..<listed])
            Self.sortByHash(sorted)
            // Keys that are one have one hash: they are neighbours now.
            var groupStart = 0
            for index in 0..<listed where index == listed - 1 || sorted[index + 1] >> 32 != sorted[index] >> 32 {
                guard Self.allDifferent(sorted[groupStart...index], sameKey) else { return nil }
                groupStart = index + 1
            }
            return HandleTable(capacity: listed, placingSorted: sorted)
        }
        guard let built else { return nil }
        self = built
    }

    /// A table presized for `entries`, bucket contents sorted by hash, each placed at its home
    /// or just after the one before; those pushed past the last bucket wrap to the first, as
    /// an insert puts them.
    private init(capacity: Int, placingSorted entries: UnsafeMutableBufferPointer<UInt64>) {
        self.init(capacity: capacity)
        var next = 0
        var wrapped: [UInt64] = []
        for entry in entries {
            let place = max(home(entry >> 32), next)
            guard place < buckets.count else {
                wrapped.append(entry)
                continue
            }
            buckets[place] = entry
            next = place + 1
        }
        for entry in wrapped {
            insert(entry, at: probe(hash: Int(entry >> 32), matches: { _ in false }).place)
        }
        count = entries.count
    }

    /// The fewest handles ``init(bulk:sameKey:listing:)`` sorts and places rather than inserts:
    /// at 10,000 credentials, inserting took 3 % off the instructions of an open's decoding
    /// thread (BENCHMARKS.md, round 4).
    static let sortedPlacementCountMin = 16_384

    /// Whether no two handles of `entries` (which share a hash) have keys `sameKey` says are one.
    private static func allDifferent(
        _ entries: Slice<UnsafeMutableBufferPointer<UInt64>>, _ sameKey: (Handle, Handle) -> Bool
    ) -> Bool {
        guard entries.count > 1 else { return true }
        for first in entries.indices {
            for second in entries.indices where second > first {
                if sameKey(Handle(truncatingIfNeeded: entries[first]), Handle(truncatingIfNeeded: entries[second])) {
                    return false
                }
            }
        }
        return true
    }

    /// Sorts bucket contents by their hash bits (the high 32): three passes of a radix sort,
    /// 11 bits at a time, each a sequential read and a write to 2,048 places, keeping the order
    /// of equal hashes.
    private static func sortByHash(_ entries: UnsafeMutableBufferPointer<UInt64>) {
        ScratchBuffer.with(UInt64.self, count: entries.count) { scratch in
            var from = entries
            var to = scratch
            var starts = [Int](repeating: 0, count: 2049)
            for shift: UInt64 in [32, 43, 54] {
                for digit in starts.indices { starts[digit] = 0 }
                for entry in from { starts[Int(entry >> shift & 0x7FF) + 1] += 1 }
                for digit in 0..<2048 { starts[digit + 1] += starts[digit] }
                for entry in from {
                    let digit = Int(entry >> shift & 0x7FF)
                    to[starts[digit]] = entry
                    starts[digit] += 1
                }
                swap(&from, &to)
            }
            // Three passes: the sorted entries are in the scratch; back to `entries`.
            if from.baseAddress != entries.baseAddress { _ = entries.update(fromContentsOf: from) }
        }
    }

    /// Every handle in the table, in no particular order.
    var handles: some Sequence<Handle> {
        buckets.lazy.filter { $0 != Self.empty }.map { Handle(truncatingIfNeeded: $0) }
    }

    /// The bytes of its buckets: what it costs.
    var allocatedBytes: Int { buckets.capacity * MemoryLayout<UInt64>.stride }

    /// The handle whose key has `hash` and `matches`; `nil` when none has.
    func find(hash: Int, matches: (Handle) -> Bool) -> Handle? {
        bucket(hash: hash, matches: matches).map { Handle(truncatingIfNeeded: buckets[$0]) }
    }

    /// Adds `handle`, whose key has `hash`, unless a handle whose key `matches` is there:
    /// then nothing changes and the answer is false. One probe where ``find(hash:matches:)``
    /// and an insert would take two.
    mutating func insertIfAbsent(_ handle: Handle, hash: Int, matches: (Handle) -> Bool) -> Bool {
        precondition(handle != noHandle, "the empty-bucket marker is no handle")
        if (count + 1) * 8 > buckets.count * 7 { grow() }
        let (found, place) = probe(hash: hash, matches: matches)
        guard found == nil else { return false }
        insert(Self.entry(handle, hash: hash), at: place)
        count += 1
        return true
    }

    /// Puts `handle`, whose key has `hash`, in place of the handle that `matches`, or adds it
    /// when none does; returns the handle it replaced.
    mutating func update(_ handle: Handle, hash: Int, matches: (Handle) -> Bool) -> Handle? {
        precondition(handle != noHandle, "the empty-bucket marker is no handle")
        if (count + 1) * 8 > buckets.count * 7 { grow() }
        let (found, place) = probe(hash: hash, matches: matches)
        let entry = Self.entry(handle, hash: hash)
        if let found {
            let replaced = Handle(truncatingIfNeeded: buckets[found])
            buckets[found] = entry
            return replaced
        }
        insert(entry, at: place)
        count += 1
        return nil
    }

    /// Removes the handle whose key has `hash` and `matches`; returns it, or `nil` when none.
    mutating func remove(hash: Int, matches: (Handle) -> Bool) -> Handle? {
        guard var hole = bucket(hash: hash, matches: matches) else { return nil }
        let removed = Handle(truncatingIfNeeded: buckets[hole])
        // Backward shift: the following entries of the run that are not in their home bucket
        // move one bucket back, which keeps the run in the order of their homes.
        var next = following(hole)
        while buckets[next] != Self.empty, distance(from: home(buckets[next] >> 32), to: next) > 0 {
            buckets[hole] = buckets[next]
            hole = next
            next = following(next)
        }
        buckets[hole] = Self.empty
        count -= 1
        return removed
    }

    /// Where the handle whose key has `hash` and `matches` is.
    private func bucket(hash: Int, matches: (Handle) -> Bool) -> Int? {
        buckets.isEmpty ? nil : probe(hash: hash, matches: matches).found
    }

    /// Walks the run from the home bucket of `hash`: the bucket of the handle whose key
    /// `matches`, if any; otherwise the place of a new handle with `hash`, the first bucket
    /// that is free or holds a handle whose home is after this one's (Robin Hood order: that
    /// handle is nearer its home than a new one would be), where the walk stops. The table is
    /// not empty, and never full, so the walk ends.
    private func probe(hash: Int, matches: (Handle) -> Bool) -> (found: Int?, place: Int) {
        let bits = UInt64(truncatingIfNeeded: UInt32(truncatingIfNeeded: hash))
        var bucket = home(bits)
        var travelled = 0
        while buckets[bucket] != Self.empty {
            let entry = buckets[bucket]
            if entry >> 32 == bits, matches(Handle(truncatingIfNeeded: entry)) { return (bucket, bucket) }
            if distance(from: home(entry >> 32), to: bucket) < travelled { break }
            bucket = following(bucket)
            travelled += 1
        }
        return (nil, bucket)
    }

    /// Puts `entry` at `place`, which ``probe(hash:matches:)`` chose, moving the entries from
    /// there to the end of the run one bucket on: the run stays in the order of their homes.
    private mutating func insert(_ entry: UInt64, at place: Int) {
        var carried = entry
        var bucket = place
        while buckets[bucket] != Self.empty {
            swap(&carried, &buckets[bucket])
            bucket = following(bucket)
        }
        buckets[bucket] = carried
    }

    /// Whether every run is in Robin Hood order: each handle is at most one bucket further
    /// from its home than the handle before it, and one away from its home follows another.
    /// What lets a search for a missing key stop early (the tests' check).
    var runsAreInHomeOrder: Bool {
        buckets.indices.allSatisfy { bucket in
            guard buckets[bucket] != Self.empty else { return true }
            let before = bucket == 0 ? buckets.count - 1 : bucket - 1
            let away = distance(from: home(buckets[bucket] >> 32), to: bucket)
            guard buckets[before] != Self.empty else { return away == 0 }
            return away <= distance(from: home(buckets[before] >> 32), to: before) + 1
        }
    }

    /// A bucket's contents: the low 32 bits of the hash above the handle.
    private static func entry(_ handle: Handle, hash: Int) -> UInt64 {
        UInt64(truncatingIfNeeded: UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(handle)
    }

    /// The bucket where a handle whose hash has these 32 `bits` belongs: the bits scaled to
    /// the table, which works for any number of buckets up to 2^32.
    private func home(_ bits: UInt64) -> Int { Int(truncatingIfNeeded: (bits &* UInt64(buckets.count)) >> 32) }

    private func following(_ bucket: Int) -> Int { bucket + 1 == buckets.count ? 0 : bucket + 1 }

    /// How many buckets on from `start` `end` is, wrapping past the last.
    private func distance(from start: Int, to end: Int) -> Int {
        end >= start ? end - start : end + buckets.count - start
    }

    private mutating func grow() {
        let old = buckets
        buckets = [UInt64](repeating: Self.empty, count: max(8, old.count * 2))
        for entry in old where entry != Self.empty {
            // No two entries are the same handle: the place is all that is asked.
            insert(entry, at: probe(hash: Int(entry >> 32), matches: { _ in false }).place)
        }
    }
}

extension Identifier {
    /// A hash of the id's 128 bits for a ``HandleTable``: ids are random, but tests and
    /// fuzzers make sequential ones, so the bits are mixed, and with a seed chosen once per
    /// process, so that whoever chooses ids cannot pile them into one run. The seed goes
    /// through a multiply before the low half joins: mixed in linearly, two ids whose halves
    /// combined the same way collided under every seed.
    var tableHash: Int {
        var mixed = (high ^ TextHash.seed) &* 0xBF58_476D_1CE4_E5B9
        mixed ^= mixed >> 31
        mixed = (mixed ^ low) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 29))
    }
}

/// A hash of a string's UTF-8 bytes for a ``HandleTable`` of interned strings, which are equal
/// when their bytes are: eight bytes a step, seeded once per process so that no one can choose
/// strings that collide.
enum TextHash {
    static let seed = UInt64.random(in: .min ... .max)

    static func hash(_ string: String) -> Int {
        string.withUTF8Bytes { hash(UnsafeRawBufferPointer($0)) }
    }

    /// Whether two strings have the same UTF-8 bytes (not `==`, which compares canonical
    /// equivalence): compared a word at a time where the strings are contiguous, as native
    /// strings are, instead of a generic walk over two `UTF8View`s (a fifth of a resolution).
    static func sameBytes(_ first: String, _ second: String) -> Bool {
        let same = first.utf8.withContiguousStorageIfAvailable { firstBytes in
            second.utf8.withContiguousStorageIfAvailable { secondBytes in
                firstBytes.count == secondBytes.count
                    && (firstBytes.isEmpty
                        || memcmp(firstBytes.baseAddress!, secondBytes.baseAddress!, firstBytes.count) == 0)
            }
        }
        return (same ?? nil) ?? first.utf8.elementsEqual(second.utf8)
    }

    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var state = seed ^ UInt64(bytes.count) &* 0x9E37_79B9_7F4A_7C15
        var index = 0
        while index + 8 <= bytes.count {
            state = (state ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            state ^= state >> 29
            index += 8
        }
        // The bytes after the last whole word, read in at most two loads (which may overlap
        // bytes already mixed in: the length is in the state, and equal bytes are compared).
        let count = bytes.count
        let tail: UInt64
        if index == count {
            tail = 0
        } else if count >= 8 {
            tail = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 {
            tail =
                UInt64(bytes.loadUnaligned(as: UInt32.self)) << 32
                | UInt64(bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
        } else {
            tail = UInt64(bytes[0]) << 16 | UInt64(bytes[count / 2]) << 8 | UInt64(bytes[count - 1])
        }
        state = (state ^ tail) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: state ^ (state >> 31))
    }
}
