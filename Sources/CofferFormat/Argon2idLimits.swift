import CofferCrypto
import CofferErrors

extension Argon2id.Cost {
    /// Whether a passphrase keyslot or an export bundle may declare this cost (F-SLOT-CAP,
    /// B-KDF-CAP): 1 to 16 passes over 8 KiB to 1 GiB. A reader refuses any other, so that a
    /// hostile file cannot make an open take minutes or gigabytes.
    public var isWithinFormatLimits: Bool {
        operations >= FormatConstants.argon2OperationsMin && operations <= FormatConstants.argon2OperationsMax
            && memoryBytes >= FormatConstants.argon2MemoryBytesMin
            && memoryBytes <= FormatConstants.argon2MemoryBytesMax
    }

    /// Checks a cost a caller gives for a new passphrase keyslot or bundle: one outside
    /// ``isWithinFormatLimits`` would make a slot or bundle that no reader opens.
    ///
    /// - Throws: `CofferError(.invalidInput)` naming the accepted range.
    public func checkWithinFormatLimits() throws(CofferError) {
        guard isWithinFormatLimits else {
            throw CofferError(
                .invalidInput,
                "The Argon2id cost (\(operations) passes over \(memoryBytes) bytes) is outside what a vault or bundle "
                    + "accepts: \(FormatConstants.argon2OperationsMin) to \(FormatConstants.argon2OperationsMax) passes "
                    + "over \(FormatConstants.argon2MemoryBytesMin) bytes to \(FormatConstants.argon2MemoryBytesMax >> 30) GiB of memory."
            )
        }
    }
}

extension Keyslot.Secret {
    /// ``check()``, and for a passphrase ``Argon2id/Cost/checkWithinFormatLimits()`` of the cost
    /// its new keyslot would declare (a key-file slot declares none).
    ///
    /// - Throws: `CofferError(.invalidInput)`.
    public func check(cost: Argon2id.Cost) throws(CofferError) {
        try check()
        if kind == .passphrase { try cost.checkWithinFormatLimits() }
    }
}
