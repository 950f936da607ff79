import ArgumentParser
import Coffer
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// The options every command takes: the vault, the output form, and the acting user.
///
/// They can be given before or after the command name (`coffer --json org list` or
/// `coffer org list --json`): the root command declares the same group, and argument-parser
/// hands its values down to the subcommand.
struct GlobalOptions: ParsableArguments {
    /// The actor recorded when no `--as` is given.
    static let defaultActor = "cli"

    @Option(
        name: .customLong("vault"),
        help: ArgumentHelp(
            "The vault file, or a vault in PostgreSQL as postgres://user@host/database?vault=NAME (default: $COFFER_VAULT).",
            valueName: "path|url"),
        completion: .file())
    var vaultPath: String?

    @Flag(help: "Print one JSON document on standard output, and errors as JSON on standard error.")
    var json = false

    @Flag(name: [.customShort("q"), .long], help: "Print no progress bar and no notes on standard error.")
    var quiet = false

    @Option(
        name: .customLong("as"),
        help: ArgumentHelp(
            "The acting user, recorded in history as who made a change: an existing user, a member of the organization the command works in. A claim, not an authentication.",
            valueName: "user"))
    var actingUser: String?

    @Option(
        name: .customLong("expect-head"),
        help: ArgumentHelp(
            "A head the vault must still hold, as `coffer head` printed it: a truncated or rolled-back vault is refused (default: $COFFER_EXPECT_HEAD).",
            valueName: "head"))
    var expectHeadText: String?

    @Option(
        name: .customLong("head-file"),
        help: ArgumentHelp(
            "A head witness: every open checks the vault holds the head in this file, and every change leaves the new head there (default: $COFFER_HEAD_FILE).",
            valueName: "path"),
        completion: .file())
    var headFilePath: String?

    @Option(
        name: .customLong("wait"),
        help: ArgumentHelp(
            "Wait up to this many seconds for another process to release the vault's writer lock, then fail with `locked` (alone: \(Int(Self.bareWaitSeconds)) s; default: $COFFER_LOCK_WAIT, else 0).",
            valueName: "seconds"))
    var lockWaitText: String?

    /// The wait of a bare `--wait`.
    static let bareWaitSeconds = 30.0

    /// `--wait` without a number of seconds after it, given as `--wait=30`: argument-parser
    /// has no option whose value is optional. Only before a `--`, after which arguments are
    /// not coffer's.
    static func expandingBareWait(_ arguments: [String]) -> [String] {
        var expanded: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument == "--wait" else {
                expanded.append(argument)
                if argument == "--" { break }
                continue
            }
            // A number, even a negative one (which argument-parser would take for an option), is
            // the value; so is a number with a unit after it (`5s`, `10min`), which is refused
            // as a wait rather than taken for the next argument.
            if index < arguments.endIndex, Double(arguments[index]) != nil || looksLikeDuration(arguments[index]) {
                expanded.append("--wait=\(arguments[index])")
                index += 1
            } else {
                expanded.append("--wait=\(Int(bareWaitSeconds))")
            }
        }
        return expanded + arguments[index...]
    }

    /// Digits (a decimal point among them) and then one to three letters: `5s`, `1.5h`,
    /// `10min`. Not a name like `1password`.
    static func looksLikeDuration(_ text: String) -> Bool {
        let number = text.utf8.prefix { TextBytes.isDigit($0) || $0 == UInt8(ascii: ".") }
        let unit = text.utf8.dropFirst(number.count)
        return number.contains(where: TextBytes.isDigit) && (1...3).contains(unit.count)
            && unit.allSatisfy(TextBytes.isLetter)
    }

    func validate() throws {
        if let lockWaitText, Self.lockWait(lockWaitText) == nil {
            let unit = Self.looksLikeDuration(lockWaitText) ? " (no unit: `--wait 30`, not `--wait 30s`)" : ""
            throw ValidationError(Self.waitSyntax("--wait") + unit)
        }
        if let expectHeadText, ChainHead(parsing: expectHeadText) == nil {
            throw ValidationError(Self.headSyntax("--expect-head"))
        }
        if headFilePath?.isEmpty == true { throw ValidationError("--head-file takes a path.") }
    }

    private static func headSyntax(_ source: String) -> String {
        "\(source) takes a head as `coffer head` prints it: SEQUENCE:HEX, or GENERATION:SEQUENCE:HEX after a compaction (64 hex digits)."
    }

    private static func waitSyntax(_ source: String) -> String {
        "\(source) takes a number of seconds from 0 to 86400."
    }

    private static func lockWait(_ text: String) -> Duration? {
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 86_400 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// How long to wait for the writer lock: `--wait`, else `COFFER_LOCK_WAIT`, else not at all.
    func lockWait(in context: CommandContext) throws(CommandFailure) -> Duration {
        if let lockWaitText, let wait = Self.lockWait(lockWaitText) { return wait }
        guard let text = context.variable("COFFER_LOCK_WAIT") else { return .zero }
        guard let wait = Self.lockWait(text) else { throw CommandFailure.usage(Self.waitSyntax("COFFER_LOCK_WAIT")) }
        return wait
    }

    /// The head the vault must hold: `--expect-head`, else `COFFER_EXPECT_HEAD`.
    func expectedHead(in context: CommandContext) throws(CommandFailure) -> ChainHead? {
        if let expectHeadText { return ChainHead(parsing: expectHeadText) }
        guard let text = context.variable("COFFER_EXPECT_HEAD") else { return nil }
        guard let head = ChainHead(parsing: text) else {
            throw CommandFailure.usage(Self.headSyntax("COFFER_EXPECT_HEAD"))
        }
        return head
    }

    /// The head file's path: `--head-file`, else `COFFER_HEAD_FILE`.
    func headFile(in context: CommandContext) -> String? {
        headFilePath ?? context.variable("COFFER_HEAD_FILE")
    }

    /// The head witness: `--head-file`, else `COFFER_HEAD_FILE`. It never names the vault, the
    /// key or passphrase file that unlocks it, nor one of `alsoInUse`: a writer replaces it whole.
    func headWitness(
        in context: CommandContext, vault: VaultLocation, unlock: UnlockOptions, alsoInUse: [String] = [],
        warnsWhenMissing: Bool = true
    ) throws(CommandFailure) -> HeadWitnessFile? {
        guard let path = headFile(in: context) else { return nil }
        var inUse = alsoInUse
        if !vault.isShared { inUse += OutputPaths.companions(ofVault: vault.path, headFile: nil) }
        switch unlock.source(in: context) {
        case .keyFile(let file)?, .passphraseFile(let file)?: inUse.append(file)
        default: break
        }
        var headStatus = stat()
        let headExists = stat(path, &headStatus) == 0
        if !headExists && lstat(path, &headStatus) == 0 {
            throw CommandFailure.usage(
                "The head file \(path) is a symbolic link to nothing. Make the file it names (empty is fine), or link another."
            )
        }
        // `/dev/null` reads as empty, and a writer would replace the device with a file; a
        // pipe's open waits forever.
        if headExists && (headStatus.st_mode & S_IFMT) != S_IFREG {
            throw CommandFailure.usage(
                "The head file \(path) is not a regular file (a device, a pipe, a socket or a directory), which a "
                    + "writer would replace. Name a regular file (empty is fine), or give no head file.")
        }
        // A missing directory (a disk not mounted, a typo) is named as the head file's: the
        // write after a change would fail as though the vault were missing.
        let directory = TextBytes.directoryAndName(of: path).directory
        var directoryStatus = stat()
        if !headExists && (stat(directory, &directoryStatus) != 0 || (directoryStatus.st_mode & S_IFMT) != S_IFDIR) {
            throw CommandFailure(
                .usage, code: "not_found",
                "The head file's directory \(directory) does not exist (is its disk mounted?); nothing was opened. "
                    + "Create it, or choose another file for --head-file or COFFER_HEAD_FILE.")
        }
        for file in inUse {
            if Self.namesSameFile(file, path) {
                throw CommandFailure.usage(
                    "The head file names the vault, its checkpoint or a key or passphrase file (\(file)), which a "
                        + "writer would replace. Choose another file for --head-file or COFFER_HEAD_FILE.")
            }
        }
        if !headExists && warnsWhenMissing {
            output(context).warn(
                "The head file \(path) does not exist: nothing was checked against it (a writer leaves the head there)."
            )
        }
        return HeadWitnessFile(path: path)
    }

    /// Whether `first` and `second` name one file: the same path once resolved (so for files
    /// not made yet too), or the same device and inode (hard links).
    static func namesSameFile(_ first: String, _ second: String) -> Bool {
        if canonicalPath(first) == canonicalPath(second) { return true }
        var one = stat()
        var other = stat()
        return stat(first, &one) == 0 && stat(second, &other) == 0 && one.st_dev == other.st_dev
            && one.st_ino == other.st_ino
    }

    /// The absolute path a file has or would have: through links, `.` and `..` for one that
    /// exists; its directory's for one that does not yet (`./v.key` and `v.key` are one file).
    static func canonicalPath(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let (directory, name) = TextBytes.directoryAndName(of: path)
        guard let resolved = realpath(directory, nil) else { return path }
        defer { free(resolved) }
        let base = String(cString: resolved)
        return (base == "/" ? "" : base) + "/" + name
    }

    /// The engine's options for opening the vault at `location` with these global options.
    func vaultOptions(
        in context: CommandContext, location: VaultLocation, readOnly: Bool, unlock: UnlockOptions
    ) throws(CommandFailure) -> Vault.Options {
        // A reader never waits for the writer lock, yet a malformed setting is refused all the same.
        let lockWait = try lockWait(in: context)
        return Vault.Options(
            storage: location.storage, readOnly: readOnly, expectedHead: try expectedHead(in: context),
            preferredKeyslot: unlock.unlockSlot,
            headWitness: try headWitness(in: context, vault: location, unlock: unlock),
            lockWait: readOnly ? .zero : lockWait)
    }

    /// The vault's path or URL: `--vault`, else `COFFER_VAULT`.
    func vaultText(in context: CommandContext) throws(CommandFailure) -> String {
        if let vaultPath, !vaultPath.isEmpty { return vaultPath }
        if let path = context.variable("COFFER_VAULT") { return path }
        throw CommandFailure.usage("No vault is given. Pass --vault PATH or set COFFER_VAULT.")
    }

    /// The files a vault file depends on (``OutputPaths/companions(ofVault:headFile:)``),
    /// known without opening or connecting to anything; for a vault in PostgreSQL, only its
    /// head file. A vault reached through a symbolic link keeps its checkpoint beside the file
    /// the link names: both places count.
    func vaultCompanions(in context: CommandContext) throws(CommandFailure) -> [String] {
        let text = try vaultText(in: context)
        guard VaultLocation.urlScheme(text) == nil else { return headFile(in: context).map { [$0] } ?? [] }
        var companions = OutputPaths.companions(ofVault: text, headFile: headFile(in: context))
        if case .success(let real) = PosixStorage().resolve(text), real != text {
            companions += OutputPaths.companions(ofVault: real, headFile: nil)
        }
        return companions
    }

    /// The vault's location: a file, or a PostgreSQL vault (connected to now).
    func vault(in context: CommandContext) throws(CommandFailure) -> VaultLocation {
        try VaultLocation.resolve(vaultText(in: context), environment: context.environment)
    }

    /// Who history records as making a change.
    var actor: String { actingUser ?? Self.defaultActor }

    func output(_ context: CommandContext) -> Output {
        Output(context: context, json: json, quiet: quiet)
    }
}
