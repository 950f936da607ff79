import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

// Shared by CrashSimulationTests and FaultInjectionTests: a seeded workload generator, a model
// of what the store acknowledged, a runner that drives a store on a SimulatedDisk while
// keeping that model, and the check a vault must pass after a power loss.
//
// Nothing here prints secret bytes: messages name payloads by tag and length and secrets by
// kind and number.

// MARK: - Settings

extension CrashSettings {
    /// The storage crash suite's: `COFFER_CRASH_STATES`, `COFFER_CRASH_SEED`, `COFFER_CRASH_RUN`.
    static func storageSuite() -> CrashSettings {
        fromEnvironment(prefix: "COFFER_CRASH", defaultCrashStates: 10_000, defaultBaseSeed: 0xC0FF_E12A_5EED)
    }
}

// MARK: - Secrets and payloads

/// A transaction payload: random bytes that start with the payload's tag (little endian,
/// truncated for payloads under 4 bytes), distinct from every other payload of its run.
struct TaggedPayload: Hashable, Sendable, CustomStringConvertible {
    let tag: Int
    let bytes: [UInt8]

    var secureBytes: SecureBytes { SecureBytes(copying: bytes) }
    var description: String { "payload #\(tag) (\(bytes.count) bytes)" }
}

/// Makes the distinct payloads of one run.
struct PayloadMaker {
    private var nextTag: Int
    private var made: Set<[UInt8]> = []

    /// A maker whose first payload has tag `firstTag`; other makers' tags are far from it.
    init(firstTag: Int = 0) {
        nextTag = firstTag
    }

    /// A payload of 1–600 bytes, occasionally up to 5 KiB; a handful are 1–3 bytes long.
    mutating func make(using generator: inout SeededGenerator) -> TaggedPayload {
        let roll = Int.random(in: 0..<100, using: &generator)
        let count =
            roll < 3
            ? Int.random(in: 1...3, using: &generator)
            : roll < 88 ? Int.random(in: 4...600, using: &generator) : Int.random(in: 601...5120, using: &generator)
        return make(count: count, using: &generator)
    }

    mutating func make(count: Int, using generator: inout SeededGenerator) -> TaggedPayload {
        let tag = nextTag
        nextTag += 1
        var bytes: [UInt8]
        repeat {
            let tagBytes = withUnsafeBytes(of: UInt32(truncatingIfNeeded: tag).littleEndian) { Array($0) }
            bytes = Array((tagBytes + randomBytes(max(0, count - tagBytes.count), using: &generator)).prefix(count))
        } while made.contains(bytes)
        made.insert(bytes)
        return TaggedPayload(tag: tag, bytes: bytes)
    }
}

// MARK: - Workload

/// A seeded sequence of store operations.
///
/// Keyslot steps are planned against a model of the slot table that assumes every earlier
/// step succeeded; a runner stops at the first failure, so the plan never runs out of step.
struct Workload: Sendable {
    enum Step: Sendable, CustomStringConvertible {
        /// One `append` call: one payload, or a batch of several.
        case append([TaggedPayload])
        /// Threads each making their calls, all at once.
        case concurrentAppends([[ConcurrentCall]])
        case rotateDataKey
        case addKeyslot(TestSecret)
        case removeKeyslot(id: UInt16)
        case replaceKeyslot(id: UInt16, with: TestSecret)
        /// Close the store and open it again as the writer with this secret.
        case reopen(TestSecret)

        var description: String {
            switch self {
            case .append(let payloads): payloads.count == 1 ? "append of 1" : "batched append of \(payloads.count)"
            case .concurrentAppends(let threads):
                "concurrent appends from \(threads.count) threads (\(threads.map(\.count).reduce(0, +)) calls)"
            case .rotateDataKey: "data-key rotation"
            case .addKeyslot(let secret): "add keyslot for \(secret)"
            case .removeKeyslot(let id): "remove keyslot \(id)"
            case .replaceKeyslot(let id, let secret): "replace keyslot \(id) with \(secret)"
            case .reopen(let secret): "reopen with \(secret)"
            }
        }
    }

    /// One call of a thread in a concurrent step.
    enum ConcurrentCall: Sendable {
        case append([TaggedPayload])
        /// Rotation goes through the same group commit, so its record can share a batch with
        /// transactions that must be sealed under the key it introduces.
        case rotateDataKey
    }

    /// What kinds of step a generated workload may contain.
    struct Shape: Sendable {
        var stepCount: ClosedRange<Int>
        var keyslots: Bool
        var concurrency: Bool
    }

    let initialSecret: TestSecret
    let steps: [Step]

    var usesConcurrency: Bool {
        steps.contains { if case .concurrentAppends = $0 { true } else { false } }
    }

    init(initialSecret: TestSecret, steps: [Step]) {
        self.initialSecret = initialSecret
        self.steps = steps
    }

    /// A random workload of `shape`, a function of `seed` only.
    init(seed: UInt64, shape: Shape) {
        var generator = SeededGenerator(seed: seed)
        var payloads = PayloadMaker()
        var secretNumber = 0
        func nextSecret(_ kind: TestSecret.Kind, _ generator: inout SeededGenerator) -> TestSecret {
            secretNumber += 1
            return TestSecret.make(kind, number: secretNumber, using: &generator)
        }
        let initial = nextSecret(.keyFile, &generator)
        // The slot table as the store will number it: a new slot gets the largest id plus one.
        var slots: [(id: UInt16, secret: TestSecret)] = [(1, initial)]
        var steps: [Step] = []
        for _ in 0..<Int.random(in: shape.stepCount, using: &generator) {
            let roll = Int.random(in: 0..<100, using: &generator)
            switch roll {
            case 0..<34:
                steps.append(.append([payloads.make(using: &generator)]))
            case 34..<58:
                let count = Int.random(in: 2...6, using: &generator)
                steps.append(.append((0..<count).map { _ in payloads.make(using: &generator) }))
            case 58..<72 where shape.concurrency:
                let threads = (0..<Int.random(in: 2...4, using: &generator)).map { _ in
                    (0..<Int.random(in: 1...3, using: &generator)).map { _ -> ConcurrentCall in
                        if Int.random(in: 0..<10, using: &generator) == 0 { return .rotateDataKey }
                        let count = Int.random(in: 1...3, using: &generator)
                        return .append((0..<count).map { _ in payloads.make(using: &generator) })
                    }
                }
                steps.append(.concurrentAppends(threads))
            case 72..<80:
                steps.append(.rotateDataKey)
            case 80..<86:
                steps.append(.reopen(slots.randomElement(using: &generator)!.secret))
            case 86..<100 where shape.keyslots:
                // Up to four slots, never fewer than one (the store refuses to remove the last).
                let changes = ["replace"] + (slots.count < 4 ? ["add"] : []) + (slots.count > 1 ? ["remove"] : [])
                let index = Int.random(in: 0..<slots.count, using: &generator)
                switch changes.randomElement(using: &generator)! {
                case "add":
                    let secret = nextSecret(.passphrase, &generator)
                    slots.append(((slots.map(\.id).max() ?? 0) + 1, secret))
                    steps.append(.addKeyslot(secret))
                case "remove":
                    steps.append(.removeKeyslot(id: slots[index].id))
                    slots.remove(at: index)
                default:
                    let secret = nextSecret(.passphrase, &generator)
                    steps.append(.replaceKeyslot(id: slots[index].id, with: secret))
                    slots[index].secret = secret
                }
            default:
                steps.append(.append([payloads.make(using: &generator)]))
            }
        }
        self.init(initialSecret: initial, steps: steps)
    }
}

// MARK: - What was acknowledged

/// One record of the log as recovery returned it.
struct RecoveredRecord: Equatable {
    let sequence: UInt64
    let type: RecordType
    let epoch: UInt32
    /// The opened payload of a transaction.
    let bytes: [UInt8]?

    init(_ record: ScannedRecord) {
        sequence = record.sequence
        type = record.type
        epoch = record.epoch
        bytes = record.type == .transaction ? record.payload?.withUnsafeBytes { Array($0) } : nil
    }

    var summary: String {
        type == .transaction ? "a transaction of \(bytes?.count ?? 0) bytes" : "a key-epoch record"
    }
}

/// The model a recovered vault is judged against: what the store acknowledged, in log order,
/// and the one operation that was under way when the run stopped.
///
/// Appends are acknowledged when `append` returned; a keyslot change when its call returned.
/// The log must recover as the acknowledged records followed by a prefix of the unacknowledged
/// requests, each request's records in order; the keyslot table as either the acknowledged
/// state or the state the unacknowledged change was moving to.
struct AcknowledgedHistory {
    enum Item: Equatable, Sendable, CustomStringConvertible {
        case keyEpoch
        case transaction(TaggedPayload)

        func matches(_ record: RecoveredRecord) -> Bool {
            switch self {
            case .keyEpoch: record.type == .keyEpoch
            case .transaction(let payload): record.type == .transaction && record.bytes == payload.bytes
            }
        }

        var description: String {
            switch self {
            case .keyEpoch: "key-epoch record"
            case .transaction(let payload): "\(payload)"
            }
        }
    }

    /// Acknowledged records in log order: item `i` has sequence number `i + 1`.
    private(set) var acknowledged: [Item] = []
    /// The requests of the unacknowledged operation that may have reached the disk. Their
    /// order in the log is unknown when several threads' requests shared a failed batch.
    private(set) var pending: [[Item]] = []
    /// The end of the log after the last acknowledged record: nothing before it may be lost.
    private(set) var durableEnd: UInt64 = 0
    /// Whether `create` returned.
    private(set) var isCreated = false
    /// The acknowledged keyslot table.
    private(set) var slots: [UInt16: TestSecret] = [:]
    /// The table an unacknowledged header change was writing.
    private(set) var pendingSlots: [UInt16: TestSecret]?
    /// Secrets an acknowledged change removed: they must never open the vault again.
    private(set) var retiredSecrets: Set<TestSecret> = []

    var secrets: Set<TestSecret> { Set(slots.values) }
    var pendingSecrets: Set<TestSecret>? { pendingSlots.map { Set($0.values) } }

    mutating func beginCreate(with secret: TestSecret) {
        pending = [[.keyEpoch]]
        pendingSlots = [1: secret]
    }

    mutating func acknowledgeCreate(logEnd: UInt64) {
        isCreated = true
        acknowledged = [.keyEpoch]
        pending = []
        durableEnd = logEnd
        acknowledgeSlotChange()
    }

    /// Records the requests of an operation about to reach the disk.
    mutating func begin(_ requests: [[Item]]) {
        pending = requests
    }

    /// Forgets a request that failed before writing anything (`.writerStopped`).
    mutating func abandon(_ request: [Item]) {
        if let index = pending.firstIndex(of: request) { pending.remove(at: index) }
    }

    /// Records an acknowledged request; returns a problem when the sequence numbers the store
    /// gave it are not the next ones.
    mutating func acknowledge(_ request: [Item], sequences: [UInt64]?) -> String? {
        let first = UInt64(acknowledged.count + 1)
        let expected = Array(first..<first + UInt64(request.count))
        abandon(request)
        acknowledged += request
        if let sequences, sequences != expected {
            return "the store acknowledged sequence numbers \(sequences) where \(expected) were next"
        }
        return nil
    }

    mutating func acknowledgeEnd(_ end: UInt64) {
        durableEnd = end
    }

    mutating func beginSlotChange(_ table: [UInt16: TestSecret]) {
        pendingSlots = table
    }

    mutating func abandonSlotChange() {
        pendingSlots = nil
    }

    mutating func acknowledgeSlotChange() {
        guard let table = pendingSlots else { return }
        retiredSecrets.formUnion(secrets.subtracting(table.values))
        retiredSecrets.subtract(table.values)
        slots = table
        pendingSlots = nil
    }

    /// The problems of `recovered` as a recovery of this history: checks (2) and (3) of the
    /// crash check. Empty when the log is the acknowledged records followed by complete
    /// unacknowledged requests and at most one cut request at the very end.
    func problems(recovered: [RecoveredRecord]) -> [String] {
        var problems = Self.problems(ofOrder: recovered)
        for (index, item) in acknowledged.enumerated() {
            guard index < recovered.count else {
                problems.append(
                    "acknowledged \(item) at sequence \(index + 1) is lost: the recovered log ends at sequence "
                        + "\(recovered.count) of \(acknowledged.count) acknowledged")
                return problems
            }
            if !item.matches(recovered[index]) {
                problems.append(
                    "sequence \(index + 1) holds \(recovered[index].summary) where acknowledged \(item) was written")
            }
        }
        var unmatched = pending
        var index = acknowledged.count
        while index < recovered.count {
            guard let requestIndex = unmatched.firstIndex(where: { $0.first?.matches(recovered[index]) == true }) else {
                problems.append(
                    "sequence \(index + 1) holds \(recovered[index].summary) that no unacknowledged request wrote there "
                        + "(\(pending.count) requests were under way)")
                break
            }
            let request = unmatched.remove(at: requestIndex)
            var taken = 0
            while taken < request.count, index < recovered.count, request[taken].matches(recovered[index]) {
                taken += 1
                index += 1
            }
            if taken < request.count && index < recovered.count {
                problems.append(
                    "an unacknowledged request of \(request.count) records is cut after \(taken) of them, "
                        + "yet sequence \(index + 1) (\(recovered[index].summary)) follows it")
                break
            }
        }
        return problems
    }
}

extension AcknowledgedHistory {
    /// Problems with sequence numbers and epochs, whatever was written: sequences count from
    /// 1, epoch records count from 1, and a transaction is sealed under the latest epoch.
    static func problems(ofOrder records: [RecoveredRecord]) -> [String] {
        var epoch: UInt32 = 0
        for (index, record) in records.enumerated() {
            if record.sequence != UInt64(index + 1) {
                return ["record \(index + 1) of the recovered log carries sequence \(record.sequence)"]
            }
            if record.type == .keyEpoch { epoch += 1 }
            if record.epoch != epoch {
                return [
                    "sequence \(record.sequence), \(record.summary), is under epoch \(record.epoch) where \(epoch) is latest"
                ]
            }
        }
        return []
    }
}

// MARK: - Running a workload

/// Drives a store on a ``SimulatedDisk`` through workload steps, keeping an
/// ``AcknowledgedHistory`` of what it acknowledged. Stops at the first operation that fails.
final class WorkloadRunner {
    let disk: SimulatedDisk
    let path: String
    private(set) var history = AcknowledgedHistory()
    private(set) var store: VaultStore?
    /// The first operation that failed and its error; the runner does nothing after it.
    private(set) var failure: (step: String, error: CofferError)?
    /// Inconsistencies seen while the store worked: receipts or reopened logs that disagree
    /// with the history.
    private(set) var problems: [String] = []
    /// Concurrent-append steps that completed, and how many of them had fewer syncs than calls.
    private(set) var concurrentSteps = 0
    private(set) var concurrentStepsSharingSyncs = 0

    init(disk: SimulatedDisk, path: String) {
        self.disk = disk
        self.path = path
    }

    /// Creates the vault with one key-file or passphrase slot.
    @discardableResult
    func create(with secret: TestSecret) -> Bool {
        history.beginCreate(with: secret)
        do {
            let created = try VaultStore.create(
                path: path, secret: secret.secret, cost: .minimum, options: .init(storage: disk))
            store = created
            history.acknowledgeCreate(logEnd: created.logEnd)
            return true
        } catch {
            return fail("create", error)
        }
    }

    /// Runs `steps` in order until one fails; returns whether all succeeded.
    @discardableResult
    func run(_ steps: some Sequence<Workload.Step>) -> Bool {
        for step in steps {
            guard failure == nil, perform(step) else { return false }
        }
        return failure == nil
    }

    /// Closes the store, if one is open.
    func closeStore() {
        store?.close()
        store = nil
    }

    private func perform(_ step: Workload.Step) -> Bool {
        if case .reopen(let secret) = step { return reopen(with: secret) }
        guard let store else {
            problems.append("\(step) found no open store")
            return false
        }
        switch step {
        case .append(let payloads):
            let request = payloads.map(AcknowledgedHistory.Item.transaction)
            history.begin([request])
            do {
                let receipt = try store.append(payloads.map(\.secureBytes))
                note(history.acknowledge(request, sequences: receipt.records.map(\.sequence)))
            } catch {
                if error.code == .writerStopped { history.abandon(request) }
                return fail("\(step)", error)
            }
        case .concurrentAppends(let threads):
            return appendConcurrently(threads, to: store)
        case .rotateDataKey:
            history.begin([[.keyEpoch]])
            do {
                let epoch = try store.rotateDataKey()
                note(history.acknowledge([.keyEpoch], sequences: nil))
                if epoch != store.currentEpoch {
                    problems.append("rotation returned epoch \(epoch), the store seals under \(store.currentEpoch)")
                }
            } catch {
                if error.code == .writerStopped { history.abandon([.keyEpoch]) }
                return fail("\(step)", error)
            }
        case .addKeyslot(let secret):
            var table = history.slots
            let id = (table.keys.max() ?? 0) + 1
            table[id] = secret
            return changeSlots(to: table, step) { () throws(CofferError) in
                let given = try store.addKeyslot(secret.secret, cost: .minimum)
                if given != id { problems.append("addKeyslot gave id \(given) where \(id) was expected") }
            }
        case .removeKeyslot(let id):
            var table = history.slots
            table[id] = nil
            return changeSlots(to: table, step) { () throws(CofferError) in try store.removeKeyslot(id: id) }
        case .replaceKeyslot(let id, let secret):
            var table = history.slots
            table[id] = secret
            return changeSlots(to: table, step) { () throws(CofferError) in
                try store.replaceKeyslot(id: id, with: secret.secret, cost: .minimum)
            }
        case .reopen:
            preconditionFailure("handled above")
        }
        checkPosition(of: store, after: step)
        return true
    }

    private func changeSlots(
        to table: [UInt16: TestSecret], _ step: Workload.Step, _ change: () throws(CofferError) -> Void
    ) -> Bool {
        history.beginSlotChange(table)
        do {
            try change()
            history.acknowledgeSlotChange()
            return true
        } catch {
            if error.code == .writerStopped { history.abandonSlotChange() }
            return fail("\(step)", error)
        }
    }

    private func reopen(with secret: TestSecret) -> Bool {
        closeStore()
        var records: [RecoveredRecord] = []
        do {
            let opened = try VaultStore.open(path: path, secret: secret.secret, options: .init(storage: disk)) {
                record in
                records.append(RecoveredRecord(record))
            }
            store = opened
        } catch {
            return fail("reopen with \(secret)", error)
        }
        // No crash happened, so the log must be exactly what was acknowledged.
        problems += history.problems(recovered: records).map { "on a reopen without a crash: \($0)" }
        if records.count != history.acknowledged.count {
            problems.append(
                "a reopen without a crash found \(records.count) records, \(history.acknowledged.count) were acknowledged"
            )
        }
        history.acknowledgeEnd(store!.logEnd)
        return true
    }

    private func appendConcurrently(_ threads: [[Workload.ConcurrentCall]], to store: VaultStore) -> Bool {
        typealias Item = AcknowledgedHistory.Item
        /// A rotation's receipt has no sequence number: `sequences` is `nil` for it.
        typealias Outcome = (request: [Item], result: Result<[UInt64]?, CofferError>)
        let syncsBefore = disk.callCounts()[.sync, default: 0]
        let outcomes = Locked<[Outcome]>([])
        let gate = StartGate(count: threads.count)
        runConcurrently(threads.count) { thread in
            gate.arriveAndWait()
            for call in threads[thread] {
                let outcome: Outcome
                switch call {
                case .append(let payloads):
                    let result = capture { () throws(CofferError) in
                        try store.append(payloads.map(\.secureBytes)).records.map(\.sequence)
                    }
                    outcome = (payloads.map(Item.transaction), result.map { Optional($0) })
                case .rotateDataKey:
                    outcome = (
                        [.keyEpoch],
                        capture { () throws(CofferError) in
                            _ = try store.rotateDataKey()
                            return nil
                        }
                    )
                }
                outcomes.withLock { $0.append(outcome) }
                if case .failure = outcome.result { break }
            }
        }
        let all = outcomes.withLock { $0 }
        // Acknowledged requests in log order: appends where their receipts put them, and the
        // acknowledged rotations in the gaps between them.
        var bySequence: [UInt64: Item] = [:]
        var rotations = 0
        for case (let request, .success(let sequences)) in all {
            guard let sequences else {
                rotations += 1
                continue
            }
            for (item, sequence) in zip(request, sequences) where bySequence.updateValue(item, forKey: sequence) != nil
            {
                problems.append("two concurrent appends were both given sequence \(sequence)")
            }
        }
        let first = UInt64(history.acknowledged.count + 1)
        let sequences = Array(first..<first + UInt64(bySequence.count + rotations))
        if bySequence.keys.contains(where: { !sequences.contains($0) }) {
            problems.append(
                "concurrent appends were given sequences \(bySequence.keys.sorted()) outside \(first)...\(sequences.last ?? first)"
            )
        }
        let failed = all.compactMap { outcome -> (request: [Item], error: CofferError)? in
            guard case .failure(let error) = outcome.result else { return nil }
            return (outcome.request, error)
        }
        note(history.acknowledge(sequences.map { bySequence[$0] ?? .keyEpoch }, sequences: nil))
        // Then the failed requests, which may have reached the disk; those stopped before the
        // batch (`.writerStopped`) never did. After the acknowledgement, not before: it forgets
        // a pending request equal to what it acknowledges, and a failed rotation's request
        // ([key epoch]) equals the acknowledged items of a step that acknowledged only a rotation.
        history.begin(failed.filter { $0.error.code != .writerStopped }.map(\.request))
        history.acknowledgeEnd(store.logEnd)
        if let first = failed.first {
            return fail("concurrent appends", first.error)
        }
        concurrentSteps += 1
        if disk.callCounts()[.sync, default: 0] - syncsBefore < all.count { concurrentStepsSharingSyncs += 1 }
        checkPosition(of: store, after: .concurrentAppends(threads))
        return true
    }

    private func checkPosition(of store: VaultStore, after step: Workload.Step) {
        history.acknowledgeEnd(store.logEnd)
        if store.head.sequence != UInt64(history.acknowledged.count) {
            problems.append(
                "after \(step) the head is sequence \(store.head.sequence), \(history.acknowledged.count) records were acknowledged"
            )
        }
    }

    private func note(_ problem: String?) {
        if let problem { problems.append(problem) }
    }

    private func fail(_ step: String, _ error: CofferError) -> Bool {
        failure = (step, error)
        return false
    }
}

/// The outcome of a typed-throwing call as a value.
func capture<Success>(_ body: () throws(CofferError) -> Success) -> Result<Success, CofferError> {
    do { return .success(try body()) } catch { return .failure(error) }
}

// MARK: - The check after a crash

/// What a vault must satisfy after a power loss, judged against the ``AcknowledgedHistory``
/// of the run that was cut:
///
/// 1. It opens as the writer, or fails with `.corrupted` only where an invalid frame is
///    followed by a valid one, beyond the acknowledged durable end; salvage then keeps every
///    acknowledged record.
/// 2. The recovered log is the acknowledged records followed by a prefix of the requests
///    under way.
/// 3. Every recovered payload is byte-for-byte one that was written.
/// 4. An append after recovery works, and a later open agrees.
/// 5. Every secret of the acknowledged keyslot state opens it, or every secret of the state an
///    interrupted change was moving to; no removed secret does. A secret the interrupted change
///    removed, once the change is in force in one copy, opens it read-only only: a writer's open
///    with it is refused and changes nothing. Once a writer has opened it, both header copies
///    are valid and hold one of the two states.
///
/// With `crashesDuringRecovery`, the first recovery may itself be cut (during its torn-tail
/// truncation or header repair), and the check starts again on what that second crash left.
struct CrashCheck {
    let disk: SimulatedDisk
    let path: String
    let history: AcknowledgedHistory
    var generator: SeededGenerator
    var crashesDuringRecovery: Bool
    /// Problems found, in words.
    private(set) var problems: [String] = []
    /// One per crash checked: the first, plus any during recovery.
    private(set) var statesChecked = 0
    /// What the crashes led to, for the suite's summary.
    struct Tally {
        /// Crashes whose log needed salvage (an invalid frame before a valid one).
        var salvages = 0
        /// Crashes cut again during the recovery's own writes.
        var recoveryCrashes = 0
        var tornTailsCut = 0
        var headersRepaired = 0
        /// Recoveries that kept records of an unacknowledged request.
        var unacknowledgedKept = 0
        /// Writers' opens refused to a secret an interrupted change removed.
        var supersededRefused = 0

        static func += (total: inout Tally, part: Tally) {
            total.salvages += part.salvages
            total.recoveryCrashes += part.recoveryCrashes
            total.tornTailsCut += part.tornTailsCut
            total.headersRepaired += part.headersRepaired
            total.unacknowledgedKept += part.unacknowledgedKept
            total.supersededRefused += part.supersededRefused
        }

        var summary: String {
            "\(tornTailsCut) torn tails cut, \(headersRepaired) headers repaired, \(salvages) logs salvaged, "
                + "\(recoveryCrashes) recoveries crashed, \(unacknowledgedKept) recoveries kept unacknowledged records, "
                + "\(supersededRefused) removed secrets refused to a writer"
        }
    }

    private(set) var tally = Tally()
    /// Whether any crash so far could lose or garble single sectors: only then can an invalid
    /// frame come before a valid one.
    private var sectorDamagePossible = false
    /// Whether every crash so far lost every unsynced byte.
    private var everyCrashLostAllUnsynced = true

    init(disk: SimulatedDisk, path: String, history: AcknowledgedHistory, seed: UInt64, crashesDuringRecovery: Bool) {
        self.disk = disk
        self.path = path
        self.history = history
        self.generator = SeededGenerator(seed: seed)
        self.crashesDuringRecovery = crashesDuringRecovery
    }

    /// Checks the disk right after `disk.crash(mode:)`.
    mutating func verify(afterCrashIn mode: CrashMode) {
        verify(after: mode, depth: 0)
    }

    /// Checks a vault reopened in the same process after a failure, with no power loss: the
    /// bytes of a failed write or sync are still there for the open to judge.
    mutating func verifyWithoutCrash() {
        everyCrashLostAllUnsynced = false
        verify(after: nil, depth: 0)
    }

    private mutating func verify(after mode: CrashMode?, depth: Int) {
        if let mode {
            statesChecked += 1
            sectorDamagePossible = sectorDamagePossible || mode == .keepRandomSectors || mode == .garbleUnsyncedSectors
            everyCrashLostAllUnsynced = everyCrashLostAllUnsynced && mode == .loseAllUnsynced
        }
        let context =
            mode.map { depth == 0 ? "after a crash (\($0))" : "after a second crash during recovery (\($0))" }
            ?? "on a reopen without a crash"
        var usable: [TestSecret]
        if history.isCreated {
            usable = checkSecretsBeforeRecovery(context)
        } else {
            // Creation never returned: whatever exists may only hold the secret it was writing.
            usable = Array(history.pendingSecrets ?? [])
        }
        usable.sort { $0.number < $1.number }
        guard let secret = usable.randomElement(using: &generator) else {
            problems.append("\(context): no secret opens the vault")
            return
        }

        let recoveryCrash = depth == 0 && crashesDuringRecovery && Bool.random(using: &generator)
        if recoveryCrash {
            // Only a writer's repairs write: cut one of them if there are any.
            let kind = [SimulatedDisk.Operation.truncate, .sync, .write].randomElement(using: &generator)!
            let call = disk.callCounts()[kind, default: 0] + Int.random(in: 0...2, using: &generator)
            disk.armCrash(after: kind, atCall: call)
        }
        let opened = open(path, with: secret, readOnly: false)
        if recoveryCrash {
            // Replaces the armed crash with one that never fires.
            disk.armCrash(after: .lock, atCall: .max)
            if disk.isCrashPending {
                tally.recoveryCrashes += 1
                let second = CrashMode.allCases.randomElement(using: &generator)!
                disk.crash(mode: second, using: &generator)
                verify(after: second, depth: depth + 1)
                return
            }
        }

        switch opened {
        case .success(let (store, records)):
            checkRecovered(store: store, records: records, at: path, openedWith: secret, context)
        case .failure(let error) where !history.isCreated && [.notFound, .notAVault, .corrupted].contains(error.code):
            // Creation was cut: no vault, or one that never became whole. Nothing was acknowledged.
            return
        case .failure(let error):
            guard error.code == .corrupted, let offset = error.offset, offset >= FormatConstants.logStartOffset else {
                problems.append("\(context): opening as the writer with \(secret) failed: \(error)")
                return
            }
            salvageCorruptedLog(at: offset, error: error, secret: secret, context)
        }
    }

    /// Check (5) before any writer touches the file; returns the secrets that unlock it.
    private mutating func checkSecretsBeforeRecovery(_ context: String) -> [TestSecret] {
        let acknowledged = history.secrets
        let changing = history.pendingSecrets
        let candidates = acknowledged.union(changing ?? []).union(history.retiredSecrets)
        // With one secret in play, the writer's open that follows is the whole check.
        if candidates.count == 1 { return Array(candidates) }
        var opens: [TestSecret: Bool] = [:]
        for secret in candidates { opens[secret] = unlocks(secret, context) }
        let acknowledgedOpen = acknowledged.allSatisfy { opens[$0]! }
        let changedOpen = changing.map { $0.allSatisfy { opens[$0]! } } ?? false
        if !acknowledgedOpen && !changedOpen {
            problems.append(
                "\(context): neither every acknowledged secret \(describe(acknowledged)) nor every secret "
                    + "\(describe(changing ?? [])) of the interrupted change opens the vault; these open: "
                    + describe(Set(candidates.filter { opens[$0]! })))
        }
        for retired in history.retiredSecrets where opens[retired]! {
            problems.append("\(context): \(retired), removed by an acknowledged change, still opens the vault")
        }
        let usable = candidates.filter { opens[$0]! && !history.retiredSecrets.contains($0) }
        // F-HDR-SUPERSEDED: a secret the interrupted change removed, which opens only the older
        // copy, opens read-only; a writer's open with it is refused and writes nothing (its
        // repair would undo the change).
        let checked = checkWritersRefuseSupersededSecrets(usable, on: disk, path: path, context) { secret in
            switch open(path, with: secret, readOnly: false) {
            case .success(let (store, _)):
                store.close()
                return nil
            case .failure(let error): return error
            }
        }
        problems += checked.problems
        tally.supersededRefused += checked.refused
        return usable.filter { !checked.superseded.contains($0) }
    }

    /// Checks (2)–(5) on a vault a writer opened.
    private mutating func checkRecovered(
        store: VaultStore, records: [RecoveredRecord], at target: String, openedWith secret: TestSecret,
        _ context: String
    ) {
        problems += history.problems(recovered: records).map { "\(context): \($0)" }
        // An append is synced before it is acknowledged and nothing syncs the file after a
        // failed one, so losing every unsynced byte leaves exactly the acknowledged records.
        if everyCrashLostAllUnsynced && history.isCreated && records.count != history.acknowledged.count {
            problems.append(
                "\(context): every unsynced byte was lost, yet \(records.count) records survive where "
                    + "\(history.acknowledged.count) were acknowledged")
        }
        if store.recovery.truncated { tally.tornTailsCut += 1 }
        if store.recovery.headerRepaired { tally.headersRepaired += 1 }
        if history.isCreated && records.count > history.acknowledged.count { tally.unacknowledgedKept += 1 }
        if store.head.sequence != UInt64(records.count) {
            problems.append(
                "\(context): the store's head is sequence \(store.head.sequence) after recovering \(records.count) records"
            )
        }
        // A writer leaves both header copies valid and holding the same keyslots. The file info
        // (a keyless scan of the whole log) is read where a header change or repair happened.
        let copyBytes = FormatConstants.headerCopyBytes
        let copies = (disk.contents(of: target) ?? []).prefix(2 * copyBytes)
        let slotTables = [0, copyBytes].map { start in
            Array(copies.dropFirst(start).prefix(copyBytes)).withUnsafeBytes {
                try? FileHeader.decode($0).get().keyslots
            }
        }
        if slotTables.contains(where: { $0 == nil }) || slotTables[0] != slotTables[1] {
            problems.append(
                "\(context): after the writer opened the vault, its header copies are "
                    + (slotTables.contains { $0 == nil } ? "not both valid" : "valid but hold different keyslots"))
        }
        if history.pendingSlots != nil || store.recovery.headerRepaired {
            switch capture({ () throws(CofferError) in try VaultFileInfo.read(path: target, storage: disk) }) {
            case .success(let info) where info.headerCopiesValid != [true, true]:
                problems.append(
                    "\(context): after the writer opened the vault, header copies valid: \(info.headerCopiesValid)")
            case .success: break
            case .failure(let error): problems.append("\(context): reading the file info failed: \(error)")
            }
        }
        let inForce = secretsInForce(after: secret, at: target, context)

        // (4) The recovered vault takes a new append, and a later open returns it too.
        var markers = PayloadMaker(firstTag: 1 << 30)
        let extra = markers.make(count: Int.random(in: 4...700, using: &generator), using: &generator)
        switch capture({ () throws(CofferError) in try store.append([extra.secureBytes]) }) {
        case .success(let receipt) where receipt.records.map(\.sequence) != [UInt64(records.count + 1)]:
            problems.append(
                "\(context): the append after recovery got sequence \(receipt.records.map(\.sequence)), not \(records.count + 1)"
            )
        case .success: break
        case .failure(let error):
            problems.append("\(context): appending after recovery failed: \(error)")
            store.close()
            return
        }
        store.close()
        let again = inForce.sorted { $0.number < $1.number }.randomElement(using: &generator) ?? secret
        switch open(target, with: again, readOnly: false) {
        case .failure(let error):
            problems.append("\(context): reopening with \(again) after the post-recovery append failed: \(error)")
        case .success(let (reopened, after)):
            problems += AcknowledgedHistory.problems(ofOrder: after).map { "\(context), after a further append: \($0)" }
            let expected = records.map { ($0.type, $0.bytes) } + [(.transaction, extra.bytes)]
            if after.count != expected.count
                || !zip(after, expected).allSatisfy({ $0.type == $1.0 && $0.bytes == $1.1 })
            {
                problems.append(
                    "\(context): a reopen after the post-recovery append found \(after.count) records, "
                        + "expected the \(records.count) recovered ones and the new one")
            }
            if reopened.recovery.tornTail != nil || reopened.recovery.headerRepaired {
                problems.append("\(context): a clean reopen still found repairs to make: \(reopened.recovery)")
            }
            reopened.close()
        }
    }

    /// Which keyslot state a writer's repair left in force; checks it is one of the two.
    private mutating func secretsInForce(after secret: TestSecret, at target: String, _ context: String) -> Set<
        TestSecret
    > {
        guard history.isCreated else { return history.pendingSecrets ?? [secret] }
        let acknowledged = history.secrets
        guard let changing = history.pendingSecrets else { return acknowledged }
        var opens: [TestSecret: Bool] = [:]
        for candidate in acknowledged.union(changing) { opens[candidate] = unlocks(candidate, context, at: target) }
        let state = { (all: Set<TestSecret>, others: Set<TestSecret>) in
            all.allSatisfy { opens[$0]! } && others.subtracting(all).allSatisfy { !opens[$0]! }
        }
        if state(changing, acknowledged) { return changing }
        if state(acknowledged, changing) { return acknowledged }
        problems.append(
            "\(context): after the writer's repair the header holds neither the acknowledged keyslots "
                + "\(describe(acknowledged)) nor the new ones \(describe(changing)); these open: "
                + describe(Set(opens.filter(\.value).keys)))
        return [secret]
    }

    /// Check (1) when the log is corrupted: the corruption lies beyond every acknowledged byte,
    /// an invalid frame really precedes a valid one, and salvage keeps every acknowledged record.
    private mutating func salvageCorruptedLog(
        at offset: UInt64, error: CofferError, secret: TestSecret, _ context: String
    ) {
        tally.salvages += 1
        if !sectorDamagePossible {
            problems.append(
                "\(context): writes kept whole cannot put an invalid frame before a valid one, yet open says \(error)")
        }
        if offset < history.durableEnd {
            problems.append(
                "\(context): corruption at offset \(offset) lies inside the acknowledged log, which ends at \(history.durableEnd)"
            )
        }
        switch capture({ () throws(CofferError) in try VaultFileInfo.read(path: path, storage: disk) }) {
        case .success(let info) where info.corruption?.offset != offset:
            problems.append(
                "\(context): open reports corruption at \(offset), a keyless scan reports "
                    + "\(info.corruption.map { "\($0)" } ?? "none") (torn tail: \(info.tornTail.map { "\($0)" } ?? "none"))"
            )
        case .success: break
        case .failure(let error): problems.append("\(context): reading the file info failed: \(error)")
        }
        let output = path + ".salvaged"
        switch capture({ () throws(CofferError) in
            try VaultStore.salvage(path: path, secret: secret.secret, output: output, storage: disk)
        }) {
        case .failure(let error):
            problems.append("\(context): salvage failed: \(error)")
        case .success(let report):
            if report.problem?.offset != offset {
                problems.append(
                    "\(context): salvage stopped at \(report.problem.map { "\($0)" } ?? "no problem"), open at offset \(offset)"
                )
            }
            switch open(output, with: secret, readOnly: false) {
            case .failure(let error): problems.append("\(context): opening the salvaged copy failed: \(error)")
            case .success(let (store, records)):
                checkRecovered(
                    store: store, records: records, at: output, openedWith: secret, context + ", salvaged copy")
            }
        }
    }

    /// Whether `secret` unlocks the header (the log may still be corrupted).
    private mutating func unlocks(_ secret: TestSecret, _ context: String, at target: String? = nil) -> Bool {
        switch open(target ?? path, with: secret, readOnly: true) {
        case .success(let (store, _)):
            store.close()
            return true
        case .failure(let error) where error.code == .wrongKey:
            return false
        case .failure(let error)
        where error.code == .corrupted && (error.offset ?? 0) >= FormatConstants.logStartOffset:
            return true
        case .failure(let error):
            problems.append("\(context): opening read-only with \(secret) failed: \(error)")
            return false
        }
    }

    private func open(
        _ target: String, with secret: TestSecret, readOnly: Bool
    ) -> Result<(VaultStore, [RecoveredRecord]), CofferError> {
        var records: [RecoveredRecord] = []
        return capture { () throws(CofferError) in
            let store = try VaultStore.open(
                path: target, secret: secret.secret, options: .init(storage: disk, readOnly: readOnly)
            ) { record in records.append(RecoveredRecord(record)) }
            return (store, records)
        }
    }

    private func describe(_ secrets: Set<TestSecret>) -> String {
        "[" + secrets.sorted { $0.number < $1.number }.map(\.description).joined(separator: ", ") + "]"
    }
}
