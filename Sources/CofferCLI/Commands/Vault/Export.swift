import ArgumentParser
import Coffer
import CofferExchange

#if canImport(Glibc)
    import Glibc
#endif

/// `coffer export`: the whole vault as a JSON document (secrets as previews unless
/// `--reveal`), or as an encrypted bundle that carries the secrets (`--bundle`).
struct Export: VaultCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the vault: a JSON document, or an encrypted bundle that carries the secrets.",
        discussion: """
            Writes every organization, project, user, membership, credential (metadata, history, field previews), \
            default, assignment and API key (metadata only, never hashes) as one JSON document in a stable order: \
            two exports of the same state are byte for byte the same (schema/export-v1.schema.json). Secret fields \
            show previews unless --reveal; --reveal refuses to write to a terminal unless --force. --bundle writes \
            the revealed document compressed and sealed (XChaCha20-Poly1305) under a key from a passphrase \
            (Argon2id) or a key file: --bundle-key-file, --generate-bundle-key-file, --bundle-passphrase-file, \
            COFFER_BUNDLE_PASSPHRASE, or a prompt. Files are written with mode 0600 and never over an existing file \
            unless --force; even with it, never over the vault, its checkpoint or head file, nor a key or \
            passphrase file this command reads or writes. Import with `coffer import`.

            Examples:
              coffer export --output team.json
              coffer export --bundle --generate-bundle-key-file move.key --output team.bundle
              coffer export --reveal --output team-secrets.json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup(title: "Bundle key") var bundleKey: BundleKeyOptions

    @Flag(help: "Include secret values in the JSON document (it is then as secret as the vault).")
    var reveal = false

    @Flag(
        help: """
            With --reveal, write to standard output even when it is a terminal; with --output, replace an existing \
            file (never the vault, nor a key or passphrase file).
            """)
    var force = false

    @Flag(help: "Write an encrypted bundle (always with the secrets) instead of JSON.")
    var bundle = false

    @Option(
        name: .customLong("generate-bundle-key-file"),
        help: ArgumentHelp(
            "Seal the bundle with a new random key file written here (mode 0600, never over a file).", valueName: "path"
        ),
        completion: .file())
    var generateBundleKeyFile: String?

    @Option(help: "The Argon2id cost of a bundle passphrase.")
    var kdf: KDFCost = .moderate

    @Option(
        name: .customLong("output"),
        help: ArgumentHelp("The file to write (default: standard output).", valueName: "file"), completion: .file())
    var outputPath: String?

    func validate() throws {
        if bundle && reveal {
            throw ValidationError("--bundle always carries the secrets; --reveal is for the JSON document.")
        }
        if !bundle && (bundleKey.isGiven || generateBundleKeyFile != nil) {
            throw ValidationError(
                "--bundle-key-file, --bundle-passphrase-file and --generate-bundle-key-file need --bundle.")
        }
        if generateBundleKeyFile != nil && bundleKey.isGiven {
            throw ValidationError(
                "Give one bundle key: --generate-bundle-key-file, --bundle-key-file or --bundle-passphrase-file.")
        }
        try bundleKey.validate()
    }

    func execute(in context: CommandContext) throws {
        if global.actingUser != nil {
            // An export holds every organization and every user's credentials: no member's view.
            throw CommandFailure.usage(
                "export writes everything the key opens, which is no member's view: it is the operator's command. Leave out --as."
            )
        }
        // The vault and its companions, its index checkpoint and the head file that guards it,
        // whether they exist yet or not, are never written, whatever --force says.
        let companions = try global.vaultCompanions(in: context)
        for (option, path) in [("--output", outputPath), ("--generate-bundle-key-file", generateBundleKeyFile)] {
            guard let path else { continue }
            try OutputPaths.refuse(
                path, option: option, namingAFileOf: companions, what: "the vault, its checkpoint or head file")
            try OutputPaths.checkPlace(of: path, option: option)
        }
        if let outputPath {
            try refuseToOverwrite(outputPath, in: context)
        } else {
            if bundle && context.standardOutputIsTerminal {
                throw CommandFailure.usage("A bundle is binary: write it to a file with --output FILE.")
            }
            if reveal && context.standardOutputIsTerminal && !force {
                throw CommandFailure.usage(
                    "--reveal would print every secret of the vault on this terminal. Write it to a file with --output FILE, or pass --force."
                )
            }
        }
        // The bundle key first: a prompt or a bad key file should not wait for the export. A
        // generated key file is written once the export is made, so a failed export leaves none.
        let givenSecret: Vault.Unlock? =
            bundle && generateBundleKeyFile == nil ? try bundleKey.secret(in: context, confirm: true) : nil
        var status = stat()
        if let generateBundleKeyFile, lstat(generateBundleKeyFile, &status) == 0 {
            // Known before any work: a key file is never written over anything.
            throw CommandFailure(
                .no, code: "already_exists",
                "A file exists at \(generateBundleKeyFile); a key file is never overwritten. Choose another path.")
        }
        let vault = try access.openReadOnly(in: context)
        defer { vault.close() }
        let progress = ProgressBar(label: "exporting", context: context, quiet: global.quiet)
        let document = try ExportDocument.make(from: vault, revealing: reveal || bundle) { done, total in
            progress.update(count: UInt64(done), done: UInt64(done), total: UInt64(total))
        }
        progress.finish()
        let json = SecretBuffer()
        document.write(to: json)

        let output = global.output(context)
        if bundle {
            let secret = try givenSecret ?? .keyFile(SecretFiles.createKeyFile(generateBundleKeyFile ?? ""))
            let sealed: [UInt8]
            do {
                let cost = try kdf.cost(in: context)
                sealed = try json.withUnsafeBytes { bytes in try ExportBundle.seal(bytes, secret: secret, cost: cost) }
                if let outputPath, let generateBundleKeyFile {
                    // The key file exists now: the same file under another name is seen, too.
                    try OutputPaths.refuse(
                        outputPath, option: "--output", namingAFileOf: [generateBundleKeyFile],
                        what: "the bundle's new key file")
                }
                if let outputPath {
                    try sealed.withUnsafeBytes { bytes in
                        try ExchangeFiles.write(bytes, to: outputPath, replacing: force)
                    }
                } else {
                    sealed.withUnsafeBytes { context.standardOutput.write($0) }
                }
            } catch {
                // A key file for a bundle that was never written would only mislead.
                if let generateBundleKeyFile { unlink(generateBundleKeyFile) }
                throw error
            }
            summarize(document, bytes: sealed.count, output: output, wroteToStandardOutput: outputPath == nil)
            return
        }
        if let outputPath {
            try json.withUnsafeBytes { bytes in try ExchangeFiles.write(bytes, to: outputPath, replacing: force) }
        } else {
            json.withUnsafeBytes { context.standardOutput.write($0) }
        }
        summarize(document, bytes: json.count, output: output, wroteToStandardOutput: outputPath == nil)
    }

    /// Refuses an output path that exists (unless `--force`), or that names a file this
    /// command depends on whatever `--force` says: the key or passphrase file that unlocks the
    /// vault, and the bundle's key or passphrase file, given or to be generated. (The vault
    /// itself, its checkpoint and its head file are checked before.)
    func refuseToOverwrite(_ outputPath: String, in context: CommandContext) throws(CommandFailure) {
        var inUse: [String] = [bundleKey.keyFile, bundleKey.passphraseFile, generateBundleKeyFile].compactMap { $0 }
        switch unlock.source(in: context) {
        case .keyFile(let path)?, .passphraseFile(let path)?: inUse.append(path)
        default: break
        }
        if let generateBundleKeyFile,
            GlobalOptions.canonicalPath(generateBundleKeyFile) == GlobalOptions.canonicalPath(outputPath)
        {
            throw CommandFailure.usage("--output and --generate-bundle-key-file name the same file; choose two.")
        }
        try OutputPaths.refuse(
            outputPath, option: "--output", namingAFileOf: inUse, what: "a key or passphrase file this export uses")
        var status = stat()
        if !force && lstat(outputPath, &status) == 0 {
            throw CommandFailure(
                .no, code: "already_exists",
                "A file exists at \(outputPath); pass --force to replace it, or choose another file.")
        }
    }

    /// What was written: the answer when it went to a file, a note when the document itself
    /// went to standard output.
    private func summarize(_ document: ExportDocument, bytes: Int, output: Output, wroteToStandardOutput: Bool) {
        let counts: [(String, String, Int)] = [
            ("organizations", "organization", document.organizations.count),
            ("projects", "project", document.projects.count), ("users", "user", document.users.count),
            ("memberships", "membership", document.memberships.count),
            ("credentials", "credential", document.credentials.count),
            ("assignments", "assignment", document.assignments.count), ("api_keys", "API key", document.apiKeys.count),
        ]
        let sentence = counts.map { Describe.count($0.2, $0.1) }.joined(separator: ", ")
        let what =
            bundle
            ? "an encrypted bundle"
            : reveal ? "a revealed JSON export (it holds every secret)" : "a JSON export (secrets as previews)"
        if wroteToStandardOutput {
            output.note("Exported \(sentence) as \(what).")
            return
        }
        output.emit(
            [
                "output": .string(outputPath ?? ""), "bytes": .unsigned(UInt64(bytes)), "bundle": .bool(bundle),
                "revealed": .bool(bundle || reveal),
                "counts": .object(Dictionary(uniqueKeysWithValues: counts.map { ($0.0, JSON.unsigned(UInt64($0.2))) })),
            ],
            text: { "Exported \(sentence) to \(outputPath ?? "") as \(what), \(Describe.bytes(UInt64(bytes))) bytes." })
    }
}

/// The key of an export bundle, for `export --bundle` and `import`: a key file, a
/// passphrase file, `COFFER_BUNDLE_PASSPHRASE`, or a prompt on a terminal. Shared by the two
/// commands, like the vault's own ``UnlockOptions``.
struct BundleKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("bundle-key-file"),
        help: ArgumentHelp("The bundle's key file: 32 bytes, or 64 hexadecimal characters.", valueName: "path"),
        completion: .file())
    var keyFile: String?

    @Option(
        name: .customLong("bundle-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the bundle's passphrase (default: $COFFER_BUNDLE_PASSPHRASE, or a prompt).",
            valueName: "path"),
        completion: .file())
    var passphraseFile: String?

    var isGiven: Bool { keyFile != nil || passphraseFile != nil }

    func validate() throws {
        if keyFile != nil && passphraseFile != nil {
            throw ValidationError("Give --bundle-key-file or --bundle-passphrase-file, not both.")
        }
    }

    /// The bundle's secret. A key or passphrase file that cannot be read is a problem of the
    /// input (exit 1), not of the vault.
    ///
    /// - Parameter confirm: ask twice at a prompt (a new bundle).
    func secret(in context: CommandContext, confirm: Bool) throws(CommandFailure) -> Vault.Unlock {
        do {
            if let keyFile { return .keyFile(try SecretFiles.keyFile(keyFile, in: context)) }
            if let passphraseFile { return .passphrase(try SecretFiles.passphraseFile(passphraseFile, in: context)) }
        } catch {
            var failure = error
            failure.status = .no
            throw failure
        }
        if let passphrase = context.variable("COFFER_BUNDLE_PASSPHRASE") {
            return .passphrase(SecureBytes.copying(text: passphrase))
        }
        if context.standardInputIsTerminal {
            return .passphrase(
                try UnlockOptions.promptPassphrase(in: context, prompt: "Bundle passphrase: ", confirm: confirm))
        }
        throw CommandFailure(
            .usage, code: "no_key",
            "The bundle needs a key and standard input is not a terminal. Pass --bundle-key-file or --bundle-passphrase-file, or set COFFER_BUNDLE_PASSPHRASE."
        )
    }
}
