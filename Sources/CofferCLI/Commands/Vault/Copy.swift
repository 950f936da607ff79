import ArgumentParser
import Coffer
import CofferStorage

/// `coffer copy --to DESTINATION`: the vault, byte for byte, to a new file or PostgreSQL vault.
struct Copy: CofferCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy the vault, byte for byte, to a new file or a new vault in PostgreSQL.",
        discussion: """
            The copy holds both header copies with every keyslot and every record, so it has the same chain head and \
            opens with the same passphrases and key files. No key is needed: frames are checked by their checksums, and \
            the copy is read back and must end at the same head. The destination must not exist. A running writer \
            beside the source is fine: the copy holds what was acknowledged when it started.

            Examples:
              coffer copy --vault team.coffer --to 'postgres://coffer@db.internal/secrets?vault=team'
              coffer copy --vault 'postgres://coffer@db.internal/secrets?vault=team' --to team-backup.coffer
            """)

    @OptionGroup var global: GlobalOptions

    var wantsJSON: Bool { global.json }

    @Option(
        name: .customLong("to"),
        help: ArgumentHelp("The new vault file, or postgres://user@host/database?vault=NAME.", valueName: "path|url"))
    var destination: String

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let source = try global.vault(in: context)
        let target = try VaultLocation.resolve(destination, environment: context.environment)
        guard target.path != source.path else {
            throw CommandFailure.usage("The copy must go somewhere new, not onto the vault itself.")
        }
        if !target.isShared {
            try OutputPaths.refuse(
                target.path, option: "--to", namingAFileOf: global.vaultCompanions(in: context),
                what: "the vault, its checkpoint or head file")
            try OutputPaths.checkPlace(of: target.path, option: "--to")
        }
        let report: CopyReport
        do {
            report = try VaultStore.copy(from: source.path, on: source.storage, to: target.path, on: target.storage)
        } catch let error where error.code == .alreadyExists {
            // The library's message says what is there and what to do; say it once.
            throw CommandFailure(
                .no, code: "already_exists", "\(target.path): \(error.message) Copy writes only a new vault.")
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: source.path), status: .vaultUnavailable)
        }
        if let torn = report.tornTail {
            output.warn(
                "The source ends with an incomplete record at offset \(torn.offset) (an interrupted write); it was not copied."
            )
        }
        output.emit(
            [
                "source": .string(source.path), "destination": .string(target.path),
                "records": .unsigned(report.records),
                "bytes": .unsigned(report.bytes), "head": .string(report.head.description),
            ],
            text: {
                "Copied \(Describe.count(report.records, "record")) (\(Describe.bytes(report.bytes)) bytes) from \(source.path) to \(target.path); head \(report.head)."
            })
    }
}
