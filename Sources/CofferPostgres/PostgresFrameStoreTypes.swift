import CofferStorage

/// One sealed frame of a vault's log, as the store keeps it: its sequence number and its
/// bytes, byte for byte under `(vault id, log generation, sequence)`. The storage layer's
/// type, so that frames pass between the two without a copy.
public typealias PostgresFrame = SharedFrame

/// A vault's row: its id, name, header bytes and the two generations that order changes.
public struct PostgresVault: Sendable, Equatable {
    /// The vault's id (its UUID, FORMAT.md §3.1), 1 to ``PostgresFrameStore/vaultIDBytesMax`` bytes.
    public let vaultID: [UInt8]
    /// The vault's unique name.
    public let name: String
    /// The header bytes, opaque to the store.
    public let header: [UInt8]
    /// Grows by 1 with every header replacement and log switch; 1 when the vault is created.
    public let headerGeneration: UInt64
    /// The generation whose frames are the vault's log; 1 when the vault is created.
    public let logGeneration: UInt64
}

extension PostgresVault: CustomStringConvertible {
    /// The name and generations; the header is left out.
    public var description: String {
        "PostgresVault(\(name), header generation \(headerGeneration), log generation \(logGeneration))"
    }
}

/// A vault as ``PostgresFrameStore/listVaults()`` lists it: without its header.
public struct PostgresVaultSummary: Sendable, Equatable {
    /// The vault's id.
    public let vaultID: [UInt8]
    /// The vault's unique name.
    public let name: String
    /// The header generation.
    public let headerGeneration: UInt64
    /// The current log generation.
    public let logGeneration: UInt64
}

/// How an append or a bulk write of frames ended.
public enum PostgresAppendOutcome: Sendable, Equatable {
    /// Every frame was written, in one transaction for an append.
    case appended
    /// Nothing was written: another writer holds one of the sequence numbers, or the log
    /// generation is no longer the one given (a compaction switched the log). The caller
    /// catches up and decides again.
    case conflict
}

/// How a log switch (the end of a compaction) ended.
public enum PostgresLogSwitchOutcome: Sendable, Equatable {
    /// The new generation is the vault's log, with the new header; the old frames are gone.
    case switched
    /// Nothing changed: the log generation or the header generation is not the expected one.
    case conflict
}

/// What a NOTIFY on a vault's channel says: the log's state right after a commit.
///
/// Sent by appends, header replacements and log switches. Notifications can be lost (a
/// listener reconnecting misses those sent meanwhile) and several can arrive at once, so a
/// follower treats one only as a hint to catch up by sequence number.
public struct PostgresLogNotification: Sendable, Equatable, CustomStringConvertible {
    /// The vault's log generation after the commit.
    public let logGeneration: UInt64
    /// The last sequence number in that generation after the commit; 0 for an empty log.
    public let lastSequence: UInt64
    /// The header generation after the commit.
    public let headerGeneration: UInt64

    /// Creates a notification.
    public init(logGeneration: UInt64, lastSequence: UInt64, headerGeneration: UInt64) {
        self.logGeneration = logGeneration
        self.lastSequence = lastSequence
        self.headerGeneration = headerGeneration
    }

    /// The payload sent with NOTIFY: three decimal numbers separated by spaces.
    var payload: String { "\(logGeneration) \(lastSequence) \(headerGeneration)" }

    /// Parses a payload; nil for anything that is not three decimal numbers.
    init?(payload: String) {
        let parts = payload.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let log = UInt64(parts[0]), let last = UInt64(parts[1]),
            let header = UInt64(parts[2])
        else { return nil }
        self.init(logGeneration: log, lastSequence: last, headerGeneration: header)
    }

    /// The three numbers, e.g. `log generation 2, last sequence 17, header generation 3`.
    public var description: String {
        "log generation \(logGeneration), last sequence \(lastSequence), header generation \(headerGeneration)"
    }
}
