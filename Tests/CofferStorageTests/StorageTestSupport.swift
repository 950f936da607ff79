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
        guard let handle = fopen(path, "rb") else { return [] }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, handle)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let handle = fopen(path, "wb")!
        if !bytes.isEmpty { _ = fwrite(bytes, 1, bytes.count, handle) }
        fclose(handle)
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

