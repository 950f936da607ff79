import CofferCrypto
import CofferFormat

/// Recomputes the checksums of a mutated input, so that mutations reach the code behind them.
///
/// A random mutation almost never keeps a BLAKE2b header checksum or a CRC-32 valid, so
/// without repair a fuzzer spends its time in the first check of each structure. The bodies
/// run every input as it is and, when repair changes it, once more repaired: the checks
/// themselves stay covered by the first run.
enum ChecksumRepair {
    /// Repairs a 4096-byte header copy that starts with the file magic: its checksum (F-HDR-CHECKSUM) and,
    /// when the fixed key file unlocks it, its keyslot signature (F-HDR-SIGNER) and MAC (F-HDR-MAC).
    static func repairHeaderCopy(_ copy: inout [UInt8]) {
        precondition(copy.count == FormatConstants.headerCopyBytes)
        guard copy.starts(with: FormatConstants.fileMagic) else { return }
        patchHeaderChecksum(&copy)
        guard case .success(var header) = copy.withUnsafeBytes({ FileHeader.decode($0, verifyingSignature: false) }),
            let (masterKey, unlockKey, _) = header.unlock(with: FuzzFixtures.keyFile)
        else { return }
        if header.signer != nil, header.signKeyslots(unlockKey: unlockKey) {
            let signatureOffset = FormatConstants.headerSignerOffset + 32 + 72
            copy.replaceSubrange(signatureOffset..<signatureOffset + 64, with: header.signer!.keyslotSignature)
        }
        copy.replaceSubrange(
            FormatConstants.headerMACOffset..<FormatConstants.headerMACOffset + 32,
            with: header.mac(masterKey: masterKey))
        patchHeaderChecksum(&copy)
    }

    static func patchHeaderChecksum(_ copy: inout [UInt8]) {
        let checksumOffset = FormatConstants.headerChecksumOffset
        copy.replaceSubrange(checksumOffset..<checksumOffset + 32, with: Blake2b.hash(Array(copy[0..<checksumOffset])))
    }

    /// Repairs a whole vault file: both header copies, then the header and body CRCs of each
    /// frame, following the body lengths from the log start while each frame starts with the
    /// frame magic and fits in the file (a frame that does not fit stays a torn tail).
    static func repairVault(_ file: [UInt8]) -> [UInt8] {
        var bytes = file
        let copyBytes = FormatConstants.headerCopyBytes
        for index in 0..<FormatConstants.headerCopyCount where bytes.count >= (index + 1) * copyBytes {
            let range = index * copyBytes..<(index + 1) * copyBytes
            var copy = Array(bytes[range])
            repairHeaderCopy(&copy)
            bytes.replaceSubrange(range, with: copy)
        }
        let headerBytes = FormatConstants.frameHeaderBytes
        var offset = Int(FormatConstants.logStartOffset)
        while offset + headerBytes <= bytes.count, bytes[offset..<offset + 4].elementsEqual(FormatConstants.frameMagic)
        {
            let bodyBytes = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
            let end = offset + headerBytes + Int(UInt32(littleEndian: bodyBytes))
            guard end <= bytes.count else { break }
            let bodyChecksum = bytes.withUnsafeBytes {
                CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[(offset + headerBytes)..<end]))
            }
            patchUInt32(bodyChecksum, at: offset + 24, in: &bytes)
            let headerChecksum = bytes.withUnsafeBytes {
                CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 28]))
            }
            patchUInt32(headerChecksum, at: offset + 28, in: &bytes)
            offset = end
        }
        return bytes
    }

    private static func patchUInt32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
    }
}
