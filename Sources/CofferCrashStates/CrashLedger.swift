import Coffer
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// What a crash state must hold when commands or threads commit at once, so that no single
/// "before" and "after" describes it: the credentials the vault had before (its base), plus
/// whole batches of a plan — every batch acknowledged before the crash, any other of the
/// plan's batches whole or not at all, and nothing else.
///
/// A plan is a file of lines `BATCH<TAB>SLUG<TAB>VALUE`: credentials of the app ``appKey`` in
/// the organization ``organization``, each with the one field `token`; the credentials of a
/// batch are committed in one transaction. A batch is acknowledged by a line `BATCH` written to
/// the acknowledgements file once its commit returned (or its command exited 0); the trace
/// places each acknowledgement among the calls (``TraceReplay/acknowledgements``).
public struct CrashLedger: Sendable {
    public static let organization = "acme"
    public static let appKey = "app"

    public struct Planned: Sendable, Equatable {
        public var batch: String
        public var slug: String
        public var value: [UInt8]

        public init(batch: String, slug: String, value: [UInt8]) {
            self.batch = batch
            self.slug = slug
            self.value = value
        }
    }

    /// The plan's credentials, in its order.
    public var plan: [Planned]
    /// What the vault held before (``contents(vaultAt:key:readOnly:)``).
    public var base: [String: String]
    /// Each acknowledgement: the number of events before it, and its batch.
    public var acknowledgements: [(events: Int, batch: String)]

    public init(plan: [Planned], base: [String: String], acknowledgements: [(events: Int, batch: String)]) {
        self.plan = plan
        self.base = base
        self.acknowledgements = acknowledgements
    }

    /// Reads a plan file's lines.
    public static func parsePlan(_ text: String) throws -> [Planned] {
        try text.split(separator: "\n").map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw TraceError("a plan line is not BATCH<TAB>SLUG<TAB>VALUE: \(line.prefix(40))")
            }
            return Planned(batch: String(fields[0]), slug: String(fields[1]), value: Array(fields[2].utf8))
        }
    }

    /// Reads a contents file (``describe(_:)``'s lines) back.
    public static func parseContents(_ text: String) -> [String: String] {
        var contents: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let tab = line.firstIndex(of: "\t") else { continue }
            contents[String(line[..<tab])] = String(line[line.index(after: tab)...])
        }
        return contents
    }

    /// Contents as lines `APP/SLUG<TAB>FIELDS`, sorted.
    public static func describe(_ contents: [String: String]) -> String {
        contents.keys.sorted().map { "\($0)\t\(contents[$0]!)\n" }.joined()
    }

    /// The key and the description of a credential's fields as ``contents(vaultAt:key:readOnly:)``
    /// gives them: `APP/SLUG` and `NAME=HEX;…` in name order.
    static func entry(appKey: String, slug: String, fields: [(name: String, value: [UInt8])]) -> (String, String) {
        let described = fields.sorted { $0.name < $1.name }.map { "\($0.name)=\(Hex.encode($0.value))" }
        return ("\(appKey)/\(slug)", described.joined(separator: ";"))
    }

    /// Every credential of ``organization`` with its fields (test values, never real secrets),
    /// opened as the next command would (a writer, unless `readOnly`); or why it does not open.
    ///
    /// A power cut in a group commit that was never acknowledged can leave an earlier frame of
    /// the batch torn and a later one whole, which open refuses as corrupted (FORMAT.md F-TORN);
    /// salvage then keeps every acknowledged record. So a writer's open that finds the log
    /// corrupted salvages it (to `path` + `.salvaged`) and gives what the copy holds, `salvaged`.
    public static func contents(
        vaultAt path: String, key: [UInt8], readOnly: Bool = false
    ) -> Result<(credentials: [String: String], salvaged: Bool), TraceError> {
        switch openedContents(vaultAt: path, key: key, readOnly: readOnly) {
        case .failure(let error) where error.code == .corrupted && !readOnly:
            let copy = path + ".salvaged"
            unlink(copy)
            defer { unlink(copy) }
            do {
                _ = try VaultStore.salvage(path: path, secret: .keyFile(SecureBytes(copying: key)), output: copy)
            } catch {
                return .failure(TraceError("error corrupted, and salvage failed: \(error.code)"))
            }
            return openedContents(vaultAt: copy, key: key, readOnly: false).map { ($0, true) }.mapError {
                TraceError("error corrupted, and its salvaged copy shows error \($0.code)")
            }
        case .failure(let error):
            return .failure(TraceError(error.code == .notFound ? "absent" : "error \(error.code)"))
        case .success(let contents): return .success((contents, false))
        }
    }

    private static func openedContents(vaultAt path: String, key: [UInt8], readOnly: Bool) -> Result<
        [String: String], CofferError
    > {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(CofferError(.notFound, "absent")) }
        do {
            let vault = try Vault.open(
                path: path, unlock: .keyFile(contents: SecureBytes(copying: key)), options: .init(readOnly: readOnly))
            defer { vault.close() }
            let credentials = vault.read { index in
                index.organization(organization).map {
                    index.credentials(matching: CredentialFilter(organization: $0.id))
                } ?? []
            }
            var contents: [String: String] = [:]
            for credential in credentials {
                let values = try vault.reveal(credential.id)
                let fields = values.names.map { name in (name, values[name]!.withUnsafeBytes { Array($0) }) }
                let (key, described) = entry(appKey: credential.appKey, slug: credential.slug, fields: fields)
                contents[key] = described
            }
            return .success(contents)
        } catch {
            return .failure(error)
        }
    }

    /// The failures of a crash state after event `event` whose vault holds `found`.
    public func check(_ result: Result<[String: String], TraceError>, crashAfter event: Int) -> [String] {
        let found: [String: String]
        switch result {
        case .failure(let reason): return ["the vault shows \(reason), expected its credentials"]
        case .success(let contents): found = contents
        }
        var failures: [String] = []
        var planned: [String: (batch: String, fields: String)] = [:]
        var batches: [String: [String]] = [:]
        for credential in plan {
            let (key, fields) = Self.entry(
                appKey: Self.appKey, slug: credential.slug, fields: [("token", credential.value)])
            planned[key] = (credential.batch, fields)
            batches[credential.batch, default: []].append(key)
        }
        for (key, fields) in found.sorted(by: { $0.key < $1.key }) {
            if let expected = planned[key] {
                if expected.fields != fields { failures.append("\(key) holds other values than its commit wrote") }
            } else if base[key] != fields {
                failures.append(
                    base[key] == nil ? "\(key) appears, yet nobody wrote it" : "\(key) changed, yet nobody wrote it")
            }
        }
        for key in base.keys.sorted() where found[key] == nil && planned[key] == nil {
            failures.append("\(key), there before, is missing")
        }
        // The crash comes at the latest just before the next event: what was acknowledged by then counts.
        let acknowledged = Set(acknowledgements.filter { $0.events <= event + 1 }.map(\.batch))
        for (batch, keys) in batches.sorted(by: { $0.key < $1.key }) {
            let present = keys.filter { found[$0] != nil }
            if acknowledged.contains(batch) && present.count < keys.count {
                failures.append(
                    "batch \(batch), acknowledged, lost \(keys.count - present.count) of its \(keys.count) credentials")
            } else if !present.isEmpty && present.count < keys.count {
                failures.append("batch \(batch) is there in part: \(present.count) of its \(keys.count) credentials")
            }
        }
        return failures
    }
}
