#if canImport(Glibc)
    import Glibc
#endif

/// Scratch memory for a decoder, large blocks mapped apart from the heap: once the body
/// returns, their pages go back to the system at once. A heap block of a few megabytes would
/// stay resident after it is freed (glibc keeps blocks below its mmap threshold, which rises to
/// 32 MiB as large blocks are freed, for reuse): building a million-credential index from a
/// checkpoint left about 12 bytes a credential of such scratch resident. Small blocks come
/// from the heap: a mapping costs two system calls, which made decoding small checkpoints
/// (the fuzzer's) three times slower.
enum ScratchBuffer {
    /// Blocks of this many bytes and more are mapped apart.
    static let mappedBytesMin = 1 << 20

    /// Runs `body` on `count` uninitialized elements, released when it returns.
    static func with<Element: BitwiseCopyable, Result>(
        _: Element.Type, count: Int, _ body: (UnsafeMutableBufferPointer<Element>) throws -> Result
    ) rethrows -> Result {
        let byteCount = max(1, count) * MemoryLayout<Element>.stride
        guard byteCount >= mappedBytesMin else {
            return try withUnsafeTemporaryAllocation(of: Element.self, capacity: max(1, count)) { buffer in
                try body(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        let mapped = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        // As a Swift array's allocation does, running out of memory stops the process.
        guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            preconditionFailure("no memory for \(byteCount) bytes of scratch")
        }
        defer { munmap(mapped, byteCount) }
        return try body(
            UnsafeMutableBufferPointer(start: mapped.bindMemory(to: Element.self, capacity: count), count: count))
    }
}
