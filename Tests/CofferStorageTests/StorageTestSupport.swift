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
