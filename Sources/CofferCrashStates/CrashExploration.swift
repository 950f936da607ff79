import CofferSimulation

/// Every crash point of a model, the crash states chosen at each, each distinct state
/// materialized and checked once.
public enum CrashExploration {
    public struct Report: Sendable {
        public var points = 0
        public var states = 0
        /// States whose vault open refused as corrupted and salvage copied (``CrashLedger``).
        public var salvaged = 0
        public var failures: [String] = []
    }

    /// Checks the crash states at every event of `events` (a command's part of the trace)
    /// against `expectation`; states already in `checked` (hashes) are not checked again.
    public static func run(
        _ model: CrashModel, events: Range<Int>, _ expectation: CrashExpectation, scratch: CrashCheck.Scratch,
        statesPerPoint: Int,
        generator: inout SeededGenerator, checked: inout Set<Int>
    ) throws -> Report {
        var report = Report()
        var base = (tree: model.initial, prefix: 0)
        for event in events {
            report.points += 1
            let prefix = model.durablePrefix(at: event)
            model.apply(base.prefix..<prefix, to: &base.tree)
            base.prefix = prefix
            for choice in model.choices(at: event, limit: statesPerPoint, generator: &generator) {
                var files: [String: (bytes: [UInt8], hash: Int)] = [:]
                var hasher = Hasher()
                for (path, bytes) in model.tree(for: choice, base: base).files.sorted(by: { $0.key < $1.key }) {
                    files[path] = (bytes, contentHash(bytes))
                    hasher.combine(path)
                    hasher.combine(files[path]!.hash)
                }
                // What a ledger state must hold depends on what was acknowledged by then: the
                // same files after another acknowledgement are another check.
                if let ledger = expectation.ledger {
                    hasher.combine(ledger.acknowledgements.lazy.filter { $0.events <= event + 1 }.count)
                }
                guard checked.insert(hasher.finalize()).inserted else { continue }
                report.states += 1
                let (failures, salvaged) = try CrashCheck.check(files, crashAfter: event, in: scratch, expectation)
                if salvaged { report.salvaged += 1 }
                for failure in failures {
                    report.failures.append(
                        "crash after event \(event), \(choice.namePrefix) pending name changes and "
                            + "\(choice.data.count) pending writes landed\(choice.torn == nil ? "" : ", one torn"): \(failure)"
                    )
                }
            }
        }
        return report
    }

    /// A hash of a file's bytes, taken a buffer at a time: `[UInt8].hashValue` hashes byte by
    /// byte through generic witnesses, which was 40 % of a replay's time.
    static func contentHash(_ bytes: [UInt8]) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }
}
