/// Reading what people type — paths, URLs, durations — a byte at a time, without Foundation.
enum TextBytes {
    /// Whether `byte` is an ASCII letter, in either case.
    static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    /// Whether `byte` is an ASCII digit.
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The directory `path` names a file in and the file's name: `.` for a bare name, `/` for
    /// a name at the root (`/vault.coffer`).
    static func directoryAndName(of path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        return (directory, String(path[path.index(after: slash)...]))
    }
}
