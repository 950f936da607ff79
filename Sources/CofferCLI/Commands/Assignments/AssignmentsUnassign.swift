import ArgumentParser
import Coffer

/// `coffer assignments unassign --org ORG (--workflow W | --agent A | --poll P) [--consumer C] (--credential SELECTOR | --app APP)`.
struct AssignmentsUnassign: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "unassign",
        abstract: "Remove a consumer's assignment for an app.",
        discussion: """
            The app is the --credential's app, or --app. Without --consumer it removes the assignment for every \
            consumer (`*`), not each consumer's own.

            Example:
              coffer assignments unassign --org acme --workflow triage \\
                  --consumer fetch-issues --credential linear/work
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption
    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The assigned credential, whose app is unassigned.", valueName: "selector"))
    var credential: String?

    @Option(help: "The app key to unassign.")
    var app: String?

    @OptionGroup(title: "Narrowing the selector") var filters: SelectorFilters

    func validate() throws {
        try target.requireTarget()
        if (credential == nil) == (app == nil) { throw ValidationError("Give --credential SELECTOR or --app APP.") }
    }

    func execute(in context: CommandContext) throws {
        let vault = try access.openForWriting(in: context)
        defer { vault.close() }
        let wanted = target.target!
        let appKey =
            try app
            ?? vault.read { index throws(CofferError) in
                try index.selected(credential!, in: organization.organization, filters: filters.narrowing).info.appKey
            }
        try vault.mutate(actor: global.actor) { try $0.unassign(wanted, appKey: appKey, in: organization.organization) }
        global.output(context).emit(
            ["unassigned": true, "target": Describe.targetJSON(wanted), "app": .string(appKey)],
            text: { "Removed the assignment of \(appKey) for \(Describe.target(wanted))." })
    }
}
