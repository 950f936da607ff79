import Coffer
import Foundation
import XCTest

@testable import CofferCLI

#if canImport(Glibc)
    import Glibc
    import CofferTestSupport
#endif

/// What one run of `coffer` produced.
struct RunResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
    /// The run's peak resident set size in KiB, from `wait4`'s rusage (``CofferRunner/runRaw``
    /// only).
    var peakResidentKilobytes: Int? = nil

    /// Standard output parsed as one JSON document.
    func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8))
        return try XCTUnwrap(
            object as? [String: Any], "stdout is not a JSON object: \(standardOutput)", file: file, line: line)
    }

    /// Standard error parsed as one JSON document (an error under `--json`).
    func errorJSON(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let lastLine = standardError.split(separator: "\n").last.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(lastLine.utf8))
        return try XCTUnwrap(
            object as? [String: Any], "stderr is not a JSON object: \(standardError)", file: file, line: line)
    }

    /// Everything the run printed, for leak checks.
    var allOutput: String { standardOutput + standardError }
}

/// Runs the built `coffer` binary (and its helper `coffer-test-writer`) in a temporary
/// directory with a controlled environment: nothing of the caller's `COFFER_*` leaks in.
final class CofferRunner {
    let directory = TemporaryDirectory()
    /// Environment given to every run, on top of PATH.
    var environment: [String: String] = [:]

    /// The directory of the test bundle: the build products (`coffer`, `coffer-test-writer`).
    static var productsDirectory: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // The test binary is …/debug/CofferPackageTests.xctest on Linux.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory
    }

    static var binary: String { productsDirectory.appendingPathComponent("coffer").path }
    static var writerBinary: String { productsDirectory.appendingPathComponent("coffer-test-writer").path }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("coffer is not built at \(Self.binary); run `swift build --build-tests` first")
        }
    }

    func path(_ name: String) -> String { directory.file(name) }

    /// Runs `coffer arguments…` and waits for it. With `signalOnceCaught`, sends that signal
    /// as soon as the process has a handler for it (its `SigCgt` in /proc), so a test of what
    /// the handler does never races the handler's installation.
    @discardableResult
    func run(
        _ arguments: [String], environment extra: [String: String] = [:], standardInput: String? = nil,
        signalOnceCaught: Int32? = nil
    ) throws -> RunResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        var environment = ["PATH": "/usr/bin:/bin"]
        environment.merge(self.environment) { _, new in new }
        environment.merge(extra) { _, new in new }
        process.environment = environment
        // Files, not pipes: a large output (a completion script) cannot fill a pipe and block.
        let outputPath = directory.file(".stdout")
        let errorPath = directory.file(".stderr")
        let inputPath = directory.file(".stdin")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        _ = FileManager.default.createFile(atPath: inputPath, contents: Data((standardInput ?? "").utf8))
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        process.standardOutput = output
        process.standardError = error
        process.standardInput = input
        try process.run()
        if let signalOnceCaught {
            let bit = UInt64(1) << UInt64(signalOnceCaught - 1)
            for _ in 0..<2000 where process.isRunning {
                let status =
                    (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
                let caught = status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }.flatMap {
                    UInt64($0.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
                }
                if let caught, caught & bit != 0 {
                    kill(process.processIdentifier, signalOnceCaught)
                    break
                }
                usleep(5000)
            }
        }
        process.waitUntilExit()
        try output.close()
        try error.close()
        try input.close()
        return RunResult(
            status: process.terminationStatus,
            standardOutput: try String(contentsOfFile: outputPath, encoding: .utf8),
            standardError: try String(contentsOfFile: errorPath, encoding: .utf8))
    }

    /// Runs `coffer` with arguments and extra environment entries given as raw bytes, for
    /// what `String`s cannot carry (bytes that are not UTF-8). Paths must be absolute.
    func runRaw(_ arguments: [[UInt8]], environment extra: [[UInt8]] = []) throws -> RunResult {
        let outputPath = directory.file(".stdout")
        let errorPath = directory.file(".stderr")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        func cStrings(_ items: [[UInt8]]) -> [UnsafeMutablePointer<CChar>?] {
            items.map { bytes in
                let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
                for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
                pointer[bytes.count] = 0
                return pointer
            } + [nil]
        }
        var environment = ["PATH": "/usr/bin:/bin"]
        environment.merge(self.environment) { _, new in new }
        var cArguments = cStrings([Array(Self.binary.utf8)] + arguments)
        var cEnvironment = cStrings(environment.map { Array("\($0.key)=\($0.value)".utf8) } + extra)
        defer { for pointer in cArguments + cEnvironment { pointer?.deallocate() } }
        var pid = pid_t()
        guard posix_spawn(&pid, Self.binary, &actions, nil, &cArguments, &cEnvironment) == 0 else {
            throw CocoaError(.executableLoad)
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
        return RunResult(
            status: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            standardOutput: try String(contentsOfFile: outputPath, encoding: .utf8),
            standardError: try String(contentsOfFile: errorPath, encoding: .utf8),
            peakResidentKilobytes: usage.ru_maxrss)
    }

    /// Runs and checks the exit status, reporting both streams when it differs.
    @discardableResult
    func expect(
        _ status: Int32, _ arguments: [String], environment extra: [String: String] = [:], standardInput: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> RunResult {
        let result = try run(arguments, environment: extra, standardInput: standardInput)
        XCTAssertEqual(
            result.status, status,
            "coffer \(arguments.joined(separator: " ")) exited \(result.status)\nstdout: \(result.standardOutput)\nstderr: \(result.standardError)",
            file: file, line: line)
        return result
    }

    /// A new vault `v.coffer` with a generated key file `v.key`, set as the default vault
    /// and key for later runs.
    func makeVault(name: String = "v") throws {
        try expect(0, ["init", "--vault", path("\(name).coffer"), "--generate-key-file", path("\(name).key")])
        environment["COFFER_VAULT"] = path("\(name).coffer")
        environment["COFFER_KEY_FILE"] = path("\(name).key")
    }

    /// A vault with an organization `acme`, projects `web` and `data`, members `alice`
    /// (admin) and `bob` (builder), and user `carol` who belongs nowhere.
    func makePopulatedVault() throws {
        try makeVault()
        try expect(0, ["org", "create", "acme", "--name", "Acme Corp."])
        try expect(0, ["project", "create", "web", "--org", "acme"])
        try expect(0, ["project", "create", "data", "--org", "acme"])
        for user in ["alice", "bob", "carol"] { try expect(0, ["user", "create", user]) }
        try expect(0, ["member", "add", "alice", "--org", "acme", "--role", "admin"])
        try expect(0, ["member", "add", "bob", "--org", "acme", "--role", "builder"])
    }

    /// The key file's bytes as hex, for `coffer-test-writer` (COFFER_TEST_KEY).
    func keyHex(_ name: String = "v.key") throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(name)))
        return data.map { String(format: "%02x", $0) }.joined()
    }

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
    }

    func write(_ name: String, text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
    }

    /// The file's modification time, to the nanosecond.
    func modificationTime(_ name: String) -> timespec {
        var information = stat()
        stat(path(name), &information)
        return information.st_mtim
    }
}

/// An in-process run of the command logic with buffers, for what a child process cannot
/// show: the terminal prompt path, with a scripted "terminal".
struct InProcessRun {
    let status: ExitStatus
    let standardOutput: String
    let standardError: String

    static func run(
        _ arguments: [String], environment: [String: String], terminalAnswers: [String]? = nil
    ) -> InProcessRun {
        let output = BufferSink()
        let error = BufferSink()
        var answers = terminalAnswers ?? []
        var prompts: [String] = []
        let context = CommandContext(
            standardOutput: output, standardError: error, environment: environment,
            standardInputIsTerminal: terminalAnswers != nil,
            promptSecret: { prompt throws(CommandFailure) in
                prompts.append(prompt)
                guard !answers.isEmpty else { throw CommandFailure(.no, code: "invalid_input", "no more answers") }
                return SecureBytes.copying(text: answers.removeFirst())
            })
        let status = CofferTool.run(arguments, in: context)
        return InProcessRun(status: status, standardOutput: output.text, standardError: error.text)
    }
}
