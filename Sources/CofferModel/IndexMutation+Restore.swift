import CofferCrypto
import CofferErrors

/// What the rules for the restore operations a compaction writes share (FORMAT.md §9.15;
/// the rules are in IndexMutation+Apply). Each rule id below is defined there.
extension IndexMutation {
    /// The actor of a restored stamp, checked (OPS-TEXT-ACTOR) and interned.
    mutating func internActor(_ stamp: ChangeStamp) throws(CofferError) -> Handle {
        try Names.checkActor(stamp.actor)
        return intern(stamp.actor)
    }

    mutating func restoreCredential(_ restored: RestoredCredential, location: RecordLocation)
        throws(CofferError)
    {
        let id = restored.id
        // OP-RESTORE-CRED-1: the rules of OP-CRED-CREATE-1, OP-CRED-FIELDS-1 and OP-CRED-CREATE-2.
        let placement = try place(restored.metadata, fields: restored.fields)
        let key = placement.key

        // OP-RESTORE-CRED-2: the changes are a stretch of a history that reaches the current
        // version, and the state agrees with them.
        let states = try checkChanges(restored.changes, of: restored.type, credential: id)
        guard let current = restored.changes.lastIndex(where: { $0.kind.makesVersion }) else {
            throw CofferError(
                .invalidInput,
                "The restored changes of \(id) must reach back to the change that made its current version.")
        }
        // A version is made by an active credential, so the state after the changes is known:
        // it is the credential's.
        guard states.after == restored.state else {
            throw CofferError(
                .invalidInput,
                "The credential \(id) is \(restored.state.word), which its restored changes do not leave.")
        }
        // OP-RESTORE-CRED-3: as OP-CRED-DEFAULT-1, a default is active and alone in its group.
        if restored.isDefault {
            guard restored.state == .active else {
                throw CofferError(.invalidInput, "The credential \(id) is revoked and cannot be a default.")
            }
            if let other = tables.defaultSlot(key) {
                throw CofferError(
                    .invalidInput, "\(tables.credential(other).id) is already the default for this app and scope.")
            }
        }

        // Only the current version is readable for now; restore version operations make the
        // older retained ones readable.
        let entries = appendChanges(restored.changes, readableAt: current, location: location)
        let made = try record(
            of: restored.metadata, at: placement, version: restored.version, createdEntry: entries.oldest,
            lastEntry: entries.newest, rotatedEntry: entries.newestRotation, currentVersionEntry: entries.readable,
            state: restored.state, isDefault: restored.isDefault)
        let slot = insert(made, key: key, slugKey: placement.slugKey)
        if restored.isDefault { set(\.defaults, key, slot) }
        countHistory(added: restored.changes.count, retained: 1)
    }

    mutating func restoreHistory(of id: CredentialID, _ changes: [RestoredChange], location: RecordLocation)
        throws(CofferError)
    {
        // OP-RESTORE-HISTORY-1: older changes go in front of a history that does not reach
        // the credential's creation yet, and the two join up.
        let slot = try tables.requireCredential(id)
        let record = tables.credential(slot)
        let oldest = tables.history[Int(record.createdEntry)]
        guard oldest.kind != .created else {
            throw CofferError(.alreadyExists, "The history of the credential \(id) reaches its creation already.")
        }
        let states = try checkChanges(changes, of: record.type, credential: id)
        guard let last = changes.last, Self.follows(oldest.kind, oldest.version, after: last.kind, last.version) else {
            throw CofferError(
                .invalidInput, "The restored changes of \(id) do not join the history restored before them.")
        }
        // The state they leave is the one the history restored before them starts from.
        if let after = states.after, let before = stateBefore(tables.historyEntries(of: record)), after != before {
            throw CofferError(
                .invalidInput,
                "The restored changes of \(id) leave it \(after.word), and the history restored before them starts \(before.word)."
            )
        }
        let entries = appendChanges(changes, readableAt: nil, location: location)
        modifyHistory(record.createdEntry) { $0.previous = entries.newest }
        modifyCredential(slot) {
            $0.createdEntry = entries.oldest
            if $0.rotatedEntry == noHandle { $0.rotatedEntry = entries.newestRotation }
        }
        countHistory(added: changes.count, retained: 0)
    }

    mutating func restoreVersion(
        _ version: UInt32, of id: CredentialID, fields: FieldValues, location: RecordLocation
    ) throws(CofferError) {
        // OP-RESTORE-VERSION-1: the version is in the history and not readable, every newer
        // version is readable, and fewer than `retention` are: so the readable versions stay
        // the newest ones, at most `retention` of them (OP-CRED-VERSION-2, INV-VERSION).
        let slot = try tables.requireCredential(id)
        let record = tables.credential(slot)
        var cursor = record.lastEntry
        var readable = 0
        var newerLetGo: UInt32?
        while cursor != noHandle {
            let entry = tables.history[Int(cursor)]
            if entry.kind.makesVersion {
                if entry.version == version { break }
                if entry.isRetained { readable += 1 } else { newerLetGo = newerLetGo ?? entry.version }
            }
            cursor = entry.previous
        }
        guard cursor != noHandle else {
            throw CofferError(
                .notFound, "The history of \(id) has no version \(version). Restore the history before the version.")
        }
        guard !tables.history[Int(cursor)].isRetained else {
            throw CofferError(.alreadyExists, "Version \(version) of \(id) is readable already.")
        }
        if let newerLetGo {
            throw CofferError(
                .invalidInput, "Version \(newerLetGo) of \(id) is not readable: restore versions newest first.")
        }
        guard readable < Int(tables.versionRetention) else {
            throw CofferError(
                .invalidInput,
                "The credential \(id) keeps \(readable) readable versions already, as many as the vault retains.")
        }
        // OP-CRED-FIELDS-1
        if checksFieldValues { _ = try FieldValidation.check(fields, of: record.type) }
        modifyHistory(cursor) {
            $0.isRetained = true
            $0.sequence = location.sequence
            $0.offset = location.offset
            $0.operationIndex = location.operationIndex
        }
        countHistory(added: 0, retained: 1)
    }

    mutating func restoreAPIKey(_ restored: RestoredAPIKey) throws(CofferError) {
        // OP-RESTORE-APIKEY-1: OP-APIKEY-CREATE-1, except that only an active key's creator
        // must be a member (INV-APIKEY): a revoked key outlives its creator's membership.
        let organization = try admitAPIKey(restored.metadata)
        if restored.revoked == nil {
            let role = tables.userHandle(restored.creator).flatMap {
                tables.memberships[MembershipKey(user: $0, organization: organization)]
            }
            guard role != nil else {
                throw CofferError(.invalidInput, "An active API key's creator must be a member of its organization.")
            }
        }
        let createdBy = try internActor(restored.created)
        let revoked = try restored.revoked.map { stamp throws(CofferError) in
            (stamp.timeMilliseconds, try internActor(stamp))
        }
        insertAPIKey(
            restored.metadata, organization: organization, created: (restored.created.timeMilliseconds, createdBy),
            revoked: revoked)
    }

    // MARK: - Changes

    /// OP-RESTORE-CRED-2, the part every stretch of changes obeys: at least one change; every
    /// actor obeys OPS-TEXT-ACTOR; a version's change names one or more fields of the type
    /// and any other change names none; and each change follows the one before it
    /// (``follows(_:_:after:_:)``).
    @discardableResult
    private func checkChanges(_ changes: [RestoredChange], of type: CredentialType, credential: CredentialID)
        throws(CofferError) -> (before: CredentialState?, after: CredentialState?)
    {
        guard !changes.isEmpty else {
            throw CofferError(.invalidInput, "A restore operation of \(credential) must carry at least one change.")
        }
        let typeBits = UInt8(truncatingIfNeeded: (1 << type.fields.count) - 1)
        var previous: RestoredChange?
        // Unknown until a change needs or sets one.
        var state: CredentialState?
        var before: CredentialState?
        for change in changes {
            try Names.checkActor(change.stamp.actor)
            let mask = change.changedFieldMask
            if change.kind.makesVersion {
                guard mask != 0, mask & ~typeBits == 0 else {
                    throw CofferError(
                        .invalidInput,
                        "A version of \(credential) must name one or more fields of the \(type.word) type.")
                }
            } else if mask != 0 {
                throw CofferError(.invalidInput, "Only a new version of \(credential) names changed fields.")
            }
            let follows =
                if let previous {
                    Self.follows(change.kind, change.version, after: previous.kind, previous.version)
                } else {
                    Self.startsHistory(change.kind, change.version)
                }
            guard follows else {
                throw CofferError(
                    .invalidInput,
                    "The restored change \(change.kind) to version \(change.version) of \(credential) does not follow the change before it."
                )
            }
            if let needed = Self.stateNeeded(by: change.kind) {
                if let state, state != needed {
                    throw CofferError(
                        .invalidInput,
                        "The restored change \(change.kind.word) of \(credential) needs it \(needed.word), and it is \(state.word) then."
                    )
                }
                if state == nil { before = needed }
                state = needed
            }
            state = Self.stateLeft(by: change.kind) ?? state
            previous = change
        }
        return (before, state)
    }

    /// The state a change needs its credential in (OP-RESTORE-CRED-2): only an active
    /// credential gets a version, a default mark or a revocation, only a revoked one is
    /// reinstated; a label or slug changes in either state. `nil` for a creation too.
    static func stateNeeded(by kind: ChangeKind) -> CredentialState? {
        switch kind {
        case .fieldsUpdated, .rotated, .defaultSet, .defaultCleared, .revoked: .active
        case .reinstated: .revoked
        case .created, .relabeled, .slugChanged: nil
        }
    }

    /// The state a change leaves its credential in, when it sets one.
    static func stateLeft(by kind: ChangeKind) -> CredentialState? {
        switch kind {
        case .created, .reinstated: .active
        case .revoked: .revoked
        case .fieldsUpdated, .rotated, .defaultSet, .defaultCleared, .relabeled, .slugChanged: nil
        }
    }

    /// The state a history (newest first) needs before its oldest change: what its oldest
    /// change that needs one needs.
    private func stateBefore(_ entries: [HistoryEntry]) -> CredentialState? {
        entries.last { Self.stateNeeded(by: $0.kind) != nil }.flatMap { Self.stateNeeded(by: $0.kind) }
    }

    /// Whether a change can be the oldest one known of a history: a creation makes version
    /// 1, and any other change comes after one.
    private static func startsHistory(_ kind: ChangeKind, _ version: UInt32) -> Bool {
        switch kind {
        case .created: version == 1
        case .fieldsUpdated, .rotated: version >= 2
        case .relabeled, .defaultSet, .defaultCleared, .revoked, .reinstated, .slugChanged: version >= 1
        }
    }

    /// Whether a change can directly follow another: a creation follows nothing, a new
    /// version is the previous one plus one, and any other change keeps the version.
    static func follows(_ kind: ChangeKind, _ version: UInt32, after earlierKind: ChangeKind, _ earlierVersion: UInt32)
        -> Bool
    {
        switch kind {
        case .created: false
        case .fieldsUpdated, .rotated: earlierVersion < UInt32.max && version == earlierVersion + 1
        case .relabeled, .defaultSet, .defaultCleared, .revoked, .reinstated, .slugChanged: version == earlierVersion
        }
    }

    /// Appends restored changes as history entries linked oldest to newest, at `location`;
    /// the change at `readableAt`, if any, is a readable version.
    private mutating func appendChanges(
        _ changes: [RestoredChange], readableAt readable: Int?, location: RecordLocation
    ) -> (oldest: Handle, newest: Handle, readable: Handle, newestRotation: Handle) {
        var entries = (oldest: noHandle, newest: noHandle, readable: noHandle, newestRotation: noHandle)
        for (index, change) in changes.enumerated() {
            let entry = Handle(tables.history.count)
            precondition(entry < noHandle, "history full")
            append(
                \.history,
                HistoryEntry(
                    time: change.stamp.timeMilliseconds, sequence: location.sequence, offset: location.offset,
                    previous: entries.newest, version: change.version, actor: intern(change.stamp.actor),
                    operationIndex: location.operationIndex, kind: change.kind,
                    changedMask: change.changedFieldMask, isRetained: index == readable))
            if index == 0 { entries.oldest = entry }
            if index == readable { entries.readable = entry }
            if change.kind == .rotated { entries.newestRotation = entry }
            entries.newest = entry
        }
        return entries
    }
}
