import CofferCrypto
import CofferFormat

/// ``FuzzTarget/fileHeader``: one header copy and its keyslots (F-HDR, F-SLOT).
enum FileHeaderBody {
    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        // One header copy is exactly 4096 bytes: pad with zeros or cut.
        var copy = [UInt8](repeating: 0, count: FormatConstants.headerCopyBytes)
        let used = min(input.count, copy.count)
        if used > 0 { copy.replaceSubrange(0..<used, with: input.prefix(used)) }
        check(copy, &findings)
        // The BLAKE2b checksum stops almost every mutation at the first check. Repairing it
        // (and the MAC, when the fixed key file unlocks the copy) lets mutations reach the
        // fields, the keyslot table and the MAC check behind it.
        var repaired = copy
        ChecksumRepair.repairHeaderCopy(&repaired)
        if !sameBytes(repaired, copy) { check(repaired, &findings) }
    }

    static func check(_ copy: [UInt8], _ findings: inout FuzzFindings) {
        guard case .success(let header) = copy.withUnsafeBytes({ FileHeader.decode($0) }) else { return }
        let macRange = FormatConstants.headerMACOffset..<FormatConstants.headerMACOffset + 32
        // Oracle: decode checks every byte outside the MAC (layout fields, zero reserved bytes,
        // empty slots all zero, the checksum), so encoding under any key reproduces them.
        let encoded = header.encode(masterKey: FuzzFixtures.frameKey)
        findings.check(
            encoded[..<macRange.lowerBound] == copy[..<macRange.lowerBound]
                && encoded[macRange.upperBound..<FormatConstants.headerChecksumOffset]
                    == copy[macRange.upperBound..<FormatConstants.headerChecksumOffset],
            "a decoded header copy does not re-encode to its bytes outside the MAC")
        findings.check(header.keyslots.count <= FormatConstants.keyslotCountMax, "more than 8 keyslots decoded")
        findings.check(
            Set(header.keyslots.map(\.id)).count == header.keyslots.count && !header.keyslots.contains { $0.id == 0 },
            "keyslot ids are not distinct and non-zero")
        for slot in header.keyslots {
            if let cost = slot.cost {
                // F-SLOT-CAP: a hostile cost never reaches Argon2id.
                findings.check(
                    slot.kind == .passphrase && cost.operations <= FormatConstants.argon2OperationsMax
                        && cost.memoryBytes <= FormatConstants.argon2MemoryBytesMax,
                    "keyslot \(slot.id) decoded with a cost outside F-SLOT-CAP")
            } else {
                findings.check(slot.kind == .keyFile, "passphrase keyslot \(slot.id) decoded without a cost")
            }
        }

        guard let (masterKey, unlockKey, slotID) = header.unlock(with: FuzzFixtures.keyFile) else { return }
        findings.check(masterKey.count == 32, "an unwrapped master key is \(masterKey.count) bytes")
        if let apiKeyHashKey = header.unwrapAPIKeyHashKey(unlockKey: unlockKey) {
            findings.check(apiKeyHashKey.count == 32, "an unwrapped API-key hash key is \(apiKeyHashKey.count) bytes")
        }
        findings.check(
            header.keyslots.contains { $0.id == slotID && $0.kind == .keyFile },
            "a key file unlocked slot \(slotID), which is not a key-file slot of the header")
        if header.verifyMAC(of: copy, masterKey: masterKey) {
            // Oracle: with the MAC verified too, every byte of the copy is accounted for.
            findings.check(
                header.encode(masterKey: masterKey) == copy,
                "an authenticated header copy does not re-encode to its bytes")
        } else {
            findings.check(
                Array(copy[macRange]) != header.mac(masterKey: masterKey),
                "verifyMAC rejects a copy that holds the right MAC")
        }
    }
}
