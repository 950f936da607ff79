import Coffer

/// Imports into a vault: an export (from a bundle or a revealed JSON export), or credentials
/// read from another tool's file. Everything is checked first, then written as **one
/// transaction**: it all lands or nothing does.
///
/// ```swift
/// let json = try bundle.withUnsafeBytes { try ExportBundle.open($0, secret: .keyFile(key)) }
/// let document = try json.withUnsafeBytes { try ExportDocument.decode($0) }
/// let report = try Importer.importDocument(document, into: vault, actor: "alice", dryRun: true)
/// print(report.count(.created))
/// ```
public enum Importer {
    /// Imports an export document (FORMAT.md §12.3).
    ///
    /// - Parameters:
    ///   - dryRun: plan and check everything against the vault as it is, write nothing.
    /// - Returns: what was (or would be) created, changed and skipped, object by object.
    /// - Throws: `.invalidInput` naming the JSON path at fault (a redacted export, a value
    ///   the schema refuses, a history that does not hold together, a transaction too large),
    ///   `.alreadyExists` listing the conflicts under `--on-conflict fail`, the vault's errors.
    public static func importDocument(
        _ document: ExportDocument, into vault: Vault, actor: String, options: ImportOptions = ImportOptions(),
        dryRun: Bool = false
    ) throws(CofferError) -> ImportReport {
        let reader: OperationReader = { location throws(CofferError) in try vault.readOperation(at: location) }
        return try run(vault, actor: actor, dryRun: dryRun) { index throws(CofferError) in
            var importer = DocumentImporter(
                document: document, index: index, options: options, actor: actor, reader: reader)
            return try importer.make()
        }
    }

    /// Imports credentials read from another tool's file (``Dotenv``, ``KeePassXCCSV``) into
    /// one organization, one instance per entry and scope.
    ///
    /// - Parameters:
    ///   - organization: the organization's slug or id.
    ///   - scopes: where each entry goes; the organization itself when empty.
    /// - Throws: `.invalidInput` naming the line at fault, `.notFound` for an unknown
    ///   organization, project or user, `.alreadyExists` listing conflicts under `.fail`.
    public static func importEntries(
        _ entries: CredentialEntries, into vault: Vault, organization: String, scopes: [ScopeTarget] = [.organization],
        actor: String, onConflict: ConflictPolicy = .fail, dryRun: Bool = false
    ) throws(CofferError) -> ImportReport {
        let reader: OperationReader = { location throws(CofferError) in try vault.readOperation(at: location) }
        return try run(vault, actor: actor, dryRun: dryRun) { index throws(CofferError) in
            try EntryImporter(
                entries: entries, index: index, organization: organization, scopes: scopes, policy: onConflict,
                actor: actor, reader: reader
            ).make()
        }
    }

    /// Plans against the index under the writer lock and writes the plan as one transaction,
    /// or, for a dry run, plans against a snapshot and writes nothing.
    private static func run(
        _ vault: Vault, actor: String, dryRun: Bool,
        _ make: (VaultIndex) throws(CofferError) -> (operations: [ModelOperation], plan: ImportPlan)
    ) throws(CofferError) -> ImportReport {
        if dryRun {
            let index = vault.read { index in copy index }
            let (operations, plan) = try make(index)
            return plan.report(dryRun: true, operationCount: operations.count)
        }
        return try vault.mutate(actor: actor) { planner in
            let (operations, plan) = try make(planner.index)
            return Plan(operations: operations, value: plan.report(dryRun: false, operationCount: operations.count))
        }
    }
}
