import CofferCrypto
import CofferFormat

/// What a head witness holds (FORMAT.md F-HEAD): a head, the vault it is of, and a tag of the
/// unlock key the vault had, so that a witness refuses not only an older copy of the vault but
/// also another vault, and a copy rebuilt from a header whose unlock key was revoked since
/// (which can be made to hold any head: whoever held that key can write it).
///
/// Written on one line: `HEAD vault=HEX32 key=HEX32`, the head as `coffer head` prints it.
public struct WitnessedHead: Sendable, Hashable, CustomStringConvertible {
    public let head: ChainHead
    /// The vault's 16-byte id.
    public let vaultID: [UInt8]
    /// BLAKE2b-128 of a fixed context keyed by the unlock key: names the key, reveals nothing of it.
    public let unlockKeyTag: [UInt8]

    public init(head: ChainHead, vaultID: [UInt8], unlockKeyTag: [UInt8]) {
        self.head = head
        self.vaultID = vaultID
        self.unlockKeyTag = unlockKeyTag
    }

    /// The tag of `unlockKey`.
    public static func tag(of unlockKey: SecureBytes) -> [UInt8] {
        var hasher = Blake2b(key: unlockKey, outputBytes: 16)
        hasher.update(Array("coffer head witness unlock key".utf8))
        return hasher.finalize()
    }

    public var description: String { "\(head) vault=\(Hex.encode(vaultID)) key=\(Hex.encode(unlockKeyTag))" }

    /// Parses ``description``; nil for anything else.
    public init?(parsing text: String) {
        let words = text.split(separator: " ")
        guard words.count == 3, let head = ChainHead(parsing: String(words[0])),
            words[1].hasPrefix("vault="), let vaultID = Hex.decode(String(words[1].dropFirst(6))), vaultID.count == 16,
            words[2].hasPrefix("key="), let tag = Hex.decode(String(words[2].dropFirst(4))), tag.count == 16
        else { return nil }
        self.init(head: head, vaultID: vaultID, unlockKeyTag: tag)
    }

    /// Why a log does not hold what this witness saw, or nil when it does: the same vault,
    /// the same unlock key, and the head by the expected-head rule (F-HEAD, F-LINEAGE).
    func mismatch(
        vaultID: [UInt8], unlockKey: SecureBytes, head: ChainHead, lineage: LogLineage?, chainAtChecked: [UInt8]?
    ) -> String? {
        guard vaultID == self.vaultID else {
            return "The head witness is of another vault (\(Hex.encode(self.vaultID))), not of this one "
                + "(\(Hex.encode(vaultID))): give each vault its own head file."
        }
        guard Self.tag(of: unlockKey) == unlockKeyTag else {
            return "The vault's unlock key is not the one the head witness last saw: the vault was replaced by a copy "
                + "rebuilt from an older header (whose unlock key was revoked since), or an unlock-key rotation was "
                + "interrupted just after its switch. If you ran no such rotation, restore the vault from a trusted copy."
        }
        return ExpectedHead.mismatch(self.head, head: head, lineage: lineage, chainAtChecked: chainAtChecked)
    }
}
