/// One write to the index's tables, kept by ``IndexMutation`` as what puts the old value back.
///
/// The writes that a credential's creation, change and removal make are values here: a
/// transaction validated before its record is written journals about a dozen writes and then
/// undoes them all, and a closure costs an allocation each, released again when the journal
/// goes. A credential's creation in a new slot journals without allocating; a replaced record
/// or history entry is boxed (see below), as its closure was. The rarer writes (organizations,
/// projects, users, memberships, assignments, API keys, identifier tables, the version
/// retention, the next principal handle) keep a closure.
///
/// A case that names a table keeps the key path of the table written, so that the undo puts
/// the value back where the write took it from.
enum IndexUndo {
    /// Any other write: a closure that puts the old value back.
    case closure((inout IndexTables) -> Void)
    /// A count was set: its old value.
    case count(WritableKeyPath<IndexTables, Int>, Int)
    /// A time was set: its old value.
    case time(WritableKeyPath<IndexTables, UInt64>, UInt64)
    /// A credential slot was appended.
    case appendedCredential(WritableKeyPath<IndexTables, [CredentialRecord]>)
    /// A credential slot was replaced: its index and old record (boxed: unboxed, the record
    /// would make every entry of the journal 96 bytes instead of 40).
    indirect case replacedCredential(WritableKeyPath<IndexTables, [CredentialRecord]>, Int, CredentialRecord)
    /// A history entry was appended.
    case appendedHistory(WritableKeyPath<IndexTables, [HistoryEntry]>)
    /// A history entry was replaced: its index and old entry (boxed, likewise).
    indirect case replacedHistory(WritableKeyPath<IndexTables, [HistoryEntry]>, Int, HistoryEntry)
    /// A handle was appended to a list of handles.
    case appendedHandle(WritableKeyPath<IndexTables, [Handle]>)
    /// The last handle of a list of handles was removed: that handle.
    case removedLastHandle(WritableKeyPath<IndexTables, [Handle]>, Handle)
    /// `current` (`nil`: none) was made the slot of a candidate group key in place of `previous`.
    case candidateSlot(
        WritableKeyPath<IndexTables, SlotTable<CandidateKey>>, CandidateKey, current: Handle?, previous: Handle?)
    /// `current` (`nil`: none) was made the slot of a slug key in place of `previous`.
    case slugSlot(WritableKeyPath<IndexTables, SlotTable<SlugKey>>, SlugKey, current: Handle?, previous: Handle?)
    /// Texts were added to the arena, which held `count` bytes before.
    case addedTexts(count: Int)
    /// A record's texts became waste in the arena.
    case releasedTexts(TextReference)
    /// A credential slot was made findable by its id.
    case indexedCredential(Handle)
    /// A credential slot stopped being findable by its id.
    case unindexedCredential(Handle)
    /// A string was appended to the interned strings and indexed.
    case internedString

    /// Puts back the value the write replaced.
    func undo(_ tables: inout IndexTables) {
        switch self {
        case .closure(let undo): undo(&tables)
        case .count(let path, let old): tables[keyPath: path] = old
        case .time(let path, let old): tables[keyPath: path] = old
        case .appendedCredential(let path): tables[keyPath: path].removeLast()
        case .replacedCredential(let path, let index, let old): tables[keyPath: path][index] = old
        case .appendedHistory(let path): tables[keyPath: path].removeLast()
        case .replacedHistory(let path, let index, let old): tables[keyPath: path][index] = old
        case .appendedHandle(let path): tables[keyPath: path].removeLast()
        case .removedLastHandle(let path, let handle): tables[keyPath: path].append(handle)
        case .candidateSlot(let path, let key, let current, let previous):
            tables[keyPath: path].restore(key, from: current, to: previous)
        case .slugSlot(let path, let key, let current, let previous):
            tables[keyPath: path].restore(key, from: current, to: previous)
        case .addedTexts(let count): tables.texts.truncate(to: count)
        case .releasedTexts(let reference): tables.texts.release(reference, sign: -1)
        case .indexedCredential(let slot): tables.unindexCredentialSlot(slot)
        case .unindexedCredential(let slot): tables.indexCredentialSlot(slot)
        case .internedString:
            tables.unindexLastString()
            tables.strings.removeLast()
        }
    }
}

// The journal records of ``RecordKey``'s two keys (their conformances are in SlotTable.swift).

extension CandidateKey {
    static func undoing(
        _ path: WritableKeyPath<IndexTables, SlotTable<Self>>, _ key: Self, current: Handle?, previous: Handle?
    ) -> IndexUndo {
        .candidateSlot(path, key, current: current, previous: previous)
    }
}

extension SlugKey {
    static func undoing(
        _ path: WritableKeyPath<IndexTables, SlotTable<Self>>, _ key: Self, current: Handle?, previous: Handle?
    ) -> IndexUndo {
        .slugSlot(path, key, current: current, previous: previous)
    }
}
