/// The kinds of record a log holds (F-REC-KEY, F-REC-TXN).
public enum RecordType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Introduces a key epoch: its data key, sealed under the master key's key-record subkey.
    case keyEpoch = 1
    /// One atomic transaction of one or more operations, sealed under an epoch's data key.
    case transaction = 2

    public var description: String {
        switch self {
        case .keyEpoch: "key_epoch"
        case .transaction: "transaction"
        }
    }
}
