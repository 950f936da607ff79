import Coffer
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// The one transaction of an import in the making: its operations, where in the input each
/// comes from, the report, and the conflicts found under `--on-conflict fail`.
struct ImportPlan {
    let policy: ConflictPolicy
    /// Whether the import can take `--map-org` (an export's can; a dotenv or CSV file's,
    /// imported into an organization named for it, cannot), for the advice on conflicts.
    let mapsOrganizations: Bool
    private(set) var operations: [ModelOperation] = []
    /// `sources[i]` is where operation `i` comes from, for messages.
    private(set) var sources: [String] = []
    private(set) var items: [ImportReport.Item] = []
    private(set) var conflicts: [String] = []

    init(policy: ConflictPolicy, mapsOrganizations: Bool = false) {
        self.policy = policy
        self.mapsOrganizations = mapsOrganizations
    }

    mutating func add(_ operation: ModelOperation, from source: String) {
        operations.append(operation)
        sources.append(source)
    }

    mutating func report(_ item: ImportReport.Item) {
        items.append(item)
    }

    /// An object the vault holds already, under `--on-conflict fail`.
    mutating func conflict(_ description: String, at source: String) {
        conflicts.append("\(description) (\(source))")
    }

    /// Checks the plan and returns its operations, or throws the first problem with the
    /// place in the input that caused it. Nothing is written either way.
    ///
    /// Every operation is applied, in order, to a copy of `index`, so that a broken rule of
    /// the model (a field value its schema refuses, a history that does not hold together)
    /// is reported with the JSON path or line of the object at fault. Then the size: one
    /// import is one transaction, at most 65,536 operations and one record's payload
    /// (F-FRAME-MAX).
    ///
    /// - Throws: `.alreadyExists` listing the conflicts under `--on-conflict fail`; the
    ///   model's error for an operation, prefixed with its source; `.invalidInput` when the
    ///   transaction is too large.
    func validated(against index: VaultIndex, actor: String) throws(CofferError) -> [ModelOperation] {
        if !conflicts.isEmpty {
            let count = conflicts.count
            throw CofferError(
                .alreadyExists,
                "\(count == 1 ? "One object" : "\(count) objects") of the import exist\(count == 1 ? "s" : "") in the vault already. "
                    + "Nothing was imported. Import with --on-conflict skip or --on-conflict replace"
                    + (mapsOrganizations ? ", or --map-org to a new organization." : "."),
                candidates: conflicts)
        }
        var scratch = index
        let context = TransactionContext(
            sequence: 1, offset: 0, timeMilliseconds: Clock.nowMilliseconds(), actor: actor)
        for (position, operation) in operations.enumerated() {
            do {
                try scratch.apply([operation], context: context)
            } catch {
                throw CofferError(error.code, "\(sources[position]): \(error.message)", candidates: error.candidates)
            }
        }
        guard operations.count <= VaultIndex.operationsPerTransactionMax else {
            throw CofferError(
                .invalidInput,
                "The import needs \(operations.count) operations; one transaction holds at most \(VaultIndex.operationsPerTransactionMax). Import it in parts."
            )
        }
        // F-REC-TXN: u64 time, string actor, u32 count, then u16 code and u32 length per operation.
        var bytes = 8 + 2 + actor.utf8.count + 4
        for operation in operations { bytes += 2 + 4 + operation.encodedBodyByteCount }
        guard bytes <= FormatConstants.payloadBytesMax else {
            throw CofferError(
                .invalidInput,
                "The import is \(bytes) bytes as one transaction; a transaction holds at most \(FormatConstants.payloadBytesMax). Import it in parts (for example one organization at a time)."
            )
        }
        return operations
    }

    func report(dryRun: Bool, operationCount: Int) -> ImportReport {
        ImportReport(dryRun: dryRun, items: items, operationCount: operationCount)
    }
}

/// Wall-clock time for the stamps an import makes itself (the revocation of an API key that
/// cannot move).
enum Clock {
    static func nowMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
