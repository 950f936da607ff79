import CofferCrypto

/// The payload of a key-epoch record (F-REC-KEY): `u32 epoch || 32-byte data key ||
/// u64 created milliseconds`. Sealed under the master key's key-record subkey, never under
/// an earlier data key, so that one data key's compromise reveals no other.
public struct KeyEpochPayload: Sendable {
    public static let encodedBytes = 4 + 32 + 8  // 44

    public let epoch: UInt32
    public let dataKey: SecureBytes
    public let createdMilliseconds: UInt64

    public init(epoch: UInt32, dataKey: SecureBytes, createdMilliseconds: UInt64) {
        precondition(dataKey.count == XChaCha20Poly1305.keyBytes)
        self.epoch = epoch
        self.dataKey = dataKey
        self.createdMilliseconds = createdMilliseconds
    }

    /// Encodes into protected memory.
    public func encode() -> SecureBytes {
        SecureBytes(count: Self.encodedBytes) { target in
            withUnsafeBytes(of: epoch.littleEndian) {
                target.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 4)
            }
            dataKey.withUnsafeBytes { key in
                (target.baseAddress! + 4).copyMemory(from: key.baseAddress!, byteCount: 32)
            }
            withUnsafeBytes(of: createdMilliseconds.littleEndian) {
                (target.baseAddress! + 36).copyMemory(from: $0.baseAddress!, byteCount: 8)
            }
        }
    }

    public static func decode(_ payload: SecureBytes) -> KeyEpochPayload? {
        payload.withUnsafeBytes { bytes in
            guard bytes.count == encodedBytes else { return nil }
            var reader = ByteReader(bytes)
            let epoch = reader.read(UInt32.self)!
            let key = SecureBytes(copying: reader.readView(32)!)
            let created = reader.read(UInt64.self)!
            return KeyEpochPayload(epoch: epoch, dataKey: key, createdMilliseconds: created)
        }
    }
}
