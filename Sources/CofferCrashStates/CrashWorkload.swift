import Coffer
import CofferStorage
import Foundation
import Synchronization

/// The library driven directly, for the crash states of concurrent commits: a service's
/// threads committing at once through one `Vault`, whose group commit shares each sync among
/// the transactions waiting for it.
public enum CrashWorkload {
    /// Commits the batches of `plan` (``CrashLedger``) from `threads` threads at once, the
    /// batches dealt out in turn, each batch one transaction of its credentials. After each
    /// commit returns, its batch's name goes to `acknowledgements` in one `write`: the trace
    /// shows what was acknowledged when.
    ///
    /// - Returns: the failures, in words (none when every batch committed).
    public static func commit(
        _ plan: [CrashLedger.Planned], vaultAt path: String, key: [UInt8], threads: Int, acknowledgements: String
    ) throws -> [String] {
        let vault = try Vault.open(path: path, unlock: .keyFile(contents: SecureBytes(copying: key)))
        defer { vault.close() }
        let descriptor = open(acknowledgements, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw TraceError("cannot open \(acknowledgements): errno \(errno)") }
        defer { close(descriptor) }
        var order: [String] = []
        var batches: [String: [CrashLedger.Planned]] = [:]
        for credential in plan {
            if batches[credential.batch] == nil { order.append(credential.batch) }
            batches[credential.batch, default: []].append(credential)
        }
        let work = order.map { batches[$0]! }
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for thread in 0..<max(threads, 1) {
            group.enter()
            Thread {
                defer { group.leave() }
                for batch in stride(from: thread, to: work.count, by: max(threads, 1)).map({ work[$0] }) {
                    do {
                        try vault.mutate(actor: "crash-workload") { planner in
                            try planner.steps { steps in
                                for credential in batch {
                                    let draft = CredentialDraft(
                                        appKey: CrashLedger.appKey, slug: credential.slug, label: credential.slug,
                                        type: .apiToken,
                                        fields: FieldValues(["token": SecureBytes(copying: credential.value)]))
                                    _ = try steps.add { try $0.createCredential(in: CrashLedger.organization, draft) }
                                }
                            }
                        }
                        let line = Array((batch[0].batch + "\n").utf8)
                        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                    } catch {
                        failures.withLock { $0.append("batch \(batch[0].batch): \(error)") }
                    }
                }
            }.start()
        }
        group.wait()
        return failures.withLock { $0 }
    }
}
