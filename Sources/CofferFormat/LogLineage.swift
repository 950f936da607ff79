/// F-LINEAGE: what a compacted log was compacted from, in its header. A compaction starts a
/// new chain, so a head kept from before it (a caller's expected head, a head witness) is not
/// in the new chain; the lineage says which earlier heads the log holds everything of, so that
/// such a head still verifies while a rollback to before it does not.
public struct LogLineage: Sendable, Equatable {
    /// The most earlier logs' final heads a header keeps; a head from an older generation
    /// can no longer be checked.
    public static let previousMax = 32
    /// Bytes of the block at ``FormatConstants/headerLineageOffset``.
    public static let encodedBytes = 4 + 8 + 32 + 4 + previousMax * (4 + 8 + 32)  // 1456

    /// This log's generation: how many compactions made it (1 or more; a log without a
    /// lineage is generation 0).
    public var generation: UInt32
    /// In this log, the head at the compaction's switch: from it on, this log holds
    /// everything the previous log held. Its generation is ``generation``.
    public var switchHead: ChainHead
    /// The final head of each earlier log, the one the compaction that replaced it copied
    /// through: generation `generation - 1` first, at most ``previousMax``.
    public var previous: [ChainHead]

    public init(generation: UInt32, switchHead: ChainHead, previous: [ChainHead]) {
        precondition(generation > 0 && previous.count <= Self.previousMax)
        self.generation = generation
        self.switchHead = switchHead
        self.previous = previous
    }

    func encode(into writer: inout ByteWriter) {
        let start = writer.count
        writer.write(generation)
        writer.write(switchHead.sequence)
        writer.write(switchHead.digest)
        writer.write(UInt32(previous.count))
        for head in previous {
            writer.write(head.generation)
            writer.write(head.sequence)
            writer.write(head.digest)
        }
        writer.writeZeros(Self.encodedBytes - (writer.count - start))
    }

    /// Decodes the block; nil when it breaks a rule (generation 0, too many entries, earlier
    /// logs not in descending generations below this one, non-zero unused entries).
    static func decode(_ reader: inout ByteReader) -> LogLineage? {
        let start = reader.offset
        let generation = reader.read(UInt32.self)!
        let switchSequence = reader.read(UInt64.self)!
        let switchDigest = reader.readBytes(32)!
        let count = Int(reader.read(UInt32.self)!)
        guard generation > 0, count >= 1, count <= previousMax else { return nil }
        var previous: [ChainHead] = []
        for _ in 0..<count {
            let entryGeneration = reader.read(UInt32.self)!
            let sequence = reader.read(UInt64.self)!
            let digest = reader.readBytes(32)!
            guard entryGeneration < (previous.last?.generation ?? generation) else { return nil }
            previous.append(ChainHead(sequence: sequence, digest: digest, generation: entryGeneration))
        }
        guard previous[0].generation == generation - 1,
            reader.skipZeros(encodedBytes - (reader.offset - start))
        else { return nil }
        return LogLineage(
            generation: generation,
            switchHead: ChainHead(sequence: switchSequence, digest: switchDigest, generation: generation),
            previous: previous)
    }

    /// The lineage of the log that replaces the one with this lineage (nil: generation 0),
    /// whose final head was `final`, at the switch head `switchHead` of the new log.
    public static func successor(of lineage: LogLineage?, final: ChainHead, switchHead: ChainHead) -> LogLineage {
        LogLineage(
            generation: final.generation + 1, switchHead: switchHead,
            previous: Array(([final] + (lineage?.previous ?? [])).prefix(previousMax)))
    }
}
