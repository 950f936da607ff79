import CofferCrypto
import CofferErrors
import CofferFormat

extension VaultStore {
    /// The keyslots in force.
    public var keyslots: [Keyslot] { header.keyslots }

    /// Unlock change (F-UNLOCK-CHANGE): adds a keyslot for `secret`. Rewrites only the header
    /// copies; O(1); never touches a record.
    ///
    /// - Returns: the new slot's id.
    /// - Throws: `.invalidInput` when the table is full, a slot with a recipient holds the key
    ///   file already, a slot holds the passphrase already, or the cost is outside the format's
    ///   limits (F-SLOT-CAP); `.io`.
    ///
    /// - Parameter checked: what ``refuseSecretASlotHolds(_:besides:)`` found, when the caller
    ///   asked it before taking its writer's turn: only slots added since are tried here.
    @discardableResult
    public func addKeyslot(
        _ secret: Keyslot.Secret, cost: Argon2id.Cost = .moderate, checked: CheckedKeyslots? = nil
    ) throws(CofferError) -> UInt16 {
        try secret.check(cost: cost)
        return try changeHeader { header, unlockKey throws(CofferError) in
            guard header.keyslots.count < FormatConstants.keyslotCountMax else {
                throw CofferError(
                    .invalidInput,
                    "The vault already has \(FormatConstants.keyslotCountMax) keyslots; remove one first.")
            }
            try Self.refuseHolders(of: secret, in: header, skipping: checked)
            let id = (header.keyslots.map(\.id).max() ?? 0) &+ 1
            guard id != 0,
                let slot = header.makeKeyslot(
                    id: id, secret: secret, cost: cost, unlockKey: unlockKey,
                    createdMilliseconds: WallClock.nowMilliseconds())
            else {
                throw CofferError(
                    .invalidInput, "The keyslot could not be made (Argon2id cost refused, or ids exhausted).")
            }
            header.keyslots.append(slot)
            return id
        }
    }

    /// Unlock change: removes keyslot `id`. The last slot cannot be removed, since the vault
    /// could then never be opened again.
    ///
    /// - Throws: `.notFound`, `.invalidInput` for the last slot, `.io`.
    public func removeKeyslot(id: UInt16) throws(CofferError) {
        try changeHeader { header, unlockKey throws(CofferError) in
            guard let index = header.keyslots.firstIndex(where: { $0.id == id }) else {
                throw CofferError(.notFound, "The vault has no keyslot \(id).")
            }
            guard header.keyslots.count > 1 else {
                throw CofferError(.invalidInput, "Keyslot \(id) is the last one; add another before removing it.")
            }
            header.keyslots.remove(at: index)
        }
    }

    /// Unlock change: replaces the secret of slot `id` (for example a new passphrase) with a
    /// new slot of the same id, in one header rewrite.
    ///
    /// - Parameter checked: as ``addKeyslot(_:cost:checked:)``'s, asked with `besides: id`.
    public func replaceKeyslot(
        id: UInt16, with secret: Keyslot.Secret, cost: Argon2id.Cost = .moderate, checked: CheckedKeyslots? = nil
    ) throws(CofferError) {
        try secret.check(cost: cost)
        try changeHeader { header, unlockKey throws(CofferError) in
            guard let index = header.keyslots.firstIndex(where: { $0.id == id }) else {
                throw CofferError(.notFound, "The vault has no keyslot \(id).")
            }
            try Self.refuseHolders(of: secret, in: header, besides: id, skipping: checked)
            guard
                let slot = header.makeKeyslot(
                    id: id, secret: secret, cost: cost, unlockKey: unlockKey,
                    createdMilliseconds: WallClock.nowMilliseconds())
            else { throw CofferError(.invalidInput, "The Argon2id cost is outside what libsodium accepts.") }
            header.keyslots[index] = slot
        }
    }

    /// Refuses a secret that a slot of `header` other than `besides` holds already: a second
    /// slot for it would keep it working after that one is removed, which is what a removal is
    /// for. A key-file slot made before recipients (F-SLOT-RECIPIENT) is the exception: adding
    /// the same key file again, then removing the old slot, is how it gets one. A passphrase
    /// is tried on the passphrase slots as an open tries them, within the same Argon2id work
    /// bound (F-SLOT-BUDGET): a slot past the bound is not checked.
    ///
    /// A passphrase slot tried costs an Argon2id derivation, so a caller holding a writer's turn
    /// asks ``refuseSecretASlotHolds(_:besides:)`` first, and the change tries only the slots it
    /// did not (`skipping`): one derivation, the new slot's, under the turn.
    private static func refuseHolders(
        of secret: Keyslot.Secret, in header: FileHeader, besides kept: UInt16? = nil,
        skipping checked: CheckedKeyslots?
    ) throws(CofferError) {
        // Found not to hold this very secret, or not trusted at all.
        let skipped = checked.flatMap { $0.secret.isSame(as: secret) && $0.besides == kept ? $0.slots : nil } ?? []
        var header = header
        header.keyslots.removeAll { $0.id == kept || skipped.contains($0) }
        switch secret {
        case .keyFile:
            for slot in header.keyslots where slot.recipient != nil {
                if slot.unwrap(with: secret, vaultID: header.vaultID, signerPublicKey: header.signer?.publicKey) != nil
                {
                    throw CofferError(
                        .invalidInput,
                        "Keyslot \(slot.id) holds this key file already; a second slot for it would keep it working "
                            + "after that one is removed.")
                }
            }
        case .passphrase:
            var attempt = KeyslotUnlock(secret: secret)
            if let (_, _, slot) = attempt.unlock(header) {
                throw CofferError(
                    .invalidInput,
                    "Keyslot \(slot) holds this passphrase already; a second slot for it would keep it working "
                        + "after that one is removed. Choose another passphrase.")
            }
        }
    }

    /// Refuses `secret` if a slot of the header in force other than `besides` holds it, as
    /// ``addKeyslot(_:cost:checked:)`` would, and returns the slots found not to: given to the
    /// change, they are not tried again. Asked before a writer's turn is taken, for a
    /// passphrase costs an Argon2id derivation a slot.
    ///
    /// - Throws: `.invalidInput` as ``addKeyslot(_:cost:checked:)``.
    public func refuseSecretASlotHolds(_ secret: Keyslot.Secret, besides kept: UInt16? = nil) throws(CofferError)
        -> CheckedKeyslots
    {
        try secret.check()
        // What the change would refuse at once is refused before any derivation.
        _ = try requireWriter()
        let header = header
        if let kept, !header.keyslots.contains(where: { $0.id == kept }) {
            throw CofferError(.notFound, "The vault has no keyslot \(kept).")
        }
        try Self.refuseHolders(of: secret, in: header, besides: kept, skipping: nil)
        return CheckedKeyslots(secret: secret, besides: kept, slots: header.keyslots.filter { $0.id != kept })
    }

    /// Applies `change` to a copy of the header and writes it with the two-copy protocol. On a
    /// shared log another instance may have changed the header first: the change is then
    /// made again on the header in force, a few times before giving up with `.conflict`.
    private func changeHeader<Result>(
        _ change: (inout FileHeader, SecureBytes) throws(CofferError) -> Result
    ) throws(CofferError) -> Result {
        _ = try requireWriter()
        headerChangeLock.lock()
        defer { headerChangeLock.unlock() }
        for _ in 0..<Self.headerAttempts {
            let (header, copyIndex) = headerLock.withLock { headerState }
            var changed = header
            let result = try change(&changed, unlockKey)
            // F-HDR-SIGNER: the signer signs the table as changed.
            guard changed.signKeyslots(unlockKey: unlockKey) else {
                throw CofferError(
                    .corrupted, "The header's keyslot signer does not open under the vault's unlock key.", offset: 0)
            }
            var copiesWritten = 0
            // Not once the store is closed (its device may be closed); a close waits for it.
            let isClosed = headerLock.withLock {
                if !closed { rewritingHeader = true }
                return closed
            }
            if isClosed { throw CofferError(.closed, "The vault was closed.") }
            let rewritten = HeaderStore.rewrite(
                changed, inForce: copyIndex, masterKey: masterKey, log: log, copiesWritten: &copiesWritten)
            headerLock.withLock {
                rewritingHeader = false
                headerLock.broadcast()
            }
            switch rewritten {
            case .success(let written):
                // The second write went to the copy that was in force, so it is in force again.
                headerLock.withLock { headerState = (written, copyIndex) }
                return result
            case .failure(let error) where error.code == .conflict:
                // No copy written: nothing changed, try on the newer header. One copy written:
                // the new header is in force in it, and whoever wrote next built on it.
                try refreshHeader()
                if copiesWritten > 0 { return result }
            case .failure(let error):
                writer?.stop(
                    CofferError(.writerStopped, "A header rewrite failed (\(error.message)); reopen the vault."))
                throw error
            }
        }
        throw CofferError(
            .conflict, "Other instances kept changing the vault's keyslots; the change was not made. Try again.")
    }

    private static let headerAttempts = 4
}

/// Keyslots found not to hold a secret (``VaultStore/refuseSecretASlotHolds(_:besides:)``),
/// each as it was then: a slot changed since is tried again, and so is every slot when the
/// change is given another secret (or another slot to replace) than the one checked.
public struct CheckedKeyslots: Sendable {
    let secret: Keyslot.Secret
    let besides: UInt16?
    let slots: [Keyslot]
}

extension Keyslot.Secret {
    /// The same kind and bytes, compared in constant time.
    fileprivate func isSame(as other: Keyslot.Secret) -> Bool {
        switch (self, other) {
        case (.passphrase(let lhs), .passphrase(let rhs)), (.keyFile(let lhs), .keyFile(let rhs)): lhs == rhs
        default: false
        }
    }
}
