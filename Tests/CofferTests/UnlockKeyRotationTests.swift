import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import XCTest

@testable import Coffer

/// Unlock-key rotation (FORMAT.md F-UNLOCK-ROTATE): a removed secret together with a header
/// copy from before its removal opens nothing written after the rotation, every remaining
/// secret keeps working without being asked for, and platform API keys keep verifying.
final class UnlockKeyRotationTests: XCTestCase {
    let path = "/vault/team.coffer"
    let keyFile = SecureBytes(copying: (0..<32).map { UInt8(90 + $0) })
    let removedPassphrase = SecureBytes(copying: Array("the passphrase a leaver knew".utf8))

    /// The header region, both copies: what a backup, a `coffer copy` or an old database row holds.
    func headerRegion(of disk: SimulatedDisk) -> [UInt8] {
        Array(disk.contents(of: path)!.prefix(Int(FormatConstants.logStartOffset)))
    }

    /// The current header copy A, decoded.
    func header(of disk: SimulatedDisk) throws -> FileHeader {
        try Array(headerRegion(of: disk).prefix(FormatConstants.headerCopyBytes)).withUnsafeBytes {
            try FileHeader.decode($0).get()
        }
    }

    /// A vault opened with the key file, with a second (passphrase) keyslot, an API key and a
    /// credential; returns it with the header region as it was while the passphrase slot existed.
    func makeVaultWithLeaver(on disk: SimulatedDisk) throws -> (Vault, oldHeaders: [UInt8], apiKey: SecureBytes) {
        let vault = try Vault.create(path: path, unlock: .keyFile(keyFile), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        try vault.mutate(actor: "setup") { try $0.createUser(handle: "alice", displayName: "Alice") }
        try vault.mutate(actor: "setup") { try $0.addMember("alice", to: "acme", role: .owner) }
        let apiKey = try vault.createAPIKey(in: "acme", creator: "alice", name: "ci").secret
        try vault.addKeyslot(.passphrase(removedPassphrase), cost: .minimum)
        try createToken(in: vault, slug: "before", value: "written before the removal")
        return (vault, headerRegion(of: disk), apiKey)
    }

    func createToken(in vault: Vault, slug: String, value: String) throws {
        _ = try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "exa", slug: slug, label: slug, type: .apiToken,
                    fields: FieldValues(["token": SecureBytes(copying: Array(value.utf8))])))
        }
    }

    /// The attack of the finding: the removed passphrase opens the old header's slot, and its
    /// unlock key is tried on the master-key wrap of the header written since; then the old
    /// header region is spliced onto the current file and opened with the removed passphrase.
    /// Returns whether the old unlock key opened the current master key.
    func oldHeaderOpensCurrentMasterKey(oldHeaders: [UInt8], disk: SimulatedDisk) throws -> Bool {
        let old = try Array(oldHeaders.prefix(FormatConstants.headerCopyBytes)).withUnsafeBytes {
            try FileHeader.decode($0).get()
        }
        let oldKeys = try XCTUnwrap(
            old.unlock(with: .passphrase(removedPassphrase)), "the old header takes the passphrase")
        return try header(of: disk).unwrapMasterKey(unlockKey: oldKeys.unlockKey) != nil
    }

    func testAnUnlockKeyRotationRevokesARemovedPassphraseForHoldersOfAnOldHeader() throws {
        let disk = SimulatedDisk()
        let (vault, oldHeaders, apiKey) = try makeVaultWithLeaver(on: disk)
        let leaverSlot = try XCTUnwrap(vault.keyslots.first { $0.kind == .passphrase }).id
        try vault.removeKeyslot(id: leaverSlot)
        XCTAssertTrue(
            try oldHeaderOpensCurrentMasterKey(oldHeaders: oldHeaders, disk: disk),
            "removing a slot alone leaves the unlock key the old header gives")

        _ = try vault.compact(CompactionOptions(newUnlockKey: true))
        try createToken(in: vault, slug: "after", value: "written after the revocation")
        XCTAssertEqual(try vault.checkAPIKey(apiKey).organization, vault.read { $0.organization("acme")!.id })
        vault.close()

        XCTAssertFalse(
            try oldHeaderOpensCurrentMasterKey(oldHeaders: oldHeaders, disk: disk),
            "the old header's unlock key still opens the master key after the rotation")
        var spliced = disk.contents(of: path)!
        spliced.replaceSubrange(0..<oldHeaders.count, with: oldHeaders)
        disk.write(path: path, bytes: spliced, durable: true)
        XCTAssertThrowsError(
            try Vault.open(
                path: path, unlock: .passphrase(removedPassphrase), options: .init(storage: disk, readOnly: true)),
            "the removed passphrase opened the rotated log through an old header")
    }

    func testAMasterKeyRotationAloneDoesNotRevokeAnOldHeader() throws {
        let disk = SimulatedDisk()
        let (vault, oldHeaders, _) = try makeVaultWithLeaver(on: disk)
        try vault.removeKeyslot(id: try XCTUnwrap(vault.keyslots.first { $0.kind == .passphrase }).id)
        _ = try vault.compact(CompactionOptions(newMasterKey: true))
        vault.close()
        XCTAssertTrue(
            try oldHeaderOpensCurrentMasterKey(oldHeaders: oldHeaders, disk: disk),
            "what FORMAT.md F-UNLOCK-ROTATE says: a new master key is wrapped under the same unlock key")
    }

    func testEveryRemainingSecretAndAPIKeyWorksAfterTheRotationAndAReopen() throws {
        let disk = SimulatedDisk()
        let (vault, _, apiKey) = try makeVaultWithLeaver(on: disk)
        let second = SecureBytes(copying: Array("a passphrase that stays".utf8))
        try vault.addKeyslot(.passphrase(second), cost: .minimum)
        let slotsBefore = vault.keyslots
        _ = try vault.compact(CompactionOptions(newUnlockKey: true))
        XCTAssertEqual(vault.keyslots.map(\.id), slotsBefore.map(\.id))
        XCTAssertEqual(vault.keyslots.map(\.salt), slotsBefore.map(\.salt), "no slot's secret was needed again")
        XCTAssertEqual(vault.keyslots.map(\.recipient?.publicKey), slotsBefore.map(\.recipient?.publicKey))
        XCTAssertNotEqual(vault.keyslots.map(\.wrappedUnlockKey), slotsBefore.map(\.wrappedUnlockKey))
        XCTAssertNotNil(try header(of: disk).apiKeyHashKeyWrap)
        // A slot added after the rotation wraps the new unlock key.
        let third = SecureBytes(copying: Array("added after the rotation".utf8))
        try vault.addKeyslot(.passphrase(third), cost: .minimum)
        vault.close()
        for unlock in [
            Vault.Unlock.keyFile(keyFile), .passphrase(removedPassphrase), .passphrase(second), .passphrase(third),
        ] {
            let reopened = try Vault.open(path: path, unlock: unlock, options: .init(storage: disk, readOnly: true))
            let selected = try reopened.read { (index: borrowing VaultIndex) throws(CofferError) in
                try index.selectCredential("exa/before", in: index.organization("acme")!.id)
            }
            XCTAssertEqual(
                try reopened.reveal(selected)["token"], SecureBytes(copying: Array("written before the removal".utf8)))
            XCTAssertEqual(try reopened.checkAPIKey(apiKey).organization, reopened.read { $0.organization("acme")!.id })
            reopened.close()
        }
        XCTAssertTrue(try Vault.verify(path: path, unlock: .keyFile(keyFile), storage: disk).isClean)
        // A second rotation carries the API-key hash key on.
        let again = try Vault.open(path: path, unlock: .passphrase(second), options: .init(storage: disk))
        _ = try again.compact(CompactionOptions(newUnlockKey: true))
        XCTAssertNoThrow(try again.checkAPIKey(apiKey))
        again.close()
    }

    /// Another instance open on the file holds the old unlock key: it must be opened again
    /// with a secret, and says so, instead of following the new log.
    func testAnotherInstanceMustOpenAgainWithASecret() throws {
        let disk = SimulatedDisk()
        let (vault, _, _) = try makeVaultWithLeaver(on: disk)
        let reader = try Vault.open(
            path: path, unlock: .keyFile(keyFile), options: .init(storage: disk, readOnly: true))
        _ = try vault.compact(CompactionOptions(newUnlockKey: true))
        let refusal = assertThrowsCoffer(.wrongKey) { try reader.refresh() }
        XCTAssertTrue(refusal?.message.contains("unlock key was rotated") ?? false, refusal?.message ?? "")
        reader.close()
        vault.close()
        XCTAssertNoThrow(
            try Vault.open(path: path, unlock: .keyFile(keyFile), options: .init(storage: disk, readOnly: true)).close()
        )
    }

    /// A vault whose keyslot predates recipients (written before F-SLOT-RECIPIENT): the
    /// rotation is refused with nothing changed, and works once the slot is replaced.
    func testASlotWithoutARecipientIsRefusedUntilReplaced() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(keyFile), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        vault.close()
        // Rewrite both header copies with the key-file slot in its first form.
        var header = try header(of: disk)
        let keys = try XCTUnwrap(header.unlock(with: .keyFile(keyFile)))
        header.keyslots = [
            try XCTUnwrap(
                Keyslot.make(
                    id: header.keyslots[0].id, secret: .keyFile(keyFile), cost: nil, unlockKey: keys.unlockKey,
                    vaultID: header.vaultID, createdMilliseconds: 1, signerPublicKey: nil))
        ]
        header.signer = nil
        var bytes = disk.contents(of: path)!
        let copy = header.encode(masterKey: keys.masterKey)
        bytes.replaceSubrange(0..<copy.count, with: copy)
        bytes.replaceSubrange(copy.count..<(2 * copy.count), with: copy)
        disk.write(path: path, bytes: bytes, durable: true)

        let old = try Vault.open(path: path, unlock: .keyFile(keyFile), options: .init(storage: disk))
        let before = disk.contents(of: path)!
        let refusal = assertThrowsCoffer(.invalidInput) { try old.compact(CompactionOptions(newUnlockKey: true)) }
        XCTAssertTrue(refusal?.message.contains("Keyslot 1 predates recipients") ?? false, refusal?.message ?? "")
        XCTAssertEqual(disk.contents(of: path)!, before, "a refused rotation changed the file")
        XCTAssertEqual(disk.paths().filter { $0.contains(".compact-") }, [])
        // The CLI's way to give it one: the same key file again (allowed, the old slot has no
        // recipient), then remove the old slot. A third slot for it is refused.
        let added = try old.addKeyslot(.keyFile(keyFile))
        XCTAssertNotNil(old.keyslots.first { $0.id == added }?.recipient)
        assertThrowsCoffer(.invalidInput) { try old.addKeyslot(.keyFile(self.keyFile)) }
        try old.removeKeyslot(id: added)
        try old.replaceKeyslot(id: 1, with: .keyFile(keyFile))
        XCTAssertNotNil(old.keyslots[0].recipient)
        _ = try old.compact(CompactionOptions(newUnlockKey: true))
        old.close()
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(keyFile), options: .init(storage: disk)).close())
    }
}
