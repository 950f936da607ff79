import CofferCrypto
import CofferModel

/// A mutation of an instance writing to a shared log, waiting for whichever of the instance's
/// writers commits next to commit it together with its own (group commit on a shared log).
final class SharedCommitRequest: @unchecked Sendable {
    /// Who makes the change, as history shows it.
    let actor: String
    /// Plans the mutation over a planner: its operations, none when there is nothing to write.
    /// It runs again when its batch is planned again.
    let plan: (Planner) throws(CofferError) -> [ModelOperation]
    /// Whether a transaction was written, or why the mutation failed. Set by the writer that
    /// commits it, holding the vault's writer lock, which the request's caller takes before it
    /// reads this.
    var outcome: Result<Bool, CofferError>?

    init(actor: String, plan: @escaping (Planner) throws(CofferError) -> [ModelOperation]) {
        self.actor = actor
        self.plan = plan
    }
}
