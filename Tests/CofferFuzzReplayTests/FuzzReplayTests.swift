import CofferFuzzBodies
import Foundation
import XCTest

/// Replays the committed fuzz inputs through the same bodies libFuzzer runs, without libFuzzer:
/// `Fuzz/corpus/<Target>/` (the seeds), `Fuzz/campaign-corpus/<Target>/` (what campaigns found
/// beyond them) and `Fuzz/regressions/<Target>/` (minimized crashes).
///
/// The files are read from the repository, found from this file's path, so the test target
/// needs no resources. A trap inside the library still ends the test process, as it would
/// end the fuzzer; the input that caused it is named in the log line printed before it runs.
///
/// A regression whose bug is not fixed yet is committed with the prefix `open-`: it is not
/// replayed (it would end the whole test run), and ``testNoRegressionIsStillOpen`` skips with
/// its name so it stays visible. Fixing the bug means dropping the prefix.
final class FuzzReplayTests: XCTestCase {
    static let openPrefix = "open-"

    /// The repository root: this file is `Tests/CofferFuzzReplayTests/FuzzReplayTests.swift`.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The files of `Fuzz/<kind>/<target>/`, sorted by name, without dot files (`.keep`).
    static func inputs(_ kind: String, _ target: FuzzTarget) -> [(name: String, bytes: [UInt8])] {
        let directory = repository.appendingPathComponent("Fuzz/\(kind)/\(target.rawValue)", isDirectory: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: directory.appendingPathComponent(name).path).map {
                (name, [UInt8]($0))
            }
        }
    }

    func replay(_ kind: String, requireInputs: Bool) {
        for target in FuzzTarget.allCases {
            let inputs = Self.inputs(kind, target)
            if requireInputs {
                XCTAssertFalse(inputs.isEmpty, "Fuzz/\(kind)/\(target.rawValue) is empty; run tools/make-seed-corpus")
            }
            for input in inputs where !input.name.hasPrefix(Self.openPrefix) {
                print("replaying Fuzz/\(kind)/\(target.rawValue)/\(input.name)")
                XCTAssertEqual(target.run(input.bytes), [], "Fuzz/\(kind)/\(target.rawValue)/\(input.name)")
            }
        }
    }

    func testSeedCorpusKeepsEveryOracle() {
        replay("corpus", requireInputs: true)
    }

    func testRegressionCorpusKeepsEveryOracle() {
        replay("regressions", requireInputs: false)
    }

    /// What fuzzing campaigns found beyond the seeds (tools/fuzz-long).
    func testCampaignCorpusKeepsEveryOracle() {
        replay("campaign-corpus", requireInputs: false)
    }

    func testNoRegressionIsStillOpen() throws {
        let open = FuzzTarget.allCases.flatMap { target in
            Self.inputs("regressions", target).filter { $0.name.hasPrefix(Self.openPrefix) }
                .map { "Fuzz/regressions/\(target.rawValue)/\($0.name)" }
        }
        if !open.isEmpty {
            throw XCTSkip("known crashes not replayed until fixed (docs/fuzzing.md): \(open.joined(separator: ", "))")
        }
    }

    /// Stale seeds would silently weaken the fuzzers (a seed vault that no longer opens never
    /// gets past the header), so a format change must come with regenerated seeds.
    func testCommittedSeedCorpusIsWhatTheGeneratorMakes() {
        let seeds = SeedCorpus.make()
        for target in FuzzTarget.allCases {
            let committed = Dictionary(uniqueKeysWithValues: Self.inputs("corpus", target).map { ($0.name, $0.bytes) })
            let generated = seeds.filter { $0.target == target }
            XCTAssertEqual(
                Set(committed.keys), Set(generated.map(\.name)),
                "Fuzz/corpus/\(target.rawValue) differs from SeedCorpus.make(); run tools/make-seed-corpus")
            for seed in generated where committed[seed.name].map({ $0 != seed.bytes }) ?? false {
                XCTFail("Fuzz/corpus/\(target.rawValue)/\(seed.name) is stale; run tools/make-seed-corpus")
            }
        }
    }

    func testSeedVaultsOpenAsIntended() {
        XCTAssertEqual(SeedCorpus.verify(), [])
    }

    func testSeedCorpusStaysCommitSized() {
        let total = SeedCorpus.make().reduce(0) { $0 + $1.bytes.count }
        XCTAssertLessThan(total, 512 * 1024, "the seed corpus should stay well under 1 MiB")
    }
}
