import ArgumentParser

/// `coffer import`: reserved for the export/import work.
struct Import: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a bundle into the vault (not available in this version).",
        discussion: """
            Reserved: export and import come in a later version. The command exits 2 and changes nothing.

            Example:
              coffer import --vault team.coffer --key-file team.key team.bundle
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions

    @Argument(help: "The bundle to read.", completion: .file())
    var file: String

    func execute(in context: CommandContext) throws {
        throw CommandFailure.notAvailable("Import is not available in this version of coffer; it comes with a later version. Nothing was changed.")
    }
}
