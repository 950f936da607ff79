import CofferStorage

/// A storage system that passes each of its own calls to another, for a test that changes one
/// behaviour: a subclass overrides that call, or ``wrap(_:)`` to hand out files of its own
/// (``ForwardingFile``). The log medium's calls are not passed on: they are the
/// `StorageSystem` extension's, built on these (so their files are wrapped too).
open class ForwardingStorage: StorageSystem, @unchecked Sendable {
    public let base: any StorageSystem

    public init(_ base: any StorageSystem) { self.base = base }

    /// The file handed out for one `base` opened: `file` itself unless overridden.
    open func wrap(_ file: any StorageFile) -> any StorageFile { file }

    open func open(_ path: String, mode: OpenMode) -> Result<any StorageFile, SystemError> {
        base.open(path, mode: mode).map(wrap)
    }
    open func rename(_ source: String, to target: String) -> Result<Void, SystemError> {
        base.rename(source, to: target)
    }
    open func moveWithoutReplacing(_ source: String, to target: String) -> Result<Void, SystemError> {
        base.moveWithoutReplacing(source, to: target)
    }
    open func remove(_ path: String) -> Result<Void, SystemError> { base.remove(path) }
    open func syncDirectory(containing path: String) -> Result<Void, SystemError> {
        base.syncDirectory(containing: path)
    }
    open func identity(of path: String) -> Result<FileIdentity, SystemError> { base.identity(of: path) }
    open func siblings(of path: String) -> Result<[String], SystemError> { base.siblings(of: path) }
    open func followingLink(_ path: String) -> Result<String, SystemError> { base.followingLink(path) }
    open func isDanglingLink(_ path: String) -> Bool { base.isDanglingLink(path) }
}

/// A file that passes every call to another (``ForwardingStorage/wrap(_:)``); a subclass
/// overrides the call it changes.
open class ForwardingFile: StorageFile, @unchecked Sendable {
    public let file: any StorageFile

    public init(_ file: any StorageFile) { self.file = file }

    open func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
        file.read(into: buffer, at: offset)
    }
    open func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Result<Void, SystemError> {
        file.write(bytes, at: offset)
    }
    open func size() -> Result<UInt64, SystemError> { file.size() }
    open func truncate(to size: UInt64) -> Result<Void, SystemError> { file.truncate(to: size) }
    open func sync() -> Result<Void, SystemError> { file.sync() }
    open func tryLockExclusive() -> Result<Bool, SystemError> { file.tryLockExclusive() }
    open func identity() -> Result<FileIdentity, SystemError> { file.identity() }
    open func close() { file.close() }
    open func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> { file.mapReadOnly(count) }
}
