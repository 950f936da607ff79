import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import Foundation
import XCTest

// What the crash suites share (the storage suite's CrashSimulationTests and FaultInjectionTests,
// the engine's EngineCrashTests): settings read from the environment, the label that names a
// crash state and how to replay it, a log of the problems found on worker threads, and the
// secrets a workload unlocks with. Nothing here prints a secret's bytes.

/// Knobs read from the environment, so that a suite can be scaled and a failure replayed:
/// `PREFIX_STATES` (how many crash states), `PREFIX_SEED` (the base seed, decimal or 0x-hex)
/// and `PREFIX_RUN` (replay only this run), `PREFIX` being the suite's (`COFFER_CRASH`,
/// `COFFER_ENGINE_CRASH`).
public struct CrashSettings: Sendable {
    /// The prefix of the environment variables, which a replay sets again.
    public let variablePrefix: String
    public let crashStates: Int
    public let baseSeed: UInt64
    public let onlyRun: Int?

    public static func fromEnvironment(
        prefix: String, defaultCrashStates: Int, defaultBaseSeed: UInt64
    ) -> CrashSettings {
        let environment = ProcessInfo.processInfo.environment
        func number(_ name: String) -> UInt64? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            if text.lowercased().hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
            return UInt64(text.replacingOccurrences(of: "_", with: ""))
        }
        return CrashSettings(
            variablePrefix: prefix,
            crashStates: number("\(prefix)_STATES").map { Int($0) } ?? defaultCrashStates,
            baseSeed: number("\(prefix)_SEED") ?? defaultBaseSeed,
            onlyRun: number("\(prefix)_RUN").map { Int($0) })
    }

    /// The seed of run `run`: a function of the base seed and the run number only, so that
    /// runs can execute on any thread in any order.
    public func seed(forRun run: Int) -> UInt64 {
        var generator = SeededGenerator(seed: baseSeed ^ (UInt64(run) &* 0xD1B5_4A32_D192_ED03))
        return generator.next()
    }

    /// The label of a crash state of run `run` of `test`.
    public func label(test: String, run: Int, point: String, isConcurrent: Bool = false) -> RunLabel {
        RunLabel(
            test: test, baseSeed: baseSeed, run: run, point: point, isConcurrent: isConcurrent,
            variablePrefix: variablePrefix)
    }
}

/// Names one crash state in failure messages: the seed and run that reproduce it, and where
/// the power was cut.
public struct RunLabel: CustomStringConvertible, Sendable {
    /// The test to filter on when replaying.
    public let test: String
    public let baseSeed: UInt64
    public let run: Int
    /// Where the crash was placed, in words.
    public var point: String
    /// Thread interleaving is not seeded: a run with concurrent calls replays its workload and
    /// crash point, not necessarily the order its threads took.
    public var isConcurrent: Bool
    /// The settings' variable prefix when the test honours its seed and run variables; `nil`
    /// for small deterministic tests, which replay by running them again.
    public var variablePrefix: String?

    public init(
        test: String, baseSeed: UInt64, run: Int, point: String, isConcurrent: Bool = false,
        variablePrefix: String? = nil
    ) {
        self.test = test
        self.baseSeed = baseSeed
        self.run = run
        self.point = point
        self.isConcurrent = isConcurrent
        self.variablePrefix = variablePrefix
    }

    public var description: String {
        let hex = "0x" + String(baseSeed, radix: 16)
        guard let prefix = variablePrefix else {
            return "[run \(run): \(point)] (deterministic: swift test --filter \(test))"
        }
        return "[seed \(hex) run \(run)\(isConcurrent ? ", concurrent" : ""): \(point)] "
            + "(replay: \(prefix)_SEED=\(hex) \(prefix)_RUN=\(run) swift test --filter \(test))"
    }
}

/// Problems found on worker threads, reported through XCTest on the test's own thread.
///
/// The same problem met in many crash states is reported once, with the first state that met
/// it (in run order) and how many did, so that one bug does not drown the others.
public final class FailureLog: @unchecked Sendable {
    private struct Entry {
        var label: RunLabel
        var count: Int
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    public init() {}

    public func record(_ label: RunLabel, _ problem: String) {
        lock.withLock {
            var entry = entries[problem] ?? Entry(label: label, count: 0)
            entry.count += 1
            if label.run < entry.label.run { entry.label = label }
            entries[problem] = entry
        }
    }

    public var isEmpty: Bool { lock.withLock { entries.isEmpty } }

    /// Fails the test once per distinct problem, up to `limit`, then once for the rest.
    public func report(limit: Int = 30, file: StaticString = #filePath, line: UInt = #line) {
        let all = lock.withLock { entries }.sorted { ($0.value.label.run, $0.key) < ($1.value.label.run, $1.key) }
        for (problem, entry) in all.prefix(limit) {
            let times = entry.count == 1 ? "" : " (in \(entry.count) crash states; the first:)"
            XCTFail("\(problem)\(times) \(entry.label)", file: file, line: line)
        }
        if all.count > limit { XCTFail("… and \(all.count - limit) more distinct problems", file: file, line: line) }
    }
}

/// A secret a workload unlocks with, printable without its bytes.
public struct TestSecret: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable { case keyFile, passphrase }

    public let kind: Kind
    /// Distinguishes secrets in messages.
    public let number: Int
    public let bytes: [UInt8]

    public init(kind: Kind, number: Int, bytes: [UInt8]) {
        self.kind = kind
        self.number = number
        self.bytes = bytes
    }

    public var description: String { kind == .keyFile ? "key file #\(number)" : "passphrase #\(number)" }

    public static func make(_ kind: Kind, number: Int, using generator: inout SeededGenerator) -> TestSecret {
        let count = kind == .keyFile ? Keyslot.keyFileBytes : Int.random(in: 8...24, using: &generator)
        return TestSecret(kind: kind, number: number, bytes: randomBytes(count, using: &generator))
    }
}

extension TestSecret {
    /// The secret as a keyslot takes it.
    public var secret: Keyslot.Secret {
        switch kind {
        case .keyFile: .keyFile(SecureBytes(copying: bytes))
        case .passphrase: .passphrase(SecureBytes(copying: bytes))
        }
    }

    /// Whether the newest valid header copy of the vault whose bytes are `file` does not accept
    /// this secret (F-HDR-SELECT, copy A on a tie): one that opens the vault all the same opens
    /// only an older copy — a secret an interrupted keyslot change removed, which a writer's
    /// open refuses (F-HDR-SUPERSEDED).
    public func opensOnlyAnOlderHeaderCopy(ofVault file: [UInt8]) -> Bool {
        let copyBytes = FormatConstants.headerCopyBytes
        let valid = (0..<FormatConstants.headerCopyCount).compactMap { index -> FileHeader? in
            Array(file.dropFirst(index * copyBytes).prefix(copyBytes)).withUnsafeBytes {
                try? FileHeader.decode($0).get()
            }
        }
        // `max` keeps the first of equals: copy A.
        guard let newest = valid.max(by: { $0.generation < $1.generation }) else { return false }
        return newest.unlock(with: secret) == nil
    }
}

/// Check (5)'s part for F-HDR-SUPERSEDED: of the secrets that open the vault at `path` on
/// `disk`, those that open only an older header copy are refused to a writer (`.wrongKey`)
/// and the refusal changes no byte. `openAsWriter` opens (and closes) as the writer and gives
/// the error, nil when it opened. Returns those secrets, the refusals counted and the problems.
public func checkWritersRefuseSupersededSecrets(
    _ opening: some Sequence<TestSecret>, on disk: SimulatedDisk, path: String, _ context: String,
    openAsWriter: (TestSecret) -> CofferError?
) -> (superseded: [TestSecret], refused: Int, problems: [String]) {
    let file = disk.contents(of: path) ?? []
    // In one order on every run: a set's is not.
    let superseded = opening.filter { $0.opensOnlyAnOlderHeaderCopy(ofVault: file) }.sorted { $0.number < $1.number }
    var refused = 0
    var problems: [String] = []
    for secret in superseded {
        switch openAsWriter(secret) {
        case nil:
            problems.append(
                "\(context): \(secret), which the interrupted change removed, opened the vault as the writer")
        case let error? where error.code == .wrongKey:
            refused += 1
            if disk.contents(of: path) != file {
                problems.append("\(context): the writer's open refused to \(secret) changed the file")
            }
        case let error?:
            problems.append("\(context): the writer's open with \(secret), which the change removed, failed: \(error)")
        }
    }
    return (superseded, refused, problems)
}

/// `count` random bytes, eight from each draw of the generator.
public func randomBytes(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count {
        var word = generator.next()
        for _ in 0..<min(8, count - bytes.count) {
            bytes.append(UInt8(truncatingIfNeeded: word))
            word >>= 8
        }
    }
    return bytes
}
