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
}

extension VaultCommand {
    var wantsJSON: Bool { global.json }

    /// Opening the vault with these options.
    var access: VaultAccess { VaultAccess(global: global, unlock: unlock) }
}
