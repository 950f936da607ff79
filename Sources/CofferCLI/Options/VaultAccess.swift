import ArgumentParser
import Coffer
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Opening the vault a command works on, with its ``GlobalOptions`` and ``UnlockOptions``:
/// read-only for commands that only look (they take no lock, never modify the file, not
/// even its modification time, and work beside a running writer), or for writing.
///
/// It is not itself an option group: argument-parser's debug builds validate nested option
/// groups over and over (a tenth of a second per run with two levels), so commands declare
/// the two flat groups and get this from them.
struct VaultAccess {
    let global: GlobalOptions
    let unlock: UnlockOptions
    /// The organization the command works in, which an acting user must be a member of.
    let organization: String?

    /// Opens the vault without the writer lock; nothing is ever written.
    func openReadOnly(in context: CommandContext) throws(CommandFailure) -> Vault {
        try open(in: context, readOnly: true)
    }

    /// Opens the vault as its one writer. A torn tail is cut and reported.
    func openForWriting(in context: CommandContext) throws(CommandFailure) -> Vault {
        try open(in: context, readOnly: false)
    }

    /// The vault's location and the secret that unlocks it.
    func locationAndSecret(in context: CommandContext) throws(CommandFailure) -> (VaultLocation, Keyslot.Secret) {
        let location = try global.vault(in: context)
        return (location, try unlock.secret(in: context, vaultPath: location.path))
    }

    private func open(in context: CommandContext, readOnly: Bool) throws(CommandFailure) -> Vault {
        let (location, secret) = try locationAndSecret(in: context)
        let path = location.path
        var options = try global.vaultOptions(in: context, location: location, readOnly: readOnly, unlock: unlock)
        // Ctrl-C or SIGTERM while waiting for the lock stops the wait (exit 130, nothing changed).
        let waits = options.lockWait > .zero
        if waits {
            Interruption.install()
            options.isCancelled = { Interruption.isRequested }
            // On a terminal, say why nothing seems to happen.
            if context.standardErrorIsTerminal && !global.json {
                let wait = LockWait.describe(options.lockWait)
                nonisolated(unsafe) let context = context
                options.onLockWait = {
                    context.printError(
                        "Waiting up to \(wait) for another process to release the writer lock (Ctrl-C stops)…")
                }
            }
        }
        defer { if waits { Interruption.uninstall() } }
        let vault: Vault
        do {
            vault = try Vault.open(path: path, unlock: secret, options: options)
        } catch  where error.code == .cancelled {
            throw CommandFailure(error, status: .interrupted)
        } catch {
            // Whatever stops an open (a missing file included) means the vault could not be opened.
            throw CommandFailure(
                Self.explained(error, path: path, lockWait: options.lockWait), status: .vaultUnavailable)
        }
        // A signal that came after the lock was taken (during the unlock or the replay) set the
        // flag and put the default handler back: honour it here, before anything is changed.
        if waits && Interruption.isRequested {
            vault.close()
            throw CommandFailure(
                CofferError(.cancelled, "Stopped while opening the vault; nothing was changed."), status: .interrupted)
        }
        Self.reportRecovery(vault.recovery, output: global.output(context))
        if let acting = global.actingUser {
            do throws(CommandFailure) {
                try ActingUser.check(acting, organization: organization, in: vault)
            } catch {
                vault.close()
                throw error
            }
        }
        return vault
    }

    /// An opening error with advice an operator can act on.
    static func explained(_ error: CofferError, path: String, lockWait: Duration = .zero) -> CofferError {
        let advice: String
        switch error.code {
        case .notFound:
            advice = "No vault exists at \(path). Check --vault or COFFER_VAULT, or create one with `coffer init`."
        case .wrongKey:
            // The engine says why: no slot accepts it, no slot of its kind, the Argon2id work
            // bound, or a slot an interrupted change removed (F-HDR-SUPERSEDED).
            advice = "\(path): \(error.message)"
        case .locked where lockWait > .zero:
            advice =
                "Another process kept \(path) open for writing for the \(LockWait.describe(lockWait)) waited. Try again later, or use a read-only command."
        case .locked:
            advice =
                "Another process has \(path) open for writing. Wait for it with --wait SECONDS (or COFFER_LOCK_WAIT), or use a read-only command."
        case .notAVault where Self.isEmptyFile(path):
            advice =
                "\(path) is empty, not a Coffer vault, and holds nothing. Remove it and run `coffer init` again, "
                + "or give the right --vault."
        case .notAVault: advice = "\(path) is not a Coffer vault (its header has no Coffer magic)."
        case .headMismatch:
            advice =
                error.message
                + " Nothing was changed. If the vault was put back on purpose, check it with `coffer verify`, then expect the "
                + "head it has now (`coffer head`; a head file: empty it, and the next writer fills it); otherwise restore "
                + "the vault from a trusted copy."
        default: return error
        }
        return CofferError(
            error.code, advice, offset: error.offset, sequence: error.sequence, candidates: error.candidates)
    }

    /// Whether `path` names an empty regular file.
    private static func isEmptyFile(_ path: String) -> Bool {
        var information = stat()
        return stat(path, &information) == 0 && information.st_mode & S_IFMT == S_IFREG && information.st_size == 0
    }

    /// Tells the operator what opening found: a torn tail is not an error, but an operator
    /// must see it, since a damaged last commit looks the same (FORMAT.md, F-TORN).
    static func reportRecovery(_ recovery: VaultStore.Recovery, output: Output) {
        if let torn = recovery.tornTail {
            let action = recovery.truncated ? "it was cut off" : "the next writer will cut it off"
            output.warn(
                "The vault ends with an incomplete record at offset \(torn.offset) (an interrupted write); \(action). Run `coffer verify` to check the rest."
            )
        }
        if recovery.headerRepaired {
            output.warn(
                "A header copy that differed from the one in force (an interrupted keyslot change, or damage) was "
                    + "rewritten from it: both header copies now agree.")
        }
        if recovery.openedAnOlderHeaderCopy {
            output.warn(
                "The passphrase or key file given opens only an older header copy, not the one in force: a keyslot "
                    + "change, interrupted or under way, removed or replaced it (or its slot there was not tried: name it "
                    + "with --unlock-slot). It reads the vault and nothing more; a write with a current one completes the "
                    + "change.")
        }
        if !recovery.removedTemporaryFiles.isEmpty {
            output.note(
                "Removed what an interrupted compaction or checkpoint left beside the vault: "
                    + recovery.removedTemporaryFiles.joined(separator: ", ") + ".")
        }
        if case .ignored(let reason) = recovery.checkpoint {
            output.warn(
                "The vault's index checkpoint was not used (\(reason)); the whole log was replayed. "
                    + "`coffer verify` checks it, and `coffer checkpoint` writes a new one over it (a file there that "
                    + "is no checkpoint at all, it leaves alone: move that away first).")
        }
    }
}
