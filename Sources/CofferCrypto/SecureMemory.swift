import CSodium

#if canImport(Glibc)
    import Glibc
#endif

/// The memory behind every ``SecureBytes``: slots carved from a few large regions that are
/// locked (`mlock`) and kept out of core dumps (`MADV_DONTDUMP`) once, when the region is
/// mapped, instead of once per secret.
///
/// Locking each small allocation on its own costs two system calls per secret, and each
/// splits and merges the heap's mapping under the process-wide mmap lock: opening a vault
/// made seven of them per record and spent most of its time there. A slot is a power of two
/// from ``slotBytesMin`` to ``slotBytesMax``; larger secrets get a mapping of their own.
///
/// Invariants: a slot on a free list is all zero except for the free-list link in its first
/// word, which ``allocate(_:)`` clears before handing the slot out; a released slot is zeroed
/// in full before it goes back on the list. Regions are never unmapped: a process holds at
/// most as much locked memory as its peak of live secrets, rounded up to regions.
enum SecureMemory {
    /// The smallest slot; it holds the free-list link.
    static let slotBytesMin = 32
    /// The largest slot carved from a shared region; bigger secrets are mapped alone.
    static let slotBytesMax = 16 * 1024
    /// The size of each region a size class maps when its free list runs dry.
    static let regionBytes = 256 * 1024

    /// Memory handed out for one secret.
    struct Allocation {
        let pointer: UnsafeMutableRawPointer
        /// The bytes reserved: the slot size, or the page-rounded size of a lone mapping.
        let capacity: Int
        /// Whether the operating system agreed to keep these bytes out of swap.
        let isLocked: Bool
    }

    /// Returns zeroed memory for `count` bytes (at least one byte is reserved).
    static func allocate(_ count: Int) -> Allocation {
        let wanted = max(count, 1)
        guard wanted <= slotBytesMax else { return mapAlone(wanted) }
        return classes[sizeClass(for: wanted)]._withUnsafeGuaranteedRef { $0.allocate() }
    }

    /// Zeroes the whole capacity and gives the memory back.
    static func release(_ allocation: Allocation) {
        sodium_memzero(allocation.pointer, allocation.capacity)
        if allocation.capacity > slotBytesMax {
            if allocation.isLocked { munlock(allocation.pointer, allocation.capacity) }
            munmap(allocation.pointer, allocation.capacity)
            return
        }
        classes[sizeClass(for: allocation.capacity)]._withUnsafeGuaranteedRef { $0.release(allocation.pointer) }
    }

    /// The index of the smallest class whose slot holds `count` bytes.
    static func sizeClass(for count: Int) -> Int {
        precondition(count > 0 && count <= slotBytesMax)
        if count <= slotBytesMin { return 0 }
        // The number of bits of (count - 1) is log2 of the next power of two.
        let bits = Int.bitWidth - (count - 1).leadingZeroBitCount
        return bits - slotBytesMin.trailingZeroBitCount
    }

    /// The slot size of each class: 32, 64, …, 16,384 bytes. Made once and never freed, and
    /// held unmanaged: every secret's allocation and release reaches its class without
    /// counting a reference to it or to an array of them (two atomic operations each). Never
    /// written after it is made, so any thread may read it (`nonisolated(unsafe)`); each
    /// class guards its free list with its own mutex.
    nonisolated(unsafe) static let classes: UnsafeBufferPointer<Unmanaged<SizeClass>> = {
        var made: [Unmanaged<SizeClass>] = []
        var slot = slotBytesMin
        while slot <= slotBytesMax {
            made.append(Unmanaged.passRetained(SizeClass(slotBytes: slot)))
            slot *= 2
        }
        let table = UnsafeMutableBufferPointer<Unmanaged<SizeClass>>.allocate(capacity: made.count)
        _ = table.initialize(from: made)
        return UnsafeBufferPointer(table)
    }()

    /// Maps, locks and marks `bytes` (rounded up to pages); `nil` only when the mapping fails.
    static func mapRegion(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, isLocked: Bool)? {
        let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let memory, memory != MAP_FAILED else { return nil }
        // mlock can fail under RLIMIT_MEMLOCK: the bytes are still zeroed on release, and the
        // failure is reported once (MemoryLocking).
        let isLocked = mlock(memory, bytes) == 0
        if !isLocked { MemoryLocking.recordFailure(errno: errno) }
        _ = madvise(memory, bytes, MADV_DONTDUMP)
        return (memory, isLocked)
    }

    private static func mapAlone(_ count: Int) -> Allocation {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let capacity = (count + page - 1) / page * page
        guard let region = mapRegion(capacity) else { preconditionFailure("out of memory") }
        return Allocation(pointer: region.pointer, capacity: capacity, isLocked: region.isLocked)
    }

    /// The free slots of one size, behind a mutex of their own.
    final class SizeClass: @unchecked Sendable {
        let slotBytes: Int
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        /// The first free slot; its first word points to the next.
        private var freeList: UnsafeMutableRawPointer?
        /// Whether every region of this class so far was locked.
        private var regionsLocked = true

        init(slotBytes: Int) {
            self.slotBytes = slotBytes
            mutex = .allocate(capacity: 1)
            mutex.initialize(to: pthread_mutex_t())
            precondition(pthread_mutex_init(mutex, nil) == 0)
        }

        func allocate() -> Allocation {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            if freeList == nil { carveRegion() }
            guard let slot = freeList else { preconditionFailure("out of memory") }
            freeList = slot.load(as: UnsafeMutableRawPointer?.self)
            slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
            return Allocation(pointer: slot, capacity: slotBytes, isLocked: regionsLocked)
        }

        /// Takes back a slot the caller has already zeroed.
        func release(_ slot: UnsafeMutableRawPointer) {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            slot.storeBytes(of: freeList, as: UnsafeMutableRawPointer?.self)
            freeList = slot
        }

        /// Maps a new region and threads its slots onto the free list (the lock is held).
        private func carveRegion() {
            let bytes = max(SecureMemory.regionBytes, slotBytes)
            guard let region = SecureMemory.mapRegion(bytes) else { return }
            regionsLocked = regionsLocked && region.isLocked
            var offset = bytes - slotBytes
            while offset >= 0 {
                let slot = region.pointer.advanced(by: offset)
                slot.storeBytes(of: freeList, as: UnsafeMutableRawPointer?.self)
                freeList = slot
                offset -= slotBytes
            }
        }
    }
}
