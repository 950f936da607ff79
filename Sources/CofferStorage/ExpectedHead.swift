import CofferFormat

/// F-HEAD with F-LINEAGE: whether a log holds a head a caller kept. A head of this log's
/// generation must be in its chain; a head of an earlier generation must be one the log was
/// compacted from (no later than that log's final head, equal to it at its sequence), and the
/// log must reach the compaction's switch, from which it holds everything the earlier log held;
/// a head of a later generation means the log is older than what the caller saw.
enum ExpectedHead {
    /// The sequence in this log whose chain hash the check needs: the expected head's own, or
    /// for a head of an earlier generation the switch head's.
    static func sequenceToCheck(_ expected: ChainHead, lineage: LogLineage?) -> UInt64? {
        let generation = lineage?.generation ?? 0
        if expected.generation == generation { return expected.sequence }
        if expected.generation < generation { return lineage!.switchHead.sequence }
        return nil
    }

    /// Nil when the log holds `expected`; otherwise why not. `chainAtChecked` is the chain hash
    /// after record ``sequenceToCheck(_:lineage:)`` (nil when the log does not reach it).
    static func mismatch(
        _ expected: ChainHead, head: ChainHead, lineage: LogLineage?, chainAtChecked: [UInt8]?
    ) -> String? {
        let generation = lineage?.generation ?? 0
        if expected.generation > generation {
            return "The vault's log is of generation \(generation), older than the expected head \(expected) "
                + "(generation \(expected.generation)): it was rolled back or replaced."
        }
        if expected.generation == generation {
            guard expected.sequence <= head.sequence, chainAtChecked == expected.digest else {
                return "The chain does not contain the expected head \(expected); the vault was truncated, rolled back or replaced."
            }
            return nil
        }
        let lineage = lineage!
        guard head.sequence >= lineage.switchHead.sequence, chainAtChecked == lineage.switchHead.digest else {
            return "The vault's log was compacted from the expected head's, but it does not reach the compaction's switch "
                + "\(lineage.switchHead): it was truncated or replaced."
        }
        guard let final = lineage.previous.first(where: { $0.generation == expected.generation }) else {
            return "The expected head \(expected) is of generation \(expected.generation), older than the "
                + "\(LogLineage.previousMax) compactions the vault's log remembers: it cannot be checked."
        }
        guard expected.sequence < final.sequence || (expected.sequence == final.sequence && expected.digest == final.digest)
        else {
            return "The log of generation \(expected.generation) ended at \(final) when it was compacted, which does not "
                + "hold the expected head \(expected): the vault was replaced by another."
        }
        return nil
    }
}
