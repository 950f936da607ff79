import CofferCrypto
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
                return
                    "The chain does not contain the expected head \(expected); the vault was truncated, rolled back or replaced."
            }
            return nil
        }
        let lineage = lineage!
        guard head.sequence >= lineage.switchHead.sequence, chainAtChecked == lineage.switchHead.digest else {
            return
                "The vault's log was compacted from the expected head's, but it does not reach the compaction's switch "
                + "\(lineage.switchHead): it was truncated or replaced."
        }
        guard let final = lineage.previous.first(where: { $0.generation == expected.generation }) else {
            return "The expected head \(expected) is of generation \(expected.generation), older than the "
                + "\(LogLineage.previousMax) compactions the vault's log remembers: it cannot be checked."
        }
        guard
            expected.sequence < final.sequence
                || (expected.sequence == final.sequence && expected.digest == final.digest)
        else {
            return
                "The log of generation \(expected.generation) ended at \(final) when it was compacted, which does not "
                + "hold the expected head \(expected): the vault was replaced by another."
        }
        return nil
    }
}

/// The heads an open or a verification holds a log to: a caller's expected head and what a
/// head witness saw, checked in the same scan, before a writer repairs anything.
struct HeadChecks {
    let expected: ChainHead?
    let witnessed: WitnessedHead?
    let lineage: LogLineage?

    /// The sequences whose chain hashes the checks need.
    var sequences: Set<UInt64> {
        Set(
            [expected, witnessed?.head].compactMap { $0.flatMap { ExpectedHead.sequenceToCheck($0, lineage: lineage) } }
        )
    }

    /// Each failed check: the sequence it concerns and why it failed.
    func mismatches(
        vaultID: [UInt8], unlockKey: SecureBytes, head: ChainHead, chains: [UInt64: [UInt8]]
    ) -> [(sequence: UInt64, detail: String)] {
        func chain(at expected: ChainHead) -> [UInt8]? {
            ExpectedHead.sequenceToCheck(expected, lineage: lineage).flatMap { chains[$0] }
        }
        var found: [(sequence: UInt64, detail: String)] = []
        if let expected,
            let detail = ExpectedHead.mismatch(
                expected, head: head, lineage: lineage, chainAtChecked: chain(at: expected))
        {
            found.append((expected.sequence, detail))
        }
        if let witnessed,
            let detail = witnessed.mismatch(
                vaultID: vaultID, unlockKey: unlockKey, head: head, lineage: lineage,
                chainAtChecked: chain(at: witnessed.head))
        {
            found.append((witnessed.head.sequence, "Checked against the head witness: " + detail))
        }
        return found
    }
}
