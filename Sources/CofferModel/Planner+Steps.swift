import CofferCrypto
import CofferErrors

/// Several dependent changes planned as one transaction: each step is planned against the
/// state the steps before it leave, so a later step can name what an earlier one creates.
///
/// ```swift
/// let (acme, web) = try vault.mutate(actor: "setup") { planner in
///     try planner.steps { steps in
///         let acme = try steps.add { try $0.createOrganization(slug: "acme", name: "Acme") }
///         let web = try steps.add { try $0.createProject(in: "acme", slug: "web", name: "Web") }
///         try steps.add { try $0.createCredential(in: "acme", draft, scopes: [.project("web")]) }
///         return (acme, web)
///     }
/// }
/// ```
///
/// The transaction is all or nothing: a step that throws abandons every step, and nothing is
/// written.
///
/// A step that edits what an earlier step created or changed (an update or rotation merges
/// with the stored values) reads them through ``reader(over:)``: the earlier step's operations
/// are not in the log yet.
public final class PlanSteps {
    private var index: VaultIndex
    private let randomBytes: (Int) -> [UInt8]
    /// The operations of the steps so far, in order.
    public private(set) var operations: [ModelOperation] = []
    /// Each step's operations, by the sequence number that stands for its record: numbers from
    /// the top of the range an index holds, which no log reaches.
    private var stepOperations: [UInt64: [ModelOperation]] = [:]
    private static let firstStepSequence = VaultIndex.locationMax

    init(index: VaultIndex, randomBytes: @escaping (Int) -> [UInt8]) {
        self.index = index
        self.randomBytes = randomBytes
    }

    /// Plans one step against the state after the earlier steps, adds its operations and
    /// returns its value.
    ///
    /// - Throws: what the step throws; what applying its operations to that state throws (a
    ///   step that breaks a rule the planner did not check).
    @discardableResult
    public func add<Value>(_ step: (Planner) throws -> Plan<Value>) throws -> Value {
        let plan = try step(Planner(index: index, randomBytes: randomBytes))
        // The record's place is not known yet: the writer validates the whole transaction
        // again at its real place. Time 0 leaves the index's newest time as it is.
        let sequence = Self.firstStepSequence - UInt64(stepOperations.count)
        try index.apply(
            plan.operations,
            context: TransactionContext(sequence: sequence, offset: 0, timeMilliseconds: 0, actor: "planning"))
        stepOperations[sequence] = plan.operations
        operations += plan.operations
        return plan.value
    }

    /// Reads what earlier steps wrote from them, and anything else through `base` (the
    /// vault's reader): pass it to a step's update or rotation.
    public func reader(over base: @escaping OperationReader) -> OperationReader {
        let written = stepOperations
        return { location throws(CofferError) in
            guard let step = written[location.sequence] else { return try base(location) }
            guard Int(location.operationIndex) < step.count else {
                throw CofferError(.notFound, "No operation at \(location) in the steps planned so far.")
            }
            return step[Int(location.operationIndex)].encode()
        }
    }
}

extension Planner {
    /// Plans several dependent changes as one transaction; see ``PlanSteps``.
    ///
    /// The index is copied for the steps (its tables, once, when the first step applies), so
    /// use it for a handful of related changes, not for bulk loads.
    public func steps<Value: Sendable>(_ body: (PlanSteps) throws -> Value) throws -> Plan<Value> {
        let steps = PlanSteps(index: index, randomBytes: randomBytes)
        let value = try body(steps)
        return Plan(operations: steps.operations, value: value)
    }
}
