import CofferCrypto
import CofferErrors
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A child process of a test: standard input from /dev/null, standard output and error into
/// files, no other descriptor of the test process (so that a child, or a server it starts,
/// holds only what it opened itself), and a wait that cannot hang.
///
/// posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit was seen to
/// miss the child's exit here and hang.
final class ChildProcess {
    let pid: pid_t
    let name: String
    let outputPath: String
    let errorPath: String
    /// The exit status once reaped (or 128 + signal).
    private(set) var status: Int32?

    /// Starts `executable` with `arguments` (not counting argv[0]). Its output files are
    /// removed when this object goes.
    ///
    /// - Parameter environment: The child's whole environment.
    init(_ executable: String, _ arguments: [String], name: String, environment: [String: String]) throws {
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.name = name
        self.outputPath = NSTemporaryDirectory() + "coffer-child-\(name)-\(unique).out"
        self.errorPath = NSTemporaryDirectory() + "coffer-child-\(name)-\(unique).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, self.outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // The test process holds descriptors it did not mark close-on-exec (socket pairs among
        // them); a child must not inherit them, nor pass them on to a server it starts.
        guard Self.addCloseFrom(&actions, 3) == 0 else {
            throw CofferError(.io(errno: EINVAL), "posix_spawn_file_actions_addclosefrom_np is missing.")
        }
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var cEnvironment: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in cEnvironment { free(entry) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw CofferError(.io(errno: spawned), "Cannot start \(executable).") }
        self.pid = pid
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = reap(blocking: true)
        }
        unlink(outputPath)
        unlink(errorPath)
    }

    /// What the child wrote to standard output.
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// What the child wrote to standard error.
    var errorOutput: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Waits for the child to exit, at most `seconds`; its exit status, or 128 + signal.
    ///
    /// When the deadline passes, the test fails with what the child was doing (its state,
    /// wait channel, descriptors, the end of its standard error, and its threads' stacks when
    /// gdb is installed), the child is killed, and 128 + SIGKILL is returned.
    @discardableResult
    func wait(seconds: Double = 120, file: StaticString = #filePath, line: UInt = #line) -> Int32 {
        if let status { return status }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let status = reap(blocking: false) { return status }
            usleep(20_000)
        }
        XCTFail("\(name) (pid \(pid)) did not exit within \(Int(seconds)) s:\n\(describe())", file: file, line: line)
        kill(pid, SIGKILL)
        return reap(blocking: true) ?? 128 + SIGKILL
    }

    /// The child's state, for a failure message.
    func describe() -> String {
        var lines: [String] = []
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if let close = stat.lastIndex(of: ")") {
            lines.append("state \(stat[stat.index(close, offsetBy: 2)...].prefix(1))")
        }
        if let channel = try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8) {
            lines.append("waiting in \(channel)")
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        lines.append("\(descriptors.count) open descriptors, \(openSockets) of them sockets")
        lines.append(
            "standard error ends with:\n" + errorOutput.split(separator: "\n").suffix(20).joined(separator: "\n"))
        if let stacks = Self.stacks(of: pid) { lines.append("threads:\n" + stacks) }
        return lines.joined(separator: "\n")
    }

    /// How many sockets the child holds open now.
    var openSockets: Int {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return descriptors.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))?.hasPrefix("socket:")
                ?? false
        }.count
    }

    private func reap(blocking: Bool) -> Int32? {
        var raw: Int32 = 0
        while true {
            let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
            if result == -1 && errno == EINTR { continue }
            guard result == pid else { return nil }
            let value = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            status = value
            return value
        }
    }

    /// The stacks of every thread of `pid`, through gdb when it is installed.
    private static func stacks(of pid: pid_t) -> String? {
        guard access("/usr/bin/gdb", X_OK) == 0,
            let child = try? ChildProcess(
                "/usr/bin/timeout",
                [
                    "60", "/usr/bin/gdb", "-p", String(pid), "-batch", "-nx", "-ex", "set pagination off", "-ex",
                    "thread apply all bt 20",
                ], name: "gdb", environment: ["PATH": "/usr/bin:/bin"])
        else { return nil }
        _ = child.reap(blocking: true)
        return child.output.split(separator: "\n").filter { $0.hasPrefix("Thread") || $0.hasPrefix("#") }
            .prefix(200).joined(separator: "\n")
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Glibc
    /// module does not import.
    private static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 =
        {
            guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
                return { _, _ in -1 }
            }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()
}
