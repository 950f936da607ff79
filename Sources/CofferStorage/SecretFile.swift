import CofferCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// Small files that hold secrets (a key file, a passphrase file, a private key), read straight
/// from `read(2)` into ``SecureBytes`` without an unprotected copy.
public enum SecretFile {
    /// The largest secret file read: a private key or a JSON object fits with room to spare
    /// (a field holds at most 64 KiB).
    public static let bytesMax = 1 << 17

    /// Reads the whole file at `path` (a regular file, or a pipe or device such as
    /// `/dev/stdin`, read up to ``bytesMax``).
    ///
    /// - Throws: `CofferError(.notFound)` when there is no such file, `.invalidInput` when it
    ///   is larger than ``bytesMax``, `.io` when it cannot be read. Messages name the path,
    ///   never the contents.
    public static func read(path: String) throws(CofferError) -> SecureBytes {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let number = errno
            throw CofferError(
                number == ENOENT ? .notFound : .io(errno: number),
                "\(path) could not be opened: \(String(cString: strerror(number))).")
        }
        defer { close(descriptor) }
        var information = stat()
        guard fstat(descriptor, &information) == 0 else {
            throw CofferError(.io(errno: errno), "\(path) could not be read.")
        }
        let size = Int(information.st_size)
        guard size <= bytesMax else {
            throw CofferError(.invalidInput, "\(path) is larger than \(bytesMax) bytes.")
        }
        // Regular files report their size; pipes and devices report 0 and are read up to the
        // maximum.
        let capacity = (information.st_mode & S_IFMT) == S_IFREG ? size : bytesMax
        var count = 0
        var failure: Int32 = 0
        let buffer = SecureBytes(count: capacity) { target in
            guard let base = target.baseAddress else { return }
            while count < capacity {
                let result = Glibc.read(descriptor, base + count, capacity - count)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if result == 0 { break }
                count += result
            }
        }
        guard failure == 0 else { throw CofferError(.io(errno: failure), "\(path) could not be read.") }
        if count == capacity { return buffer }
        return buffer.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }
}
