import CofferCrypto
import CofferFormat

/// How a commit reaches the disk.
public enum Durability: Sendable, Equatable {
    /// A commit returns only after its bytes are on stable storage (fdatasync). The default.
    case synchronous
    /// UNSAFE: no sync at all; a crash may lose any number of recent commits. For bulk loads
    /// that are redone from scratch after a crash, never for data that matters.
    case unsafeNoSync
}

/// A record waiting to be sealed and appended.
public enum PendingRecord: Sendable {
    /// A transaction payload, sealed under the current epoch's data key.
    case transaction(SecureBytes)
    /// A new key epoch with this data key; later transactions are sealed under it.
    case keyEpoch(dataKey: SecureBytes)

    var type: RecordType {
        switch self {
        case .transaction: .transaction
        case .keyEpoch: .keyEpoch
        }
    }
}

/// What an append produced: where each record landed and the head after it.
public struct AppendReceipt: Sendable {
    /// One entry per record, in order: sequence number, offset and epoch.
    public let records: [(sequence: UInt64, offset: UInt64, epoch: UInt32)]
    /// The chain hash before each record, in the same order.
    let previousChains: [[UInt8]]
    let types: [RecordType]
    let frameBytes: [Int]
    /// The chain head after the last record of this append.
    public let head: ChainHead
}

/// Appends sealed records to the log with group commit (F-APPEND).
///
/// Callers on many threads call ``append(_:)``; the first becomes the leader, seals every
/// queued record in order, writes them with one write and one fdatasync, and wakes the others.
/// A failed write or sync stops the writer: nothing further is acknowledged, the error is
/// surfaced to every waiting and later caller, and the file is left for recovery to judge
/// (what was written may or may not be durable; the next open decides from the bytes).
final class LogWriter: @unchecked Sendable {
    private struct Request {
        let records: [PendingRecord]
        let ticket: UInt64
    }

    private struct State {
        var queue: [Request] = []
        var leaderActive = false
        var nextTicket: UInt64 = 0
        var results: [UInt64: Result<AppendReceipt, CofferError>] = [:]
        var stopped: CofferError?
        // Log position, owned by the leader while `leaderActive`.
        var end: UInt64
        var head: ChainHead
        var epoch: UInt32
        var epochKey: SecureBytes
    }

    private let file: any StorageFile
    private let vaultID: [UInt8]
    private let keyRecordKey: SecureBytes
    private let durability: Durability
    private let chains: ChainTable
    private let counters: LogCounters
    private let lock = Lock()
    private var state: State

    init(
        file: any StorageFile, vaultID: [UInt8], keyRecordKey: SecureBytes, durability: Durability,
        chains: ChainTable, counters: LogCounters, end: UInt64, head: ChainHead, epoch: UInt32, epochKey: SecureBytes
    ) {
        self.file = file
        self.chains = chains
        self.counters = counters
        self.vaultID = vaultID
        self.keyRecordKey = keyRecordKey
        self.durability = durability
        self.state = State(end: end, head: head, epoch: epoch, epochKey: epochKey)
    }

    /// The head after the last acknowledged append.
    var head: ChainHead { lock.withLock { state.head } }
    /// The end of the log after the last acknowledged append.
    var end: UInt64 { lock.withLock { state.end } }
    /// The epoch new transactions are sealed under.
    var currentEpoch: UInt32 { lock.withLock { state.epoch } }
    /// Why the writer stopped, if it did.
    var stoppedError: CofferError? { lock.withLock { state.stopped } }

    /// Moves the log position past records another instance appended to a shared log, which
    /// this writer has just read and authenticated. The caller holds off every append while
    /// it catches up (the engine's writer lock).
    func advance(end: UInt64, head: ChainHead, epoch: UInt32, epochKey: SecureBytes) {
        lock.withLock {
            precondition(!state.leaderActive, "catching up while an append is in flight")
            precondition(head.sequence >= state.head.sequence && end >= state.end, "a catch-up never goes backwards")
            state.end = end
            state.head = head
            state.epoch = epoch
            state.epochKey = epochKey
        }
    }

    /// Stops the writer, e.g. because the vault is closing.
    func stop(_ error: CofferError) {
        lock.withLock {
            if state.stopped == nil { state.stopped = error }
        }
    }

    /// Seals and durably appends `records` as consecutive frames. Returns once they are
    /// durable (or written, under `.unsafeNoSync`).
    ///
    /// - Throws: `.writerStopped` after an earlier failure, `.io` for this batch's failure,
    ///   `.invalidInput` for a payload larger than the format allows.
    func append(_ records: [PendingRecord]) throws(CofferError) -> AppendReceipt {
        precondition(!records.isEmpty, "append of no records")
        lock.lock()
        if let stopped = state.stopped {
            lock.unlock()
            throw stopped
        }
        let ticket = state.nextTicket
        state.nextTicket += 1
        state.queue.append(Request(records: records, ticket: ticket))
        while state.leaderActive && state.results[ticket] == nil {
            lock.wait()
        }
        if let result = state.results.removeValue(forKey: ticket) {
            lock.unlock()
            return try result.get()
        }
        // Become the leader for everything queued so far, this request included.
        state.leaderActive = true
        let batch = state.queue
        state.queue = []
        var position = (end: state.end, head: state.head, epoch: state.epoch, key: state.epochKey)
        lock.unlock()

        let outcome = writeBatch(batch, from: &position)

        lock.lock()
        switch outcome {
        case .success(let receipts):
            state.end = position.end
            state.head = position.head
            state.epoch = position.epoch
            state.epochKey = position.key
            for (request, receipt) in zip(batch, receipts) {
                if case .success(let done) = receipt {
                    done.previousChains.forEach(chains.append)
                    for (index, record) in done.records.enumerated() {
                        counters.add(type: done.types[index], epoch: record.epoch, frameBytes: done.frameBytes[index])
                    }
                }
                state.results[request.ticket] = receipt
            }
        case .failure(let error) where error.code == .conflict:
            // A shared log took another instance's records at these sequence numbers; none
            // of this batch landed. The writer carries on once it has caught up (`advance`).
            for request in batch { state.results[request.ticket] = .failure(error) }
        case .failure(let error):
            // F-APPEND-STOP: after a failed write or sync nothing more is acknowledged.
            if state.stopped == nil {
                state.stopped = CofferError(
                    .writerStopped,
                    "An earlier write or sync failed (\(error.message)); reopen the vault to recover it.")
            }
            for request in batch { state.results[request.ticket] = .failure(error) }
            for request in state.queue { state.results[request.ticket] = .failure(state.stopped!) }
            state.queue = []
        }
        state.leaderActive = false
        lock.broadcast()
        let mine = state.results.removeValue(forKey: ticket)!
        lock.unlock()
        return try mine.get()
    }

    private typealias Position = (end: UInt64, head: ChainHead, epoch: UInt32, key: SecureBytes)

    /// Seals every record of the batch in order, then writes and syncs once. Per-request
    /// results: a request with an oversized payload fails alone without consuming a sequence number.
    private func writeBatch(
        _ batch: [Request], from position: inout Position
    ) -> Result<[Result<AppendReceipt, CofferError>], CofferError> {
        let start = position.end
        var bytes: [UInt8] = []
        var receipts: [Result<AppendReceipt, CofferError>] = []
        for request in batch {
            var local = position
            var frames: [UInt8] = []
            var placed: [(sequence: UInt64, offset: UInt64, epoch: UInt32)] = []
            var previousChains: [[UInt8]] = []
            var types: [RecordType] = []
            var frameSizes: [Int] = []
            var failure: CofferError?
            for record in request.records {
                let sequence = local.head.sequence + 1
                previousChains.append(local.head.digest)
                let frame: [UInt8]?
                switch record {
                case .transaction(let payload):
                    let at = RecordPosition(
                        vaultID: vaultID, sequence: sequence, type: .transaction, epoch: local.epoch,
                        previousChain: local.head.digest)
                    frame = payload.withUnsafeBytes { SealedRecord.seal(payload: $0, at: at, key: local.key) }
                    placed.append((sequence, local.end, local.epoch))
                case .keyEpoch(let dataKey):
                    let epoch = local.epoch + 1
                    let at = RecordPosition(
                        vaultID: vaultID, sequence: sequence, type: .keyEpoch, epoch: epoch,
                        previousChain: local.head.digest)
                    let payload = KeyEpochPayload(
                        epoch: epoch, dataKey: dataKey, createdMilliseconds: WallClock.nowMilliseconds()
                    ).encode()
                    frame = payload.withUnsafeBytes { SealedRecord.seal(payload: $0, at: at, key: keyRecordKey) }
                    placed.append((sequence, local.end, epoch))
                    local.epoch = epoch
                    local.key = dataKey
                }
                guard let frame else {
                    failure = CofferError(
                        .invalidInput,
                        "A record is larger than the format's maximum of \(FormatConstants.payloadBytesMax) bytes.")
                    break
                }
                local.head = ChainHead(
                    sequence: sequence, digest: frame.withUnsafeBytes { ChainHash.next(previous: local.head.digest, frame: $0) })
                local.end += UInt64(frame.count)
                frames += frame
                frameSizes.append(frame.count)
                types.append(record.type)
            }
            if let failure {
                receipts.append(.failure(failure))
                continue
            }
            position = local
            bytes += frames
            receipts.append(.success(AppendReceipt(
                records: placed, previousChains: previousChains, types: types, frameBytes: frameSizes, head: local.head)))
        }
        if bytes.isEmpty { return .success(receipts) }
        if case .failure(let error) = file.write(bytes, at: start) {
            return .failure(error.cofferError("Appending to the log", offset: start))
        }
        if durability == .synchronous, case .failure(let error) = file.sync() {
            return .failure(error.cofferError("Syncing the log", offset: start))
        }
        return .success(receipts)
    }
}
