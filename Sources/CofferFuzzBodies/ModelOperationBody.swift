import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel

/// ``FuzzTarget/modelOperation``: the credential model's operations, from their bytes
/// (FORMAT.md §9.2, §9.5, §9.15.1, OPS-DEC-1) to the rules apply enforces (§9.6, §9.13,
/// §9.15.2) and compaction (OP-COMPACT-EXACT).
///
/// The input is a transaction payload (F-REC-TXN) whose operations are taken in order; an
/// input that is not one is a single operation, `u16 code` (little-endian) then its body, so
/// that mutations reach the bodies without the payload's framing.
///
/// Every operation goes through `ModelOperation.decode` and `decodeCredentialFields`; the
/// ones that decode are validated and applied as one transaction to an empty index and to
/// ``ModelScenario/baseline``, where fuzzed operations can name entities that exist.
enum ModelOperationBody {
    /// The transaction size compaction aims at here: small, so that the baseline's and the
    /// fuzzed histories split into restore credential history operations.
    static let compactionBytesTarget = 1024
    /// Credentials created together that compaction writes as their create operations: two,
    /// so that the baseline's fan-out and fuzzed multi-scope creations take that path
    /// (OP-COMPACT-CREATED).
    static let compactionCreatedTogetherMin = 2
    /// The time and actor of a raw operation's transaction.
    static let rawTimeMilliseconds: UInt64 = 1_767_225_600_000
    static let rawActor = "fuzz"

    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let (operations, time, actor) = parse(input)
        var decoded: [ModelOperation] = []
        for (position, operation) in operations.enumerated() {
            if let model = checkCodec(operation, name: "operation \(position) (\(hex(operation.code)))", &findings) {
                decoded.append(model)
            }
        }
        guard !decoded.isEmpty else { return }
        let baseline = ModelScenario.baseline
        var context = baseline.nextContext
        context.timeMilliseconds = time
        context.actor = actor
        checkApply(decoded, context: context, on: Start.empty, "an empty index", &findings)
        checkApply(decoded, context: context, on: Start.baseline, "the baseline", &findings)
    }

    /// The operations of the input, and the time and actor of their transaction.
    static func parse(_ input: UnsafeRawBufferPointer) -> (operations: [Operation], time: UInt64, actor: String) {
        if let transaction = TransactionPayload.decode(SecureBytes(copying: input)) {
            return (transaction.operations, transaction.timeMilliseconds, transaction.actor)
        }
        guard input.count >= 2 else { return ([], rawTimeMilliseconds, rawActor) }
        let code = UInt16(input[0]) | UInt16(input[1]) << 8
        let body = SecureBytes(copying: UnsafeRawBufferPointer(rebasing: input[2...]))
        return ([Operation(code: code, body: body)], rawTimeMilliseconds, rawActor)
    }

    /// The strings `decodeCredentialFields` steps over, as decode's messages name them.
    static let skippedStrings = ["the app key", "the slug", "the label", "a changed field name"]

    static func hex(_ code: UInt16) -> String {
        OperationCode(rawValue: code)?.description ?? "unknown code \(code)"
    }

    // MARK: - Decoding

    /// Decodes one operation and checks the codec's oracles; the operation when it decodes.
    static func checkCodec(_ operation: Operation, name: String, _ findings: inout FuzzFindings) -> ModelOperation? {
        let stored = ModelOperation.decodeCredentialFields(from: operation)
        let strict = ModelOperation.decodeCredentialFieldsCheckingSkippedStrings(from: operation)
        switch ModelOperation.decode(operation) {
        case .failure(let error):
            // OPS-DEC-1: an unknown code is an operation this reader does not know, anything
            // else that does not decode is a malformed body.
            let expected: CofferError.Code =
                OperationCode(rawValue: operation.code) == nil ? .unsupportedVersion : .invalidInput
            findings.check(error.code == expected, "\(name): decode fails with \(error.code), not \(expected)")
            // Checking the strings it steps over too, the reveal's decoder refuses what decode
            // refuses.
            switch strict {
            case .success:
                findings.fail(
                    "\(name): decodeCredentialFields, the skipped strings checked, succeeds where decode fails")
            case .failure(let other):
                findings.check(
                    other.code == error.code,
                    "\(name): decodeCredentialFields, the skipped strings checked, fails with \(other.code), decode with \(error.code)"
                )
            }
            switch (stored, strict) {
            case (.success, .failure(let other)):
                // It steps over the strings it does not use without checking their UTF-8
                // (F-CONV-STRING): what it accepts beyond decode is exactly such a string, the
                // one the checking decoder refuses where decode does.
                findings.check(
                    other.message == error.message
                        && Self.skippedStrings.contains { error.message.hasSuffix("\($0) is cut short or not UTF-8.") },
                    "\(name): decodeCredentialFields succeeds where decode fails: \(error.message)")
            case (.success, .success): break  // reported above
            case (.failure(let other), _):
                findings.check(
                    other.code == error.code,
                    "\(name): decodeCredentialFields fails with \(other.code), decode with \(error.code)")
            }
            return nil
        case .success(let decoded):
            findings.check(decoded.code.rawValue == operation.code, "\(name): decodes as \(decoded.code)")
            // OPS-DEC-1: every operation has exactly one encoding, so decoding then encoding
            // gives the input's bytes back.
            let encoded = decoded.encode()
            findings.check(
                encoded.code == operation.code && encoded.body == operation.body,
                "\(name): \(decoded) does not re-encode to its bytes (\(operation.body.count) bytes in, \(encoded.body.count) out)"
            )
            findings.check(
                decoded.encodedBodyByteCount == encoded.body.count,
                "\(name): encodedBodyByteCount \(decoded.encodedBodyByteCount), encode wrote \(encoded.body.count)")
            switch ModelOperation.decode(encoded) {
            case .success(let again): findings.check(again == decoded, "\(name): \(decoded) re-encodes to \(again)")
            case .failure(let error):
                findings.fail("\(name): \(decoded) re-encodes to bytes that do not decode: \(error)")
            }
            checkStoredFields(decoded, stored, name: name, &findings)
            checkStoredFields(decoded, strict, name: name + " (the skipped strings checked)", &findings)
            return decoded
        }
    }

    /// `decodeCredentialFields` returns the version an operation stores, and refuses an
    /// operation that stores none.
    static func checkStoredFields(
        _ decoded: ModelOperation, _ stored: Result<StoredCredentialFields, CofferError>, name: String,
        _ findings: inout FuzzFindings
    ) {
        let expected: (CredentialID, UInt32, FieldValues)?
        switch decoded {
        case .createCredential(let new): expected = (new.id, 1, new.fields)
        case .setCredentialFields(let change): expected = (change.id, change.version, change.fields)
        case .restoreCredential(let restored): expected = (restored.id, restored.version, restored.fields)
        case .restoreVersion(let id, let version, let fields): expected = (id, version, fields)
        default: expected = nil
        }
        switch (expected, stored) {
        case (let (id, version, fields)?, .success(let got)):
            findings.check(
                got.credential == id && got.version == version && got.fields == fields,
                "\(name): decodeCredentialFields of \(decoded) gives \(got.credential) version \(got.version)")
        case (nil, .failure(let error)):
            findings.check(
                error.code == .invalidInput, "\(name): decodeCredentialFields refuses \(decoded) with \(error.code)")
        case (_?, .failure(let error)):
            findings.fail("\(name): decodeCredentialFields refuses \(decoded), which stores fields: \(error)")
        case (nil, .success):
            findings.fail("\(name): decodeCredentialFields finds fields in \(decoded)")
        }
    }

    // MARK: - Applying

    /// An index to apply the fuzzed transaction to, with its log and what its queries answer.
    struct Start: Sendable {
        let index: VaultIndex
        let log: [RecordLocation: ModelOperation]
        let snapshot: QuerySnapshot

        static let empty = Start(index: VaultIndex(), log: [:])
        static let baseline = Start(index: ModelScenario.baseline.index, log: ModelScenario.baseline.log)

        init(index: VaultIndex, log: [RecordLocation: ModelOperation]) {
            self.index = index
            self.log = log
            snapshot = QuerySnapshot(index)
        }
    }

    /// What compaction writes for an index: its transactions' times, actors and operations.
    /// Two indexes with the same live state (all but record locations) compact to the same log.
    struct CompactedLog: Equatable, Sendable {
        var times: [UInt64] = []
        var actors: [String] = []
        var operations: [[ModelOperation]] = []

        static func make(of index: VaultIndex, log: [RecordLocation: ModelOperation]) -> Result<
            CompactedLog, CofferError
        > {
            var compacted = CompactedLog()
            let reader: OperationReader = { location throws(CofferError) in
                guard let operation = log[location] else {
                    throw CofferError(.notFound, "compaction reads \(location), where no operation was applied")
                }
                return operation.encode()
            }
            return Result { () throws(CofferError) -> CompactedLog in
                try index.compactionTransactions(
                    reader: reader, transactionBytesTarget: compactionBytesTarget,
                    createdTogetherMin: compactionCreatedTogetherMin
                ) {
                    compacted.times.append($0.timeMilliseconds)
                    compacted.actors.append($0.actor)
                    compacted.operations.append($0.operations)
                }
                return compacted
            }
        }
    }

    static func checkApply(
        _ operations: [ModelOperation], context: TransactionContext, on start: Start, _ place: String,
        _ findings: inout FuzzFindings
    ) {
        var validated = start.index
        let validation = Result { () throws(CofferError) in try validated.validate(operations, context: context) }
        var applied = start.index
        let application = Result { () throws(CofferError) in try applied.apply(operations, context: context) }
        switch (validation, application) {
        case (.success, .success): break
        case (.failure(let one), .failure(let two)):
            findings.check(one.code == two.code, "on \(place): validate fails with \(one.code), apply with \(two.code)")
        case (.success, .failure(let error)): findings.fail("on \(place): validate accepts, apply fails: \(error)")
        case (.failure(let error), .success): findings.fail("on \(place): validate fails, apply accepts: \(error)")
        }
        // Validate, and a failed apply, leave the index as it was (OP-TXN-1).
        checkUnchanged(validated, start, "validate on \(place)", &findings)
        guard case .success = application else {
            checkUnchanged(applied, start, "a failed apply on \(place)", &findings)
            return
        }
        let problems = applied.checkInvariants()
        findings.check(problems.isEmpty, "after apply on \(place): \(problems.joined(separator: " "))")
        var log = start.log
        for (position, operation) in operations.enumerated() {
            log[context.location(ofOperation: position)] = operation
        }
        checkCompaction(of: applied, log: log, "after apply on \(place)", &findings)
    }

    static func checkUnchanged(_ index: VaultIndex, _ start: Start, _ what: String, _ findings: inout FuzzFindings) {
        findings.check(index.statistics() == start.index.statistics(), "\(what) changed the index's statistics")
        findings.check(index.versionRetention == start.index.versionRetention, "\(what) changed the retention")
        findings.check(QuerySnapshot(index) == start.snapshot, "\(what) changed what the index's queries answer")
    }

    /// OP-COMPACT-EXACT: the compacted log replays into an index that answers every query the
    /// same (record locations aside) and compacts to the same operations again.
    static func checkCompaction(
        of index: VaultIndex, log: [RecordLocation: ModelOperation], _ what: String, _ findings: inout FuzzFindings
    ) {
        let compacted: CompactedLog
        switch CompactedLog.make(of: index, log: log) {
        case .success(let value): compacted = value
        case .failure(let error):
            findings.fail("\(what): compaction fails: \(error)")
            return
        }
        var rebuilt = VaultIndex()
        var rebuiltLog: [RecordLocation: ModelOperation] = [:]
        for (number, operations) in compacted.operations.enumerated() {
            let context = TransactionContext(
                sequence: UInt64(number) + 1, offset: 8192 + 65536 * UInt64(number),
                timeMilliseconds: compacted.times[number], actor: compacted.actors[number])
            do {
                try rebuilt.apply(operations, context: context)
            } catch {
                findings.fail("\(what): compacted transaction \(number) does not replay: \(error)")
                return
            }
            for (position, operation) in operations.enumerated() {
                rebuiltLog[context.location(ofOperation: position)] = operation
            }
        }
        let problems = rebuilt.checkInvariants()
        findings.check(
            problems.isEmpty, "\(what): the compacted index breaks invariants: \(problems.joined(separator: " "))")
        findings.check(rebuilt.statistics() == index.statistics(), "\(what): the compacted index has other statistics")
        findings.check(
            QuerySnapshot(rebuilt) == QuerySnapshot(index), "\(what): the compacted index answers queries differently")
        findings.check(
            CompactedLog.make(of: rebuilt, log: rebuiltLog) == .success(compacted),
            "\(what): compacting the compacted index writes other operations")
    }
}

/// What the index's queries answer, with every record location left out unless asked: the
/// part of the state a compaction must keep exactly (OP-COMPACT-EXACT), and with locations
/// what a reopen must rebuild exactly.
struct QuerySnapshot: Equatable, Sendable {
    var retention: Int
    var organizations: [OrganizationInfo]
    var projects: [ProjectInfo] = []
    var users: [UserInfo]
    var memberships: [MembershipInfo] = []
    var credentials: [CredentialInfo] = []
    var histories: [[CredentialChange]] = []
    var versions: [[CredentialVersion]] = []
    var assignments: [AssignmentInfo] = []

    static let nowhere = RecordLocation(sequence: 0, offset: 0, operationIndex: 0)

    init(_ index: VaultIndex, keepingLocations: Bool = false) {
        let nowhere: RecordLocation? = keepingLocations ? nil : Self.nowhere
        retention = index.versionRetention
        organizations = index.organizations()
        users = index.users()
        for organization in organizations {
            projects += index.projects(in: organization.id)
            memberships += index.memberships(in: organization.id)
            assignments += index.assignments(organization: organization.id)
            for var credential in index.credentials(matching: CredentialFilter(organization: organization.id)) {
                histories.append(
                    index.history(of: credential.id).map {
                        var change = $0
                        change.location = nowhere ?? change.location
                        return change
                    })
                versions.append(
                    index.versions(of: credential.id).map {
                        var version = $0
                        version.location = nowhere ?? version.location
                        return version
                    })
                credential.currentLocation = nowhere ?? credential.currentLocation
                credentials.append(credential)
            }
        }
    }
}
