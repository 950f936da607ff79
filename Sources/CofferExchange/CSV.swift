import Coffer
import CofferFormat

/// Comma-separated values as RFC 4180 has them, over bytes that may be secret: fields are
/// ranges of the input, decoded on demand into a `String` (metadata) or straight into
/// ``SecureBytes`` (a password, notes).
///
/// Records end with CRLF or LF; the last may end without one. A field is either unquoted
/// (no `"` in it) or quoted, where `""` stands for one quote and commas and line breaks are
/// data. Every record has as many fields as the first (the header).
struct CSVTable {
    struct Field {
        /// The bytes between the quotes, or of the whole unquoted field.
        let range: Range<Int>
        /// Whether it holds `""` pairs to turn into one `"` each.
        let hasDoubledQuotes: Bool
    }

    struct Record {
        /// The line the record starts on, from 1.
        let line: Int
        let fields: [Field]
    }

    let bytes: UnsafeRawBufferPointer
    let records: [Record]

    /// Parses a whole file.
    ///
    /// - Throws: `.invalidInput` naming the line (and field) of the first error: a quote in
    ///   an unquoted field, text after a closing quote, a quote never closed, a record with
    ///   another number of fields than the header, bytes that are not UTF-8.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> CSVTable {
        if let offset = UTF8Check.firstInvalidOffset(bytes) {
            throw failure(UTF8Validation.line(of: offset, in: bytes), "the file is not UTF-8 text")
        }
        var records: [Record] = []
        var position = 0
        var line = 1
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
        while position < bytes.count {
            let recordLine = line
            var fields: [Field] = []
            recordLoop: while true {
                let fieldNumber = fields.count + 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
                    let openLine = line
                    position += 1
                    let start = position
                    var doubled = false
                    while true {
                        guard position < bytes.count else {
                            throw failure(
                                openLine, "the quoted field \(fieldNumber) opened on this line is never closed")
                        }
                        let byte = bytes[position]
                        if byte == UInt8(ascii: "\"") {
                            if position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "\"") {
                                doubled = true
                                position += 2
                                continue
                            }
                            break
                        }
                        if byte == 0x0A { line += 1 }
                        position += 1
                    }
                    fields.append(Field(range: start..<position, hasDoubledQuotes: doubled))
                    position += 1  // the closing quote
                    guard position >= bytes.count || [UInt8(ascii: ","), 0x0A, 0x0D].contains(bytes[position]) else {
                        throw failure(line, "field \(fieldNumber) has text after its closing quote")
                    }
                } else {
                    let start = position
                    while position < bytes.count, ![UInt8(ascii: ","), 0x0A, 0x0D].contains(bytes[position]) {
                        if bytes[position] == UInt8(ascii: "\"") {
                            throw failure(line, "field \(fieldNumber) holds a quote but does not start with one")
                        }
                        position += 1
                    }
                    fields.append(Field(range: start..<position, hasDoubledQuotes: false))
                }
                // After a field: a comma, a line break, or the end.
                if position >= bytes.count { break recordLoop }
                switch bytes[position] {
                case UInt8(ascii: ","):
                    position += 1
                case 0x0D:
                    guard position + 1 < bytes.count, bytes[position + 1] == 0x0A else {
                        throw failure(line, "a carriage return outside quotes is not followed by a line feed")
                    }
                    position += 2
                    line += 1
                    break recordLoop
                default:
                    position += 1
                    line += 1
                    break recordLoop
                }
            }
            if let header = records.first, fields.count != header.fields.count {
                throw failure(
                    recordLine, "the record has \(fields.count) fields where the header has \(header.fields.count)")
            }
            // The header and one record per entry, each entry at least one operation (I-LIMITS).
            guard records.count <= ExchangeLimits.importEntriesMax else {
                throw failure(
                    recordLine,
                    "the file holds more than \(ExchangeLimits.importEntriesMax) entries, more than one import can hold"
                )
            }
            records.append(Record(line: recordLine, fields: fields))
        }
        return CSVTable(bytes: bytes, records: records)
    }

    static func failure(_ line: Int, _ what: String) -> CofferError {
        CofferError(.invalidInput, "The CSV is malformed at line \(line): \(what).")
    }

    /// A field as text (metadata: a group, a title, a URL).
    func text(_ field: Field) -> String {
        guard field.hasDoubledQuotes else {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.range]), as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(field.range.count)
        var index = field.range.lowerBound
        while index < field.range.upperBound {
            decoded.append(bytes[index])
            index += bytes[index] == UInt8(ascii: "\"") ? 2 : 1
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// A field's bytes in protected memory (a password, notes).
    func secret(_ field: Field) -> SecureBytes {
        guard field.hasDoubledQuotes else {
            return SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[field.range]))
        }
        var count = 0
        var index = field.range.lowerBound
        while index < field.range.upperBound {
            count += 1
            index += bytes[index] == UInt8(ascii: "\"") ? 2 : 1
        }
        return SecureBytes(count: count) { target in
            var cursor = 0
            var index = field.range.lowerBound
            while index < field.range.upperBound {
                target[cursor] = bytes[index]
                cursor += 1
                index += bytes[index] == UInt8(ascii: "\"") ? 2 : 1
            }
        }
    }
}
