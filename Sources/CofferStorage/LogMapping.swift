/// The vault file mapped into memory for the records a reader opens
/// (``VaultStore/Options/mapsLog``): a reveal then copies its sealed frame from where the
/// file's pages already are, with no system call and no cache of its own, however large the
/// log. Sealed bytes only, as the file holds them; each record is copied out before it is
/// checked and opened (another writer of the file could change the mapped bytes between two
/// reads of them).
///
/// The mapping starts at the file's first byte and is made when first asked for, at least
/// ``lengthMinDefault`` long and twice as long each time the log outgrows it: the appends a mapping
/// covers show through it (a shared mapping of the file's pages), so a growing log is mapped
/// again only a few times. A mapping being replaced stays valid for the readers still holding
/// it, and is unmapped when the last lets it go.
///
/// Only bytes before the log's acknowledged end are read through it: the file holds them, and
/// nothing Coffer does cuts them (a torn tail is after them; a compaction writes another file).
/// Something else that shrinks the file, or a disk that fails to give a page, raises `SIGBUS`
/// in the reading process where a read would have returned `.io`: the trade the option names.
///
/// Where the log cannot be mapped (a shared log, a file system that maps nothing) or mapping
/// fails, ``covering(_:)`` answers nil and the reader reads the file.
final class LogMapping: @unchecked Sendable {
    private let log: any LogDevice
    private let lock = Lock()
    /// The latest mapping, from the file's first byte.
    private var current: (any StorageMapping)?
    /// Whether mapping (again) is off: the log cannot be mapped, a mapping failed, or the
    /// store was closed.
    private var stopped = false

    /// The shortest mapping made: 64 MiB of address space, not of memory (pages are the file's).
    static let lengthMinDefault = 64 << 20
    private let lengthMin: Int

    init(log: any LogDevice, lengthMin: Int = lengthMinDefault) {
        precondition(lengthMin > 0)
        self.log = log
        self.lengthMin = lengthMin
    }

    /// A mapping of at least the log's first `end` bytes, made (or made again, larger) when
    /// the last one is shorter; nil when there is none. Hold it while reading its bytes.
    func covering(_ end: UInt64) -> (any StorageMapping)? {
        lock.withLock {
            if let current, UInt64(current.bytes.count) >= end { return current }
            guard !stopped, end <= UInt64(Int.max / 2) else { return nil }
            var length = max(current?.bytes.count ?? 0, lengthMin)
            while UInt64(length) < end { length *= 2 }
            guard case .success(let mapped?) = log.mapReadOnly(length) else {
                // The mapping there is keeps serving what it covers; the rest is read.
                // (A failed mmap changed nothing: there is nothing to undo.)
                stopped = true
                return nil
            }
            current = mapped
            return mapped
        }
    }

    /// Lets the mapping go (the store is closed): unmapped once no reader holds it.
    func release() {
        lock.withLock {
            current = nil
            stopped = true
        }
    }
}
