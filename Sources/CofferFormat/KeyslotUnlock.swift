import CofferCrypto

/// One attempt to open a header's keyslots with a secret, across both header copies, within a
/// bound on the Argon2id work it spends (F-SLOT-BUDGET).
///
/// Anyone who can write the file can fill the keyslots with the most expensive passphrase
/// slots F-SLOT-CAP allows (16 passes over 1 GiB each): trying eight of them would take
/// minutes before `wrong_key`. An attempt spends at most ``workMax``, counted as passes ×
/// bytes of memory, and derives each distinct slot key once even when both copies hold it. It
/// tries the slot the caller names first, then key-file slots, then passphrase slots from
/// the cheapest, so an honest vault's slots are all tried well within the bound.
public struct KeyslotUnlock {
    /// The work one attempt may spend: four derivations at libsodium's SENSITIVE cost (4
    /// passes over 1 GiB), as many seconds as people wait for a prompt; one slot at the
    /// highest cost F-SLOT-CAP allows fits, so naming a slot always lets it be tried.
    public static let workMax: UInt64 = 4 * 4 * (1 << 30)

    let secret: Keyslot.Secret
    /// The slot to try first, if the caller named one.
    let preferredSlot: UInt16?
    /// Work left, in passes × bytes.
    private(set) var workLeft: UInt64
    /// Whether a slot was left untried because the work bound was reached.
    public private(set) var stoppedAtWorkBound = false
    /// Passphrase slots tried.
    public private(set) var passphraseSlotsTried = 0
    /// Slot keys derived so far, by the slot's salt and cost: copies of one header share them.
    private var derived: [Derivation: SecureBytes?] = [:]

    private struct Derivation: Hashable {
        let salt: [UInt8]
        let cost: Argon2id.Cost
    }

    public init(secret: Keyslot.Secret, preferredSlot: UInt16? = nil) {
        self.init(secret: secret, preferredSlot: preferredSlot, workMax: Self.workMax)
    }

    /// With another bound, for tests that cannot spend gigabytes.
    init(secret: Keyslot.Secret, preferredSlot: UInt16?, workMax: UInt64) {
        self.secret = secret
        self.preferredSlot = preferredSlot
        self.workLeft = workMax
    }

    /// The keys `header`'s slots give for the secret, or nil when none accepts it (or the
    /// ones that might were not tried within the work bound).
    public mutating func unlock(_ header: FileHeader) -> (
        masterKey: SecureBytes, unlockKey: SecureBytes, slotID: UInt16
    )? {
        for slot in order(header.keyslots) where slot.kind == secret.kind {
            guard let encryptionKey = keyEncryptionKey(for: slot) else { continue }
            if let unlockKey = slot.unwrap(
                withKeyEncryptionKey: encryptionKey, vaultID: header.vaultID, signerPublicKey: header.signer?.publicKey),
                let masterKey = header.unwrapMasterKey(unlockKey: unlockKey)
            {
                return (masterKey, unlockKey, slot.id)
            }
        }
        return nil
    }

    /// The named slot first, then key-file slots, then passphrase slots by increasing cost.
    private func order(_ slots: [Keyslot]) -> [Keyslot] {
        slots.sorted { lhs, rhs in
            if (lhs.id == preferredSlot) != (rhs.id == preferredSlot) { return lhs.id == preferredSlot }
            return work(of: lhs) < work(of: rhs)
        }
    }

    private func work(of slot: Keyslot) -> UInt64 {
        guard let cost = slot.cost else { return 0 }
        return UInt64(cost.operations) * cost.memoryBytes
    }

    /// The key that wraps `slot`'s unlock key, derived once per salt and cost, or nil when
    /// the work bound leaves no room for it.
    private mutating func keyEncryptionKey(for slot: Keyslot) -> SecureBytes? {
        guard case .passphrase = secret, let cost = slot.cost else { return slot.keyEncryptionKey(for: secret) }
        let derivation = Derivation(salt: slot.salt, cost: cost)
        if let known = derived[derivation] { return known }
        let needed = work(of: slot)
        guard needed <= workLeft else {
            stoppedAtWorkBound = true
            return nil
        }
        workLeft -= needed
        passphraseSlotsTried += 1
        let key = slot.keyEncryptionKey(for: secret)
        derived[derivation] = key
        return key
    }
}
