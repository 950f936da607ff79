import Coffer
import CofferFormat

/// A `.env` file: `KEY=VALUE` lines, as the dotenv convention has them (FORMAT.md §12.4).
/// Values are read straight from the file's bytes into ``SecureBytes``.
///
/// ```
/// # a comment
/// export EXA_API_KEY=sk-live-…          # `export ` is allowed; so is a comment after a space
/// SMTP_PASSWORD='lit$eral'              # single quotes: nothing is special
/// GCP_KEY="-----BEGIN PRIVATE KEY-----
/// MIIE…\n-----END PRIVATE KEY-----"      # double quotes: escapes, and several lines
/// ```
public enum Dotenv {
    /// One `KEY=VALUE` assignment.
    public struct Entry: Sendable {
        public var key: String
        public var value: SecureBytes
        /// The line the assignment starts on, from 1.
        public var line: Int
    }

    /// Reads every assignment of a dotenv file.
    ///
    /// The rules (D-SYNTAX): a leading UTF-8 byte-order mark is skipped; lines end with LF (a
    /// CR before it is dropped); blank lines and
    /// lines starting with `#` are comments; an assignment is an optional `export `, a key
    /// (a letter or `_`, then letters, digits, `_` and `.`), `=` with optional blanks around
    /// it, and a value:
    /// - unquoted: the rest of the line, up to a `#` that follows a blank, trailing blanks cut;
    /// - `'single'`: every byte up to the next `'`, line breaks included, no escapes;
    /// - `"double"`: up to the next unescaped `"`, line breaks included, with the escapes
    ///   `\n`, `\r`, `\t`, `\"`, `\\`, `\$` and `` \` ``; any other backslash stays as it is.
    /// After a closing quote only blanks and a comment may follow. `${VAR}` is not expanded.
    /// A key may appear once.
    ///
    /// - Throws: `.invalidInput` naming the line: a line without `=`, a bad key, a quote
    ///   never closed, text after a closing quote, a key given twice, a file that is not UTF-8.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> [Entry] {
        var parser = DotenvParser(bytes: bytes)
        return try parser.parse()
    }
}

private struct DotenvParser {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    var line = 1

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        // A byte-order mark some editors write before the first line.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
    }

    func failure(_ line: Int, _ what: String) -> CofferError {
        CofferError(.invalidInput, "The dotenv file is malformed at line \(line): \(what).")
    }

    var atEnd: Bool { position >= bytes.count }
    var current: UInt8 { bytes[position] }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    mutating func skipBlanks() {
        while !atEnd, Self.isBlank(current) { position += 1 }
    }

    /// At a line break (LF, or CR LF) or the end.
    func atLineEnd() -> Bool {
        atEnd || current == 0x0A || (current == 0x0D && position + 1 < bytes.count && bytes[position + 1] == 0x0A)
    }

    mutating func skipLineBreak() {
        if !atEnd, current == 0x0D { position += 1 }
        if !atEnd, current == 0x0A {
            position += 1
            line += 1
        }
    }

    mutating func skipToLineEnd() {
        while !atLineEnd() { position += 1 }
    }

    mutating func parse() throws(CofferError) -> [Dotenv.Entry] {
        if let offset = UTF8Check.firstInvalidOffset(bytes) {
            throw failure(UTF8Validation.line(of: offset, in: bytes), "the file is not UTF-8 text")
        }
        var entries: [Dotenv.Entry] = []
        var seen: [String: Int] = [:]
        while !atEnd {
            skipBlanks()
            if atLineEnd() {
                skipLineBreak()
                continue
            }
            if current == UInt8(ascii: "#") {
                skipToLineEnd()
                skipLineBreak()
                continue
            }
            let start = line
            if bytes[position...].starts(with: "export".utf8), position + 6 < bytes.count,
                Self.isBlank(bytes[position + 6])
            {
                position += 6
                skipBlanks()
            }
            let keyStart = position
            while !atEnd, isKeyByte(current, first: position == keyStart) { position += 1 }
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyStart..<position]), as: UTF8.self)
            skipBlanks()
            guard !key.isEmpty else {
                throw failure(
                    start,
                    "expected KEY=VALUE, where a key starts with a letter or `_` and holds letters, digits, `_` and `.`"
                )
            }
            guard !atEnd, current == UInt8(ascii: "=") else {
                // The key is not repeated: a line without `=` may be a pasted secret.
                throw failure(start, "expected `=` after the key; a key holds only letters, digits, `_` and `.`")
            }
            position += 1
            skipBlanks()
            let value = try parseValue(line: start)
            if let first = seen[key] {
                throw failure(start, "the key `\(key)` is given twice (lines \(first) and \(start)); give it once")
            }
            seen[key] = start
            guard entries.count < ExchangeLimits.importEntriesMax else {
                throw failure(
                    start,
                    "the file holds more than \(ExchangeLimits.importEntriesMax) entries, more than one import can hold"
                )
            }
            entries.append(Dotenv.Entry(key: key, value: value, line: start))
            skipLineBreak()
        }
        return entries
    }

    func isKeyByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "_"): true
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."): !first
        default: false
        }
    }

    /// The value from here; leaves the position at the end of its line.
    mutating func parseValue(line start: Int) throws(CofferError) -> SecureBytes {
        guard !atEnd else { return SecureBytes(zeroedCount: 0) }
        switch current {
        case UInt8(ascii: "'"):
            position += 1
            let valueStart = position
            while !atEnd, current != UInt8(ascii: "'") {
                if current == 0x0A { line += 1 }
                position += 1
            }
            guard !atEnd else { throw failure(start, "the single quote opened here is never closed") }
            let value = SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<position]))
            position += 1
            try expectLineEnd(start)
            return value
        case UInt8(ascii: "\""):
            position += 1
            let valueStart = position
            var count = 0
            while !atEnd, current != UInt8(ascii: "\"") {
                if current == UInt8(ascii: "\\"), position + 1 < bytes.count {
                    count += Self.escaped(bytes[position + 1]) == nil ? 2 : 1
                    if bytes[position + 1] == 0x0A { line += 1 }
                    position += 2
                    continue
                }
                if current == 0x0A { line += 1 }
                count += 1
                position += 1
            }
            guard !atEnd else { throw failure(start, "the double quote opened here is never closed") }
            let valueEnd = position
            let value = SecureBytes(count: count) { target in
                var cursor = 0
                var index = valueStart
                while index < valueEnd {
                    if bytes[index] == UInt8(ascii: "\\"), index + 1 < valueEnd,
                        let byte = Self.escaped(bytes[index + 1])
                    {
                        target[cursor] = byte
                        cursor += 1
                        index += 2
                    } else if bytes[index] == UInt8(ascii: "\\"), index + 1 < valueEnd {
                        target[cursor] = bytes[index]
                        target[cursor + 1] = bytes[index + 1]
                        cursor += 2
                        index += 2
                    } else {
                        target[cursor] = bytes[index]
                        cursor += 1
                        index += 1
                    }
                }
            }
            position += 1
            try expectLineEnd(start)
            return value
        default:
            let valueStart = position
            var end = position
            while !atLineEnd() {
                if current == UInt8(ascii: "#"), position > valueStart, Self.isBlank(bytes[position - 1]) { break }
                position += 1
                if !Self.isBlank(bytes[position - 1]) { end = position }
            }
            skipToLineEnd()
            return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<end]))
        }
    }

    /// The byte a double-quoted escape stands for, or `nil` when the backslash stays.
    static func escaped(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"): byte
        default: nil
        }
    }

    mutating func expectLineEnd(_ start: Int) throws(CofferError) {
        skipBlanks()
        if atLineEnd() { return }
        guard current == UInt8(ascii: "#") else {
            throw failure(line, "unexpected text after the closing quote of the value that starts on line \(start)")
        }
        skipToLineEnd()
    }
}
