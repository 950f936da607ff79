import ArgumentParser
import Coffer
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer verify`: authenticates every record and checks the chain, the header copies and
/// the index invariants, listing every problem found.
struct Verify: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Authenticate every record and check the chain, the header copies and the index.",
        discussion: """
            Exits 0 when the vault is clean, 1 when problems were found (each listed with its kind, offset and \
            sequence number: torn_tail, checksum, authentication, chain, header, invariant, head_mismatch), and 2 \
            when verification could not run (wrong key, not a vault). Read-only: works beside a running writer and \
            never modifies the file. --expect-head takes the head `coffer head` printed earlier and reports a \
            head_mismatch if the log was truncated or rolled back since; so does the head file (--head-file), which \
            verify never writes.

            Examples:
              coffer verify --vault team.coffer --key-file team.key
              coffer verify --expect-head "$(coffer head)" --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let (location, secret) = try access.locationAndSecret(in: context)
        let path = location.path
        let report = try Self.verify(
            location: location, secret: secret, expectedHead: try global.expectedHead(in: context),
            headWitness: try global.headWitness(in: context, vault: location, unlock: unlock),
            preferredKeyslot: unlock.unlockSlot,
            progress: ProgressBar(label: "verifying", context: context, quiet: global.quiet))
        output.emit(
            [
                "ok": .bool(report.isClean), "records": .unsigned(report.records),
                "head": .string(report.head.description),
                "file_bytes": .unsigned(report.fileBytes), "free_bytes": .unsigned(report.freeBytes),
                "problems": .array(report.problems.map(ProblemText.json)),
            ],
            text: { text(report, path: path, style: output.style) })
        if !report.isClean { throw CommandFailure.reported(.no) }
    }

    private func text(_ report: VerificationReport, path: String, style: Style) -> String {
        // Zeros preallocated after the last record are free space, not a torn tail: said, so
        // that a file longer than its records is explained.
        let free =
            report.freeBytes == 0 ? "" : ", then \(Describe.bytes(report.freeBytes)) bytes free (preallocated zeros)"
        let summary = "\(Describe.count(report.records, "record")) authenticated, head \(report.head)\(free)"
        guard !report.isClean else { return style.green("ok") + ": \(path): \(summary)" }
        var table = Table("KIND", "OFFSET", "SEQ", "DETAIL")
        for problem in report.problems {
            table.append(problem.kind.rawValue, String(problem.offset), String(problem.sequence), problem.detail)
        }
        let count = report.problems.count
        return style.red("\(count) problem\(count == 1 ? "" : "s")") + " in \(path) (\(summary)):\n"
            + table.render(style: style)
    }

    /// The engine's verification, with a progress bar fed from its scan.
    ///
    /// - Throws: only when verification cannot run; what it finds is in the report.
    static func verify(
        location: VaultLocation, secret: Keyslot.Secret, expectedHead: ChainHead?,
        headWitness: (any HeadWitness)? = nil,
        preferredKeyslot: UInt16? = nil, progress: ProgressBar
    ) throws -> VerificationReport {
        let path = location.path
        var information = stat()
        // A shared log's size is known only as it is read: the bar counts records alone.
        let fileBytes = !location.isShared && stat(path, &information) == 0 ? UInt64(information.st_size) : 0
        defer { progress.finish() }
        do {
            return try Vault.verify(
                path: path, unlock: secret, expectedHead: expectedHead, headWitness: headWitness,
                storage: location.storage,
                preferredKeyslot: preferredKeyslot
            ) { records, bytes in
                progress.update(count: records, done: bytes, total: fileBytes)
            }
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: path), status: .vaultUnavailable)
        }
    }
}
