import CofferCrypto
import CofferFormat
import CofferModel
import CofferStorage

extension Vault {
    /// Plans, validates, durably writes and applies one mutation as one transaction.
    ///
    /// `plan` receives a ``Planner`` over the current index (with every transaction committed
    /// before this one, durable or still being synced) and returns the operations to perform
    /// and their result. On a log shared with other instances it may be called again, over
    /// the newer index, when another instance committed first. When this returns, the
    /// transaction is on stable storage and visible to readers; readers never see it before.
    /// Mutations from many threads share syncs (group commit). An empty plan writes nothing.
    ///
    /// ```swift
    /// let organization = try vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
    /// ```
    ///
    /// - Parameters:
    ///   - actor: who is making the change, as history will show it.
    ///   - plan: plans the change over a `Planner` and returns its `Plan`.
    /// - Throws: the planner's errors (`.invalidInput`, `.notFound`, `.alreadyExists`,
    ///   `.ambiguous`, `.permissionDenied`), `.writerStopped` after an earlier failure,
    ///   `.conflict` when other instances sharing the log kept committing first,
    ///   `.closed`, and `.io` when the write or sync failed: then the transaction may or may
    ///   not be on disk (a failed sync says nothing of what reached it), the writer stops, and
    ///   reopening the vault tells which.
    @discardableResult
    public func mutate<Value: Sendable>(
        actor: String, _ plan: (Planner) throws -> Plan<Value>
    ) throws(CofferError) -> Value {
        guard !isReadOnly else {
            throw CofferError(.invalidInput, "The vault was opened read-only; open it for writing to change it.")
        }
        let started = ContinuousClock.now
        let value: Value
        let wrote: Bool
        do {
            (value, wrote) = try mutateLocked(actor: actor, plan)
        } catch {
            if error.code != .cancelled { diagnostics.commitFailures(error.code) }
            if error.code.isIO || error.code == .writerStopped {
                diagnostics.logger?.error(
                    "A commit failed and the writer stopped; reopen the vault to recover", metadata: ["code": "\(error.code.word)"])
            }
            throw error
        }
        if wrote {
            diagnostics.commitDuration.record(duration: ContinuousClock.now - started)
            diagnostics.commits.increment()
        }
        recordHead()
        compactIfDue()
        return value
    }

    /// The plan's value, and whether a transaction was written (an empty plan writes none).
    private func mutateLocked<Value: Sendable>(
        actor: String, _ plan: (Planner) throws -> Plan<Value>
    ) throws(CofferError) -> (Value, Bool) {
        writerLock.lock()
        var holdsWriterLock = true
        defer { if holdsWriterLock { writerLock.unlock() } }
        for attempt in 1...Self.conflictAttempts {
            // Under the writer lock the store does not change (a compaction switches under it too).
            let store = self.store
            // On a file, transactions queue behind each other and share syncs (group commit);
            // a shared log refuses an append another instance got first, so there each one
            // is written and synced under the writer lock.
            let groupsCommits = !store.isShared
            let usesWritersView =
                groupsCommits && commits.prepare { state.read { ($0.index, commits.queuedEntries()) } }
            // The planner holds a copy of the index; it is released before the index is mutated,
            // so the mutation does not copy the tables.
            let planned: Plan<Value>
            do {
                let randomBytes = options.identifierBytes ?? RandomBytes.make
                if usesWritersView {
                    planned = try commits.read { index in try plan(Planner(index: index, randomBytes: randomBytes)) }
                } else {
                    planned = try state.read { (current: borrowing State) in
                        try plan(Planner(index: current.index, randomBytes: randomBytes))
                    }
                }
            } catch let error as CofferError {
                throw error
            } catch {
                // Only the caller's closure throws other errors; their text is not ours to repeat.
                throw CofferError(
                    .invalidInput, "The change was not planned: the planning closure threw \(type(of: error)).")
            }
            if planned.isEmpty { return (planned.value, false) }
            let time = options.clock?() ?? WallClock.nowMilliseconds()
            // Validation sees the sequence number and offset the record will get: only this
            // writer queues, under `writerLock` (on a shared log, an append that finds
            // another instance's record there is refused and planned again).
            let provisional = TransactionContext(
                sequence: store.queuedHead.sequence + 1, offset: store.queuedEnd, timeMilliseconds: time, actor: actor)
            guard
                let payload = TransactionPayload(
                    timeMilliseconds: time, actor: actor, operations: planned.operations.map { $0.encode() }
                ).encode()
            else { throw CofferError(.invalidInput, "The change is too large for one transaction.") }
            if usesWritersView {
                // Applying to the writers' view validates: once, not a dry run and then again.
                try commits.applyToView(planned.operations, context: provisional)
            } else {
                try state.write { (current: inout State) throws(CofferError) in
                    try current.index.validate(planned.operations, context: provisional)
                }
            }

            guard groupsCommits else {
                let receipt: AppendReceipt
                do {
                    receipt = try store.append([payload])
                } catch where error.code == .conflict {
                    diagnostics.conflicts.increment()
                    diagnostics.logger?.debug("Another instance wrote first; planning again", metadata: ["attempt": "\(attempt)"])
                    // Another instance sharing the log wrote first: wait a random while, apply
                    // what was written, and plan again at once, so the change's preconditions are
                    // checked against the newer state and the window for the next loss is short.
                    Self.backOff(attempt: attempt)
                    try catchUpLocked()
                    continue
                }
                let placed = receipt.records[0]
                let context = TransactionContext(
                    sequence: placed.sequence, offset: placed.offset, timeMilliseconds: time, actor: actor)
                // Validation passed against the same index under the same writer lock.
                state.write { (current: inout State) in
                    current.index.applyValidated(planned.operations, context: context)
                    observers.notify(
                        generation: current.store.head.generation, sequence: placed.sequence, timeMilliseconds: time, actor: actor, operations: planned.operations)
                }
                return (planned.value, true)
            }

            let queued: QueuedAppend
            do {
                queued = try store.enqueue([payload])
            } catch {
                if usesWritersView { commits.abandonView() }
                throw error
            }
            let placed = queued.receipt.records[0]
            precondition(
                placed.sequence == provisional.sequence && placed.offset == provisional.offset, "a queued record moved")
            commits.add(CommitPipeline.Entry(operations: planned.operations, context: provisional))
            writerLock.unlock()
            holdsWriterLock = false
            do {
                _ = try store.waitUntilDurable(queued)
            } catch {
                commits.fail(sequence: placed.sequence)
                throw error
            }
            if !commits.isPublished(placed.sequence) {
                state.write { (current: inout State) in
                    commits.publish(through: placed.sequence, to: &current.index) { entry in
                        observers.notify(
                            generation: current.store.head.generation, sequence: entry.context.sequence, timeMilliseconds: entry.context.timeMilliseconds,
                            actor: entry.context.actor, operations: entry.operations)
                    }
                }
            }
            return (planned.value, true)
        }
        throw CofferError(
            .conflict,
            "Other instances sharing the vault's log kept writing first; the change was not made after \(Self.conflictAttempts) attempts. Try again."
        )
    }

    /// Makes every acknowledged transaction durable (`fdatasync`): for a vault opened with
    /// `Durability.unsafeNoSync`, after a bulk load. Waits for queued commits first. A failed
    /// sync stops the writer (`.writerStopped` from then on; reopen the vault). Nothing to do
    /// on a shared log; `.invalidInput` read-only, `.closed` after ``close()``.
    public func sync() throws(CofferError) {
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
        writerLock.lock()
        defer { writerLock.unlock() }
        for attempt in 0..<Self.conflictAttempts {
            do {
                let epoch = try store.rotateDataKey()
                recordHead()
                return epoch
            } catch  where error.code == .conflict {
                Self.backOff(attempt: attempt + 1)
                try catchUpLocked()
            }
        }
        throw CofferError(
            .conflict, "Other instances sharing the vault's log kept writing first; no epoch was started. Try again.")
    }

    /// Unlock change: adds a keyslot for `secret`. Rewrites only the header; O(1). Waits for
    /// a running compaction, which copies the keyslots into the file it writes.
    @discardableResult
    public func addKeyslot(_ secret: Unlock, cost: Argon2id.Cost = .moderate) throws(CofferError) -> UInt16 {
        try changingKeyslots { store throws(CofferError) in try store.addKeyslot(secret, cost: cost) }
    }

    /// Unlock change: removes keyslot `id`; the last one is refused.
    public func removeKeyslot(id: UInt16) throws(CofferError) {
        try changingKeyslots { store throws(CofferError) in try store.removeKeyslot(id: id) }
    }

    /// Unlock change: gives slot `id` a new secret (for example a new passphrase).
    public func replaceKeyslot(id: UInt16, with secret: Unlock, cost: Argon2id.Cost = .moderate) throws(CofferError) {
        try changingKeyslots { store throws(CofferError) in try store.replaceKeyslot(id: id, with: secret, cost: cost) }
    }

    /// Runs a keyslot change with no compaction running and no mutation in flight: a
    /// compaction copies the header's keyslots at its start, so a change made while it runs
    /// would be lost at its switch (found by the engine crash suite).
    private func changingKeyslots<Result>(_ change: (VaultStore) throws(CofferError) -> Result) throws(CofferError)
        -> Result
    {
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
