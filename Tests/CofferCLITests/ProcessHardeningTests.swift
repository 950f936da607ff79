import Foundation
import XCTest

@testable import CofferCLI

#if canImport(Glibc)
    import Glibc
#endif

/// The `coffer` process keeps secrets out of dumps and crash reports, and says so (or
/// refuses to run) when it cannot lock them out of swap.
final class ProcessHardeningTests: XCTestCase {
    /// A `coffer` process that waits on its standard input, so that its state can be read
    /// from /proc while it runs; closing the write end lets it finish.
    func runningCoffer(_ arguments: [String], environment: [String: String]) throws -> (pid: pid_t, input: Int32) {
        var pipeEnds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[0], 0)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([CofferRunner.binary] + arguments).map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] =
            (["PATH": "/usr/bin:/bin"].merging(environment) { $1 }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in cEnvironment { free(entry) } }
        var pid = pid_t()
        XCTAssertEqual(posix_spawn(&pid, CofferRunner.binary, &actions, nil, &cArguments, &cEnvironment), 0)
        close(pipeEnds[0])
        return (pid, pipeEnds[1])
    }

    func testNoCoreDumpAndNoCrashReport() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let (pid, input) = try runningCoffer(
            ["credentials", "set", "exa", "--org", "acme", "--set", "token=@file:/dev/stdin"],
            environment: coffer.environment)
        // Once the process waits on its input, it has hardened itself.
        var limits = ""
        for _ in 0..<500 {
            limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
            let channel = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
            if channel.contains("pipe") { break }
            usleep(10_000)
        }
        let environment = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        close(input)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
        XCTAssertEqual(
            core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2), ["0", "0"], limits)
        XCTAssertTrue(
            String(decoding: environment, as: UTF8.self).split(separator: "\0").contains("SWIFT_BACKTRACE=enable=no"),
            "the Swift backtracer would print registers and memory of a crash")
    }

    /// The same hardening applied in this process: not dumpable afterwards.
    func testTheProcessIsNotDumpable() throws {
        let context = CommandContext(standardOutput: BufferSink(), standardError: BufferSink(), environment: [:])
        defer { ProcessHardening.restoreDumpable() }
        XCTAssertNil(ProcessHardening.apply(in: context))
        XCTAssertFalse(ProcessHardening.isDumpable)
    }

    /// Without the right to lock memory (a user with `ulimit -l 0`), `coffer` warns once, or
    /// refuses to run with COFFER_REQUIRE_LOCKED_MEMORY=1.
    func testAMemoryLockFailureIsReportedOrRefused() throws {
        guard getuid() == 0, access("/usr/sbin/runuser", X_OK) == 0 || access("/sbin/runuser", X_OK) == 0 else {
            throw XCTSkip("needs root and runuser to run coffer as an unprivileged user with no locked memory")
        }
        let directory = "/tmp/coffer-mlock-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(directory, 0o777), 0)
        chmod(directory, 0o777)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func asNobody(_ command: String) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = [
                "-c",
                "runuser -u nobody -- sh -c 'ulimit -l 0; cd \(directory) && \(command)' 2>\(directory)/err",
            ]
            try process.run()
            process.waitUntilExit()
            return (process.terminationStatus, (try? String(contentsOfFile: "\(directory)/err", encoding: .utf8)) ?? "")
        }
        let binary = CofferRunner.binary
        guard try asNobody("test -x \(binary)").0 == 0 else {
            throw XCTSkip("the user nobody cannot run \(binary)")
        }
        let (created, warning) = try asNobody("\(binary) init --vault v.coffer --generate-key-file v.key")
        XCTAssertEqual(created, 0, warning)
        XCTAssertEqual(warning.components(separatedBy: "could not be locked").count, 2, "one warning: \(warning)")
        let (refused, message) = try asNobody(
            "COFFER_REQUIRE_LOCKED_MEMORY=1 \(binary) head --vault v.coffer --key-file v.key")
        XCTAssertEqual(refused, 2, message)
        XCTAssertTrue(message.contains("COFFER_REQUIRE_LOCKED_MEMORY"), message)
    }
}
