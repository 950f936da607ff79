import CofferCrypto
import CofferErrors

/// What the rules for credential, default, assignment and API key operations share
/// (FORMAT.md, "Operations"; the rules are in IndexMutation+Apply). Each rule id below is
/// defined there.
extension IndexMutation {
    /// OP-ASSIGN-SET-1, and OP-RESTORE-ASSIGN-1 when `allowsRevoked`.
    mutating func insertAssignment(
        organization organizationID: OrganizationID, target: AssignmentTarget, appKey: String,
        credential: CredentialID, allowsRevoked: Bool
    ) throws(CofferError) {
        let organization = try tables.requireOrganization(organizationID)
        try Names.checkSlug(target.slug, what: "target slug")
        try Names.checkConsumer(target.consumer)
        try Names.checkAppKey(appKey)
        let slot = try tables.requireCredential(credential)
        let record = tables.credential(slot)
        guard record.organization == organization else {
            throw CofferError(.invalidInput, "The credential \(credential) belongs to another organization.")
        }
        guard tables.string(record.app) == appKey else {
            throw CofferError(
                .invalidInput,
                "The credential \(credential) is for `\(tables.string(record.app))`, not `\(appKey)`.")
        }
        guard record.state == .active || allowsRevoked else {
            throw CofferError(.invalidInput, "The credential \(credential) is revoked and cannot be assigned.")
        }
        let key = AssignmentKey(
            organization: organization, targetSlug: intern(target.slug), consumer: intern(target.consumer),
            app: intern(appKey), kind: target.kind)
        guard tables.assignments[key] == nil else {
            throw exists("An assignment of `\(appKey)` for \(target)")
        }
        set(\.assignments, key, slot)
        var keys = tables.assignmentsByCredential[slot] ?? []
        keys.insert(key)
        set(\.assignmentsByCredential, slot, keys)
    }

    mutating func createCredential(_ new: NewCredential, location: RecordLocation, time: UInt64, actor: Handle)
        throws(CofferError)
    {
        // OP-CRED-CREATE-1, OP-CRED-FIELDS-1, OP-CRED-CREATE-2
        let placement = try place(new.metadata, fields: new.fields)
        let entry = Handle(tables.history.count)
        append(
            \.history,
            HistoryEntry(
                time: time, sequence: location.sequence, offset: location.offset, previous: noHandle, version: 1,
                actor: actor,
                operationIndex: location.operationIndex, kind: .created, changedMask: Self.mask(of: placement.texts),
                isRetained: true))
        insert(
            try record(
                of: new.metadata, at: placement, version: 1, createdEntry: entry, lastEntry: entry,
                rotatedEntry: noHandle, currentVersionEntry: entry, state: .active, isDefault: false),
            key: placement.key, slugKey: placement.slugKey)
        countHistory(added: 1, retained: 1)
    }

    /// The checks a credential's creation and its restoration share, and where it goes:
    /// OP-CRED-CREATE-1 (an unused id, an existing organization, valid names, an owner that
    /// matches), OP-CRED-FIELDS-1 (values that fit the type) and OP-CRED-CREATE-2 (a slug
    /// unique per app and scope owner, so `app/slug` names one instance per owner).
    mutating func place(_ metadata: CredentialMetadata, fields: FieldValues) throws(CofferError) -> CredentialPlacement
    {
        guard tables.credentialSlot(metadata.id) == nil else {
            throw exists("A credential with the id \(metadata.id)")
        }
        let organization = try tables.requireOrganization(metadata.organization)
        try Names.checkAppKey(metadata.appKey)
        try Names.checkSlug(metadata.slug, what: "credential slug")
        try Names.checkName(metadata.label, what: "label")
        let owner = try tables.ownerHandle(metadata.owner, organization: organization)
        let texts = try displayTexts(fields, of: metadata.type)
        let app = intern(metadata.appKey)
        let slug = intern(metadata.slug)
        let key = CandidateKey(organization: organization, app: app, owner: owner, scope: metadata.scope)
        if tables.groupMember(key, slug: slug) != nil {
            throw exists("The credential `\(metadata.appKey)/\(metadata.slug)` at this scope")
        }
        return CredentialPlacement(
            key: key, slugKey: SlugKey(organization: organization, slug: slug), texts: texts)
    }

    /// The checks an API key's creation and its restoration share (OP-APIKEY-CREATE-1): an
    /// unused id, an existing organization, a valid name and preview, a 32-byte hash no other
    /// key has. Whether the creator must be a member is the caller's rule.
    ///
    /// - Returns: the organization's handle.
    mutating func admitAPIKey(_ metadata: APIKeyMetadata) throws(CofferError) -> Handle {
        guard tables.apiKeys[metadata.id] == nil else { throw exists("An API key with the id \(metadata.id)") }
        let organization = try tables.requireOrganization(metadata.organization)
        try Names.checkName(metadata.name, what: "API key name")
        try Names.checkName(metadata.preview, what: "API key preview")
        guard metadata.hash.count == APIKeyFormat.hashByteCount else {
            throw CofferError(.invalidInput, "An API key hash must be \(APIKeyFormat.hashByteCount) bytes.")
        }
        guard tables.apiKeyByTag[APIKeyFormat.tag(of: metadata.hash)] == nil else {
            throw exists("An API key with the same hash")
        }
        return organization
    }

    /// Records an admitted API key (``admitAPIKey(_:)``): active, or revoked when `revoked`
    /// says when and by whom.
    mutating func insertAPIKey(
        _ metadata: APIKeyMetadata, organization: Handle, created: (time: UInt64, actor: Handle),
        revoked: (time: UInt64, actor: Handle)?
    ) {
        set(
            \.apiKeys, metadata.id,
            APIKeyRecord(
                id: metadata.id, organization: organization, creator: metadata.creator, name: metadata.name,
                preview: metadata.preview, hash: metadata.hash, createdTime: created.time, createdBy: created.actor,
                state: revoked == nil ? .active : .revoked, revokedTime: revoked?.time ?? 0,
                revokedBy: revoked?.actor ?? noHandle))
        set(\.apiKeyByTag, APIKeyFormat.tag(of: metadata.hash), metadata.id)
    }

    /// The record of a credential `placement` put in the index: its metadata by handle, with
    /// its version, history entries and state; its texts are added to the arena.
    mutating func record(
        of metadata: CredentialMetadata, at placement: CredentialPlacement, version: UInt32, createdEntry: Handle,
        lastEntry: Handle, rotatedEntry: Handle, currentVersionEntry: Handle, state: CredentialState, isDefault: Bool
    ) throws(CofferError) -> CredentialRecord {
        CredentialRecord(
            id: metadata.id, texts: try addTexts(label: metadata.label, display: Self.display(placement.texts)),
            organization: placement.key.organization, app: placement.key.app, slug: placement.slugKey.slug,
            owner: placement.key.owner, nextInGroup: tables.groupHead(placement.key) ?? noHandle,
            nextWithSlug: tables.slugHead(placement.slugKey) ?? noHandle, version: version, createdEntry: createdEntry,
            lastEntry: lastEntry, rotatedEntry: rotatedEntry, currentVersionEntry: currentVersionEntry,
            kind: metadata.kind, type: metadata.type, category: metadata.category, scope: metadata.scope, state: state,
            isDefault: isDefault)
    }

    /// OP-CRED-SLUG-1: a new slug, unique at the credential's scope like a new credential's.
    /// The credential moves to the lookup list of its new slug at its place in creation order,
    /// where a compacted log, which creates it with that slug, puts it too.
    mutating func changeSlug(
        of id: CredentialID, to newSlug: String, location: RecordLocation, time: UInt64, actor: Handle
    ) throws(CofferError) {
        let slot = try tables.requireCredential(id)
        try Names.checkSlug(newSlug, what: "credential slug")
        let record = tables.credential(slot)
        guard tables.string(record.slug) != newSlug else {
            throw CofferError(.invalidInput, "The credential \(id) already has the slug `\(newSlug)`.")
        }
        let slug = intern(newSlug)
        if tables.groupMember(record.candidateKey, slug: slug) != nil {
            throw exists("The credential `\(tables.string(record.app))/\(newSlug)` at this scope")
        }
        unlink(slot, from: \.slugHeads, key: record.slugKey, next: \.nextWithSlug)
        let slugKey = SlugKey(organization: record.organization, slug: slug)
        // Newest first: after the last one created later than this credential.
        var previous = noHandle
        var cursor = tables.slugHead(slugKey) ?? noHandle
        while cursor != noHandle, tables.credential(cursor).createdEntry > record.createdEntry {
            previous = cursor
            cursor = tables.credential(cursor).nextWithSlug
        }
        if previous == noHandle {
            set(\.slugHeads, slugKey, slot)
        } else {
            modifyCredential(previous) { $0.nextWithSlug = slot }
        }
        let entry = appendHistory(.slugChanged, of: slot, location: location, time: time, actor: actor)
        modifyCredential(slot) {
            $0.slug = slug
            $0.nextWithSlug = cursor
            $0.lastEntry = entry
        }
    }

    /// Puts a new credential record in a free slot and links it into its lookup groups, at
    /// their heads: groups list their instances newest first.
    @discardableResult
    mutating func insert(_ record: CredentialRecord, key: CandidateKey, slugKey: SlugKey) -> Handle {
        let slot: Handle
        if tables.freeSlots.isEmpty {
            precondition(tables.credentials.count < Int(noHandle), "credential slots exhausted")
            slot = Handle(tables.credentials.count)
            append(\.credentials, record)
        } else {
            slot = removeLast(\.freeSlots)
            replaceCredential(at: slot, with: record)
        }
        set(\.candidateHeads, key, slot)
        set(\.slugHeads, slugKey, slot)
        indexCredentialSlot(slot)
        set(\.liveCredentialCount, tables.liveCredentialCount + 1)
        return slot
    }

    /// Keeps the counts behind ``VaultIndex/compactionEstimate`` current.
    mutating func countHistory(added: Int, retained: Int) {
        if added != 0 { set(\.liveHistoryCount, tables.liveHistoryCount + added) }
        if retained != 0 { set(\.retainedVersionCount, tables.retainedVersionCount + retained) }
    }

    mutating func setFields(
        _ change: CredentialFieldsChange, location: RecordLocation, time: UInt64, actor: Handle
    ) throws(CofferError) {
        // OP-CRED-VERSION-1
        let slot = try tables.requireCredential(change.id)
        let record = tables.credential(slot)
        guard record.state == .active else {
            throw CofferError(
                .invalidInput,
                "The credential \(change.id) is revoked; its fields cannot change. Reinstate it first, then change them."
            )
        }
        guard record.version < UInt32.max, change.version == record.version + 1 else {
            throw CofferError(
                .invalidInput,
                "The new version of \(change.id) must be \(UInt64(record.version) + 1), not \(change.version).")
        }
        guard !change.changedFields.isEmpty else {
            throw CofferError(.invalidInput, "A new version must name the fields that changed.")
        }
        var mask: UInt8 = 0
        var changesSecret = false
        var members: Set<String> = []
        for name in change.changedFields {
            // OP-CRED-VERSION-1: a custom object's changed members are listed as `json.NAME`
            // after `json` itself.
            if record.type == .custom, name.hasPrefix(CustomObject.memberPrefix) {
                guard mask & 1 != 0, name.utf8.count > CustomObject.memberPrefix.utf8.count else {
                    throw CofferError(
                        .invalidInput, "The changed member `\(FieldValidation.printable(name))` must follow `json`.")
                }
                guard members.insert(name).inserted else {
                    throw CofferError(
                        .invalidInput, "The changed member `\(FieldValidation.printable(name))` is listed twice.")
                }
                continue
            }
            guard let index = record.type.fieldIndex(of: name) else {
                throw CofferError(
                    .invalidInput, "The \(record.type.word) type has no field `\(FieldValidation.printable(name))`.")
            }
            guard mask & (1 << UInt8(index)) == 0 else {
                throw CofferError(.invalidInput, "The changed field `\(name)` is listed twice.")
            }
            mask |= 1 << UInt8(index)
            changesSecret = changesSecret || record.type.fields[index].isSecret
        }
        guard change.reason != .rotate || changesSecret else {
            throw CofferError(.invalidInput, "A rotation must change at least one secret field.")
        }
        // OP-CRED-FIELDS-1
        let texts = try displayTexts(change.fields, of: record.type)
        let kind: ChangeKind = change.reason == .rotate ? .rotated : .fieldsUpdated
        let entry = Handle(tables.history.count)
        append(
            \.history,
            HistoryEntry(
                time: time, sequence: location.sequence, offset: location.offset, previous: record.lastEntry,
                version: change.version, actor: actor, operationIndex: location.operationIndex, kind: kind,
                changedMask: mask,
                isRetained: true))
        let recordTexts = try addTexts(label: tables.texts.label(record.texts), display: Self.display(texts))
        modifyCredential(slot) {
            $0.version = change.version
            $0.texts = recordTexts
            $0.lastEntry = entry
            $0.currentVersionEntry = entry
            if kind == .rotated { $0.rotatedEntry = entry }
        }
        countHistory(added: 1, retained: 1)
        pruneVersions(slot)
    }

    /// Appends a metadata-only history entry (not a version) and returns its index.
    mutating func appendHistory(
        _ kind: ChangeKind, of slot: Handle, location: RecordLocation, time: UInt64, actor: Handle
    ) -> Handle {
        let record = tables.credential(slot)
        let entry = Handle(tables.history.count)
        precondition(entry < noHandle, "history full")
        append(
            \.history,
            HistoryEntry(
                time: time, sequence: location.sequence, offset: location.offset, previous: record.lastEntry,
                version: record.version, actor: actor, operationIndex: location.operationIndex, kind: kind,
                changedMask: 0,
                isRetained: false))
        countHistory(added: 1, retained: 0)
        return entry
    }

    /// OP-CRED-VERSION-2: only the newest `versionRetention` versions keep their location
    /// readable. Retained versions are always the newest ones, so the walk stops at the
    /// first version that was already let go.
    mutating func pruneVersions(_ slot: Handle) {
        let retention = Int(tables.versionRetention)
        var kept = 0
        var cursor = tables.credential(slot).lastEntry
        while cursor != noHandle {
            let entry = tables.history[Int(cursor)]
            if entry.kind.makesVersion {
                if kept < retention {
                    kept += 1
                } else {
                    guard entry.isRetained else { break }
                    modifyHistory(cursor) { $0.isRetained = false }
                    countHistory(added: 0, retained: -1)
                }
            }
            cursor = entry.previous
        }
    }

    /// Removes `slot` from an intrusive list.
    mutating func unlink<Key: RecordKey>(
        _ slot: Handle, from heads: WritableKeyPath<IndexTables, SlotTable<Key>>, key: Key,
        next: WritableKeyPath<CredentialRecord, Handle>
    ) {
        let following = tables.credential(slot)[keyPath: next]
        let head = tables[keyPath: heads].slot(for: key, in: tables.credentials)
        if head == slot {
            set(heads, key, following == noHandle ? nil : following)
            return
        }
        var cursor = head ?? noHandle
        while cursor != noHandle {
            let successor = tables.credential(cursor)[keyPath: next]
            if successor == slot {
                modifyCredential(cursor) { $0[keyPath: next] = following }
                return
            }
            cursor = successor
        }
        preconditionFailure("credential missing from its lookup list")
    }

    static func mask(of texts: [String?]) -> UInt8 {
        var mask: UInt8 = 0
        for (index, text) in texts.enumerated() where text != nil { mask |= 1 << UInt8(index) }
        return mask
    }

    static func display(_ texts: [String?]) -> String {
        var display = ""
        display.reserveCapacity(texts.reduce(texts.count) { $0 + ($1?.utf8.count ?? 0) })
        for (index, text) in texts.enumerated() {
            if index > 0 { display.append(CredentialRecord.displaySeparator) }
            if let text { display.append(text) }
        }
        return display
    }
}

extension CredentialRecord {
    /// The contents of a free slot: no texts, so a deleted credential's become waste.
    static let freeSlot = CredentialRecord(
        id: CredentialID(high: 0, low: 0), texts: .empty, organization: IndexTables.freeSlotMarker,
        app: noHandle,
        slug: noHandle, owner: noHandle, nextInGroup: noHandle, nextWithSlug: noHandle, version: 0,
        createdEntry: noHandle,
        lastEntry: noHandle, rotatedEntry: noHandle, currentVersionEntry: noHandle, kind: .apiKey, type: .apiToken,
        category: .custom, scope: .organization, state: .revoked, isDefault: false)
}

extension IndexTables {
    /// The key of an assignment, or `nil` when one of its strings was never interned (then no
    /// such assignment exists).
    func assignmentKey(organization: Handle, target: AssignmentTarget, appKey: String) -> AssignmentKey? {
        stringHandle(appKey).flatMap { assignmentKey(organization: organization, target: target, app: $0) }
    }

    /// The same, for an app key already looked up.
    func assignmentKey(organization: Handle, target: AssignmentTarget, app: Handle) -> AssignmentKey? {
        guard let slug = stringHandle(target.slug), let consumer = stringHandle(target.consumer) else { return nil }
        return AssignmentKey(
            organization: organization, targetSlug: slug, consumer: consumer, app: app, kind: target.kind)
    }
}

/// Where a new credential goes in the index (``IndexMutation/place(_:fields:)``): its candidate
/// group, its slug list and the display texts of its fields (``IndexMutation/record(of:at:version:createdEntry:lastEntry:rotatedEntry:currentVersionEntry:state:isDefault:)``
/// makes its record).
struct CredentialPlacement {
    let key: CandidateKey
    let slugKey: SlugKey
    let texts: [String?]
}
