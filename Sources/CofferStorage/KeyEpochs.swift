import CofferCrypto

/// The key epochs a log introduced, in order (F-REC-KEY, F-ROTATE-DATA): for each, its
/// number, its creation time, the sequence number of the key-epoch record that introduced
/// it, and its data key when the log was read with a key. One collection where a scan, a
/// store and a compaction's new file each kept three in parallel.
public struct KeyEpochs: Sendable {
    /// One epoch.
    public struct Epoch: Sendable {
        /// Its number, from 1.
        public let number: UInt32
        /// When it was made (0 when the log was scanned without a key).
        public let createdMilliseconds: UInt64
        /// The sequence number of the record that introduced it.
        public let sequence: UInt64
        /// The offset of that record's frame.
        public let offset: UInt64
        /// Its data key; `nil` when the log was scanned without a key.
        let dataKey: SecureBytes?
    }

    /// The epochs, oldest first.
    public private(set) var all: [Epoch] = []
    /// Where each epoch is in `all`.
    private var positions: [UInt32: Int] = [:]

    init() {}

    /// The newest epoch: where transactions are sealed unless another is named.
    public var newest: Epoch? { all.last }

    /// Whether `number` was introduced.
    public func contains(_ number: UInt32) -> Bool { positions[number] != nil }

    /// The data key of epoch `number`, when known.
    func dataKey(_ number: UInt32) -> SecureBytes? { positions[number].flatMap { all[$0].dataKey } }

    /// Adds an epoch the log introduced (the scanner has checked the order of the records).
    mutating func introduce(
        _ number: UInt32, createdMilliseconds: UInt64, sequence: UInt64, offset: UInt64, dataKey: SecureBytes?
    ) {
        introduce(
            Epoch(
                number: number, createdMilliseconds: createdMilliseconds, sequence: sequence, offset: offset,
                dataKey: dataKey))
    }

    /// Adds the epochs of `later` that are newer than the newest here: what a catch-up read.
    mutating func append(contentsOf later: KeyEpochs) {
        for epoch in later.all where epoch.number > (newest?.number ?? 0) { introduce(epoch) }
    }

    /// The epochs introduced at or before record `sequence`.
    func through(sequence: UInt64) -> KeyEpochs {
        var kept = KeyEpochs()
        for epoch in all where epoch.sequence <= sequence { kept.introduce(epoch) }
        return kept
    }

    /// Keeps the list in epoch order: rotations through one store run concurrently, and
    /// their records are sealed in order but may be noted here in either.
    private mutating func introduce(_ epoch: Epoch) {
        precondition(positions[epoch.number] == nil, "an epoch is introduced once")
        let index = all.lastIndex { $0.number < epoch.number }.map { $0 + 1 } ?? 0
        all.insert(epoch, at: index)
        for position in index..<all.count { positions[all[position].number] = position }
    }
}
