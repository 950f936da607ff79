import Coffer

#if canImport(Glibc)
    import Glibc
#endif

/// The files a command writes (`export --output`, `salvage --output`, `copy --to`, a generated
/// key file), checked before anything is written: never a file the vault depends on, whether it
/// exists yet or not, and in a directory that exists.
enum OutputPaths {
    /// The files beside a vault file that it depends on: itself, its index checkpoint and the
    /// head file that guards it (`--head-file` or `COFFER_HEAD_FILE`), made yet or not.
    static func companions(ofVault path: String, headFile: String?) -> [String] {
        [path, path + ".checkpoint"] + (headFile.map { [$0] } ?? [])
    }

    /// Refuses `target` (given as `option`) when it is the same file as one of `paths`, or
    /// would be once made (``GlobalOptions/namesSameFile(_:_:)``), whatever `--force` says;
    /// `reason` says why.
    static func refuse(
        _ target: String, option: String, namingAFileOf paths: [String], what: String,
        reason: String = "it is never replaced"
    ) throws(CommandFailure) {
        for path in paths where GlobalOptions.namesSameFile(target, path) {
            throw CommandFailure.usage("\(option) names \(what) (\(path)); \(reason). Choose another file.")
        }
    }

    /// Refuses `target` (given as `option`) when it is a directory (a usage error), or when the
    /// directory it would go in does not exist (exit 1), so that the failure names the output,
    /// not the vault read from.
    static func checkPlace(of target: String, option: String) throws(CommandFailure) {
        var existing = stat()
        if stat(target, &existing) == 0, existing.st_mode & S_IFMT == S_IFDIR {
            throw CommandFailure.usage("\(option) \(target) is a directory; name a file.")
        }
        let directory = TextBytes.directoryAndName(of: target).directory
        var status = stat()
        guard stat(directory, &status) == 0 else {
            throw CommandFailure(
                .no, code: "not_found",
                "\(option) \(target): the directory \(directory) does not exist. Create it first, or choose another path."
            )
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw CommandFailure.usage("\(option) \(target): \(directory) is not a directory. Choose another path.")
        }
    }
}
