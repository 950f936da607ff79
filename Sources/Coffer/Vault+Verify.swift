import CofferCrypto
import CofferErrors
import CofferFormat
import CofferModel
import CofferStorage

extension Vault {
    /// Verifies the vault at `path` without opening it for writing: authenticates every
    /// record, checks both header copies, the chain (and `expectedHead`), and rebuilds the
    /// index to check its invariants (one default per triple, no assignment naming a missing
    /// credential, no credential whose scope owner is gone). Works beside a running writer
    /// and never modifies the file.
    ///
    /// - Throws: only when verification cannot run (`.wrongKey`, `.notAVault`, `.notFound`,
    ///   `.unsupportedVersion`, `.io`); what it finds is in the report.
    ///   - progress: called after each record with the records read and the bytes covered.
    ///   - headWitness: what it holds is checked as an open checks it (F-HEAD), each failed
    ///     check a `head_mismatch` problem; verification never writes it.
    ///   - preferredKeyslot: the keyslot to try first (``Vault/Options/preferredKeyslot``).
    public static func verify(
        path: String, unlock: Unlock, expectedHead: ChainHead? = nil, headWitness: (any HeadWitness)? = nil,
        storage: any LogMedium = PosixStorage(), preferredKeyslot: UInt16? = nil,
        progress: (_ records: UInt64, _ bytes: UInt64) -> Void = { _, _ in }
    ) throws(CofferError) -> VerificationReport {
        let witnessed = try headWitness?.read()
        var attempt = 0
        while true {
            do {
                return try verifyOnce(
                    path: path, unlock: unlock, expectedHead: expectedHead, witnessed: witnessed, storage: storage,
                    preferredKeyslot: preferredKeyslot, progress: progress)
            } catch  where error.code == .conflict && storage.isShared && attempt < conflictedOpenRetries {
                // Another instance's compaction replaced the log being read: verify the new one.
                attempt += 1
            }
        }
    }

    private static func verifyOnce(
        path: String, unlock: Unlock, expectedHead: ChainHead?, witnessed: WitnessedHead?, storage: any LogMedium,
        preferredKeyslot: UInt16?, progress: (_ records: UInt64, _ bytes: UInt64) -> Void
    ) throws(CofferError) -> VerificationReport {
        var records: UInt64 = 0
        var index = VaultIndex()
        var replayProblem: LogProblem?
        let indexEncoding = { index.checkpointEncoding() }
        var report = try VaultStore.verify(
            path: path, secret: unlock, expectedHead: expectedHead, witnessedHead: witnessed,
            storage: storage, preferredKeyslot: preferredKeyslot, indexEncoding: indexEncoding
        ) { record throws(CofferError) in
            records += 1
            progress(records, record.offset + UInt64(record.frameBytes))
            guard replayProblem == nil else { return }
            do {
                try Replay.apply(
                    record, sequence: record.sequence, offset: record.offset, to: &index, checksFieldValues: true)
            } catch {
                replayProblem = LogProblem(
                    kind: .invariant, offset: record.offset, sequence: record.sequence,
                    detail: (error as? CofferError)?.message ?? "\(error)")
            }
        }
        if let replayProblem { report.problems.append(replayProblem) }
        for violation in index.checkInvariants() {
            report.problems.append(
                LogProblem(kind: .invariant, offset: 0, sequence: report.head.sequence, detail: violation))
        }
        return report
    }
}
