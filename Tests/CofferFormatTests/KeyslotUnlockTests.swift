import CofferCrypto
import XCTest

@testable import CofferFormat

/// F-SLOT-BUDGET: an open spends a bounded Argon2id work on passphrase slots, derives each
/// slot key once for both header copies, and tries the slot the caller names first.
final class KeyslotUnlockTests: XCTestCase {
    let vaultID = [UInt8](repeating: 9, count: 16)
    let unlockKey = SecureBytes(randomCount: 32)
    let cheap = Argon2id.Cost.minimum

    func secret(_ text: String) -> Keyslot.Secret { .passphrase(SecureBytes(copying: Array(text.utf8))) }

    /// A header with passphrase slots 1…n, slot `n` holding "right", the others junk.
    func header(slots count: Int) throws -> FileHeader {
        let masterKey = SecureBytes(randomCount: 32)
        var header = FileHeader(
            vaultID: vaultID, generation: 1, createdMilliseconds: 0, keyslots: [],
            masterWrap: FileHeader.wrapMasterKey(masterKey, unlockKey: unlockKey, vaultID: vaultID))
        for id in 1...count {
            header.keyslots.append(
                try XCTUnwrap(
                    header.makeKeyslot(
                        id: UInt16(id), secret: secret(id == count ? "right" : "junk-\(id)"), cost: cheap,
                        unlockKey: unlockKey, createdMilliseconds: 0)))
        }
        header.signKeyslots(unlockKey: unlockKey)
        return header
    }

    func testTheWorkIsBoundedAndANamedSlotIsTriedFirst() throws {
        let header = try header(slots: 4)
        let slotWork = UInt64(cheap.operations) * cheap.memoryBytes
        // Two derivations' worth: a wrong passphrase stops after two slots, not four.
        var wrong = KeyslotUnlock(secret: secret("nope"), preferredSlot: nil, workMax: 2 * slotWork)
        XCTAssertNil(wrong.unlock(header))
        XCTAssertNil(wrong.unlock(header), "the second copy")
        XCTAssertEqual(wrong.passphraseSlotsTried, 2, "each slot key derived once, within the bound")
        XCTAssertTrue(wrong.stoppedAtWorkBound)
        // The right passphrase in a slot beyond the bound opens only when that slot is named.
        var unnamed = KeyslotUnlock(secret: secret("right"), preferredSlot: nil, workMax: 2 * slotWork)
        XCTAssertNil(unnamed.unlock(header))
        var named = KeyslotUnlock(secret: secret("right"), preferredSlot: 4, workMax: 2 * slotWork)
        XCTAssertEqual(named.unlock(header)?.slotID, 4)
        XCTAssertEqual(named.passphraseSlotsTried, 1)
        // With the real bound every slot of an honest vault is tried.
        var real = KeyslotUnlock(secret: secret("right"))
        XCTAssertEqual(real.unlock(header)?.slotID, 4)
        XCTAssertFalse(real.stoppedAtWorkBound)
    }

    /// The bound holds one slot at the highest cost F-SLOT-CAP allows, so naming a slot always
    /// lets it be tried, and four SENSITIVE derivations.
    func testTheBoundFitsTheLargestSlot() {
        let largest = UInt64(FormatConstants.argon2OperationsMax) * FormatConstants.argon2MemoryBytesMax
        XCTAssertGreaterThanOrEqual(KeyslotUnlock.workMax, largest)
        let sensitive = UInt64(Argon2id.Cost.sensitive.operations) * Argon2id.Cost.sensitive.memoryBytes
        XCTAssertEqual(KeyslotUnlock.workMax, 4 * sensitive)
    }
}
