import CofferCrypto
import CofferFormat
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

/// Tests with a second, real process: the writer lock across processes and recovery after
/// SIGKILL. The helper binary is built beside the test bundle.
final class ProcessTests: XCTestCase {
    private var helperPath: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // The test binary is …/debug/CofferPackageTests.xctest on Linux.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("coffer-test-writer").path
    }

    private func launch(_ mode: String, _ path: String) throws -> (Process, FileHandle) {
        guard FileManager.default.isExecutableFile(atPath: helperPath) else {
            throw XCTSkip("coffer-test-writer is not built at \(helperPath); run `swift build` first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: helperPath)
        process.arguments = [mode, path]
        var environment = ProcessInfo.processInfo.environment
        environment["COFFER_TEST_KEY"] = Fixture.keyFile.withUnsafeBytes { Hex.encode(Array($0)) }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        return (process, output.fileHandleForReading)
    }

    private func readLine(_ handle: FileHandle, buffer: inout [UInt8]) -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let data = handle.availableData
            if data.isEmpty { return nil }
            buffer += data
        }
    }

    func testSecondWriterIsLockedUntilTheFirstIsKilled() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        try VaultStore.create(path: path, secret: Fixture.secret).close()
        let (process, output) = try launch("hold", path)
        var buffer: [UInt8] = []
        XCTAssertEqual(readLine(output, buffer: &buffer), "ready")
        XCTAssertThrowsCode(.locked, try VaultStore.open(path: path, secret: Fixture.secret))
        XCTAssertNoThrow(try VaultStore.open(path: path, secret: Fixture.secret, options: .init(readOnly: true)))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertNoThrow(try VaultStore.open(path: path, secret: Fixture.secret).close())
    }

    /// Kills a writer with SIGKILL at random moments; every commit it reported is there.
    func testEveryReportedCommitSurvivesSIGKILL() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var generator = SplitMix(seed: seed)
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        for round in 0..<6 {
            let (process, output) = try launch("stream", path)
            // Let it run for 5–60 ms before the kill.
            usleep(useconds_t(5000 + generator.next() % 55000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            var buffer: [UInt8] = []
            var reported = 0
            while let line = readLine(output, buffer: &buffer), let number = Int(line) { reported = number }
            // On a loaded machine the kill can come before the writer made the vault at all, or
            // (rarely: creation writes its bytes right after making the file) between making
            // the file and writing it, which leaves it empty; either way nothing was reported.
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size, size > 0 else {
                XCTAssertEqual(reported, 0, "a commit was reported without a vault; seed \(seed), round \(round)")
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            let (store, payloads) = try Fixture.transactions(path: path, readOnly: true)
            _ = store
            let texts = payloads.map { String(decoding: $0, as: UTF8.self) }
            // Each round restarts numbering at 1; the reported commits of this round are the
            // last `reported` or more transactions, in order.
            let lastRound = Array(texts.suffix(from: texts.lastIndex(of: "txn-1") ?? texts.endIndex))
            XCTAssertGreaterThanOrEqual(lastRound.count, reported, "seed \(seed), round \(round)")
            XCTAssertEqual(
                Array(lastRound.prefix(reported)), (1...max(reported, 1)).prefix(reported).map { "txn-\($0)" },
                "seed \(seed), round \(round)")
        }
    }
}

/// SplitMix64, for seeds printed on failure.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
