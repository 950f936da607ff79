import CofferCrypto
import CofferErrors
import CofferFormat

extension VaultStore {
    /// The vault's UUID.
    public var vaultID: [UInt8] { header.vaultID }

    /// The header in force.
    public var header: FileHeader { headerLock.withLock { headerState.header } }

    /// The chain head after the last acknowledged record.
    public var head: ChainHead { writer?.head ?? headerLock.withLock { readOnlyHead } }

    /// What a head witness keeps of this store now: its head, vault and unlock key (F-HEAD).
    public var witnessedHead: WitnessedHead {
        WitnessedHead(head: head, vaultID: header.vaultID, unlockKeyTag: unlockKeyTag)
    }

    /// Stops this store's writer: every later append fails with `error` until the vault is
    /// opened again. For a failure outside the log that makes writing on unsafe.
    /// Why the writer stopped (F-APPEND-STOP), if it did: then nothing more is acknowledged
    /// until the vault is opened again.
    public var writerStoppedError: CofferError? { writer?.stoppedError }

    public func stopWriting(_ error: CofferError) {
        writer?.stop(error)
    }

    /// Makes every record written so far durable (`fdatasync`): what `.unsafeNoSync` left
    /// unsynced. Nothing to do read-only, or on a shared log, whose server commits durably.
    public func sync() throws(CofferError) {
        guard !isShared else { return }
        try requireWriter().sync().get()
    }

    /// Switches durability for the appends from now on; switching to `.synchronous` first
    /// makes what was written before durable.
    public func setDurability(_ durability: Durability) throws(CofferError) {
        guard !isShared else { return }
        try requireWriter().setDurability(durability).get()
    }

    /// The durability of this store's appends now (``setDurability(_:)`` may have changed the
    /// one it was opened with); `.synchronous` for a read-only or shared store.
    public var durability: Durability { isShared ? .synchronous : writer?.durability ?? .synchronous }

    /// The end of the log after the last acknowledged record.
    public var logEnd: UInt64 { writer?.end ?? headerLock.withLock { readOnlyEnd } }

    /// Records and bytes of the log by type, and transactions by epoch.
    public var logCounts: LogCounts { counters.snapshot }

    /// The epochs whose keys are in the file, in order, with their creation times.
    public var keyEpochs: [(epoch: UInt32, createdMilliseconds: UInt64)] {
        headerLock.withLock { epochs.all.map { ($0.number, $0.createdMilliseconds) } }
    }

    /// Whether this store was opened without the writer lock.
    public var isReadOnly: Bool { writer == nil }

    /// The epoch new records are sealed under.
    public var currentEpoch: UInt32 {
        writer?.currentEpoch ?? headerLock.withLock { epochs.newest?.number ?? 0 }
    }

    /// The key that hashes platform API keys (F-KDF subkey 3 of the unlock key).
    public var apiKeyHashKey: SecureBytes { apiKeyHashKeyValue }

    /// Seals and appends `payloads` as consecutive transaction records, one per payload,
    /// returning once they are durable. Calls from many threads share syncs (group commit).
    ///
    /// - Throws: `.closed` or `.writerStopped`; `.io` when the write or sync failed (the
    ///   writer then stops); `.invalidInput` for a payload over the format's maximum.
    public func append(_ payloads: [SecureBytes]) throws(CofferError) -> AppendReceipt {
        let writer = try requireWriter()
        return try writer.append(payloads.map { .transaction($0) })
    }

    /// Seals `payloads` as consecutive transaction records placed after every append queued
    /// before, without waiting for them: the receipt says where they will be. Wait with
    /// ``waitUntilDurable(_:)``; they are acknowledged in the order they were queued, and
    /// nothing queued is readable through ``readRecord(sequence:offset:)`` until then.
    ///
    /// The engine queues under its writer lock, so that the next transaction is validated
    /// against a known position, and waits outside it, so that transactions share syncs.
    ///
    /// - Throws: `.closed`, `.writerStopped`; `.invalidInput` for a payload over the format's
    ///   maximum (nothing is queued).
    public func enqueue(_ payloads: [SecureBytes]) throws(CofferError) -> QueuedAppend {
        try requireWriter().enqueue(payloads.map { .transaction($0) })
    }

    /// Waits until a queued append is durable. Every queued append must be waited for.
    ///
    /// - Throws: `.io` when the write or sync failed (the writer then stops),
    ///   `.writerStopped` when an earlier one did, `.conflict` on a shared log another
    ///   instance wrote first (then everything queued behind it fails too).
    public func waitUntilDurable(_ queued: QueuedAppend) throws(CofferError) -> AppendReceipt {
        guard let writer else { preconditionFailure("a queued append on a read-only store") }
        return try writer.wait(for: queued)
    }

    /// The chain head after the last queued append (``head`` when nothing is queued).
    public var queuedHead: ChainHead { writer?.queuedHead ?? head }

    /// The end of the log after the last queued append (``logEnd`` when nothing is queued).
    public var queuedEnd: UInt64 { writer?.queuedEnd ?? logEnd }

    /// Whether the log is shared with other instances (``SharedLogStorage``): an append may
    /// then fail with `.conflict` and take everything queued behind it along.
    public var isShared: Bool { options.storage.isShared }

    /// On a shared log, calls `onChange` soon after other instances commit, until the follower
    /// returned is stopped (``LogMedium/follow(interval:_:)``); `nil` on a file.
    public func followOtherInstances(
        interval: Duration, _ onChange: @escaping @Sendable () -> Void
    ) throws(CofferError) -> (any SharedLogFollower)? {
        try options.storage.follow(interval: interval, onChange)
    }

    /// On a shared log, waits for the vault's writer turn and holds it until `body` returns,
    /// so that what `body` catches up with, plans and appends meets no other instance's append
    /// (a turn lost meanwhile still shows as `.conflict`). On a file, just runs `body`: its
    /// lock already makes this the only writer.
    public func withWriterTurn<Value>(_ body: () throws(CofferError) -> Value) throws(CofferError) -> Value {
        try options.storage.beginWriterTurn()
        defer { options.storage.endWriterTurn() }
        return try body()
    }

    /// Data-key rotation (F-ROTATE-DATA): appends a key-epoch record with a new random data
    /// key; every later record is sealed under it. O(1): no record is rewritten, older ones
    /// stay readable under their own epoch.
    ///
    /// - Returns: the new epoch number.
    public func rotateDataKey() throws(CofferError) -> UInt32 {
        let writer = try requireWriter()
        guard writer.currentEpoch < FormatConstants.epochMax else {
            throw CofferError(
                .invalidInput,
                "The vault has used every key epoch number (2^31); move its credentials into a new vault.")
        }
        let dataKey = SecureBytes(randomCount: XChaCha20Poly1305.keyBytes)
        let receipt = try writer.append([.keyEpoch(dataKey: dataKey)])
        let record = receipt.records[0]
        headerLock.withLock {
            epochs.introduce(
                record.epoch, createdMilliseconds: WallClock.nowMilliseconds(), sequence: record.sequence,
                offset: record.offset, dataKey: dataKey)
        }
        return record.epoch
    }

    /// Reads and opens the record at `offset` that has sequence number `sequence`, checking
    /// every rule the scan checks but the body CRC: the tag authenticates the body, and a
    /// reader of one record rejects a damaged frame and a forged one alike (F-FRAME-CRC).
    ///
    /// - Throws: `.corrupted` when the bytes there fail a check, `.io`.
    public func readRecord(sequence: UInt64, offset: UInt64) throws(CofferError) -> ScannedRecord {
        let (header, previousChain, opened) = try openRecord(sequence: sequence, offset: offset)
        return ScannedRecord(
            sequence: sequence, type: header.type!, epoch: header.epoch, offset: offset,
            frameBytes: header.frameBytes, previousChain: previousChain, payload: opened.payloadBytes)
    }

    /// Reads and opens the record at `offset` that has sequence number `sequence`, as
    /// ``readRecord(sequence:offset:)`` does, and calls `body` with its payload where it lies
    /// in the decrypted plaintext: for a reader that decodes a part of it at once (a reveal),
    /// which then builds no record and no slice. The view must not escape; the plaintext is
    /// zeroed and released when `body` returns.
    package func withRecordPayload(
        sequence: UInt64, offset: UInt64, _ body: (UnsafeRawBufferPointer) throws(CofferError) -> Void
    ) throws(CofferError) {
        // Not generic: a reveal calls it from another module, where a generic body would
        // look its result type's metadata up on every call.
        let opened = try openRecord(sequence: sequence, offset: offset).opened
        var failure: CofferError?
        opened.plaintext.withUnsafeBytes { bytes in
            do throws(CofferError) {
                try body(UnsafeRawBufferPointer(rebasing: bytes[opened.payload]))
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Reads (where the mapping of the log shows it, else in the cache of sealed frames, else
    /// from the file), checks and opens the record at `offset`.
    private func openRecord(sequence: UInt64, offset: UInt64) throws(CofferError) -> (
        header: FrameHeader, previousChain: [UInt8], opened: SealedRecord.Opened
    ) {
        var previous: [UInt8]?
        if let mapping {
            let known = try previousChain(for: sequence)
            if let found = try openMappedRecord(
                sequence: sequence, offset: offset, previousChain: known, mapping: mapping)
            {
                return found
            }
            previous = known
        }
        let kept = frameCache.frame(at: offset).flatMap { $0.header.sequence == sequence ? $0 : nil }
        let frame: SealedFrameCache.Entry
        if let kept {
            frame = kept
        } else {
            frame = try readFrame(sequence: sequence, offset: offset, previousChain: previous)
        }
        let opened = try frame.bytes.withUnsafeBytes { bytes in
            Result { () throws(CofferError) in
                try open(
                    header: frame.header, previousChain: frame.previousChain,
                    body: UnsafeRawBufferPointer(rebasing: bytes[FormatConstants.frameHeaderBytes...]),
                    sequence: sequence, offset: offset)
            }
        }.get()
        if kept == nil { frameCache.keep(frame, at: offset) }
        return (frame.header, frame.previousChain, opened)
    }

    /// Checks and opens the record at `offset` where the mapping of the log shows it, with the
    /// checks of ``readFrame(sequence:offset:previousChain:)``; nil when the mapping does not
    /// cover the whole frame before the log's acknowledged end, for the file's read to find and
    /// report.
    ///
    /// The frame is copied out of the mapping before anything in it is checked, and checked and
    /// opened in the copy: a mapping shows the file's pages as they are now, and another
    /// process able to write the file could change them between two reads of the same byte —
    /// between the tag's check and the decryption, which read the ciphertext one after the
    /// other, the change would reach the plaintext authenticated. The copy is what a `pread`
    /// makes, without the system call.
    private func openMappedRecord(
        sequence: UInt64, offset: UInt64, previousChain previous: [UInt8], mapping: LogMapping
    ) throws(CofferError) -> (header: FrameHeader, previousChain: [UInt8], opened: SealedRecord.Opened)? {
        let end = logEnd
        let headerBytes = FormatConstants.frameHeaderBytes
        guard offset <= end, end - offset >= UInt64(headerBytes),
            let first = mapping.covering(offset + UInt64(headerBytes))
        else { return nil }
        let start = Int(offset)
        let header = try withUnsafeTemporaryAllocation(byteCount: headerBytes, alignment: 8) { copy in
            withExtendedLifetime(first) {
                copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: first.bytes[start..<start + headerBytes]))
            }
            return Result { () throws(CofferError) in
                try checkedHeader(UnsafeRawBufferPointer(copy), sequence: sequence, offset: offset)
            }
        }.get()
        guard end - offset >= UInt64(header.frameBytes) else { return nil }
        // Most frames lie in the mapping their header was read from: no second turn of its lock.
        let frameEnd = offset + UInt64(header.frameBytes)
        guard let mapped = UInt64(first.bytes.count) >= frameEnd ? first : mapping.covering(frameEnd) else {
            return nil
        }
        let bodyStart = start + headerBytes
        let opened = withUnsafeTemporaryAllocation(byteCount: header.frameBytes - headerBytes, alignment: 16) {
            body in
            withExtendedLifetime(mapped) {
                body.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: mapped.bytes[bodyStart..<start + header.frameBytes]))
            }
            return Result { () throws(CofferError) in
                try open(
                    header: header, previousChain: previous, body: UnsafeRawBufferPointer(body), sequence: sequence,
                    offset: offset)
            }
        }
        return (header, previous, try opened.get())
    }

    /// The frame header at the start of `bytes`, read at `offset`, checked to be a record's with
    /// sequence number `sequence`.
    private func checkedHeader(_ bytes: UnsafeRawBufferPointer, sequence: UInt64, offset: UInt64) throws(CofferError)
        -> FrameHeader
    {
        guard bytes.count >= FormatConstants.frameHeaderBytes,
            case .success(let header) = FrameHeader.decode(
                UnsafeRawBufferPointer(rebasing: bytes[..<FormatConstants.frameHeaderBytes])),
            header.sequence == sequence, header.type != nil
        else {
            throw CofferError(.corrupted, "The record's frame header is damaged.", offset: offset, sequence: sequence)
        }
        return header
    }

    /// Opens the body of the checked frame `header` at `offset` with its epoch's key.
    private func open(
        header: FrameHeader, previousChain: [UInt8], body: UnsafeRawBufferPointer, sequence: UInt64, offset: UInt64
    ) throws(CofferError) -> SealedRecord.Opened {
        let type = header.type!
        let found: (closed: Bool, key: SecureBytes?) = headerLock.withLock {
            switch type {
            case .keyEpoch: (closed, nil)
            case .transaction: (closed, epochs.dataKey(header.epoch))
            }
        }
        if found.closed { throw CofferError(.closed, "The vault was closed.") }
        let key = type == .keyEpoch ? MasterKeySubkey.keyRecord.derive(from: masterKey) : found.key
        guard let key else {
            throw CofferError(
                .corrupted, "The record is sealed under an unknown epoch.", offset: offset, sequence: sequence)
        }
        let position = RecordPosition(
            vaultID: vaultID, sequence: sequence, type: type, epoch: header.epoch, previousChain: previousChain)
        // No body CRC: the tag authenticates every byte of the body, and a reader with the
        // key needs the CRC for nothing else (F-FRAME-CRC); a damaged frame fails either way.
        switch SealedRecord.openInPlace(
            header: header, body: body, at: position, key: key, skippingBodyChecksum: true)
        {
        case .failure:
            throw CofferError(.corrupted, "The record fails authentication.", offset: offset, sequence: sequence)
        case .success(let opened): return opened
        }
    }

    /// The chain hash after the record before `sequence`, which its AAD binds: once durable,
    /// for a record a writer still has queued.
    private func previousChain(for sequence: UInt64) throws(CofferError) -> [UInt8] {
        if headerLock.withLock({ closed }) { throw CofferError(.closed, "The vault was closed.") }
        if let known = chains.previous(for: sequence) { return known }
        if let writer, sequence <= writer.queuedHead.sequence {
            // A transaction queued behind a sync made it: a planner on top of it reads it once durable.
            try writer.waitUntilDurable(sequence: sequence)
            if let known = chains.previous(for: sequence) { return known }
        }
        throw CofferError(.notFound, "No record with sequence number \(sequence) is in the log.", sequence: sequence)
    }

    /// What ``readRecord(sequence:offset:)`` reads at once: most records fit.
    static let recordReadBytes = 4096

    /// Reads the frame at `offset` that has sequence number `sequence` and checks its header:
    /// its bytes (exactly the frame's), header and the chain hash its AAD binds (`known`, when
    /// the caller looked it up already).
    private func readFrame(sequence: UInt64, offset: UInt64, previousChain known: [UInt8]? = nil) throws(CofferError)
        -> SealedFrameCache.Entry
    {
        let previous: [UInt8]
        if let known { previous = known } else { previous = try previousChain(for: sequence) }
        // One read for the header and, for most records, the whole frame: a reveal is one
        // system call. Never past the acknowledged end (a shared log would ask its server).
        // The read lands on the stack; the frame is copied out at its exact size, as the cache
        // keeps it (a frame larger than the read gets the rest appended).
        let end = logEnd
        let guess = max(
            offset < end ? Int(min(UInt64(Self.recordReadBytes), end - offset)) : 0, FormatConstants.frameHeaderBytes)
        let first = withUnsafeTemporaryAllocation(byteCount: guess, alignment: 16) {
            buffer -> Result<(header: FrameHeader, bytes: [UInt8]), CofferError> in
            let count: Int
            switch log.read(into: buffer, at: offset) {
            case .failure(let error): return .failure(error.cofferError("Reading a record", offset: offset))
            case .success(let read): count = read
            }
            let header: FrameHeader
            do throws(CofferError) {
                header = try checkedHeader(
                    UnsafeRawBufferPointer(rebasing: buffer[..<count]), sequence: sequence, offset: offset)
            } catch {
                return .failure(error)
            }
            let copied = min(count, header.frameBytes)
            let bytes = [UInt8](unsafeUninitializedCapacity: header.frameBytes) { target, initialized in
                UnsafeMutableRawBufferPointer(target).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: buffer[..<copied]))
                initialized = copied
            }
            return .success((header, bytes))
        }
        let header: FrameHeader
        var bytes: [UInt8]
        (header, bytes) = try first.get()
        if bytes.count < header.frameBytes {
            switch log.read(count: header.frameBytes - bytes.count, at: offset + UInt64(bytes.count)) {
            case .failure(let error): throw error.cofferError("Reading a record", offset: offset)
            case .success(let rest): bytes += rest
            }
        }
        guard bytes.count == header.frameBytes else {
            throw CofferError(.corrupted, "The record is cut short.", offset: offset, sequence: sequence)
        }
        return SealedFrameCache.Entry(bytes: bytes, header: header, previousChain: previous)
    }

    /// Scans the log from disk up to the last acknowledged record, authenticating each record.
    /// Readers beside a writer see a consistent prefix.
    public func forEachRecord(_ visit: (ScannedRecord) throws(CofferError) -> Void) throws(CofferError) {
        if headerLock.withLock({ closed }) { throw CofferError(.closed, "The vault was closed.") }
        let end = logEnd
        let scanner = LogScanner(
            log: log, vaultID: vaultID, keyRecordKey: MasterKeySubkey.keyRecord.derive(from: masterKey),
            fileSize: end,
            generation: header.logGeneration)
        switch scanner.scan(visit) {
        case .failure(let error): throw error
        case .success(let outcome):
            if let problem = outcome.corruption ?? outcome.tornTail {
                throw CofferError(
                    .corrupted, "The log changed under the reader: \(problem.detail)", offset: problem.offset,
                    sequence: problem.sequence)
            }
        }
    }

    /// Scans the records acknowledged after the one ending at `offset`, whose head was `head`:
    /// what a compaction copies to catch up with the writers that ran beside it.
    public func forEachRecord(
        after head: ChainHead, endingAt offset: UInt64, _ visit: (ScannedRecord) throws(CofferError) -> Void
    ) throws(CofferError) -> ChainHead {
        if headerLock.withLock({ closed }) { throw CofferError(.closed, "The vault was closed.") }
        var scanner = LogScanner(
            log: log, vaultID: vaultID, keyRecordKey: MasterKeySubkey.keyRecord.derive(from: masterKey),
            fileSize: logEnd,
            generation: header.logGeneration)
        scanner.resume = headerLock.withLock { (offset, head, epochs.through(sequence: head.sequence)) }
        switch scanner.scan(visit) {
        case .failure(let error): throw error
        case .success(let outcome):
            if let problem = outcome.corruption ?? outcome.tornTail {
                throw CofferError(
                    .corrupted, "The log changed under the reader: \(problem.detail)", offset: problem.offset,
                    sequence: problem.sequence)
            }
            return outcome.head
        }
    }

    /// Reads the records appended after the last one this store knows, authenticating each
    /// and handing it to `visit` in order, and moves the store's head past them: what other
    /// instances appended to a shared log, or what the writer appended beside a read-only
    /// store. The header is read again too, for keyslots another instance changed.
    ///
    /// A writer's caller holds off its own appends meanwhile (the engine's writer lock). An
    /// incomplete frame at the end of a file (a writer's append in flight) ends the catch-up
    /// there; the next one reads it.
    ///
    /// - Returns: how many records were read.
    /// - Throws: `.conflict` when the log was replaced (another instance's compaction, or a
    ///   compaction that renamed a new file over this one): ``reopen(options:visit:)``;
    ///   `.corrupted`, `.io`, `.closed`.
    @discardableResult
    public func catchUp(_ visit: (ScannedRecord) throws(CofferError) -> Void) throws(CofferError) -> UInt64 {
        if headerLock.withLock({ closed }) { throw CofferError(.closed, "The vault was closed.") }
        if let stopped = writer?.stoppedError { throw stopped }
        let size: UInt64
        switch log.end() {
        case .failure(let error): throw error.cofferError("Catching up with the vault")
        case .success(let value): size = value
        }
        try refreshHeader()
        let (end, head) = (logEnd, self.head)
        guard size > end else { return 0 }
        var scanner = LogScanner(
            log: log, vaultID: vaultID, keyRecordKey: MasterKeySubkey.keyRecord.derive(from: masterKey),
            fileSize: size,
            generation: header.logGeneration)
        scanner.resume = headerLock.withLock { (end, head, epochs) }
        let outcome = try Self.scan(scanner, recordingIn: chains, counters, visit)
        if let corruption = outcome.corruption {
            throw CofferError(
                .corrupted, "The log is corrupted past the records this vault had read: \(corruption.detail)",
                offset: corruption.offset, sequence: corruption.sequence)
        }
        let newest = headerLock.withLock { () -> KeyEpochs.Epoch in
            epochs.append(contentsOf: outcome.keyEpochs)
            if writer == nil {
                readOnlyEnd = outcome.validEnd
                readOnlyHead = outcome.head
            }
            return epochs.newest!
        }
        writer?.advance(end: outcome.validEnd, head: outcome.head, epoch: newest.number, epochKey: newest.dataKey!)
        return outcome.head.sequence - head.sequence
    }

    /// Reads the header copies again and takes the newest one this master key authenticates.
    func refreshHeader() throws(CofferError) {
        let store: HeaderStore
        switch HeaderStore.read(from: log) {
        case .failure(let error): throw error
        case .success(let value): store = value
        }
        guard let current = store.current(masterKey: masterKey) else {
            throw CofferError(
                .corrupted, "No header copy of the vault authenticates under its master key any more.", offset: 0)
        }
        headerLock.withLock {
            if current.header.generation > headerState.header.generation
                || current.header.keyslots != headerState.header.keyslots
            {
                headerState = current
            }
        }
    }

    /// Closes the store: later calls fail with `.closed`; the lock is released when the last
    /// reference to the store goes away.
    public func close() {
        // Nothing may write to the log device once it is closed: a descriptor closed under a
        // write could be given to another file before the write reaches it. So the writer's
        // write and sync in flight, and a header rewrite, end first.
        writer?.stopAndDrain(CofferError(.closed, "The vault was closed."))
        headerLock.withLock {
            closed = true
            while rewritingHeader { headerLock.wait() }
        }
        mapping?.release()
        log.close()
    }

    func requireWriter() throws(CofferError) -> LogWriter {
        if headerLock.withLock({ closed }) { throw CofferError(.closed, "The vault was closed.") }
        guard let writer else {
            throw CofferError(.invalidInput, "The vault was opened read-only; open it for writing to change it.")
        }
        if let stopped = writer.stoppedError { throw stopped }
        return writer
    }
}
