import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What /proc says about this process and this machine.
public enum ProcessFacts {
    /// Resident set size in bytes (VmRSS in /proc/self/status).
    public static func residentBytes() -> Int { statusBytes("VmRSS:") }

    /// Peak resident set size in bytes (VmHWM in /proc/self/status).
    public static func peakResidentBytes() -> Int { statusBytes("VmHWM:") }

    /// Starts the peak over from the current resident size (`5` to /proc/self/clear_refs).
    public static func resetPeakResidentBytes() {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = write(descriptor, "5", 1)
        close(descriptor)
    }

    private static func statusBytes(_ prefix: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(prefix) {
            let number = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return number * 1024
        }
        return 0
    }

    /// The 1, 5 and 15 minute load averages.
    public static func loadAverage() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        _ = getloadavg(&loads, 3)
        return loads
    }

    /// The CPU model from /proc/cpuinfo.
    public static func cpuModel() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
                ?? "unknown"
        }
        return "unknown"
    }

    /// Online CPUs.
    public static func cores() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Total memory in bytes.
    public static func memoryBytes() -> Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The size of the file at `path`, or 0.
    public static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Runs a command and returns its standard output (for `df`, `lsblk`, `uname`).
    public static func run(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Syncs the file at `path` to stable storage (fdatasync), as a bulk load's final step.
    public static func syncFile(_ path: String) {
        let descriptor = open(path, O_RDONLY)
        precondition(descriptor >= 0, "cannot open \(path) to sync it")
        precondition(fdatasync(descriptor) == 0, "fdatasync failed on \(path)")
        close(descriptor)
    }

    /// Syncs the directory that holds `path`.
    public static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    /// Removes a file if it exists.
    public static func remove(_ path: String) {
        _ = unlink(path)
    }
}

/// `--name value` and `--flag` arguments.
public struct Arguments: Sendable {
    public let values: [String: String]
    public let flags: Set<String>
    public let positional: [String]

    public init(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        var values: [String: String] = [:]
        var flags: Set<String> = []
        var positional: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                let name = String(argument.dropFirst(2))
                if let equals = name.firstIndex(of: "=") {
                    values[String(name[..<equals])] = String(name[name.index(after: equals)...])
                } else if index + 1 < arguments.count, !arguments[index + 1].hasPrefix("--") {
                    values[name] = arguments[index + 1]
                    index += 1
                } else {
                    flags.insert(name)
                }
            } else {
                positional.append(argument)
            }
            index += 1
        }
        self.values = values
        self.flags = flags
        self.positional = positional
    }

    public func string(_ name: String, default value: String) -> String { values[name] ?? value }
    public func int(_ name: String, default value: Int) -> Int { values[name].flatMap(Int.init) ?? value }
    public func has(_ name: String) -> Bool { flags.contains(name) || values[name] != nil }
}

/// Hexadecimal text of bytes.
public func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Bytes of hexadecimal text.
public func bytes(fromHex text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        bytes.append(nibble(high) << 4 | nibble(low))
    }
    return bytes
}
