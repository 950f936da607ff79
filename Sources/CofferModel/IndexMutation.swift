import CofferCrypto
import CofferErrors

/// The index's tables while a transaction is applied, with an undo journal.
///
/// Every write goes through one of the journaled setters below, which records how to put the
/// old value back (``IndexUndo``); ``rollBack()`` replays those records newest first. This
/// makes `apply` all-or-nothing without copying the tables, which would cost O(vault) per
/// transaction.
///
/// The setters are inlined where they are called, each with a literal key path, so that the
/// compiler reaches the table directly rather than resolving the key path at run time.
struct IndexMutation {
    var tables: IndexTables
    private var undoLog: [IndexUndo] = []
    /// Whether writes are journaled for ``rollBack()``. A replay at open does without: if a
    /// record fails to apply there, the whole index is thrown away.
    let journals: Bool
    /// Whether field values are checked against their schema's rules (OPS-FIELD-*), or
    /// trusted because an authenticated record holds them and its writer checked them
    /// before sealing it. Display texts are computed either way.
    let checksFieldValues: Bool

    init(tables: consuming IndexTables, journals: Bool = true, checksFieldValues: Bool = true) {
        self.tables = tables
        self.journals = journals
        self.checksFieldValues = checksFieldValues
        // Room for a typical transaction's writes, so that the journal is not reallocated as it
        // grows (a credential's creation journals 11; from empty, the array grew five times).
        if journals { undoLog.reserveCapacity(16) }
    }

    /// The display texts of `fields` (FieldValidation), checked unless they are trusted.
    func displayTexts(_ fields: FieldValues, of type: CredentialType) throws(CofferError) -> [String?] {
        checksFieldValues
            ? try FieldValidation.check(fields, of: type) : try FieldValidation.displayTexts(fields, of: type)
    }

    /// Keeps the undo record when journaling; `@autoclosure` so a replay does not build it.
    @inline(__always)
    private mutating func journal(_ undo: @autoclosure () -> IndexUndo) {
        if journals { undoLog.append(undo()) }
    }

    /// Undoes every write since the start, newest first.
    mutating func rollBack() {
        precondition(journals, "roll back of a mutation that keeps no journal")
        while let undo = undoLog.popLast() { undo.undo(&tables) }
    }

    /// Sets or (with `nil`) removes a dictionary entry.
    @inline(__always)
    mutating func set<Key: Hashable, Value>(
        _ path: WritableKeyPath<IndexTables, [Key: Value]>, _ key: Key, _ value: Value?
    ) {
        let old: Value?
        if let value {
            old = tables[keyPath: path].updateValue(value, forKey: key)
        } else {
            old = tables[keyPath: path].removeValue(forKey: key)
        }
        journal(.closure({ $0[keyPath: path][key] = old }))
    }

    /// Adds an id the table does not have.
    @inline(__always)
    mutating func add<Kind>(
        _ path: WritableKeyPath<IndexTables, IDTable<Kind>>, _ id: Identifier<Kind>, handle: Handle,
        organization: Handle
    ) {
        let added = tables[keyPath: path].add(id, handle: handle, organization: organization)
        precondition(added, "an id added twice")
        journal(.closure({ $0[keyPath: path].removeLastAdded() }))
    }

    /// Removes an id the table has.
    @inline(__always)
    mutating func remove<Kind>(_ path: WritableKeyPath<IndexTables, IDTable<Kind>>, _ id: Identifier<Kind>) {
        guard let place = tables[keyPath: path].remove(id) else { preconditionFailure("a missing id removed") }
        journal(.closure({ $0[keyPath: path].restore(place) }))
    }

    /// Makes `slot` (`nil`: none) the slot of `key` in a table of list heads or defaults.
    @inline(__always)
    mutating func set<Key: RecordKey>(_ path: WritableKeyPath<IndexTables, SlotTable<Key>>, _ key: Key, _ slot: Handle?)
    {
        let credentials = tables.credentials
        let previous = tables[keyPath: path].set(key, to: slot, in: credentials)
        journal(Key.undoing(path, key, current: slot, previous: previous))
    }

    /// Sets a scalar field that no case of ``IndexUndo`` names by its type.
    @inline(__always)
    mutating func set<Value>(_ path: WritableKeyPath<IndexTables, Value>, _ value: Value) {
        let old = tables[keyPath: path]
        tables[keyPath: path] = value
        journal(.closure({ $0[keyPath: path] = old }))
    }

    /// Sets a count.
    @inline(__always)
    mutating func set(_ path: WritableKeyPath<IndexTables, Int>, _ value: Int) {
        let old = tables[keyPath: path]
        tables[keyPath: path] = value
        journal(.count(path, old))
    }

    /// Sets a time.
    @inline(__always)
    mutating func set(_ path: WritableKeyPath<IndexTables, UInt64>, _ value: UInt64) {
        let old = tables[keyPath: path]
        tables[keyPath: path] = value
        journal(.time(path, old))
    }

    /// Appends a credential slot.
    @inline(__always)
    mutating func append(_ path: WritableKeyPath<IndexTables, [CredentialRecord]>, _ record: CredentialRecord) {
        tables[keyPath: path].append(record)
        journal(.appendedCredential(path))
    }

    /// Appends a history entry.
    @inline(__always)
    mutating func append(_ path: WritableKeyPath<IndexTables, [HistoryEntry]>, _ entry: HistoryEntry) {
        tables[keyPath: path].append(entry)
        journal(.appendedHistory(path))
    }

    /// Appends a handle.
    @inline(__always)
    mutating func append(_ path: WritableKeyPath<IndexTables, [Handle]>, _ handle: Handle) {
        tables[keyPath: path].append(handle)
        journal(.appendedHandle(path))
    }

    /// Removes and returns the last handle of a list.
    @inline(__always)
    mutating func removeLast(_ path: WritableKeyPath<IndexTables, [Handle]>) -> Handle {
        let handle = tables[keyPath: path].removeLast()
        journal(.removedLastHandle(path, handle))
        return handle
    }

    /// Replaces a credential slot's record.
    @inline(__always)
    mutating func replace(
        _ path: WritableKeyPath<IndexTables, [CredentialRecord]>, at index: Int, with record: CredentialRecord
    ) {
        let old = tables[keyPath: path][index]
        tables[keyPath: path][index] = record
        journal(.replacedCredential(path, index, old))
    }

    /// Replaces a history entry.
    @inline(__always)
    mutating func replace(_ path: WritableKeyPath<IndexTables, [HistoryEntry]>, at index: Int, with entry: HistoryEntry)
    {
        let old = tables[keyPath: path][index]
        tables[keyPath: path][index] = entry
        journal(.replacedHistory(path, index, old))
    }

    /// Changes a credential record in place; texts it no longer refers to become waste.
    mutating func modifyCredential(_ slot: Handle, _ change: (inout CredentialRecord) -> Void) {
        var record = tables.credentials[Int(slot)]
        change(&record)
        replaceCredential(at: slot, with: record)
    }

    /// Puts `record` in credential slot `slot`; the texts of the record there before that
    /// `record` does not keep become waste in the text arena.
    mutating func replaceCredential(at slot: Handle, with record: CredentialRecord) {
        let old = tables.credentials[Int(slot)]
        replace(\.credentials, at: Int(slot), with: record)
        let before = old.texts
        if before != record.texts {
            tables.texts.release(before)
            journal(.releasedTexts(before))
        }
    }

    /// Makes live slot `slot`, whose record is in place, found by its id.
    mutating func indexCredentialSlot(_ slot: Handle) {
        tables.indexCredentialSlot(slot)
        journal(.indexedCredential(slot))
    }

    /// Stops slot `slot` being found by its id, before its record is freed.
    mutating func unindexCredentialSlot(_ slot: Handle) {
        tables.unindexCredentialSlot(slot)
        journal(.unindexedCredential(slot))
    }

    /// Adds a credential's label and display text to the text arena, for a record about to
    /// refer to them.
    ///
    /// - Throws: `.invalidInput` for texts past what the arena holds (a label past 255 bytes,
    ///   texts past 256 MiB, or 64 GiB in all): checked operations cap labels at 200 bytes and
    ///   texts far below, but a replayed record's display text is not checked, and it must fail
    ///   the record, not the process.
    mutating func addTexts(label: String, display: String) throws(CofferError) -> TextReference {
        let count = tables.texts.count
        guard let reference = tables.texts.add(label: label, display: display) else {
            throw CofferError(
                .invalidInput,
                "A label of \(label.utf8.count) bytes and a display text of \(display.utf8.count) bytes are more than the index can hold."
            )
        }
        journal(.addedTexts(count: count))
        return reference
    }

    /// Changes a history entry in place.
    mutating func modifyHistory(_ index: Handle, _ change: (inout HistoryEntry) -> Void) {
        var entry = tables.history[Int(index)]
        change(&entry)
        replace(\.history, at: Int(index), with: entry)
    }

    /// The handle of a string, interning it when new.
    mutating func intern(_ string: String) -> Handle {
        if let handle = tables.stringHandle(string) { return handle }
        precondition(tables.strings.count < Int(noHandle) - 1, "string table full")
        let handle = Handle(tables.strings.count)
        tables.strings.append(string)
        tables.indexLastString()
        journal(.internedString)
        return handle
    }

    /// A new organization, project or user handle. Handles are never reused, so a stale one
    /// can only miss, never name another entity.
    mutating func newPrincipalHandle() -> Handle {
        let handle = tables.nextPrincipal
        precondition(handle < noHandle, "principal handles exhausted")
        set(\.nextPrincipal, handle + 1)
        return handle
    }
}
