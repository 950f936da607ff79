extension String {
    /// Calls `body` with the string's UTF-8 where the string keeps it (a native string's, as
    /// every string on Linux is), else in a copy: reading it costs no walk of its views.
    func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return copy.withUTF8(body)
    }
}
