/// One system call in a trace written by `strace -f -y -xx -qq -o FILE`: every string and
/// every path is printed as `\xHH` escapes, file descriptors carry their path (`3<\x2f…>`).
public struct TracedCall: Equatable, Sendable {
    /// One argument of a call.
    public enum Argument: Equatable, Sendable {
        /// A quoted string: its bytes.
        case bytes([UInt8])
        /// A number, or a file descriptor with the path `-y` printed for it.
        case number(Int64, path: String?)
        /// Anything else (flags, structures), as printed.
        case other(String)
    }

    public var process: Int
    public var name: String
    public var arguments: [Argument]
    /// The return value: -1 with an errno name for a failure.
    public var result: Int64
    /// The path `-y` printed after a returned file descriptor.
    public var resultPath: String?

    public var failed: Bool { result < 0 }

    public func bytes(_ index: Int) -> [UInt8]? {
        guard index < arguments.count, case .bytes(let bytes) = arguments[index] else { return nil }
        return bytes
    }

    public func string(_ index: Int) -> String? { bytes(index).map { String(decoding: $0, as: UTF8.self) } }

    public func number(_ index: Int) -> Int64? {
        guard index < arguments.count, case .number(let value, _) = arguments[index] else { return nil }
        return value
    }

    /// The path printed for a descriptor argument (`AT_FDCWD<…>` included).
    public func descriptorPath(_ index: Int) -> String? {
        guard index < arguments.count else { return nil }
        switch arguments[index] {
        case .number(_, let path): return path
        case .other(let text):
            guard let open = text.firstIndex(of: "<"), text.hasSuffix(">") else { return nil }
            return TraceParser.unescape(text[text.index(after: open)..<text.index(before: text.endIndex)])
                .map { String(decoding: $0, as: UTF8.self) }
        default: return nil
        }
    }

    public func flags(_ index: Int) -> Set<Substring> {
        guard index < arguments.count, case .other(let text) = arguments[index] else { return [] }
        return Set(text.split(separator: "|"))
    }
}

/// Why a trace could not be read.
public struct TraceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads the lines of an strace output file into calls, joining the halves of a call that
/// another thread's call interrupted (`<unfinished ...>` … `<... NAME resumed>`).
public enum TraceParser {
    public static func parse(_ text: String) throws -> [TracedCall] {
        var calls: [TracedCall] = []
        var unfinished: [Int: String] = [:]
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = Substring(rawLine)
            guard let space = line.firstIndex(of: " "), let process = Int(line[..<space]) else {
                throw TraceError("a line without a process id: \(rawLine.prefix(80))")
            }
            // strace pads the process id to a width of its own.
            line = line[line.index(after: space)...].drop { $0 == " " }
            if line.hasPrefix("---") || line.hasPrefix("+++") { continue }
            if let cut = line.firstRange(of: " <unfinished ...>") {
                unfinished[process] = String(line[..<cut.lowerBound])
                continue
            }
            if line.hasPrefix("<... ") {
                guard let start = unfinished.removeValue(forKey: process),
                    let resumed = line.firstRange(of: " resumed>")
                else {
                    throw TraceError("a resumed call that never started: \(rawLine.prefix(80))")
                }
                line = Substring(start + line[resumed.upperBound...])
            }
            calls.append(try parseCall(line, process: process))
        }
        return calls
    }

    static func parseCall(_ line: Substring, process: Int) throws -> TracedCall {
        // strace pads a short line, or the resumed half of a call, before ` = RESULT`.
        guard let open = line.firstIndex(of: "("), let equals = line.ranges(of: " = ").last else {
            throw TraceError("not a call: \(line.prefix(80))")
        }
        let arguments = line[..<equals.lowerBound].reversed().drop { $0 == " " }
        guard arguments.first == ")", open < arguments.startIndex.base else {
            throw TraceError("not a call: \(line.prefix(80))")
        }
        let name = String(line[..<open])
        let argumentText = line[line.index(after: open)..<arguments.dropFirst().startIndex.base]
        var resultText = line[equals.upperBound...]
        if let space = resultText.firstIndex(of: " ") { resultText = resultText[..<space] }
        var resultPath: String?
        if let angle = resultText.firstIndex(of: "<") {
            let pathText = line[equals.upperBound...].drop { $0 != "<" }.dropFirst()
            if let close = pathText.lastIndex(of: ">") {
                resultPath = unescape(pathText[..<close]).map { String(decoding: $0, as: UTF8.self) }
            }
            resultText = resultText[..<angle]
        }
        // `= ?`: the process ended during the call, whose outcome strace could not see.
        if resultText == "?" {
            if name == "close" {
                return TracedCall(process: process, name: name, arguments: [], result: -1, resultPath: nil)
            }
            throw TraceError("\(name) whose outcome strace could not see (the process ended during it)")
        }
        guard let result = Int64(resultText) else {
            throw TraceError("\(name): a result that is not a number: \(resultText.prefix(40))")
        }
        return TracedCall(
            process: process, name: name, arguments: try splitArguments(argumentText).map(argument), result: result,
            resultPath: resultPath)
    }

    /// Splits at the commas outside strings, brackets and braces.
    static func splitArguments(_ text: Substring) throws -> [Substring] {
        var parts: [Substring] = []
        var depth = 0
        var inString = false
        var start = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if inString {
                if character == "\\" {
                    index = text.index(after: index)
                } else if character == "\"" {
                    inString = false
                }
            } else {
                switch character {
                case "\"": inString = true
                case "[", "{", "(", "<": depth += 1
                case "]", "}", ")", ">": depth -= 1
                case "," where depth == 0:
                    parts.append(text[start..<index])
                    start = text.index(after: index)
                default: break
                }
            }
            index = text.index(after: index)
        }
        if start < text.endIndex { parts.append(text[start...]) }
        return parts.map { $0.drop { $0 == " " } }
    }

    static func argument(_ text: Substring) throws -> TracedCall.Argument {
        if text.hasPrefix("\"") {
            guard text.hasSuffix("\""), text.count >= 2 else {
                throw TraceError("a string strace cut short (raise -s): \(text.prefix(40))")
            }
            guard let bytes = unescape(text.dropFirst().dropLast()) else {
                throw TraceError("a string not printed as \\x escapes (run strace with -xx)")
            }
            return .bytes(bytes)
        }
        let numberText = text.prefix { $0 != "<" }
        if let value = Int64(numberText) {
            var path: String?
            if numberText.count < text.count, text.hasSuffix(">") {
                path = unescape(text.dropFirst(numberText.count + 1).dropLast()).map {
                    String(decoding: $0, as: UTF8.self)
                }
            }
            return .number(value, path: path)
        }
        return .other(String(text))
    }

    /// `\xHH\xHH…` to bytes; nil for anything else. A path `-y` printed for a pipe or socket
    /// (`pipe:[…]`) is not escaped: nil too.
    static func unescape(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 4)
        var iterator = text.utf8.makeIterator()
        while let backslash = iterator.next() {
            guard backslash == UInt8(ascii: "\\"), iterator.next() == UInt8(ascii: "x"),
                let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
