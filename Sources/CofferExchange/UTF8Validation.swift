import CofferFormat

/// UTF-8 checks over bytes that may be secret: nothing is copied into a `String`. The checks
/// themselves are `UTF8Check`'s; this says where a file's first bad byte is.
enum UTF8Validation {
    /// The line (from 1) that holds byte `offset`.
    static func line(of offset: Int, in bytes: UnsafeRawBufferPointer) -> Int {
        1 + bytes[0..<min(offset, bytes.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}
