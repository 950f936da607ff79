/// A vector file's text split (FORMAT.md F-VECTORS, and the exchange bundles' vectors): its
/// `key: value` lines in order, comments (`#`) and blank lines skipped, and the hex lines
/// after `bytes:` joined.
///
/// ```swift
/// let vector = VectorText(try String(contentsOf: url, encoding: .utf8))
/// let bytes = Hex.decode(vector.hex)!
/// ```
public struct VectorText: Sendable {
    public let lines: [(key: String, value: String)]
    public let hex: String

    public init(_ text: String) {
        var lines: [(key: String, value: String)] = []
        var hex = ""
        var inBytes = false
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if inBytes {
                hex += line
                continue
            }
            if line == "bytes:" {
                inBytes = true
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            lines.append((String(line[..<colon]), String(line[line.index(after: colon)...].dropFirst())))
        }
        self.lines = lines
        self.hex = hex
    }

    /// The values of the lines named `key`, in order.
    public func values(_ key: String) -> [String] { lines.filter { $0.key == key }.map(\.value) }
}
