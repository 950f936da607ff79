import BenchSupport
import Foundation

/// The machine the run was measured on.
struct MachineFacts: Codable {
    var cpuModel: String
    var cores: Int
    var memoryGiB: Double
    var kernel: String
    var disk: String
    var filesystem: String
    var loadAverageAtStart: [Double]
    var loadAverageAtEnd: [Double]

    static func collect(directory: String) -> MachineFacts {
        MachineFacts(
            cpuModel: ProcessFacts.cpuModel(), cores: ProcessFacts.cores(),
            memoryGiB: (Double(ProcessFacts.memoryBytes()) / Double(1 << 30) * 10).rounded() / 10,
            kernel: ProcessFacts.run(["uname", "-sr"]),
            disk: ProcessFacts.run(["lsblk", "-d", "-n", "-o", "NAME,SIZE,ROTA,TYPE,MODEL"]).split(separator: "\n")
                .joined(separator: "; "),
            filesystem: ProcessFacts.run(["df", "-hT", directory]).split(separator: "\n").last.map(String.init) ?? "",
            loadAverageAtStart: ProcessFacts.loadAverage(), loadAverageAtEnd: [])
    }
}

/// An engine against one reference: `ratio` > 1 means the engine is ahead (faster, or smaller).
struct Ratio: Codable {
    var workload: String
    var size: Int?
    var threads: Int
    /// The engine measured: Coffer against the baselines; every engine against the machine.
    var engine: String
    var against: String
    var againstWorkload: String
    var ratio: Double
}

/// A target of the first round, as measured.
struct TargetCheck: Codable {
    var target: String
    var size: Int?
    var measured: String
    var goal: String
    var met: Bool
}

/// Everything one run produced: what `Benchmarks/results/latest.json` holds.
struct BenchReport: Codable {
    var command: String
    var startedAt: String
    var sizes: [Int]
    var repetitions: Int
    var machine: MachineFacts
    var versions: [String: String]
    var figures: [Figure]
    var ratios: [Ratio]
    var targets: [TargetCheck]
    var notes: [String]
}

enum Analysis {
    /// How much faster (or smaller) `figure` is than `reference`.
    static func speedRatio(_ figure: Figure, _ reference: Figure) -> Double {
        figure.higherIsBetter ? figure.median / reference.median : reference.median / figure.median
    }

    /// The machine figure each Coffer workload is compared with.
    static let limits: [String: String] = [
        "bulk_load": "aead_seal", "bulk_load_batch": "aead_seal", "single_commit": "fdatasync",
        "concurrent_commit": "fdatasync", "raw_append": "fdatasync", "reveal": "aead_open_records",
        "reveal_cached": "aead_open_records", "reveal_mapped": "aead_open_records",
        "open": "decrypt_once",
        "open_checkpointed": "read_and_open_checkpoint",
        "open_compacted": "decrypt_once_compacted", "compaction": "sequential_write",
        "compaction_reencrypt": "sequential_write",
    ]

    /// A machine figure measured at `size` (right beside the workload), or else the one
    /// measured once for the run.
    static func machineFigure(_ workload: String, size: Int?, in figures: [Figure]) -> Figure? {
        figures.first { $0.engine == "machine" && $0.workload == workload && $0.size == size && size != nil }
            ?? figures.first { $0.engine == "machine" && $0.workload == workload && $0.size == nil }
    }

    static func ratios(_ figures: [Figure]) -> [Ratio] {
        var ratios: [Ratio] = []
        for figure in figures where figure.engine != "machine" {
            for baseline in ["sqlcipher", "sqlite_sealed"] where figure.engine == "coffer" {
                if let reference = figures.first(where: {
                    $0.engine == baseline && $0.workload == figure.workload && $0.size == figure.size
                        && $0.threads == figure.threads
                }) {
                    ratios.append(
                        Ratio(
                            workload: figure.workload, size: figure.size, threads: figure.threads, engine: "coffer",
                            against: baseline,
                            againstWorkload: reference.workload, ratio: speedRatio(figure, reference)))
                }
            }
            if let limit = limits[figure.workload], let reference = machineFigure(limit, size: figure.size, in: figures)
            {
                ratios.append(
                    Ratio(
                        workload: figure.workload, size: figure.size, threads: figure.threads,
                        engine: figure.engine, against: "machine",
                        againstWorkload: limit, ratio: speedRatio(figure, reference)))
            }
        }
        return ratios
    }

    static func targets(_ figures: [Figure]) -> [TargetCheck] {
        func find(_ workload: String, _ engine: String = "coffer", size: Int? = nil, threads: Int = 1) -> Figure? {
            figures.first { $0.workload == workload && $0.engine == engine && $0.size == size && $0.threads == threads }
        }
        /// The median of a ratio taken round by round (`*_paired`), when there is one.
        func paired(_ workload: String, size: Int, threads: Int = 1) -> String {
            find(workload, size: size, threads: threads).map {
                String(format: "; round by round, median %.2f× (%.2f–%.2f)", $0.median, $0.min, $0.max)
            } ?? ""
        }
        func rate(_ value: Double) -> String {
            value >= 1e6
                ? String(format: "%.2f M/s", value / 1e6)
                : value >= 1e3 ? String(format: "%.1f k/s", value / 1e3) : String(format: "%.0f /s", value)
        }
        var checks: [TargetCheck] = []
        let sizes = Array(Set(figures.compactMap(\.size))).sorted()
        let seal = find("aead_seal", "machine")
        let open = find("aead_open", "machine")
        if let single = find("raw_append"), let group = find("raw_append", threads: 8) {
            checks.append(
                TargetCheck(
                    target: "8-thread group commit ≥ 5× single commits (raw VaultStore.append)", size: nil,
                    measured:
                        "\(rate(group.median)) vs \(rate(single.median)) = \(String(format: "%.2f", group.median / single.median))×",
                    goal: "≥ 5×", met: group.median >= 5 * single.median))
        }
        for size in sizes {
            if let commit = find("single_commit", size: size),
                let fdatasync = machineFigure("fdatasync", size: size, in: figures)
            {
                checks.append(
                    TargetCheck(
                        target: "durable single commits ≥ 0.9× raw fdatasync rate", size: size,
                        measured:
                            "\(rate(commit.median)) vs \(rate(fdatasync.median)) = \(String(format: "%.2f", commit.median / fdatasync.median))×"
                            + paired("single_commit_paired", size: size),
                        goal: "≥ 0.9×", met: commit.median >= 0.9 * fdatasync.median))
            }
            if let commit = find("single_commit", size: size),
                let group = find("concurrent_commit", size: size, threads: 8)
            {
                checks.append(
                    TargetCheck(
                        target: "8-thread group commit ≥ 5× single commits (engine mutate)", size: size,
                        measured:
                            "\(rate(group.median)) vs \(rate(commit.median)) = \(String(format: "%.2f", group.median / commit.median))×"
                            + paired("concurrent_commit_paired", size: size, threads: 8),
                        goal: "≥ 5×", met: group.median >= 5 * commit.median))
            }
            if let load = find("bulk_load", size: size), let seal {
                checks.append(
                    TargetCheck(
                        target: "bulk load ≥ 0.5× raw seal rate", size: size,
                        measured:
                            "\(rate(load.median)) vs \(rate(seal.median)) = \(String(format: "%.3f", load.median / seal.median))×",
                        goal: "≥ 0.5×", met: load.median >= 0.5 * seal.median))
            }
            if let opened = find("open_checkpointed", size: size),
                let least = find("read_and_open_checkpoint", "machine", size: size)
            {
                checks.append(
                    TargetCheck(
                        target: "open from the checkpoint ≤ 2× reading and decrypting the checkpoint", size: size,
                        measured: String(
                            format: "%.3f s vs %.3f s = %.1f×", opened.median, least.median,
                            opened.median / least.median),
                        goal: "≤ 2×", met: opened.median <= 2 * least.median))
            }
            if let opened = find("open", size: size), let once = find("decrypt_once", "machine", size: size) {
                checks.append(
                    TargetCheck(
                        target: "open ≤ 2× the time to decrypt every record once", size: size,
                        measured: String(
                            format: "%.3f s vs %.3f s = %.1f×", opened.median, once.median, opened.median / once.median),
                        goal: "≤ 2×", met: opened.median <= 2 * once.median))
            }
            if let resolve = find("resolve", size: size) {
                checks.append(
                    TargetCheck(
                        target: "resolution ≥ 2M/s single-threaded", size: size, measured: rate(resolve.median),
                        goal: "≥ 2 M/s", met: resolve.median >= 2e6))
            }
            // The raw open of the records a reveal opens (the vault's mix of sizes); the open
            // of a median-sized record beside it.
            if let reveal = find("reveal", size: size), let records = find("aead_open_records", "machine", size: size) {
                let median = (find("aead_open", "machine", size: size) ?? open).map {
                    "; against the open of a median-sized record \(rate($0.median)): \(String(format: "%.3f", reveal.median / $0.median))×"
                }
                checks.append(
                    TargetCheck(
                        target: "point reads with reveal ≥ 0.5× raw open rate (of the records revealed)", size: size,
                        measured:
                            "\(rate(reveal.median)) vs \(rate(records.median)) = \(String(format: "%.3f", reveal.median / records.median))×\(median ?? "")",
                        goal: "≥ 0.5×", met: reveal.median >= 0.5 * records.median))
                if let mapped = find("reveal_mapped", size: size) {
                    checks.append(
                        TargetCheck(
                            target: "point reads with reveal ≥ 0.5× raw open rate, the file mapped (Options.mapsLog)",
                            size: size,
                            measured:
                                "\(rate(mapped.median)) vs \(rate(records.median)) = \(String(format: "%.3f", mapped.median / records.median))×",
                            goal: "≥ 0.5×", met: mapped.median >= 0.5 * records.median))
                }
            }
            for workload in ["bulk_load", "single_commit", "concurrent_commit", "open", "resolve", "reveal"] {
                for threads in [1, 2, 8] {
                    guard let coffer = find(workload, size: size, threads: threads) else { continue }
                    for baseline in ["sqlcipher", "sqlite_sealed"] {
                        guard let reference = find(workload, baseline, size: size, threads: threads) else { continue }
                        let ratio = speedRatio(coffer, reference)
                        checks.append(
                            TargetCheck(
                                target: "\(workload)\(threads > 1 ? " (\(threads) threads)" : "") ahead of \(baseline)",
                                size: size,
                                measured: String(format: "%.2f×", ratio), goal: "> 1×", met: ratio > 1))
                    }
                }
            }
        }
        return checks
    }

    // MARK: Markdown

    static let engineNames = [
        "coffer": "Coffer", "sqlcipher": "SQLCipher", "sqlite_sealed": "SQLite + sealed blobs", "machine": "machine",
    ]

    static func number(_ value: Double, unit: String) -> String {
        switch unit {
        case "s": return value < 0.01 ? String(format: "%.2f ms", value * 1000) : String(format: "%.3f s", value)
        case "B/credential": return String(format: "%.0f", value)
        case "MB/s": return String(format: "%.0f", value)
        case "×": return String(format: "%.2f", value)
        default:
            if value >= 1e6 { return String(format: "%.2f M", value / 1e6) }
            if value >= 1e4 { return String(format: "%.1f k", value / 1e3) }
            if value >= 1e3 { return String(format: "%.2f k", value / 1e3) }
            return String(format: "%.0f", value)
        }
    }

    static func markdown(_ report: BenchReport) -> String {
        var lines: [String] = []
        lines.append(
            "| Workload | N | Thr | Engine | Median | Min – Max | Unit | Ops/rep | p50 µs | p99 µs | × SQLCipher | × SQLite+sealed | × limit |"
        )
        lines.append("|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        let order = [
            "aead_seal", "aead_open", "cofferCrypto_seal", "cofferCrypto_open", "fdatasync", "fdatasync_over_zeros",
            "sequential_write",
            "raw_append", "kdf_interactive", "kdf_moderate", "bulk_load", "bulk_load_batch", "single_commit",
            "single_commit_normal", "concurrent_commit", "single_commit_paired", "concurrent_commit_paired", "open",
            "open_checkpointed", "read_and_open_checkpoint",
            "open_passphrase", "decrypt_once", "aead_open_records", "reveal", "reveal_cached", "reveal_mapped",
            "resolve",
            "resolve_explained",
            "memory", "file_size", "file_size_batch", "compaction", "compaction_records", "compaction_memory",
            "compaction_reencrypt", "compaction_records_reencrypt", "compaction_memory_reencrypt", "open_compacted",
            "decrypt_once_compacted",
        ]
        let engines = ["coffer", "sqlcipher", "sqlite_sealed", "machine"]
        let sorted = report.figures.sorted { a, b in
            let keyA = (
                order.firstIndex(of: a.workload) ?? 99, a.size ?? 0, a.threads, engines.firstIndex(of: a.engine) ?? 9
            )
            let keyB = (
                order.firstIndex(of: b.workload) ?? 99, b.size ?? 0, b.threads, engines.firstIndex(of: b.engine) ?? 9
            )
            return keyA < keyB
        }
        for figure in sorted {
            func ratio(_ against: String) -> String {
                guard figure.engine == "coffer" || against == "machine",
                    let found = report.ratios.first(where: {
                        $0.workload == figure.workload && $0.size == figure.size && $0.threads == figure.threads
                            && $0.engine == figure.engine && $0.against == against
                    })
                else { return "" }
                return String(format: "%.2f", found.ratio)
            }
            let limitRatio = ratio("machine")
            let limitName = limits[figure.workload].map { " (\($0))" } ?? ""
            lines.append(
                "| \(figure.workload) | \(figure.size.map { "\($0)" } ?? "–") | \(figure.threads) | \(engineNames[figure.engine] ?? figure.engine) | "
                    + "\(number(figure.median, unit: figure.unit)) | \(number(figure.min, unit: figure.unit)) – \(number(figure.max, unit: figure.unit)) | "
                    + "\(figure.unit) | \(figure.operations) | "
                    + "\(figure.p50Microseconds.map { String(format: "%.1f", $0) } ?? "") | \(figure.p99Microseconds.map { String(format: "%.1f", $0) } ?? "") | "
                    + "\(ratio("sqlcipher")) | \(ratio("sqlite_sealed")) | \(limitRatio.isEmpty ? "" : limitRatio + limitName) |"
            )
        }
        lines.append("")
        lines.append("| Target | N | Measured | Goal | Met |")
        lines.append("|---|---:|---|---|---|")
        for check in report.targets {
            lines.append(
                "| \(check.target) | \(check.size.map { "\($0)" } ?? "–") | \(check.measured) | \(check.goal) | \(check.met ? "yes" : "**no**") |"
            )
        }
        return lines.joined(separator: "\n")
    }

    static func variants(_ report: BenchReport) -> String {
        var seen: Set<String> = []
        var lines: [String] = []
        for figure in report.figures {
            // The note too: the sync rate measured in turns with the commits notes so.
            let key = "\(figure.workload)|\(figure.engine)|\(figure.threads)|\(figure.note ?? "")"
            guard seen.insert(key).inserted else { continue }
            lines.append(
                "- `\(figure.workload)` \(engineNames[figure.engine] ?? figure.engine)\(figure.threads > 1 ? ", \(figure.threads) threads" : ""): \(figure.variant)"
                    + (figure.note.map { " — \($0)" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
