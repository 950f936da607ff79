/// Organizations, projects or users found by their id: a ``HandleTable`` keyed by the ids' own
/// hash (``Identifier/tableHash``) over a list of entries that carry each id beside its handle,
/// so a lookup compares the id it finds without reading the principal's record.
///
/// A Swift dictionary from id to handle costs a SipHash of the 16 bytes and a probe for every
/// lookup — a run's organization and project are looked up in every resolution, and they were
/// a sixth of one. A project's entry also names its organization, which resolution checks
/// against the run's.
///
/// Entries are only appended: a removed id leaves the table but keeps its entry (an undo puts
/// it back as it was), as ``IndexTables/history`` keeps a deleted credential's entries until
/// the index is rebuilt. Organizations, projects and users are few beside credentials.
///
/// ```swift
/// guard ids.add(id, handle: handle, organization: organization) else { /* the id is taken */ }
/// let found = ids.find(id)?.handle
/// ```
struct IDTable<Kind: IdentifierKind>: Sendable {
    struct Entry: Sendable {
        let id: Identifier<Kind>
        let handle: Handle
        /// The organization a project belongs to; an organization's own handle; `noHandle`
        /// for a user.
        let organization: Handle
    }

    private var entries: [Entry] = []
    /// Indexes of live ``entries`` by their id.
    private var byID = HandleTable()

    /// Ids in the table.
    var count: Int { byID.count }

    /// A table for `capacity` ids, for a reader that knows the count (a checkpoint's decoder).
    init(capacity: Int = 0) {
        // Not for none: reserving room for nothing still allocates, and every mutation makes
        // an empty index to stand in for the one it takes.
        if capacity > 0 { entries.reserveCapacity(capacity) }
        byID = HandleTable(capacity: capacity)
    }

    /// The entry of `id`, if it is in the table.
    func find(_ id: Identifier<Kind>) -> Entry? {
        byID.find(hash: id.tableHash) { entries[Int($0)].id == id }.map { entries[Int($0)] }
    }

    /// Every id in the table with its entry, in no particular order.
    var live: [Entry] { byID.handles.map { entries[Int($0)] } }

    /// Every id in the table with its handle, in the ids' order.
    var sortedByID: [(id: Identifier<Kind>, handle: Handle)] {
        live.map { ($0.id, $0.handle) }.sorted { $0.id < $1.id }
    }

    /// Adds `id`; false, and nothing added, when the table has it.
    mutating func add(_ id: Identifier<Kind>, handle: Handle, organization: Handle) -> Bool {
        precondition(entries.count < Int(noHandle), "id table full")
        let place = Handle(entries.count)
        // Appended first, while `entries` is not shared: a copy held across the append would
        // make every add copy the whole list.
        entries.append(Entry(id: id, handle: handle, organization: organization))
        if index(place) { return true }
        entries.removeLast()
        return false
    }

    /// Puts the entry at `place` in ``byID`` unless an entry with its id is there.
    private mutating func index(_ place: Handle) -> Bool {
        let entries = self.entries
        let id = entries[Int(place)].id
        return byID.insertIfAbsent(place, hash: id.tableHash) { entries[Int($0)].id == id }
    }

    /// Takes back the last ``add(_:handle:organization:)`` that added: an undo, newest first,
    /// so nothing added after it is left.
    mutating func removeLastAdded() {
        let id = entries.removeLast().id
        let index = Handle(entries.count)
        let removed = byID.remove(hash: id.tableHash) { $0 == index }
        precondition(removed != nil, "the last entry is not in the table")
    }

    /// Removes `id` from the table; the place of its entry, for ``restore(_:)``, or `nil`
    /// when the table does not have it.
    mutating func remove(_ id: Identifier<Kind>) -> Handle? {
        let entries = self.entries
        return byID.remove(hash: id.tableHash) { entries[Int($0)].id == id }
    }

    /// Puts back the id that ``remove(_:)`` removed from `place`: an undo.
    mutating func restore(_ place: Handle) {
        let id = entries[Int(place)].id
        let added = byID.insertIfAbsent(place, hash: id.tableHash) { _ in false }
        precondition(added, "a restored id was in the table")
    }
}
