/// A hash set of handles whose keys live in the index's own tables: an open-addressing table
/// of 4-byte buckets, where a dictionary from key to handle would keep a copy of every key
/// beside its value (a credential id is 16 bytes) in twice to four times as many buckets.
///
/// The table keeps no key: every call says how to hash and compare the key of a handle, from
/// the record the handle names. Linear probing, at most 7/8 full; removal shifts the
/// following entries back, so no tombstones build up.
///
/// ```swift
/// slots.insert(slot, hash: hash(id)) { hash(credentials[Int($0)].id) }
/// let found = slots.find(hash: hash(id)) { credentials[Int($0)].id == id }
/// ```
struct HandleTable: Sendable {
    private var buckets: [Handle] = []
    /// Handles in the table.
    private(set) var count = 0

    /// The buckets a table of `count` handles starts with, for a reader that knows the count.
    init(capacity: Int = 0) {
        if capacity > 0 { buckets = [Handle](repeating: noHandle, count: Self.bucketCount(for: capacity)) }
    }

    /// Every handle in the table, in no particular order.
    var handles: some Sequence<Handle> { buckets.lazy.filter { $0 != noHandle } }

    /// The bytes of its buckets: what it costs.
    var allocatedBytes: Int { buckets.capacity * MemoryLayout<Handle>.stride }

    /// The handle whose key has `hash` and `matches`; `nil` when none has.
    func find(hash: Int, matches: (Handle) -> Bool) -> Handle? {
        guard !buckets.isEmpty else { return nil }
        var bucket = hash & (buckets.count - 1)
        while true {
            let handle = buckets[bucket]
            if handle == noHandle { return nil }
            if matches(handle) { return handle }
            bucket = (bucket + 1) & (buckets.count - 1)
        }
    }

    /// Adds `handle`, whose key has `hash` and is in the table under no other handle; `hashOf`
    /// gives the hash of any handle's key, for when the table grows.
    mutating func insert(_ handle: Handle, hash: Int, hashOf: (Handle) -> Int) {
        precondition(handle != noHandle, "the empty-bucket marker is no handle")
        if (count + 1) * 8 > buckets.count * 7 { grow(hashOf: hashOf) }
        var bucket = hash & (buckets.count - 1)
        while buckets[bucket] != noHandle { bucket = (bucket + 1) & (buckets.count - 1) }
        buckets[bucket] = handle
        count += 1
    }

    /// Puts `handle` in place of the one whose key has `hash` and `matches` (the same key);
    /// returns the one replaced, or `nil` (and changes nothing) when there is none.
    mutating func replace(with handle: Handle, hash: Int, matches: (Handle) -> Bool) -> Handle? {
        guard !buckets.isEmpty else { return nil }
        var bucket = hash & (buckets.count - 1)
        while buckets[bucket] != noHandle {
            let old = buckets[bucket]
            if matches(old) {
                buckets[bucket] = handle
                return old
            }
            bucket = (bucket + 1) & (buckets.count - 1)
        }
        return nil
    }

    /// Removes the handle whose key has `hash` and `matches`; returns it, or `nil` when none.
    mutating func remove(hash: Int, matches: (Handle) -> Bool, hashOf: (Handle) -> Int) -> Handle? {
        guard !buckets.isEmpty else { return nil }
        let mask = buckets.count - 1
        var hole = hash & mask
        while true {
            let handle = buckets[hole]
            if handle == noHandle { return nil }
            if matches(handle) { break }
            hole = (hole + 1) & mask
        }
        let removed = buckets[hole]
        // Backward shift: each following entry of the run moves into the hole when its home
        // bucket is not between the hole and where it is (cyclically).
        var next = (hole + 1) & mask
        while buckets[next] != noHandle {
            let home = hashOf(buckets[next]) & mask
            if (next - home) & mask >= (next - hole) & mask {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        buckets[hole] = noHandle
        count -= 1
        return removed
    }

    private mutating func grow(hashOf: (Handle) -> Int) {
        let old = buckets
        buckets = [Handle](repeating: noHandle, count: max(8, old.count * 2))
        let mask = buckets.count - 1
        for handle in old where handle != noHandle {
            var bucket = hashOf(handle) & mask
            while buckets[bucket] != noHandle { bucket = (bucket + 1) & mask }
            buckets[bucket] = handle
        }
    }

    /// The power of two that holds `count` handles at most 7/8 full.
    private static func bucketCount(for count: Int) -> Int {
        var buckets = 8
        while count * 8 > buckets * 7 { buckets *= 2 }
        return buckets
    }
}

extension Identifier {
    /// A hash of the id's 128 bits for a ``HandleTable``: ids are random, but tests and
    /// fuzzers make sequential ones, so the bits are mixed.
    var tableHash: Int {
        let mixed = (high ^ (low &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 31))
    }
}
