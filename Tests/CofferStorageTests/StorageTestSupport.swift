import CofferCrypto
import CofferFormat
import CofferStorage
import XCTest

#if canImport(Glibc)
    import Glibc
    import CofferTestSupport
#endif

enum Fixture {
    static let keyFile = SecureBytes(copying: (0..<32).map { UInt8($0) })
    static let otherKeyFile = SecureBytes(copying: (0..<32).map { UInt8(255 - $0) })
    static var secret: Keyslot.Secret { .keyFile(keyFile) }

    static func payload(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    static func readFile(_ path: String) -> [UInt8] {
        (try? PosixStorage().readScratchFile(path).get()) ?? []
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        try! PosixStorage().overwriteScratchFile(path, with: bytes).get()
    }

    /// The header copy in force in a vault's `bytes`: the one with the higher generation,
    /// copy A on a tie (F-HDR-SELECT); 0 for A, 1 for B.
    static func copyInForce(_ bytes: [UInt8]) throws -> Int {
        let size = FormatConstants.headerCopyBytes
        let generations = try (0..<2).map { copy in
            try Array(bytes[copy * size..<(copy + 1) * size]).withUnsafeBytes { try FileHeader.decode($0).get() }
                .generation
        }
        return generations[0] >= generations[1] ? 0 : 1
    }

    /// Damages header copy `copy`'s master-key wrap in `bytes` and makes its checksum match
    /// again: damage only its MAC shows.
    static func damageMasterWrapBehindItsChecksum(_ bytes: inout [UInt8], copy: Int) {
        let start = copy * FormatConstants.headerCopyBytes
        bytes[start + FormatConstants.headerMasterWrapOffset + 30] ^= 0x5A
        let checksum = Blake2b.hash(Array(bytes[start..<start + FormatConstants.headerChecksumOffset]))
        bytes.replaceSubrange(
            start + FormatConstants.headerChecksumOffset..<start + FormatConstants.headerChecksumOffset + 32,
            with: checksum)
    }

    /// Opens the vault and returns every transaction payload as bytes, in order.
    static func transactions(
        path: String, secret: Keyslot.Secret = Fixture.secret, readOnly: Bool = true,
        storage: any StorageSystem = PosixStorage()
    ) throws -> (store: VaultStore, payloads: [[UInt8]]) {
        var payloads: [[UInt8]] = []
        let store = try VaultStore.open(
            path: path, secret: secret, options: .init(storage: storage, readOnly: readOnly)
        ) { record in
            if record.type == .transaction { payloads.append(record.payload!.withUnsafeBytes { Array($0) }) }
        }
        return (store, payloads)
    }
}
