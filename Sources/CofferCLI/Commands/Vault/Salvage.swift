import ArgumentParser
import Coffer
import CofferStorage

/// `coffer salvage --output NEW`: copies the longest valid prefix into a new file.
struct Salvage: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "salvage",
        abstract: "Copy the longest valid prefix of a damaged vault into a new file.",
        discussion: """
            The vault is a file or a vault in PostgreSQL; the output is a file. Every record copied authenticates \
            under the key, so the copy opens cleanly; records after the first \
            invalid one are left behind and counted. The original is opened read-only and never modified; the output \
            must not exist.

            Example:
              coffer salvage --vault team.coffer --output team-salvaged.coffer
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Option(
        name: .customLong("output"), help: ArgumentHelp("The new vault file to write.", valueName: "path"),
        completion: .file())
    var outputPath: String

    func execute(in context: CommandContext) throws {
        let output = global.output(context)
        let (location, secret) = try access.locationAndSecret(in: context)
        let path = location.path
        try OutputPaths.refuse(
            outputPath, option: "--output", namingAFileOf: global.vaultCompanions(in: context),
            what: "the vault, its checkpoint or head file")
        try OutputPaths.checkPlace(of: outputPath, option: "--output")
        let report: SalvageReport
        do {
            report = try VaultStore.salvage(
                path: path, on: location.storage, secret: secret, output: outputPath, on: PosixStorage())
        } catch let error where error.code == .alreadyExists {
            throw CommandFailure(
                .no, code: "already_exists",
                "\(outputPath) exists already; salvage writes only a new file. Choose another path.")
        } catch {
            throw CommandFailure(VaultAccess.explained(error, path: path), status: .vaultUnavailable)
        }
        output.emit(
            [
                "output": .string(outputPath), "records": .unsigned(report.recordsKept),
                "bytes_dropped": .unsigned(report.bytesDropped), "head": .string(report.head.description),
                "problem": report.problem.map(ProblemText.json) ?? .null,
            ],
            text: {
                var text = "Copied \(report.recordsKept) records into \(outputPath); head \(report.head)."
                if let problem = report.problem {
                    text +=
                        "\nThe copy stops at the first problem, \(ProblemText.text(problem))\n\(Describe.bytes(report.bytesDropped)) bytes were left behind."
                } else {
                    text += "\nThe whole log was valid; nothing was left behind."
                }
                return text
            })
    }
}
