import ArgumentParser

/// `coffer export`: reserved for the export/import work.
struct Export: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the vault to a bundle (not available in this version).",
        discussion: """
            Reserved: export and import come in a later version. The command exits 2 and writes nothing.

            Example:
              coffer export --vault team.coffer --key-file team.key --output team.bundle
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Flag(help: "Include secret values in the bundle.")
    var reveal = false

    @Option(name: .customLong("output"), help: ArgumentHelp("The bundle to write.", valueName: "file"), completion: .file())
    var outputPath: String?

    func execute(in context: CommandContext) throws {
        throw CommandFailure.notAvailable("Export is not available in this version of coffer; it comes with a later version. Nothing was written.")
    }
}
