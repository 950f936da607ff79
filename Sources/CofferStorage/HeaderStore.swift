import CofferCrypto
import CofferErrors
import CofferFormat

/// Reads, selects and rewrites the two header copies (F-HDR-UPDATE).
///
/// Rewrite protocol: the new header, with generation `g + 1`, goes to the copy that does not
/// hold the newest valid header `g`, and is synced; then the same content with generation
/// `g + 2` goes to the other copy, and is synced. A crash at any point leaves at least one
/// valid copy holding either the old or the new keyslots, so the vault opens with either the
/// old or the new secret, never neither; a secret the change removed opens it read-only only,
/// until a writer with a current one completes the change (F-HDR-SUPERSEDED).
struct HeaderStore {
    /// A decoded header copy with its raw bytes and position.
    struct Copy {
        let index: Int
        let bytes: [UInt8]
        let decoded: Result<FileHeader, CofferError>

        var header: FileHeader? { try? decoded.get() }
    }

    /// Both copies as read from the file.
    let copies: [Copy]

    /// Reads both copies. A file shorter than the two copies is not a vault (or is one torn
    /// during creation, which never acknowledged anything).
    static func read(from log: any LogDevice) -> Result<HeaderStore, CofferError> {
        let total = FormatConstants.headerCopyBytes * FormatConstants.headerCopyCount
        switch log.read(count: total, at: 0) {
        case .failure(let error):
            return .failure(error.cofferError("Reading the vault header"))
        case .success(let bytes):
            if bytes.isEmpty {
                return .failure(
                    CofferError(
                        .notAVault,
                        "The file is empty, not a Coffer vault, and holds nothing (a vault is created whole under a "
                            + "temporary name and only then given its own): remove the file and create the vault again, "
                            + "or open the right file."))
            }
            if bytes.count < FormatConstants.fileMagic.count || !bytes.starts(with: FormatConstants.fileMagic) {
                // F-HDR-MAGIC: copy A is written first at creation; no magic there and no
                // magic in copy B means this is not a vault file.
                if bytes.count < total
                    || !bytes[FormatConstants.headerCopyBytes...].starts(with: FormatConstants.fileMagic)
                {
                    return .failure(
                        CofferError(.notAVault, "The file is not a Coffer vault (its magic bytes are missing)."))
                }
            }
            guard bytes.count == total else {
                return .failure(
                    CofferError(
                        .corrupted, "The file is shorter than its two header copies.", offset: UInt64(bytes.count)))
            }
            let copies = (0..<FormatConstants.headerCopyCount).map { index -> Copy in
                let slice = Array(
                    bytes[index * FormatConstants.headerCopyBytes..<(index + 1) * FormatConstants.headerCopyBytes])
                let decoded = slice.withUnsafeBytes { FileHeader.decode($0) }
                return Copy(index: index, bytes: slice, decoded: decoded)
            }
            return .success(HeaderStore(copies: copies))
        }
    }

    /// Valid copies, newest generation first (F-HDR-SELECT). Ties go to copy A.
    var validCopiesNewestFirst: [Copy] {
        copies.filter { $0.header != nil }.sorted {
            $0.header!.generation != $1.header!.generation
                ? $0.header!.generation > $1.header!.generation : $0.index < $1.index
        }
    }

    /// The error to report when no copy is valid: the most specific one.
    var noValidCopyError: CofferError {
        let errors = copies.compactMap { copy -> CofferError? in
            if case .failure(let error) = copy.decoded { return error }
            return nil
        }
        if let unsupported = errors.first(where: { $0.code == .unsupportedVersion }) { return unsupported }
        if errors.allSatisfy({ $0.code == .notAVault }) {
            return CofferError(.notAVault, "The file is not a Coffer vault (its magic bytes are missing).")
        }
        return CofferError(.corrupted, "Both header copies are damaged; the vault cannot be unlocked.", offset: 0)
    }

    /// The newest valid header, without a key (for `inspect`).
    func newestHeader() -> Result<FileHeader, CofferError> {
        guard let newest = validCopiesNewestFirst.first else { return .failure(noValidCopyError) }
        return .success(newest.header!)
    }

    /// The unlocked state: the header in force, its master key, which copy it came from.
    struct Unlocked {
        let header: FileHeader
        let masterKey: SecureBytes
        /// The key the keyslots wrap; needed to add a slot or wrap a new master key.
        let unlockKey: SecureBytes
        let copyIndex: Int
        let slotID: UInt16
        /// Whether the other copy differs from the one in force (a rewrite was interrupted).
        let otherCopyStale: Bool
        /// How the copy that opened stands against a newer one (F-HDR-SUPERSEDED).
        let standing: Standing
    }

    /// How the copy a secret opened stands against the newer ones (F-HDR-SUPERSEDED).
    enum Standing {
        /// No newer copy authenticates: it is the header in force.
        case inForce
        /// A newer copy authenticates under the same master key and did not accept the
        /// secret: an unlock change, interrupted or under way, removed or replaced it. A
        /// writer's repair from the older copy would undo that change.
        case superseded
        /// A newer copy authenticates, but the Argon2id work an open spends (F-SLOT-BUDGET)
        /// ran out before each of its passphrase slots was tried: the secret may be current.
        case newerNotTried
    }

    /// Why `action`, which needs the header in force, is refused to a secret that opened only
    /// an older copy (F-HDR-SUPERSEDED).
    static func notInForceError(_ action: String, _ standing: Standing) -> CofferError {
        let reason =
            standing == .newerNotTried
            ? "the secret given opened only an older header copy, and the Argon2id work an open spends ran out before "
                + "every keyslot of the newer one was tried. Name its keyslot so that it is tried first."
            : "the secret given was removed or replaced by a keyslot change that was interrupted (or is under way). It "
                + "still opens the vault read-only until a current one opens it for writing, which completes the change."
        return CofferError(
            .wrongKey, "\(action) needs a current passphrase or key file: \(reason) Nothing was modified.")
    }

    /// How `copy`, which the secret opened, stands: whether a copy newer than it (before it in
    /// `candidates`, newest first) verifies under `masterKey`, the header in force then, and
    /// whether `workBoundReached` left some of its slots untried.
    private static func standing(
        of copy: Copy, among candidates: [Copy], masterKey: SecureBytes, workBoundReached: Bool
    ) -> Standing {
        let newerInForce = candidates.prefix { $0.index != copy.index }.contains {
            $0.header!.verifyMAC(of: $0.bytes, masterKey: masterKey)
        }
        guard newerInForce else { return .inForce }
        return workBoundReached ? .newerNotTried : .superseded
    }

    /// Whether the copy other than `copy` needs rewriting (F-HDR-REPAIR): it does not decode,
    /// holds another header than `copy` in any field but the generation (other keyslots after
    /// an interrupted rewrite, a damaged master-key wrap whose checksum was made to match), or
    /// its MAC does not verify under the master key.
    private func otherCopyDiffers(from copy: Copy, masterKey: SecureBytes) -> Bool {
        let other = copies[1 - copy.index]
        guard var otherHeader = other.header, otherHeader.verifyMAC(of: other.bytes, masterKey: masterKey) else {
            return true
        }
        otherHeader.generation = copy.header!.generation
        return otherHeader != copy.header!
    }

    /// Unlocks with `secret` (F-HDR-SELECT, F-HDR-MAC): the newest valid copy whose keyslot
    /// accepts the secret and whose MAC verifies under the master key.
    ///
    /// A wrong secret is `.wrongKey`, distinct from corruption: both copies were readable and
    /// no slot accepted it.
    ///
    /// The Argon2id work spent on passphrase slots is bounded (F-SLOT-BUDGET,
    /// ``KeyslotUnlock``); `preferredSlot` is tried first.
    func unlock(with secret: Keyslot.Secret, preferredSlot: UInt16? = nil) -> Result<Unlocked, CofferError> {
        let candidates = validCopiesNewestFirst
        guard !candidates.isEmpty else { return .failure(noValidCopyError) }
        if let preferredSlot, !candidates.contains(where: { $0.header!.keyslots.contains { $0.id == preferredSlot } }) {
            // A slot named that is in neither copy is a mistake in the name, not one to try.
            return .failure(
                CofferError(
                    .invalidInput, "The vault has no keyslot \(preferredSlot) to try first. Nothing was modified."))
        }
        var macFailure = false
        var attempt = KeyslotUnlock(secret: secret, preferredSlot: preferredSlot)
        for copy in candidates {
            let header = copy.header!
            guard let (masterKey, unlockKey, slotID) = attempt.unlock(header) else { continue }
            guard header.verifyMAC(of: copy.bytes, masterKey: masterKey) else {
                macFailure = true
                continue
            }
            return .success(
                Unlocked(
                    header: header, masterKey: masterKey, unlockKey: unlockKey, copyIndex: copy.index, slotID: slotID,
                    otherCopyStale: otherCopyDiffers(from: copy, masterKey: masterKey),
                    standing: Self.standing(
                        of: copy, among: candidates, masterKey: masterKey,
                        workBoundReached: attempt.stoppedAtWorkBound)))
        }
        if macFailure {
            return .failure(
                CofferError(
                    .corrupted, "The header's authentication code does not verify: the header was altered.", offset: 0))
        }
        let kinds = Set(candidates.flatMap { $0.header!.keyslots.map(\.kind) })
        let wanted: Keyslot.Kind
        let word: String
        switch secret {
        case .passphrase: (wanted, word) = (.passphrase, "passphrase")
        case .keyFile: (wanted, word) = (.keyFile, "key file")
        }
        if !kinds.contains(wanted) {
            return .failure(
                CofferError(.wrongKey, "The vault has no \(word) keyslot; unlock it with another method."))
        }
        if attempt.stoppedAtWorkBound {
            return .failure(
                CofferError(
                    .wrongKey,
                    "The passphrase opened none of the \(attempt.passphraseSlotsTried) passphrase keyslots tried, and the "
                        + "others were not tried: together they cost more Argon2id work than an open spends "
                        + "(F-SLOT-BUDGET). Name the keyslot to try first. Nothing was modified."))
        }
        return .failure(
            CofferError(
                .wrongKey,
                "The \(word) does not unlock this vault: no keyslot accepts it. Check the key file or passphrase; "
                    + "nothing was modified."))
    }

    /// Unlocks with the unlock key a keyslot once gave: the newest valid copy whose master-key
    /// wrap opens under it and whose MAC verifies.
    func unlock(unlockKey: SecureBytes) -> Result<Unlocked, CofferError> {
        let candidates = validCopiesNewestFirst
        guard !candidates.isEmpty else { return .failure(noValidCopyError) }
        for copy in candidates {
            let header = copy.header!
            guard let masterKey = header.unwrapMasterKey(unlockKey: unlockKey),
                header.verifyMAC(of: copy.bytes, masterKey: masterKey)
            else { continue }
            return .success(
                Unlocked(
                    header: header, masterKey: masterKey, unlockKey: unlockKey, copyIndex: copy.index, slotID: 0,
                    otherCopyStale: otherCopyDiffers(from: copy, masterKey: masterKey),
                    standing: Self.standing(of: copy, among: candidates, masterKey: masterKey, workBoundReached: false))
            )
        }
        return .failure(
            CofferError(
                .wrongKey,
                "The vault's header no longer opens with the key it was unlocked with: its unlock key was rotated, "
                    + "or another file took its place. Open the vault again with a passphrase or key file."))
    }

    /// The newest valid copy whose MAC verifies under `masterKey`: the header in force as
    /// another instance may have rewritten it.
    func current(masterKey: SecureBytes) -> (header: FileHeader, copyIndex: Int)? {
        for copy in validCopiesNewestFirst where copy.header!.verifyMAC(of: copy.bytes, masterKey: masterKey) {
            return (copy.header!, copy.index)
        }
        return nil
    }

    /// Writes `header` as generation `current + 1` into the copy not in force, then as
    /// `current + 2` into the other, syncing after each (F-HDR-UPDATE).
    ///
    /// - Returns: the header as written last (generation `current + 2`).
    static func rewrite(
        _ header: FileHeader, inForce copyIndex: Int, masterKey: SecureBytes, log: any LogDevice
    ) -> Result<FileHeader, CofferError> {
        var copiesWritten = 0
        return rewrite(header, inForce: copyIndex, masterKey: masterKey, log: log, copiesWritten: &copiesWritten)
    }

    /// ``rewrite(_:inForce:masterKey:log:)``, counting the copies written and synced: after a
    /// `.conflict` on a shared log, one copy written means the new header is in force.
    static func rewrite(
        _ header: FileHeader, inForce copyIndex: Int, masterKey: SecureBytes, log: any LogDevice,
        copiesWritten: inout Int
    ) -> Result<FileHeader, CofferError> {
        var next = header
        var target = 1 - copyIndex
        for _ in 0..<FormatConstants.headerCopyCount {
            next.generation += 1
            let bytes = next.encode(masterKey: masterKey)
            let offset = UInt64(target * FormatConstants.headerCopyBytes)
            switch log.replaceHeaderCopy(target, with: bytes) {
            case .failure(let error):
                return .failure(error.cofferError("Writing header copy \(target)", offset: offset))
            case .success(.conflict):
                return .failure(
                    CofferError(
                        .conflict, "Writing header copy \(target) failed: another instance changed the header first.",
                        offset: offset))
            case .success(.written): break
            }
            copiesWritten += 1
            target = 1 - target
        }
        return .success(next)
    }
}
