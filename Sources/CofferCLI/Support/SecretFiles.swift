import Coffer
import CofferFormat

#if canImport(Glibc)
import Glibc
#endif

/// Reading secrets from files and writing new key files, without unprotected copies: a
/// file's bytes go straight from `read(2)` into ``SecureBytes``.
enum SecretFiles {
    /// The largest secret file read: a private key or a JSON object fits with room to spare
    /// (a field holds at most 64 KiB).
    static let fileBytesMax = 1 << 17

    /// Reads the whole file at `path` into secure memory.
    ///
    /// - Parameter what: names the file in messages ("The key file").
    /// - Throws: a failure naming the file and saying what to do (never its contents).
    static func read(_ path: String, what: String) throws(CommandFailure) -> SecureBytes {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let number = errno
            var failure = CommandFailure(
                number == ENOENT ? .no : .vaultUnavailable, code: number == ENOENT ? "not_found" : "io",
                "\(what) \(path) could not be opened: \(String(cString: strerror(number))).")
            failure.systemError = number
            throw failure
        }
        defer { close(descriptor) }
        var information = stat()
        guard fstat(descriptor, &information) == 0 else {
            throw CommandFailure(.vaultUnavailable, code: "io", "\(what) \(path) could not be read.")
        }
        let size = Int(information.st_size)
        guard size <= fileBytesMax else {
            throw CommandFailure(.no, code: "invalid_input", "\(what) \(path) is larger than \(fileBytesMax) bytes.")
        }
        // Regular files report their size; pipes and devices (`/dev/stdin`) report 0 and are
        // read up to the maximum.
        let capacity = (information.st_mode & S_IFMT) == S_IFREG ? size : fileBytesMax
        var count = 0
        var failed = false
        let buffer = SecureBytes(count: capacity) { target in
            guard let base = target.baseAddress else { return }
            while count < capacity {
                let result = Glibc.read(descriptor, base + count, capacity - count)
                if result < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                if result == 0 { break }
                count += result
            }
        }
        guard !failed else { throw CommandFailure(.vaultUnavailable, code: "io", "\(what) \(path) could not be read.") }
        if count == capacity { return buffer }
        return buffer.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// The 32-byte key of a key file: the file holds exactly 32 bytes, or 64 hexadecimal
    /// characters and an optional newline.
    static func keyFile(_ path: String) throws(CommandFailure) -> SecureBytes {
        let contents = try unlocking(read(path, what: "The key file"))
        if contents.count == Keyslot.keyFileBytes { return contents }
        let key: SecureBytes? = contents.withUnsafeBytes { bytes in
            var end = bytes.count
            if end > 0 && bytes[end - 1] == 0x0A { end -= 1 }
            if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
            guard end == Keyslot.keyFileBytes * 2 else { return nil }
            var valid = true
            let key = SecureBytes(count: Keyslot.keyFileBytes) { target in
                for index in 0..<Keyslot.keyFileBytes {
                    guard let high = nibble(bytes[2 * index]), let low = nibble(bytes[2 * index + 1]) else {
                        valid = false
                        return
                    }
                    target[index] = high << 4 | low
                }
            }
            return valid ? key : nil
        }
        guard let key else {
            throw CommandFailure(
                .vaultUnavailable, code: "invalid_key_file",
                "The key file \(path) must hold exactly 32 bytes, or 64 hexadecimal characters. Check the path.")
        }
        return key
    }

    /// A passphrase file: its contents without one trailing line break.
    static func passphraseFile(_ path: String) throws(CommandFailure) -> SecureBytes {
        let contents = try withoutTrailingLineBreak(unlocking(read(path, what: "The passphrase file")))
        guard contents.count > 0 else {
            throw CommandFailure(.vaultUnavailable, code: "invalid_passphrase_file", "The passphrase file \(path) is empty.")
        }
        return contents
    }

    /// A key or passphrase file that cannot be read means the vault cannot be opened (exit 2),
    /// even when the file is missing.
    private static func unlocking(_ read: @autoclosure () throws(CommandFailure) -> SecureBytes) throws(CommandFailure) -> SecureBytes {
        do {
            return try read()
        } catch {
            var failure = error
            failure.status = .vaultUnavailable
            throw failure
        }
    }

    /// `value` without one final `\n` or `\r\n`.
    static func withoutTrailingLineBreak(_ value: SecureBytes) -> SecureBytes {
        value.withUnsafeBytes { bytes in
            var end = bytes.count
            if end > 0 && bytes[end - 1] == 0x0A {
                end -= 1
                if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
            }
            return end == bytes.count ? value : SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
        }
    }

    /// Writes a new key file of 32 random bytes with mode 0600, refusing to replace any
    /// file, and syncs it and its directory so that the key is on disk before a vault
    /// depends on it.
    static func createKeyFile(_ path: String) throws(CommandFailure) -> SecureBytes {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let number = errno
            if number == EEXIST {
                throw CommandFailure(.no, code: "already_exists", "A file exists at \(path); a key file is never overwritten. Choose another path.")
            }
            throw CommandFailure(.vaultUnavailable, code: "io", "The key file \(path) could not be created: \(String(cString: strerror(number))).")
        }
        defer { close(descriptor) }
        let key = SecureBytes(randomCount: Keyslot.keyFileBytes)
        let written = key.withUnsafeBytes { bytes in
            FileDescriptorSink(descriptor: descriptor).write(bytes)
            return fsync(descriptor) == 0
        }
        var information = stat()
        guard written, fstat(descriptor, &information) == 0, information.st_size == Keyslot.keyFileBytes else {
            unlink(path)
            throw CommandFailure(.vaultUnavailable, code: "io", "The key file \(path) could not be written.")
        }
        syncDirectory(containing: path)
        return key
    }

    /// Syncs the directory holding `path`, so a new entry survives a crash.
    static func syncDirectory(containing path: String) {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let descriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
