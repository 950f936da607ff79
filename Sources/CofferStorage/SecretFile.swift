import CofferCrypto
import CofferErrors

/// Small files that hold secrets (a key file, a passphrase file, a private key), read from
/// `read(2)` into locked memory and handed over as ``SecureBytes``, without an unprotected copy
/// (``PosixStorage/readWhole(_:maximum:)``).
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
        switch PosixStorage.readWhole(path, maximum: bytesMax) {
        case .success(let contents): return contents.secureBytes()
        case .failure(.fileTooLarge): throw CofferError(.invalidInput, "\(path) is larger than \(bytesMax) bytes.")
        case .failure(let error):
            // "PATH could not be read: REASON.", so that a caller can name the file first
            // ("The key file PATH could not be read: ..."); the code is the one place's mapping.
            throw CofferError(error.cofferError(path).code, "\(path) could not be read: \(error).")
        }
    }
}
