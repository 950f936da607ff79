import Coffer
import CofferExchange
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Reading secrets from files and writing new key files, without unprotected copies: a
/// file's bytes go straight from `read(2)` into ``SecureBytes``.
enum SecretFiles {
    /// The largest secret file read (``SecretFile/bytesMax``).
    static let fileBytesMax = SecretFile.bytesMax

    /// Reads the whole file at `path` into secure memory.
    ///
    /// - Parameters:
    ///   - what: names the file in messages ("The key file").
    ///   - malformed: the error code for a file that is no file of its kind (a directory, too large).
    ///   - mayBeTheSecret: a name that does not exist and reads as no path is not repeated
    ///     (``looksLikeAPath(_:)``): for a key or passphrase file, whose secret may be pasted there.
    /// - Throws: a failure naming the file and saying what to do (never its contents).
    static func read(
        _ path: String, what: String, malformed: String = "invalid_input", mayBeTheSecret: Bool = false
    ) throws(CommandFailure) -> SecureBytes {
        guard !path.isEmpty else { throw CommandFailure.usage("\(what) is given as an empty path; give its path.") }
        do {
            return try SecretFile.read(path: path)
        } catch {
            var failure: CommandFailure
            switch error.code {
            case let code where mayBeTheSecret && !looksLikeAPath(path):
                // A key or passphrase pasted where its file's name goes: never repeated, whatever
                // the failure (missing, a name too long, unreadable).
                failure = CommandFailure(
                    code == .notFound ? .no : .vaultUnavailable, code: code == .notFound ? "not_found" : code.word,
                    "\(what) given could not be read (\(code == .notFound ? "no such file" : code.word)). Its name is "
                        + "not repeated: it looks like no path, and may be the secret itself. Give the path of the file."
                )
            case .notFound:
                failure = CommandFailure(.no, code: "not_found", "\(what) \(error.message)")
            case .invalidInput:
                failure = CommandFailure(.no, code: malformed, "\(what) \(error.message)")
            case .io(let number) where number == EISDIR:
                // The name given is wrong, as for a file that does not exist: the answer is "no".
                failure = CommandFailure(.no, code: malformed, "\(what) \(path) is a directory, not a file.")
            case .io(let number):
                failure = CommandFailure(.vaultUnavailable, code: "io", "\(what) \(error.message)")
                failure.systemError = number
            default:
                failure = CommandFailure(.vaultUnavailable, code: "io", "\(what) \(error.message)")
            }
            throw failure
        }
    }

    /// Whether `text`, the name of a key or passphrase file that could not be read, reads as
    /// a path rather than as a pasted key (64 hexadecimal characters, base64) or passphrase,
    /// which a message must not repeat: no blank or `=`, at most 255 bytes, and either a
    /// directory it starts from (`/`, `./`, `../`, `~/`) or a name ending in an extension
    /// (`.` and one to eight letters or digits: `team.key`, `pass.txt`).
    static func looksLikeAPath(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count <= 255, !bytes.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == UInt8(ascii: "=") })
        else { return false }
        if ["/", "./", "../", "~/"].contains(where: { text.hasPrefix($0) }) { return true }
        guard let dot = bytes.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let extensionBytes = bytes[(dot + 1)...]
        return (1...8).contains(extensionBytes.count)
            && extensionBytes.allSatisfy { TextBytes.isLetter($0) || TextBytes.isDigit($0) }
    }

    /// The 32-byte key of a key file: the file holds exactly 32 bytes, or 64 hexadecimal
    /// characters and an optional line break (``Keyslot/Secret/keyFile(contents:)``).
    ///
    /// Warns when other users may read the file.
    static func keyFile(_ path: String, in context: CommandContext) throws(CommandFailure) -> SecureBytes {
        let contents = try unlocking(
            read(path, what: "The key file", malformed: "invalid_key_file", mayBeTheSecret: true))
        warnIfOthersCanRead(path, what: "The key file", in: context)
        guard case .keyFile(let key)? = try? Keyslot.Secret.keyFile(contents: contents) else {
            throw CommandFailure(
                .vaultUnavailable, code: "invalid_key_file",
                "The key file \(path) must hold exactly 32 bytes, or 64 hexadecimal characters. Check the path.")
        }
        return key
    }

    /// A passphrase file: its contents without one trailing line break. Warns when other
    /// users may read the file.
    static func passphraseFile(_ path: String, in context: CommandContext) throws(CommandFailure) -> SecureBytes {
        let contents = try unlocking(
            read(path, what: "The passphrase file", malformed: "invalid_passphrase_file", mayBeTheSecret: true))
        warnIfOthersCanRead(path, what: "The passphrase file", in: context)
        guard case .passphrase(let passphrase)? = try? Keyslot.Secret.passphrase(contents: contents) else {
            throw CommandFailure(
                .vaultUnavailable, code: "invalid_passphrase_file", "The passphrase file \(path) is empty.")
        }
        return passphrase
    }

    /// Warns when other users may read a key or passphrase file (group or other permission
    /// bits set): the file is as secret as the vault's contents.
    static func warnIfOthersCanRead(_ path: String, what: String, in context: CommandContext) {
        var information = stat()
        guard stat(path, &information) == 0, (information.st_mode & S_IFMT) == S_IFREG,
            information.st_mode & 0o077 != 0
        else { return }
        let mode = String(information.st_mode & 0o777, radix: 8)
        context.warn("\(what) \(path) can be read by other users (mode \(mode)); restrict it with chmod 600 \(path).")
    }

    /// A key or passphrase file that cannot be read means the vault cannot be opened (exit 2),
    /// even when the file is missing; an empty path stays a usage error (64).
    private static func unlocking(_ read: @autoclosure () throws(CommandFailure) -> SecureBytes) throws(CommandFailure)
        -> SecureBytes
    {
        do {
            return try read()
        } catch {
            var failure = error
            if failure.status != .usage { failure.status = .vaultUnavailable }
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
    /// file: whole under a temporary name, synced, renamed to `path` without replacing and its
    /// directory synced (ExchangeFiles), so that the key is on disk before a vault depends on
    /// it and a crash never leaves a short key file under its name.
    static func createKeyFile(_ path: String) throws(CommandFailure) -> SecureBytes {
        let key = SecureBytes(randomCount: Keyslot.keyFileBytes)
        // Nothing may come to depend on a key a crash could still lose: one whose directory
        // could not be synced is removed.
        var failure: CofferError?
        key.withUnsafeBytes { bytes in
            do throws(CofferError) {
                try ExchangeFiles.write(bytes, to: path, replacing: false, keepingUnsynced: false)
            } catch {
                failure = error
            }
        }
        if let failure {
            if failure.code == .alreadyExists {
                throw CommandFailure(
                    .no, code: "already_exists",
                    "A file exists at \(path); a key file is never overwritten. Choose another path.")
            }
            throw CommandFailure(.vaultUnavailable, code: "io", "No key file was made: \(failure.message)")
        }
        return key
    }
}
