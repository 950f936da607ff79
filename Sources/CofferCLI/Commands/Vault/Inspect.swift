import ArgumentParser
import Coffer
import CofferFormat
import CofferStorage

/// `coffer inspect`: what the file holds, without a key; more with one. Never a secret.
struct Inspect: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show the header, keyslots and log of a vault; with a key, records, epochs and contents.",
        discussion: """
            Without a key it reads only what needs none: the format version, the UUID, the keyslots and their \
            Argon2id costs, the header copies, the size, and the frames as far as their checksums go. With a key \
            (--key-file, --passphrase-file, the environment, or --unlock to be asked), it authenticates every record \
            and adds records by type, key epochs with their record counts, the contents and the authenticated head. \
            Read-only: the file is never modified.

            Examples:
              coffer inspect --vault team.coffer
              coffer inspect --vault team.coffer --key-file team.key --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Flag(
        name: .customLong("unlock"),
        help: "Unlock the vault (asking for the passphrase if none is given) to show what only the key shows.")
    var unlockVault = false

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let location = try global.vault(in: context)
        let path = location.path
        let info: VaultFileInfo
        do {
            info = try VaultFileInfo.read(path: path, storage: location.storage)
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: path), status: .vaultUnavailable)
        }
        var document = keylessDocument(info, path: path)
        var fields = keylessFields(info, path: path)
        if unlockVault || unlock.isGiven(in: context) {
            let secret = try unlock.secret(in: context, vaultPath: path)
            // A bar only when measuring takes more than a second (a large vault).
            let progress = ProgressBar(
                label: "measuring", context: context, quiet: global.quiet, showsAfter: 1, unit: "operations")
            let keyed: KeyedFacts
            do {
                keyed = try KeyedFacts.read(
                    location: location, secret: secret,
                    options: global.vaultOptions(in: context, location: location, readOnly: true, unlock: unlock),
                    progress: progress)
            } catch let failure as CommandFailure where failure.status == .vaultUnavailable {
                // What needs no key is shown all the same (a corrupted log's frames and where
                // the corruption is), then why the key's open failed, with its exit status.
                progress.finish()
                document["unlocked"] = false
                document["unlock_failure"] = .string(failure.code)
                fields.append("Unlocked", "no: reading with the key failed (\(failure.code)); see the error")
                output.emit(.object(document), text: { fields.render(style: output.style) })
                throw failure
            }
            VaultAccess.reportRecovery(keyed.recovery, output: output)
            keyed.add(to: &document, &fields)
        } else {
            document["unlocked"] = false
            fields.append("Unlocked", "no (give a key to see records, epochs and contents)")
        }
        output.emit(.object(document), text: { fields.render(style: output.style) })
    }

    private func keylessDocument(_ info: VaultFileInfo, path: String) -> [String: JSON] {
        let header = info.header
        return [
            "path": .string(path),
            "format_version": .unsigned(UInt64(header.writeVersion)),
            "read_version": .unsigned(UInt64(header.readVersion)),
            "uuid": .string(Describe.uuid(header.vaultID)),
            "created": .string(Describe.time(header.createdMilliseconds)),
            "generation": .unsigned(header.generation),
            "file_bytes": .unsigned(info.fileBytes),
            "free_bytes": .unsigned(info.freeBytes),
            "header_copies": .array(
                info.headerCopiesValid.enumerated().map { index, valid in
                    ["copy": .string(index == 0 ? "A" : "B"), "valid": .bool(valid)]
                }),
            "keyslots": .array(header.keyslots.map(KeyslotText.json)),
            "frames": .unsigned(info.recordCount),
            "bytes_by_type": bytesByType(info.bytesByType),
            "head_unauthenticated": .string(info.head.description),
            "torn_tail": info.tornTail.map(ProblemText.json) ?? .null,
            "corruption": info.corruption.map(ProblemText.json) ?? .null,
        ]
    }

    private func keylessFields(_ info: VaultFileInfo, path: String) -> Fields {
        let header = info.header
        var fields = Fields()
        fields.append("Vault", path)
        fields.append("Format", "version \(header.writeVersion) (readable from version \(header.readVersion))")
        fields.append("UUID", Describe.uuid(header.vaultID))
        fields.append("Created", Describe.time(header.createdMilliseconds))
        fields.append(
            "File size",
            "\(Describe.bytes(info.fileBytes)) bytes"
                + (info.freeBytes == 0 ? "" : ", of which \(Describe.bytes(info.freeBytes)) free (preallocated zeros)"))
        let copies = info.headerCopiesValid.enumerated().map {
            "\($0.offset == 0 ? "A" : "B") \($0.element ? "valid" : "INVALID")"
        }
        fields.append("Header copies", copies.joined(separator: ", ") + " (generation \(header.generation))")
        for slot in header.keyslots {
            fields.append(
                "Keyslot \(slot.id)", KeyslotText.text(slot) + ", created " + Describe.time(slot.createdMilliseconds))
        }
        let byType = info.bytesByType.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key) \(Describe.bytes($0.value))" }.joined(separator: ", ")
        fields.append(
            "Frames", "\(info.recordCount) by their checksums" + (byType.isEmpty ? "" : " (bytes: \(byType))"))
        if let torn = info.tornTail { fields.append("Torn tail", ProblemText.text(torn)) }
        if let corruption = info.corruption { fields.append("Corruption", ProblemText.text(corruption)) }
        return fields
    }

    private func bytesByType(_ bytes: [RecordType: UInt64]) -> JSON {
        .object(
            Dictionary(
                uniqueKeysWithValues: RecordType.allCases.map { ($0.description, JSON.unsigned(bytes[$0] ?? 0)) }))
    }
}

/// What only the key shows: the engine's storage statistics (every record authenticated,
/// live and dead bytes from a dry run of compaction, epochs with their live records) and the
/// counts of the index.
private struct KeyedFacts {
    var storage: StorageStatistics
    var recovery: VaultStore.Recovery
    var contents: VaultStatistics

    static func read(
        location: VaultLocation, secret: Keyslot.Secret, options: Vault.Options, progress: ProgressBar
    ) throws -> KeyedFacts {
        let vault: Vault
        do {
            vault = try Vault.open(path: location.path, unlock: secret, options: options)
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: location.path), status: .vaultUnavailable)
        }
        defer { vault.close() }
        // Measuring reads every record, also those an open from the checkpoint skipped: a
        // damaged one fails here, and is shown as a failed open is.
        let storage: StorageStatistics
        do {
            storage = try vault.statistics { done, total in progress.update(count: done, done: done, total: total) }
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: location.path), status: .vaultUnavailable)
        }
        progress.finish()
        return KeyedFacts(storage: storage, recovery: vault.recovery, contents: vault.read { $0.statistics() })
    }

    func add(to document: inout [String: JSON], _ fields: inout Fields) {
        let recordsByType = storage.recordsByType
        document["unlocked"] = true
        document["head"] = .string(storage.head.description)
        document["records_by_type"] = .object(
            Dictionary(
                uniqueKeysWithValues: RecordType.allCases.map {
                    ($0.description, JSON.unsigned(recordsByType[$0] ?? 0))
                }))
        document["log_bytes"] = .unsigned(storage.logBytes)
        document["live_bytes"] = .unsigned(storage.liveBytes)
        document["dead_bytes"] = .unsigned(storage.deadBytes)
        document["dead_share"] = .double((storage.deadShare * 10000).rounded() / 10000)
        document["epochs"] = .array(
            storage.epochs.map { epoch in
                [
                    "id": .unsigned(UInt64(epoch.id)), "state": .string(epoch.state.rawValue),
                    "records": .int(Int64(epoch.records)), "live_records": .int(Int64(epoch.liveRecords)),
                ]
            })
        document["contents"] = [
            "organizations": .int(Int64(contents.organizations)), "projects": .int(Int64(contents.projects)),
            "users": .int(Int64(contents.users)), "memberships": .int(Int64(contents.memberships)),
            "credentials": .int(Int64(contents.credentials)),
            "revoked_credentials": .int(Int64(contents.revokedCredentials)),
            "retained_versions": .int(Int64(contents.retainedVersions)), "defaults": .int(Int64(contents.defaults)),
            "assignments": .int(Int64(contents.assignments)), "api_keys": .int(Int64(contents.apiKeys)),
            "active_api_keys": .int(Int64(contents.activeAPIKeys)),
        ]
        fields.append("Unlocked", "yes: every record authenticated")
        let total = recordsByType.values.reduce(0, +)
        let byType = RecordType.allCases.map { "\($0) \(recordsByType[$0] ?? 0)" }.joined(separator: ", ")
        fields.append("Records", "\(total) (\(byType))")
        // Live bytes are what a compaction would write, which can exceed a log written in a
        // few large transactions (an import): then there is nothing to reclaim.
        fields.append(
            "Live bytes",
            storage.liveBytes > storage.logBytes
                ? "\(Describe.bytes(storage.liveBytes)) if compacted, more than the \(Describe.bytes(storage.logBytes)) "
                    + "log bytes now: nothing to reclaim"
                : "\(Describe.bytes(storage.liveBytes)) of \(Describe.bytes(storage.logBytes)) log bytes")
        fields.append(
            "Dead bytes", "\(Describe.bytes(storage.deadBytes)) (\(Self.share(storage.deadShare)) of the log)")
        let epochText = storage.epochs.map { epoch in
            "\(epoch.id) \(epoch.state.rawValue) (\(Describe.count(epoch.records, "record")), \(epoch.liveRecords) live)"
        }
        fields.append("Key epochs", epochText.joined(separator: ", "))
        fields.append(
            "Contents",
            [
                Describe.count(contents.organizations, "organization"), Describe.count(contents.projects, "project"),
                Describe.count(contents.users, "user"),
                Describe.count(contents.credentials, "credential") + " (\(contents.revokedCredentials) revoked)",
                Describe.count(contents.assignments, "assignment"), Describe.count(contents.apiKeys, "API key"),
            ].joined(separator: ", "))
        fields.append("Head", storage.head.description)
    }

    /// A share as a percentage with one decimal: `12.5%`.
    static func share(_ value: Double) -> String {
        let tenths = Int((value * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }
}

/// How a log problem is shown.
enum ProblemText {
    static func json(_ problem: LogProblem) -> JSON {
        [
            "kind": .string(problem.kind.rawValue), "offset": .unsigned(problem.offset),
            "seq": .unsigned(problem.sequence),
            "detail": .string(problem.detail),
        ]
    }

    static func text(_ problem: LogProblem) -> String {
        "\(problem.kind.rawValue) at offset \(problem.offset), sequence \(problem.sequence): \(problem.detail)"
    }
}
