import ArgumentParser

/// A `coffer` subcommand: parsed by argument-parser, run against a ``CommandContext`` so
/// that tests can run it with buffers and a fixed environment.
///
/// `execute` throws ``CommandFailure`` for failures the CLI words itself and lets engine
/// errors (`CofferError`) through; ``CofferTool`` maps both to an exit status in one place.
protocol CofferCommand: ParsableCommand {
    /// Whether the user asked for JSON, so that errors are written as JSON too.
    var wantsJSON: Bool { get }

    func execute(in context: CommandContext) throws
}

extension CofferCommand {
    /// Argument-parser's entry point, for a command run through `Coffer.main()`: the same
    /// path as ``CofferTool/main()``.
    mutating func run() throws {
        let status = CofferTool.execute(self, in: .standard())
        if status != .success { throw ExitCode(status.rawValue) }
    }
}

/// A command that works on a vault: it takes the global and the unlock options, and opens
/// the vault through ``access``.
protocol VaultCommand: CofferCommand {
    var global: GlobalOptions { get }
    var unlock: UnlockOptions { get }
    /// The organization the command works in, by slug or id, if it works in one: an acting
    /// user (`--as`) must be a member of it.
    var actingOrganization: String? { get }
}

extension VaultCommand {
    var wantsJSON: Bool { global.json }

    var actingOrganization: String? { nil }

    /// Opening the vault with these options.
    var access: VaultAccess { VaultAccess(global: global, unlock: unlock, organization: actingOrganization) }
}

/// A command that works in one organization, given with `--org`.
protocol OrganizationCommand: VaultCommand {
    var organization: OrganizationOption { get }
}

extension OrganizationCommand {
    var actingOrganization: String? { organization.organization }
}
