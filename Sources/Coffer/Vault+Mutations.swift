import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

extension Vault {
    /// Plans, validates, durably writes and applies one mutation as one transaction.
    ///
    /// `plan` receives a ``Planner`` over the current index (with every transaction committed
    /// before this one, durable or still being synced) and returns the operations to perform
    /// and their result. On a log shared with other instances it runs in the vault's writer
    /// turn, after catching up with their commits; it is called again, over the newer index,
    /// only when the turn was lost and another instance committed first. When this returns, the
    /// transaction is on stable storage and visible to readers; readers never see it before.
    /// Mutations from many threads share syncs (group commit): `plan` may then run on the
    /// thread of the call that plans its batch, while this call waits, so it must not rely on
    /// thread-local or task-local values or on a lock this thread holds, nor call this vault's
    /// mutating methods (it would wait for itself). An empty plan writes nothing.
    ///
    /// ```swift
    /// let organization = try vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
    /// ```
    ///
    /// - Parameters:
    ///   - actor: who is making the change, as history will show it.
    ///   - plan: plans the change over a `Planner` and returns its `Plan`.
    /// - Throws: the planner's errors (`.invalidInput`, `.notFound`, `.alreadyExists`,
    ///   `.ambiguous`, `.permissionDenied`); `.invalidInput` when called inside ``read(_:)``
    ///   or inside a plan of this vault, which it would wait for forever (a plan only plans:
    ///   it calls no writing call of its vault); `.writerStopped` after an earlier failure,
    ///   `.conflict` when, on a shared log, the writer turn was lost 64 times in a row,
    ///   `.closed`, and `.io` when the write or sync failed: then the transaction may or may
    ///   not be on disk (a failed sync says nothing of what reached it), the writer stops, and
    ///   reopening the vault tells which. On a shared log, `.io` before anything was sent
    ///   (the server unreachable, the writer turn not had within its deadline) says that
    ///   nothing was written and stops nothing: try again. An error of another type thrown by `plan` comes
    ///   back as `.invalidInput` naming its type (this method's errors are typed); the async
    ///   form, `mutate(actor:_:) async`, gives it back unchanged.
    @discardableResult
    public func mutate<Value: Sendable>(
        actor: String, _ plan: (Planner) throws -> Plan<Value>
    ) throws(CofferError) -> Value {
        guard !isReadOnly else {
            throw CofferError(.invalidInput, "The vault was opened read-only; open it for writing to change it.")
        }
        try ReentryGuard.refuse("mutate", on: self)
        try VaultIndex.checkActor(actor)
        let started = ContinuousClock.now
        let value: Value
        let wrote: Bool
        do {
            (value, wrote) = try mutateLocked(actor: actor, plan)
        } catch {
            if error.code != .cancelled { diagnostics.commitFailures(error.code) }
            if error.code == .writerStopped || (error.code.isIO && store.writerStoppedError != nil) {
                diagnostics.logger?.error(
                    "A commit failed and the writer stopped; reopen the vault to recover",
                    metadata: ["code": "\(error.code.word)"])
            }
            throw error
        }
        if wrote {
            diagnostics.commitDuration.record(duration: ContinuousClock.now - started)
            diagnostics.commits.increment()
        }
        recordHead()
        compactIfDue()
        checkpointIfDue()
        return value
    }

    /// The plan's value, and whether a transaction was written (an empty plan writes none).
    ///
    /// Mutations are committed in batches (group commit): each call queues a
    /// ``CommitRequest``; the first to arrive while no batch is being planned leads the next
    /// one, made of every request queued by then (``CommitQueue``), and plans and queues it in
    /// the writer lock, one transaction after another, each over the index with the ones
    /// before it applied; the others sleep until it is settled.
    private func mutateLocked<Value: Sendable>(
        actor: String, _ plan: (Planner) throws -> Plan<Value>
    ) throws(CofferError) -> (Value, Bool) {
        var value: Value?
        // The caller's closure does not outlive this call: settling the request drops it.
        let outcome = withoutActuallyEscaping(plan) { plan in
            let request = CommitRequest(actor: actor) { planner throws(CofferError) in
                let planned = try Self.run(plan, planner)
                value = planned.value
                return planned.operations
            }
            if let batch = commitQueue.join(request) {
                // A compaction's switch replaces the store, never with one of another kind.
                if store.isShared {
                    writerLock.lock()
                    let settled = commitSharedRequests(batch)
                    writerLock.unlock()
                    commitQueue.finish(settled)
                } else {
                    commitFileRequests(batch)
                }
            }
            return request.outcome!
        }
        let wrote = try outcome.get()
        // A request settled without error was planned, which set its value.
        return (value!, wrote)
    }

    /// On a file, a batch's records are written and synced by the first of its transactions
    /// to wait, or with the batch before it; the lead passes to the next batch as soon as
    /// this one is queued, so that it is planned while this one's sync runs, on top of it (the
    /// writers' view, ``CommitPipeline``).
    private func commitFileRequests(_ batch: [CommitRequest]) {
        writerLock.lock()
        // A compaction switches the store only once every queued transaction is published.
        let store = self.store
        let queued = queueRequests(batch, store: store)
        writerLock.unlock()
        commitQueue.handOver()
        _ = awaitDurable(queued, store: store)
        commitQueue.settle(batch)
    }

    /// On a log shared with other instances, a batch is planned and written in the vault's
    /// writer turn, after catching up with what the others committed, so it does not collide
    /// with them: one turn, one catch-up and one append (one database transaction) for all of
    /// it. A batch whose append conflicts all the same (the turn was lost: a connection
    /// dropped, or the turn was held past the store's idle limit) is planned again after a
    /// random wait.
    ///
    /// Commits a batch of requests, and those queued while it waited for the turn and caught
    /// up, giving each its outcome; returns them all. Called holding `writerLock`.
    private func commitSharedRequests(_ batch: [CommitRequest]) -> [CommitRequest] {
        var all = batch
        var pending = batch
        for attempt in 1...Self.conflictAttempts {
            do throws(CofferError) {
                pending = try store.withWriterTurn { () throws(CofferError) in
                    try catchUpLocked()
                    // Callers whose requests a batch just settled queue again at once, while
                    // this one waits for the turn and catches up: take them along.
                    let joined = commitQueue.takeQueued()
                    all += joined
                    pending += joined
                    return writeSharedBatch(pending)
                }
            } catch {
                // No turn, or no catch-up: nothing of the batch was written.
                for request in pending { request.outcome = .failure(error) }
                return all
            }
            if pending.isEmpty { return all }
            diagnostics.conflicts.increment()
            diagnostics.logger?.debug(
                "Another instance wrote first; planning again", metadata: ["attempt": "\(attempt)"])
            Self.backOff(attempt: attempt)
        }
        for request in pending {
            request.outcome = .failure(
                CofferError(
                    .conflict,
                    "Other instances sharing the vault's log kept writing first; the change was not made after "
                        + "\(Self.conflictAttempts) attempts. Try again."))
        }
        return all
    }

    /// Plans each request in order over the index with the earlier ones applied, queues their
    /// records and appends them as one batch; settles every request except those to be planned
    /// again because the append conflicted, which it returns.
    private func writeSharedBatch(_ requests: [CommitRequest]) -> [CommitRequest] {
        let store = self.store
        let queued = queueRequests(requests, store: store)
        guard let first = queued.first, awaitDurable(queued, store: store) else { return [] }
        // Every request planned from the first queued one on saw the batch's earlier
        // transactions, which did not land: plan them all again, failures and empty plans too.
        let again = Array(requests[requests.firstIndex { $0 === first.request }!...])
        for request in again { request.outcome = nil }
        return again
    }

    /// A request whose transaction is queued in the log.
    private struct QueuedRequest {
        let request: CommitRequest
        let append: QueuedAppend
        let entry: CommitPipeline.Entry
    }

    /// Plans each request in order over the index with the earlier ones applied and queues
    /// its record; settles those that fail or plan nothing, and returns the others. Called
    /// holding `writerLock`.
    private func queueRequests(_ requests: [CommitRequest], store: VaultStore) -> [QueuedRequest] {
        var queued: [QueuedRequest] = []
        for request in requests {
            let usesWritersView = commits.prepare { state.read { ($0.index, commits.queuedEntries()) } }
            do throws(CofferError) {
                let operations = try planOver(writersView: usesWritersView) { planner throws(CofferError) in
                    try ReentryGuard.marking(self, .plan) { () throws(CofferError) in try request.plan!(planner) }
                }
                if operations.isEmpty {
                    request.outcome = .success(false)
                    continue
                }
                let (append, entry) = try queue(
                    operations, actor: request.actor, store: store, overWritersView: usesWritersView)
                queued.append(QueuedRequest(request: request, append: append, entry: entry))
            } catch {
                request.outcome = .failure(error)
            }
        }
        return queued
    }

    /// Waits until the queued requests are durable, settles them, and publishes them; returns
    /// whether their append conflicted (a shared log's).
    private func awaitDurable(_ queued: [QueuedRequest], store: VaultStore) -> Bool {
        // The first wait writes and appends them all (on a shared log one database
        // transaction, all or nothing); the others learn the outcome of the same batch.
        var conflicted = false
        for item in queued {
            do throws(CofferError) {
                _ = try store.waitUntilDurable(item.append)
                item.request.outcome = .success(true)
            } catch {
                commits.fail(sequence: item.entry.context.sequence)
                if error.code == .conflict { conflicted = true }
                item.request.outcome = .failure(error)
            }
        }
        // On a file a batch can be split between two syncs (the previous batch's leader wrote
        // the part queued by then, or a plan read a record queued before it), of which the
        // second may fail: publish what did land.
        let landed = queued.last { item in
            if case .success = item.request.outcome { true } else { false }
        }
        if !conflicted, let landed { publish(through: landed.entry.context.sequence, in: store) }
        return conflicted
    }

    /// Runs `body` with a planner over the current index, or over the writers' view (the index
    /// with the queued transactions applied). The planner holds a copy of the index; it is
    /// released before the index is mutated, so the mutation does not copy the tables.
    private func planOver<Result>(
        writersView: Bool, _ body: (Planner) throws(CofferError) -> Result
    ) throws(CofferError) -> Result {
        let randomBytes = options.identifierBytes ?? RandomBytes.make
        if writersView {
            return try commits.read { index throws(CofferError) in
                try body(Planner(index: index, randomBytes: randomBytes))
            }
        }
        return try state.read { (current: borrowing State) throws(CofferError) in
            try body(Planner(index: current.index, randomBytes: randomBytes))
        }
    }

    /// Seals a planned transaction, validates it (applying it to the writers' view does that,
    /// once, not a dry run and then again) and queues its record; the record's place and the
    /// pipeline's entry. Called holding `writerLock`. A transaction that is not queued leaves
    /// the view as it was.
    private func queue(
        _ operations: [ModelOperation], actor: String, store: VaultStore, overWritersView: Bool
    ) throws(CofferError) -> (QueuedAppend, CommitPipeline.Entry) {
        let (provisional, payload) = try seal(operations, actor: actor, store: store)
        if overWritersView {
            try commits.applyToView(operations, context: provisional)
        } else {
            try state.write { (current: inout State) throws(CofferError) in
                try current.index.validate(operations, context: provisional)
            }
        }
        let queued: QueuedAppend
        do {
            queued = try store.enqueue([payload])
        } catch {
            if overWritersView { commits.abandonView() }
            throw error
        }
        let placed = queued.receipt.records[0]
        precondition(
            placed.sequence == provisional.sequence && placed.offset == provisional.offset, "a queued record moved")
        let entry = CommitPipeline.Entry(operations: operations, context: provisional)
        commits.add(entry)
        return (queued, entry)
    }

    /// Makes every queued transaction through `sequence`, which is durable in `store`, visible
    /// to readers and observers, unless the writer acknowledged first did already (and so a
    /// compaction may have switched to a new store since, whose queue is not this one's).
    private func publish(through sequence: UInt64, in store: VaultStore) {
        guard !commits.isPublished(sequence) else { return }
        state.write { (current: inout State) in
            guard current.store === store else { return }
            commits.publish(through: sequence, to: &current.index) { entry in
                observers.notify(
                    generation: current.store.head.generation, sequence: entry.context.sequence,
                    timeMilliseconds: entry.context.timeMilliseconds, actor: entry.context.actor,
                    operations: entry.operations)
            }
        }
    }

    /// Runs the caller's planning closure, whose errors other than ``CofferError`` become
    /// `.invalidInput` naming their type (their text is not ours to repeat).
    private static func run<Value: Sendable>(
        _ plan: (Planner) throws -> Plan<Value>, _ planner: Planner
    ) throws(CofferError) -> Plan<Value> {
        do {
            return try plan(planner)
        } catch let error as CofferError {
            throw error
        } catch {
            throw CofferError(
                .invalidInput, "The change was not planned: the planning closure threw \(type(of: error)).")
        }
    }

    /// The context validation sees — the sequence number and offset the record will get: only
    /// this writer queues, under `writerLock` — and the transaction's payload.
    private func seal(
        _ operations: [ModelOperation], actor: String, store: VaultStore
    ) throws(CofferError) -> (TransactionContext, SecureBytes) {
        let time = options.clock?() ?? WallClock.nowMilliseconds()
        let provisional = TransactionContext(
            sequence: store.queuedHead.sequence + 1, offset: store.queuedEnd, timeMilliseconds: time, actor: actor)
        guard
            let payload = TransactionPayload(
                timeMilliseconds: time, actor: actor, operations: operations.map { $0.encode() }
            ).encode()
        else { throw CofferError(.invalidInput, "The change is too large for one transaction.") }
        return (provisional, payload)
    }

    /// Makes every acknowledged transaction durable (`fdatasync`): for a vault opened with
    /// `Durability.unsafeNoSync`, after a bulk load. Waits for queued commits first. A failed
    /// sync stops the writer (`.writerStopped` from then on; reopen the vault). Nothing to do
    /// on a shared log; `.invalidInput` read-only, `.closed` after ``close()``.
    public func sync() throws(CofferError) {
        try ReentryGuard.refuse("sync", on: self)
        writerLock.lock()
        defer { writerLock.unlock() }
        commits.drain()
        try store.sync()
    }

    /// Chooses durability for the commits from now on, without reopening: a bulk load under
    /// `.unsafeNoSync`, then `.synchronous` for what follows (which syncs the load first, so
    /// no durable commit rests on an unsynced earlier one; if that sync fails, the writer stops
    /// and durability stays as it was). Compactions keep the durability chosen. A head witness
    /// needs `.synchronous` throughout (`.invalidInput`); a shared log is always durable.
    public func setDurability(_ durability: Durability) throws(CofferError) {
        if durability != .synchronous && options.headWitness != nil {
            throw CofferError(.invalidInput, "A head witness needs synchronous durability.")
        }
        try ReentryGuard.refuse("setDurability", on: self)
        writerLock.lock()
        defer { writerLock.unlock() }
        commits.drain()
        try store.setDurability(durability)
    }

    /// Data-key rotation: starts a new key epoch under which every later transaction is
    /// sealed. O(1); older records stay readable under their own epoch until compaction
    /// rewrites them.
    ///
    /// - Returns: the new epoch.
    @discardableResult
    public func rotateDataKey() throws(CofferError) -> UInt32 {
        try ReentryGuard.refuse("rotateDataKey", on: self)
        writerLock.lock()
        defer { writerLock.unlock() }
        for attempt in 0..<Self.conflictAttempts {
            if attempt > 0 { Self.backOff(attempt: attempt) }
            // On a shared log, in the writer turn and after catching up with the other instances.
            let started = try store.withWriterTurn { () throws(CofferError) -> UInt32? in
                if store.isShared { try catchUpLocked() }
                do throws(CofferError) {
                    return try store.rotateDataKey()
                } catch  where error.code == .conflict {
                    return nil
                }
            }
            if let started {
                recordHead()
                return started
            }
        }
        throw CofferError(
            .conflict, "Other instances sharing the vault's log kept writing first; no epoch was started. Try again.")
    }

    /// Unlock change: adds a keyslot for `secret`. Rewrites only the header; O(1). Waits for
    /// a running compaction, which copies the keyslots into the file it writes.
    ///
    /// - Throws: `.invalidInput` for a full table, a malformed secret, a key file a slot holds
    ///   already (unless that slot predates recipients: adding it again, then removing the old
    ///   slot, gives it one), a passphrase a slot holds already (tried as an open tries it,
    ///   within its Argon2id work bound), or a passphrase cost outside 1–16 passes over 8 KiB–1 GiB
    ///   (F-SLOT-CAP); `.io` when a header copy could not
    ///   be written, after which either keyslot table may be in force (F-HDR-UPDATE).
    @discardableResult
    public func addKeyslot(_ secret: Unlock, cost: Argon2id.Cost = .moderate) throws(CofferError) -> UInt16 {
        // The slots that could hold the secret are tried before the writers' turn is taken: a
        // passphrase slot costs an Argon2id derivation, which writers would otherwise wait for.
        try ReentryGuard.refuse("A keyslot change", on: self)
        try secret.check(cost: cost)
        let checked = try store.refuseSecretASlotHolds(secret)
        return try changingKeyslots { store throws(CofferError) in
            try store.addKeyslot(secret, cost: cost, checked: checked)
        }
    }

    /// Unlock change: removes keyslot `id`; the last one is refused.
    ///
    /// - Throws: `.notFound`, `.invalidInput` for the last slot, `.io` when a header copy could
    ///   not be written: the removed secret may then still open the vault, read-only, until a
    ///   writer with a current secret completes the change (F-HDR-SUPERSEDED).
    public func removeKeyslot(id: UInt16) throws(CofferError) {
        try changingKeyslots { store throws(CofferError) in try store.removeKeyslot(id: id) }
    }

    /// Unlock change: gives slot `id` a new secret (for example a new passphrase).
    ///
    /// - Throws: `.notFound`, `.invalidInput` as ``addKeyslot(_:cost:)`` (another slot's secret;
    ///   the slot's own passphrase again is taken, with a new cost), `.io` as
    ///   ``removeKeyslot(id:)``: the old secret may then open the vault read-only only.
    public func replaceKeyslot(id: UInt16, with secret: Unlock, cost: Argon2id.Cost = .moderate) throws(CofferError) {
        try ReentryGuard.refuse("A keyslot change", on: self)
        try secret.check(cost: cost)
        let checked = try store.refuseSecretASlotHolds(secret, besides: id)
        try changingKeyslots { store throws(CofferError) in
            try store.replaceKeyslot(id: id, with: secret, cost: cost, checked: checked)
        }
    }

    /// Runs a keyslot change with no compaction running and no mutation in flight: a
    /// compaction copies the header's keyslots at its start, so a change made while it runs
    /// would be lost at its switch (found by the engine crash suite).
    private func changingKeyslots<Result>(_ change: (VaultStore) throws(CofferError) -> Result) throws(CofferError)
        -> Result
    {
        try ReentryGuard.refuse("A keyslot change", on: self)
        compactionLock.lock()
        defer { compactionLock.unlock() }
        writerLock.lock()
        defer { writerLock.unlock() }
        // Mutations queued before the lock was taken land first.
        commits.drain()
        return try change(store)
    }

    /// The keyslots in force (kind, id, cost; never a secret).
    public var keyslots: [Keyslot] { store.keyslots }

    /// The keyslot whose secret opened this vault; nil when it was reopened with the unlock
    /// key it already held (after another instance's compaction).
    public var unlockedKeyslot: UInt16? { store.unlockedSlot }
}

extension Vault {
    /// Creates a platform API key acting as `creator` in `organization`. The secret is in the
    /// result and nowhere else: the vault keeps only its keyed hash and a preview. Show it
    /// once.
    ///
    /// - Throws: `.permissionDenied` when the creator is not a member; `.notFound`; `.invalidInput`.
    public func createAPIKey(in organization: String, creator: String, name: String) throws(CofferError)
        -> CreatedAPIKey
    {
        let hashKey = store.apiKeyHashKey
        return try mutate(actor: creator) { planner in
            try planner.createAPIKey(in: organization, creator: creator, name: name, hashKey: hashKey)
        }
    }
}
