import CofferFormat

/// Running counts of the records in a vault's log, kept by the store as records are scanned
/// and appended, so that statistics need no extra pass over the file.
public struct LogCounts: Sendable, Equatable {
    public var recordsByType: [RecordType: UInt64] = [:]
    public var bytesByType: [RecordType: UInt64] = [:]
    /// Transaction records by the epoch they are sealed under.
    public var transactionsByEpoch: [UInt32: UInt64] = [:]

    public init() {}

    mutating func add(type: RecordType, epoch: UInt32, frameBytes: Int) {
        recordsByType[type, default: 0] += 1
        bytesByType[type, default: 0] += UInt64(frameBytes)
        if type == .transaction { transactionsByEpoch[epoch, default: 0] += 1 }
    }
}

/// ``LogCounts`` shared between a store and its log writer.
final class LogCounters: @unchecked Sendable {
    private let lock = Lock()
    private var counts = LogCounts()

    func add(type: RecordType, epoch: UInt32, frameBytes: Int) {
        lock.withLock { counts.add(type: type, epoch: epoch, frameBytes: frameBytes) }
    }

    var snapshot: LogCounts { lock.withLock { counts } }

    /// Starts from the counts a checkpoint holds, before any record after it is counted.
    func restore(_ restored: LogCounts) {
        lock.withLock {
            precondition(counts == LogCounts(), "a checkpoint restores into empty counters")
            counts = restored
        }
    }
}
