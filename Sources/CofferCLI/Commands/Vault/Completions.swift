import ArgumentParser

/// `coffer completions bash|zsh|fish`: prints a completion script.
struct Completions: CofferCommand {
    static let configuration = CommandConfiguration(
        commandName: "completions",
        abstract: "Print a shell completion script.",
        discussion: """
            Examples:
              coffer completions bash > /etc/bash_completion.d/coffer
              coffer completions zsh > "${fpath[1]}/_coffer"
              coffer completions fish > ~/.config/fish/completions/coffer.fish
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The shell: bash, zsh or fish.")
    var shell: Shell

    enum Shell: String, ExpressibleByArgument, CaseIterable {
        case bash, zsh, fish
    }

    var wantsJSON: Bool { global.json }

    func validate() throws {
        if global.json { throw ValidationError("completions prints a shell script; --json does not apply.") }
    }

    func execute(in context: CommandContext) throws {
        let shell: CompletionShell
        switch self.shell {
        case .bash: shell = .bash
        case .zsh: shell = .zsh
        case .fish: shell = .fish
        }
        context.print(Coffer.completionScript(for: shell))
    }
}
