import CofferErrors
import CofferFormat

/// The index as bytes, for an index checkpoint (FORMAT.md, F-CHECKPOINT-INDEX): every table
/// written out as it is, so that an open rebuilds the index in one pass over the bytes
/// instead of replaying every transaction.
///
/// The encoding is canonical: tables kept in dictionaries are written sorted by their keys,
/// so two indexes in the same state encode to the same bytes, and `verify` checks a
/// checkpoint by comparing it with the encoding of the index it rebuilt from the whole log.
/// Lookup tables that follow from others (ids, slugs and handles to records, interned
/// strings to handles, credentials to their assignments, hashes to API keys) are not written
/// but rebuilt.
///
/// Decoding checks everything the index's code relies on to stay in bounds and terminate:
/// every handle into a table names an entry of it, every lookup list ends, nothing is listed
/// twice. The checkpoint's authentication vouches for the rest: only a holder of the vault's
/// keys writes one, from an index that apply built.
///
/// ```swift
/// let bytes = index.checkpointEncoding()
/// let rebuilt = try VaultIndex(checkpointEncoding: bytes)   // the same state
/// ```
extension VaultIndex {
    /// The version of the encoding, its first two bytes.
    static let checkpointEncodingVersion: UInt16 = 1

    /// The canonical encoding of this index.
    public func checkpointEncoding() -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + tables.credentials.count * 160 + tables.history.count * 40)
        tables.encode(into: &writer)
        return writer.bytes
    }

    /// Rebuilds the index an encoding describes.
    ///
    /// - Throws: `.corrupted` when the bytes are not an encoding this version writes, or
    ///   describe an index whose handles or lookup lists are out of bounds.
    public init(checkpointEncoding bytes: [UInt8]) throws(CofferError) {
        try self.init(checkpointEncoding: bytes[...])
    }

    /// Rebuilds the index an encoding describes, from a slice of the bytes that hold it (a
    /// checkpoint's opened contents).
    ///
    /// Given `arrival`, the bytes are still arriving (a checkpoint opened chunk by chunk on
    /// another thread as this decodes): each read waits for its bytes, and the index is kept
    /// only when `arrival.complete()` then answers true.
    ///
    /// - Throws: what ``init(checkpointEncoding:)-(Array<UInt8>)`` throws, and `.corrupted`
    ///   when the arriving bytes cannot be trusted.
    public init(checkpointEncoding bytes: ArraySlice<UInt8>, arrival: (any ByteArrival)? = nil) throws(CofferError) {
        self.init()
        let decoded = bytes.withUnsafeBytes { raw -> IndexTables? in
            var reader = ByteReader(raw, arrival: arrival)
            guard let tables = IndexTables.decode(from: &reader), reader.remaining == 0 else { return nil }
            return tables
        }
        if let arrival, !arrival.complete() {
            throw CofferError(.corrupted, "The checkpoint does not authenticate or does not agree with the log.")
        }
        guard let decoded else {
            throw CofferError(.corrupted, "The checkpoint's index is malformed or out of bounds.")
        }
        tables = decoded
    }

    /// Whether every history entry names a record at or before record `sequence`, whose frame
    /// is at `lastFrameOffset`: what an index restored from a checkpoint after that record
    /// must hold, since a reveal reads the frame an entry names.
    public func historyLies(atOrBefore sequence: UInt64, lastFrameOffset: UInt64) -> Bool {
        tables.history.allSatisfy { entry in
            entry.sequence >= 1 && entry.sequence <= sequence && entry.offset <= lastFrameOffset
                && (entry.sequence == sequence) == (entry.offset == lastFrameOffset)
        }
    }
}

extension IndexTables {
    fileprivate func encode(into writer: inout ByteWriter) {
        writer.write(VaultIndex.checkpointEncodingVersion)
        writer.write(nextPrincipal)
        writer.write(versionRetention)
        writer.write(newestTransactionTime)
        writer.write(UInt64(liveCredentialCount))
        writer.write(UInt64(liveHistoryCount))
        writer.write(UInt64(retainedVersionCount))

        writer.write(UInt32(strings.count))
        for string in strings { writer.writeText(string) }

        writer.write(UInt32(organizations.count))
        for (handle, record) in organizations.sorted(by: { $0.key < $1.key }) {
            writer.write(handle)
            writer.write(record.id)
            writer.writeText(record.slug)
            writer.writeText(record.name)
            writer.write(record.createdTime)
            writer.write(record.createdBy)
        }
        writer.write(UInt32(projects.count))
        for (handle, record) in projects.sorted(by: { $0.key < $1.key }) {
            writer.write(handle)
            writer.write(record.id)
            writer.write(record.organization)
            writer.writeText(record.slug)
            writer.writeText(record.name)
            writer.write(record.createdTime)
            writer.write(record.createdBy)
        }
        writer.write(UInt32(users.count))
        for (handle, record) in users.sorted(by: { $0.key < $1.key }) {
            writer.write(handle)
            writer.write(record.id)
            writer.writeText(record.handle)
            writer.writeText(record.displayName)
            writer.write(record.createdTime)
            writer.write(record.createdBy)
        }
        writer.write(UInt32(memberships.count))
        for (key, role) in memberships.sorted(by: {
            ($0.key.user, $0.key.organization) < ($1.key.user, $1.key.organization)
        }) {
            writer.write(key.user)
            writer.write(key.organization)
            writer.write(role.rawValue)
        }

        writer.write(UInt32(credentials.count))
        for record in credentials {
            writer.write(record.id)
            texts.withLabelUTF8(record.texts) { writer.writeText(UnsafeRawBufferPointer($0)) }
            texts.withDisplayUTF8(record.texts) { writer.writeText(UnsafeRawBufferPointer($0)) }
            writer.write(record.organization)
            writer.write(record.app)
            writer.write(record.slug)
            writer.write(record.owner)
            writer.write(record.nextInGroup)
            writer.write(record.nextWithSlug)
            writer.write(record.version)
            writer.write(record.createdEntry)
            writer.write(record.lastEntry)
            writer.write(record.rotatedEntry)
            writer.write(record.currentVersionEntry)
            writer.write(record.kind.rawValue)
            writer.write(record.type.rawValue)
            writer.write(record.category.rawValue)
            writer.write(record.scope.rawValue)
            writer.write(record.state.rawValue)
            writer.write(UInt8(record.isDefault ? 1 : 0))
        }
        writer.write(UInt32(freeSlots.count))
        for slot in freeSlots { writer.write(slot) }
        writer.writeCandidateTable(candidateHeads, of: credentials)
        writer.write(UInt32(slugHeads.count))
        for (key, slot) in slugHeads.slots.map({ (credentials[Int($0)].slugKey, $0) }).sorted(by: {
            ($0.0.organization, $0.0.slug) < ($1.0.organization, $1.0.slug)
        }) {
            writer.write(key.organization)
            writer.write(key.slug)
            writer.write(slot)
        }
        writer.writeCandidateTable(defaults, of: credentials)
        writer.write(UInt32(assignments.count))
        for (key, slot) in assignments.sorted(by: { $0.key.sortKey < $1.key.sortKey }) {
            writer.write(key.organization)
            writer.write(key.targetSlug)
            writer.write(key.consumer)
            writer.write(key.app)
            writer.write(key.kind.rawValue)
            writer.write(slot)
        }

        writer.write(UInt32(history.count))
        for entry in history {
            writer.write(entry.time)
            writer.write(entry.sequence)
            writer.write(entry.offset)
            writer.write(entry.previous)
            writer.write(entry.version)
            writer.write(entry.actor)
            writer.write(entry.operationIndex)
            writer.write(entry.kind.rawValue)
            writer.write(entry.changedMask)
            writer.write(UInt8(entry.isRetained ? 1 : 0))
        }

        writer.write(UInt32(apiKeys.count))
        for record in apiKeys.values.sorted(by: { $0.id < $1.id }) {
            writer.write(record.id)
            writer.write(record.organization)
            writer.write(record.creator)
            writer.writeText(record.name)
            writer.writeText(record.preview)
            writer.writeBlob(record.hash)
            writer.write(record.createdTime)
            writer.write(record.createdBy)
            writer.write(record.state.rawValue)
            writer.write(record.revokedTime)
            writer.write(record.revokedBy)
        }
    }

    fileprivate static func decode(from reader: inout ByteReader) -> IndexTables? {
        guard reader.read(UInt16.self) == VaultIndex.checkpointEncodingVersion else { return nil }
        var tables = IndexTables()
        guard let nextPrincipal = reader.read(UInt32.self), let versionRetention = reader.read(UInt16.self),
            (1...VaultIndex.versionRetentionMax).contains(versionRetention),
            let newestTransactionTime = reader.read(UInt64.self), let liveCredentials = reader.readCount64(),
            let liveHistory = reader.readCount64(), let retainedVersions = reader.readCount64()
        else { return nil }
        tables.nextPrincipal = nextPrincipal
        tables.versionRetention = versionRetention
        tables.newestTransactionTime = newestTransactionTime
        tables.liveCredentialCount = liveCredentials
        tables.liveHistoryCount = liveHistory
        tables.retainedVersionCount = retainedVersions

        // Interned strings: a handle is a position, and no string is interned twice.
        guard let stringCount = reader.readCount(minimumBytesEach: 4) else { return nil }
        tables.strings.reserveCapacity(stringCount)
        for _ in 0..<stringCount {
            guard let string = reader.readText() else { return nil }
            tables.strings.append(string)
        }
        let interned = tables.strings
        guard
            let stringHandles = HandleTable(
                bulk: stringCount, sameKey: { TextHash.sameBytes(interned[Int($0)], interned[Int($1)]) },
                listing: { add in
                    for (handle, string) in interned.enumerated() { add(Handle(handle), TextHash.hash(string)) }
                    return true
                })
        else { return nil }
        tables.stringHandles = stringHandles
        let strings = HandleRange(count: stringCount)

        guard tables.decodePrincipals(from: &reader, strings: strings) else { return nil }
        guard tables.decodeCredentials(from: &reader, strings: strings) else { return nil }
        guard tables.decodeHistory(from: &reader, strings: strings) else { return nil }
        guard tables.decodeAPIKeys(from: &reader, strings: strings) else { return nil }
        guard tables.principalHandlesAreUnique(), tables.credentialsAreWhole(), tables.historyCountsAgree(),
            tables.lookupListsEnd(), tables.defaultsAgree()
        else { return nil }
        return tables
    }

    private mutating func decodePrincipals(from reader: inout ByteReader, strings: HandleRange) -> Bool {
        guard let organizationCount = reader.readCount(minimumBytesEach: 40) else { return false }
        organizationIDs = IDTable(capacity: organizationCount)
        for _ in 0..<organizationCount {
            guard let handle = reader.read(Handle.self), let id = reader.readIdentifier(OrganizationID.self),
                let slug = reader.readText(), let name = reader.readText(), let created = reader.read(UInt64.self),
                let createdBy = reader.read(Handle.self), strings.contains(createdBy),
                organizations.updateValue(
                    OrganizationRecord(id: id, slug: slug, name: name, createdTime: created, createdBy: createdBy),
                    forKey: handle) == nil,
                organizationIDs.add(id, handle: handle, organization: handle),
                organizationBySlug.updateValue(handle, forKey: slug) == nil
            else { return false }
        }
        guard let projectCount = reader.readCount(minimumBytesEach: 44) else { return false }
        projectIDs = IDTable(capacity: projectCount)
        for _ in 0..<projectCount {
            guard let handle = reader.read(Handle.self), let id = reader.readIdentifier(ProjectID.self),
                let organization = reader.read(Handle.self), organizations[organization] != nil,
                let slug = reader.readText(), let name = reader.readText(), let created = reader.read(UInt64.self),
                let createdBy = reader.read(Handle.self), strings.contains(createdBy),
                projects.updateValue(
                    ProjectRecord(
                        id: id, organization: organization, slug: slug, name: name, createdTime: created,
                        createdBy: createdBy),
                    forKey: handle) == nil,
                projectIDs.add(id, handle: handle, organization: organization),
                projectBySlug.updateValue(handle, forKey: ProjectSlugKey(organization: organization, slug: slug)) == nil
            else { return false }
        }
        guard let userCount = reader.readCount(minimumBytesEach: 40) else { return false }
        userIDs = IDTable(capacity: userCount)
        for _ in 0..<userCount {
            guard let handle = reader.read(Handle.self), let id = reader.readIdentifier(UserID.self),
                let userHandle = reader.readText(), let displayName = reader.readText(),
                let created = reader.read(UInt64.self), let createdBy = reader.read(Handle.self),
                strings.contains(createdBy),
                users.updateValue(
                    UserRecord(
                        id: id, handle: userHandle, displayName: displayName, createdTime: created, createdBy: createdBy
                    ),
                    forKey: handle) == nil,
                userIDs.add(id, handle: handle, organization: noHandle),
                userByHandle.updateValue(handle, forKey: userHandle) == nil
            else { return false }
        }
        guard let membershipCount = reader.readCount(minimumBytesEach: 9) else { return false }
        for _ in 0..<membershipCount {
            guard let user = reader.read(Handle.self), let organization = reader.read(Handle.self),
                users[user] != nil, organizations[organization] != nil,
                let role = reader.readWord(Role.self),
                memberships.updateValue(role, forKey: MembershipKey(user: user, organization: organization)) == nil
            else { return false }
        }
        return true
    }

    private mutating func decodeCredentials(from reader: inout ByteReader, strings: HandleRange) -> Bool {
        guard let credentialCount = reader.readCount(minimumBytesEach: 68) else { return false }
        credentials.reserveCapacity(credentialCount)
        var liveCount = 0
        // The organization last found: credentials come in runs of one organization, and a
        // dictionary lookup for each was a twentieth of the decoding.
        var foundOrganization = noHandle
        for _ in 0..<credentialCount {
            guard let id = reader.readIdentifier(CredentialID.self), let label = reader.readShownTextView(),
                let display = reader.readShownTextView(), let recordTexts = texts.add(label: label, display: display)
            else { return false }
            guard let organization = reader.read(Handle.self), let app = reader.read(Handle.self),
                let slug = reader.read(Handle.self), let owner = reader.read(Handle.self),
                let nextInGroup = reader.read(Handle.self), let nextWithSlug = reader.read(Handle.self),
                let version = reader.read(UInt32.self), let createdEntry = reader.read(Handle.self),
                let lastEntry = reader.read(Handle.self), let rotatedEntry = reader.read(Handle.self),
                let currentVersionEntry = reader.read(Handle.self),
                let kind = reader.readWord(CredentialKind.self), let type = reader.readWord(CredentialType.self),
                let category = reader.readWord(CredentialCategory.self),
                let scope = reader.readWord(CredentialScope.self), let state = reader.readWord(CredentialState.self),
                let isDefault = reader.readFlag()
            else { return false }
            let record = CredentialRecord(
                id: id, texts: recordTexts, organization: organization, app: app, slug: slug,
                owner: owner, nextInGroup: nextInGroup, nextWithSlug: nextWithSlug, version: version,
                createdEntry: createdEntry, lastEntry: lastEntry, rotatedEntry: rotatedEntry,
                currentVersionEntry: currentVersionEntry, kind: kind, type: type, category: category, scope: scope,
                state: state, isDefault: isDefault)
            if record.organization != Self.freeSlotMarker {
                guard strings.contains(record.app), strings.contains(record.slug) else { return false }
                if record.organization != foundOrganization {
                    guard organizations[record.organization] != nil else { return false }
                    foundOrganization = record.organization
                }
            } else {
                // A free slot holds no text (no arena offset outlives a reclaim).
                guard recordTexts == .empty else { return false }
            }
            credentials.append(record)
            if record.organization != Self.freeSlotMarker { liveCount += 1 }
        }
        let records = credentials
        guard
            let slotsByID = HandleTable(
                bulk: liveCount, sameKey: { records[Int($0)].id == records[Int($1)].id },
                listing: { add in
                    for (slot, record) in records.enumerated() where record.organization != Self.freeSlotMarker {
                        add(Handle(slot), record.id.tableHash)
                    }
                    return true
                })
        else { return false }
        credentialSlots = slotsByID
        let slots = HandleRange(count: credentialCount)
        guard let freeCount = reader.readCount(minimumBytesEach: 4) else { return false }
        var listedFree = [Bool](repeating: false, count: credentialCount)
        for _ in 0..<freeCount {
            // A slot listed twice would be handed out twice.
            guard let slot = reader.read(Handle.self), slots.contains(slot),
                credentials[Int(slot)].organization == Self.freeSlotMarker, !listedFree[Int(slot)]
            else { return false }
            listedFree[Int(slot)] = true
            freeSlots.append(slot)
        }
        guard let heads = readCandidateTable(from: &reader, slots: slots),
            let slugHeads = readSlotTable(
                from: &reader, slots: slots, keyBytes: 8,
                readKey: { (reader: inout ByteReader) -> SlugKey? in
                    guard let organization = reader.read(Handle.self), let slug = reader.read(Handle.self) else {
                        return nil
                    }
                    return SlugKey(organization: organization, slug: slug)
                }),
            let defaultMarks = readCandidateTable(from: &reader, slots: slots),
            let assignmentCount = reader.readCount(minimumBytesEach: 21)
        else { return false }
        candidateHeads = heads
        self.slugHeads = slugHeads
        defaults = defaultMarks
        for _ in 0..<assignmentCount {
            guard let organization = reader.read(Handle.self), let targetSlug = reader.read(Handle.self),
                let consumer = reader.read(Handle.self), let app = reader.read(Handle.self),
                let kind = reader.readWord(TargetKind.self), let slot = reader.read(Handle.self),
                strings.contains(targetSlug), strings.contains(consumer), strings.contains(app), slots.contains(slot),
                credentials[Int(slot)].organization != Self.freeSlotMarker,
                // INV-ASSIGN: the credential is of the assignment's organization and app.
                credentials[Int(slot)].organization == organization, credentials[Int(slot)].app == app
            else { return false }
            let key = AssignmentKey(
                organization: organization, targetSlug: targetSlug, consumer: consumer, app: app, kind: kind)
            guard assignments.updateValue(slot, forKey: key) == nil else { return false }
            assignmentsByCredential[slot, default: []].insert(key)
        }
        return true
    }

    /// A table from candidate groups to slots (the group heads, the defaults).
    private func readCandidateTable(from reader: inout ByteReader, slots: HandleRange) -> SlotTable<CandidateKey>? {
        readSlotTable(from: &reader, slots: slots, keyBytes: 13) { reader in
            guard let organization = reader.read(Handle.self), let app = reader.read(Handle.self),
                let owner = reader.read(Handle.self), let scope = reader.readWord(CredentialScope.self)
            else { return nil }
            return CandidateKey(organization: organization, app: app, owner: owner, scope: scope)
        }
    }

    /// A table of slots by key (list heads, defaults), read after the credentials: a count,
    /// then each key and its slot. Each entry names a live credential of its key, and no key
    /// is listed twice.
    private func readSlotTable<Key: RecordKey>(
        from reader: inout ByteReader, slots: HandleRange, keyBytes: Int, readKey: (inout ByteReader) -> Key?
    ) -> SlotTable<Key>? {
        guard let count = reader.readCount(minimumBytesEach: keyBytes + 4) else { return nil }
        return SlotTable(bulk: count, in: credentials) { add in
            for _ in 0..<count {
                guard let key = readKey(&reader), let slot = reader.read(Handle.self), slots.contains(slot),
                    credentials[Int(slot)].organization != Self.freeSlotMarker, Key(of: credentials[Int(slot)]) == key
                else { return false }
                add(slot, key.tableHash)
            }
            return true
        }
    }

    private mutating func decodeHistory(from reader: inout ByteReader, strings: HandleRange) -> Bool {
        guard let entryCount = reader.readCount(minimumBytesEach: 39) else { return false }
        history.reserveCapacity(entryCount)
        for position in 0..<entryCount {
            guard let time = reader.read(UInt64.self), let sequence = reader.read(UInt64.self),
                let offset = reader.read(UInt64.self),
                // Past any log a reader can hold (F-CHECKPOINT-USE 2 and 3 refuse it as well).
                sequence <= HistoryEntry.locationMax, offset <= HistoryEntry.locationMax,
                let previous = reader.read(Handle.self),
                // Entries are appended, so a credential's older entry is always earlier.
                previous == noHandle || Int(previous) < position,
                let version = reader.read(UInt32.self), let actor = reader.read(Handle.self), strings.contains(actor),
                let operationIndex = reader.read(UInt16.self), let kind = reader.readWord(ChangeKind.self),
                let changedMask = reader.read(UInt8.self), let isRetained = reader.readFlag()
            else { return false }
            history.append(
                HistoryEntry(
                    time: time, sequence: sequence, offset: offset, previous: previous, version: version, actor: actor,
                    operationIndex: operationIndex, kind: kind, changedMask: changedMask, isRetained: isRetained))
        }
        return true
    }

    private mutating func decodeAPIKeys(from reader: inout ByteReader, strings: HandleRange) -> Bool {
        guard let keyCount = reader.readCount(minimumBytesEach: 89) else { return false }
        for _ in 0..<keyCount {
            guard let id = reader.readIdentifier(APIKeyID.self), let organization = reader.read(Handle.self),
                organizations[organization] != nil, let creator = reader.readIdentifier(UserID.self),
                let name = reader.readText(), let preview = reader.readText(), let hash = reader.readBlob(),
                hash.count == APIKeyFormat.hashByteCount, let created = reader.read(UInt64.self),
                let createdBy = reader.read(Handle.self), strings.contains(createdBy),
                let state = reader.readWord(CredentialState.self), let revokedTime = reader.read(UInt64.self),
                let revokedBy = reader.read(Handle.self),
                state == .revoked ? strings.contains(revokedBy) : revokedBy == noHandle,
                apiKeys.updateValue(
                    APIKeyRecord(
                        id: id, organization: organization, creator: creator, name: name, preview: preview, hash: hash,
                        createdTime: created, createdBy: createdBy, state: state, revokedTime: revokedTime,
                        revokedBy: revokedBy),
                    forKey: id) == nil,
                apiKeyByTag.updateValue(id, forKey: APIKeyFormat.tag(of: hash)) == nil
            else { return false }
        }
        return true
    }

    /// Every live credential's owner exists where its scope says, its history handles name
    /// entries, its lookup links name slots, and the live count is what the slots say: what
    /// the index's lookups assume of every credential they reach.
    private func credentialsAreWhole() -> Bool {
        let entries = HandleRange(count: history.count)
        let slots = HandleRange(count: credentials.count)
        var live = 0
        // The owner last found, as in `decodeCredentials`: a project with its organization, a
        // member.
        var foundProject = (project: noHandle, organization: noHandle)
        var foundMember = MembershipKey(user: noHandle, organization: noHandle)
        for record in credentials where record.organization != Self.freeSlotMarker {
            live += 1
            let ownerExists: Bool
            switch record.scope {
            case .organization:
                ownerExists = record.owner == record.organization
            case .project:
                if foundProject != (record.owner, record.organization) {
                    guard projects[record.owner]?.organization == record.organization else { return false }
                    foundProject = (record.owner, record.organization)
                }
                ownerExists = true
            case .user:
                let member = MembershipKey(user: record.owner, organization: record.organization)
                if member != foundMember {
                    guard memberships[member] != nil else { return false }
                    foundMember = member
                }
                ownerExists = true
            }
            guard ownerExists, entries.contains(record.createdEntry), entries.contains(record.lastEntry),
                entries.contains(record.currentVersionEntry),
                record.rotatedEntry == noHandle || entries.contains(record.rotatedEntry),
                record.nextInGroup == noHandle || slots.contains(record.nextInGroup),
                record.nextWithSlug == noHandle || slots.contains(record.nextWithSlug)
            else { return false }
        }
        return live == liveCredentialCount && live == credentialSlots.count
    }

    /// Every organization, project and user handle is one `newPrincipalHandle` gave out (below
    /// `nextPrincipal`) and names one principal only: a later one must not take it again.
    private func principalHandlesAreUnique() -> Bool {
        let count = organizations.count + projects.count + users.count
        var handles = Set<Handle>(minimumCapacity: count)
        func take(_ handle: Handle) -> Bool { handle < nextPrincipal && handles.insert(handle).inserted }
        return organizations.keys.allSatisfy(take) && projects.keys.allSatisfy(take) && users.keys.allSatisfy(take)
    }

    /// The history entries of live credentials and their retained versions are as many as the
    /// counters say (compaction's estimate and statistics use the counters).
    private func historyCountsAgree() -> Bool {
        var entries = 0
        var retained = 0
        for record in credentials where record.organization != Self.freeSlotMarker {
            var cursor = record.lastEntry
            while cursor != noHandle {
                let entry = history[Int(cursor)]
                entries += 1
                if entry.kind.makesVersion && entry.isRetained { retained += 1 }
                cursor = entry.previous
            }
        }
        return entries == liveHistoryCount && retained == retainedVersionCount
    }

    /// Each default names a live credential of its group marked default, and each credential
    /// marked default is its group's default.
    private func defaultsAgree() -> Bool {
        // The decoder took only live credentials of each entry's key.
        guard defaults.slots.allSatisfy({ credentials[Int($0)].isDefault }) else { return false }
        let marked = credentials.count { $0.organization != Self.freeSlotMarker && $0.isDefault }
        return marked == defaults.count
    }

    /// Every candidate group and slug list ends, holds live credentials of its key only, and
    /// each live credential is in one of each.
    private func lookupListsEnd() -> Bool {
        listsAreWhole(heads: candidateHeads) { $0.nextInGroup } && listsAreWhole(heads: slugHeads) { $0.nextWithSlug }
    }

    /// The lists of one kind are whole, checked in slot order as far as can be (a walk from
    /// each head reads the records in hash order, a cache miss each, one after the other; here
    /// only the links of lists longer than one are followed, from their starts in slot order):
    /// each link goes from a live credential to a live one of the same key that nothing else
    /// links to; the credentials nothing links to, where the lists start, are exactly the
    /// heads of their keys; and walking from the starts that have a successor reaches every
    /// live credential, so none is on a loop. A walk cannot loop itself: a loop entered from
    /// a start would have a credential linked from two.
    private func listsAreWhole<Key: RecordKey>(heads: SlotTable<Key>, next: (CredentialRecord) -> Handle) -> Bool {
        var linked = [Bool](repeating: false, count: credentials.count)
        var live = 0
        for record in credentials where record.organization != Self.freeSlotMarker {
            live += 1
            let successor = next(record)
            guard successor != noHandle else { continue }
            guard Int(successor) < credentials.count, !linked[Int(successor)] else { return false }
            let following = credentials[Int(successor)]
            guard following.organization != Self.freeSlotMarker, Key(of: following) == Key(of: record) else {
                return false
            }
            linked[Int(successor)] = true
        }
        // The decoder took each head with the key its record carries (readSlotTable): a start
        // marked a head is the head of its own key. Marked from the table's buckets in order,
        // not searched for per start, which at a million is a cache miss each.
        var isHead = [Bool](repeating: false, count: credentials.count)
        for slot in heads.slots { isHead[Int(slot)] = true }
        var starts = 0
        var reached = 0
        for (slot, record) in credentials.enumerated() where record.organization != Self.freeSlotMarker {
            guard !linked[slot] else { continue }
            starts += 1
            guard isHead[slot] else { return false }
            reached += 1
            var cursor = next(record)
            while cursor != noHandle {
                reached += 1
                cursor = next(credentials[Int(cursor)])
            }
        }
        // Each start is the head of its own key, so no two share one: as many as the heads
        // means that every head starts a list (the decoder took only live heads).
        return starts == heads.count && reached == live
    }
}

/// Handles `0..<count`: the valid handles into a table of `count` entries.
private struct HandleRange {
    let count: Int

    func contains(_ handle: Handle) -> Bool { Int(handle) < count }
}

extension AssignmentKey {
    fileprivate var sortKey: (Handle, Handle, Handle, Handle, UInt8) {
        (organization, targetSlug, consumer, app, kind.rawValue)
    }
}

extension ByteWriter {
    /// A text of the arena, as ``writeText(_:)-(String)`` writes a string.
    fileprivate mutating func writeText(_ utf8: UnsafeRawBufferPointer) {
        write(UInt32(utf8.count))
        write(utf8)
    }

    /// A string of any length: `u32` byte count, then its UTF-8.
    fileprivate mutating func writeText(_ string: String) {
        var string = string
        string.withUTF8 { writeText(UnsafeRawBufferPointer($0)) }
    }

    /// An identifier's 16 bytes, as every other encoding writes them.
    fileprivate mutating func write<Kind>(_ id: Identifier<Kind>) {
        write(id.bytes)
    }

    /// A table from candidate groups to slots (the group heads, the defaults), in key order.
    fileprivate mutating func writeCandidateTable(_ table: SlotTable<CandidateKey>, of credentials: [CredentialRecord])
    {
        write(UInt32(table.count))
        let entries = table.slots.map { (key: credentials[Int($0)].candidateKey, slot: $0) }
        for (key, slot) in entries.sorted(by: { $0.key.sortKey < $1.key.sortKey }) {
            write(key.organization)
            write(key.app)
            write(key.owner)
            write(key.scope.rawValue)
            write(slot)
        }
    }
}

extension CandidateKey {
    fileprivate var sortKey: (Handle, Handle, Handle, UInt8) { (organization, app, owner, scope.rawValue) }
}

extension ByteReader {
    /// A text: `u32` length and UTF-8, refused when not valid UTF-8 (``UTF8Check``, which
    /// costs far less than `String(validating:)`, whose generic path is not specialized for a
    /// raw buffer).
    fileprivate mutating func readText() -> String? {
        readTextView().map { String(decoding: $0, as: UTF8.self) }
    }

    /// A text as ``readText()`` reads one, without making a `String`: its bytes in the reader's.
    fileprivate mutating func readTextView() -> UnsafeRawBufferPointer? {
        guard let view = readShownTextView(), UTF8Check.isValid(view) else { return nil }
        return view
    }

    /// A text that identifies nothing — a credential's label or display text — as
    /// ``readTextView()`` reads one, but for its UTF-8, which is not checked
    /// (F-CHECKPOINT-INDEX allows it): the checkpoint authenticated, so its writer checked it,
    /// and ``TextArena`` makes a `String` of it with `String(decoding:as:)`, which reads what is
    /// not UTF-8 as U+FFFD wherever it is used (shown, compared, exported, written into a record). No
    /// lookup or hash uses it. A sixth of the instructions of a 10k open's decoding thread went
    /// to checking these texts, which a masked preview's bullets take off the ASCII path.
    fileprivate mutating func readShownTextView() -> UnsafeRawBufferPointer? {
        guard let length = read(UInt32.self) else { return nil }
        return readView(Int(length))
    }

    fileprivate mutating func readIdentifier<Kind>(_: Identifier<Kind>.Type) -> Identifier<Kind>? {
        readView(Identifier<Kind>.byteCount).flatMap { Identifier(bytes: $0) }
    }

    fileprivate mutating func readWord<Word: ModelWord>(_: Word.Type) -> Word? {
        read(UInt8.self).flatMap(Word.init(rawValue:))
    }

    fileprivate mutating func readFlag() -> Bool? {
        switch read(UInt8.self) {
        case 0: false
        case 1: true
        default: nil
        }
    }

    /// A `u32` count of entries of at least `minimumBytesEach` bytes, refused when the bytes
    /// left cannot hold that many (so a damaged count never reserves memory it cannot fill).
    fileprivate mutating func readCount(minimumBytesEach: Int) -> Int? {
        guard let count = read(UInt32.self), Int(count) <= remaining / minimumBytesEach else { return nil }
        return Int(count)
    }

    fileprivate mutating func readCount64() -> Int? {
        read(UInt64.self).flatMap { $0 <= UInt64(Int.max) ? Int($0) : nil }
    }
}
