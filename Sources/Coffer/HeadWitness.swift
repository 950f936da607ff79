import CofferFormat
import CofferStorage

/// Where a writer leaves the vault's head after every acknowledged change, kept apart from
/// the vault (another disk, a configuration store): every open checks that the vault still
/// holds it (FORMAT.md F-HEAD, F-LINEAGE), so a vault truncated or put back to an older copy
/// is refused, readers included, and a writer never appends to a log older than the witness.
public protocol HeadWitness: Sendable {
    /// The head last left; nil when none was left yet.
    /// - Throws: when the witness holds something that is not a head, or cannot be read.
    func read() throws(CofferError) -> ChainHead?
    /// Leaves `head`, replacing what was there.
    func record(_ head: ChainHead) throws(CofferError)
}

/// A head witness in a file: the head as `coffer head` prints it, one line, replaced whole
/// (written beside it with mode 0600, synced, renamed over it), so a crash leaves the old head
/// or the new one. Losing the newest update to a crash leaves an older head, which the vault
/// still holds: the check stays sound.
public struct HeadWitnessFile: HeadWitness {
    public let path: String
    private let storage: any StorageSystem

    public init(path: String, storage: any StorageSystem = PosixStorage()) {
        self.path = path
        self.storage = storage
    }

    public func read() throws(CofferError) -> ChainHead? {
        let file: any StorageFile
        switch storage.open(path, mode: .readOnly) {
        case .failure(let error) where error.number == SystemError.noSuchFileOrDirectory.number: return nil
        case .failure(let error): throw error.cofferError("Opening the head file \(path)")
        case .success(let opened): file = opened
        }
        defer { file.close() }
        var bytes = [UInt8](repeating: 0, count: 256)
        let count: Int
        switch bytes.withUnsafeMutableBytes({ file.read(into: $0, at: 0) }) {
        case .failure(let error): throw error.cofferError("Reading the head file \(path)")
        case .success(let read): count = read
        }
        let text = String(decoding: bytes[0..<count], as: UTF8.self).trimmingWhiteSpace
        guard count < bytes.count, let head = ChainHead(parsing: text) else {
            throw CofferError(
                .invalidInput,
                "The head file \(path) does not hold a head (GENERATION:SEQUENCE:HEX as `coffer head` prints it). "
                    + "Nothing was opened; put the vault's head there, or remove the file to start again.")
        }
        return head
    }

    public func record(_ head: ChainHead) throws(CofferError) {
        let temporary = "\(path).tmp-\(Hex.encode(RandomBytes.make(8)))"
        let file: any StorageFile
        switch storage.open(temporary, mode: .createNew) {
        case .failure(let error): throw error.cofferError("Creating a file beside the head file \(path)")
        case .success(let opened): file = opened
        }
        let bytes = Array((head.description + "\n").utf8)
        var result = bytes.withUnsafeBytes { file.write($0, at: 0) }
        if case .success = result { result = file.sync() }
        file.close()
        if case .success = result { result = storage.rename(temporary, to: path) }
        if case .failure(let error) = result {
            _ = storage.remove(temporary)
            throw error.cofferError("Writing the head file \(path)")
        }
    }
}

extension String {
    fileprivate var trimmingWhiteSpace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
