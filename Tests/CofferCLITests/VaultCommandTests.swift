import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `init`, `inspect`, `verify`, `head`, `log`, `salvage`, `key`, the reserved commands, and the
/// vault states an operator meets: torn tail, bit flip, wrong key, not a vault, locked.
final class VaultCommandTests: XCTestCase {
    func testInitWithAGeneratedKeyFile() throws {
        let coffer = try CofferRunner()
        let result = try coffer.expect(
            0, ["init", "--vault", coffer.path("v.coffer"), "--generate-key-file", coffer.path("v.key"), "--json"])
        let document = try result.json()
        XCTAssertEqual((document["keyslot"] as? [String: Any])?["kind"] as? String, "key_file")
        XCTAssertNotNil(document["uuid"] as? String)
        var information = stat()
        XCTAssertEqual(stat(coffer.path("v.key"), &information), 0)
        XCTAssertEqual(information.st_mode & 0o777, 0o600)
        XCTAssertEqual(information.st_size, 32)
        XCTAssertEqual(stat(coffer.path("v.coffer"), &information), 0)
        XCTAssertEqual(information.st_mode & 0o777, 0o600)
        // Neither the vault nor a key file is ever overwritten.
        let again = try coffer.expect(
            1, ["init", "--vault", coffer.path("v.coffer"), "--generate-key-file", coffer.path("w.key")])
        XCTAssertTrue(again.standardError.contains("exists"), again.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("w.key")))
        try coffer.expect(1, ["init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("v.key")])
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("w.coffer")))
        // The key file and the vault at one path, however spelled: refused before either is made.
        let dotted = coffer.path("x.coffer").replacingOccurrences(of: "/x.coffer", with: "/./x.coffer")
        try coffer.expect(64, ["init", "--vault", coffer.path("x.coffer"), "--generate-key-file", dotted])
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("x.coffer")))
        // Nor at the vault's checkpoint, which a checkpoint would be refused over, and moved away.
        try coffer.expect(
            64, ["init", "--vault", coffer.path("x.coffer"), "--generate-key-file", coffer.path("x.coffer.checkpoint")])
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("x.coffer.checkpoint")))
        // A vault path whose directory is missing is named, and no key file is left behind.
        let missing = try coffer.expect(
            1, ["init", "--vault", "missing/v.coffer", "--generate-key-file", coffer.path("y.key")])
        XCTAssertTrue(
            missing.standardError.contains("the new vault missing/v.coffer failed: no such file or directory"),
            missing.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("y.key")))
    }

    func testInitWithAPassphraseAndHexKeyFiles() throws {
        let coffer = try CofferRunner()
        try coffer.write("pass.txt", text: "correct horse battery staple\n")
        try coffer.expect(
            0, ["init", "--vault", coffer.path("p.coffer"), "--passphrase-file", coffer.path("pass.txt")],
            environment: ["COFFER_TEST_KDF": "minimum"])
        try coffer.expect(
            0, ["head", "--vault", coffer.path("p.coffer")],
            environment: ["COFFER_PASSPHRASE": "correct horse battery staple"])
        try coffer.expect(2, ["head", "--vault", coffer.path("p.coffer")], environment: ["COFFER_PASSPHRASE": "wrong"])
        // A key file of 64 hex characters and a newline is the same key as its 32 bytes.
        try coffer.write("hex.key", text: String(repeating: "ab", count: 32) + "\n")
        try coffer.expect(0, ["init", "--vault", coffer.path("h.coffer"), "--key-file", coffer.path("hex.key")])
        try coffer.write("raw.key", [UInt8](repeating: 0xab, count: 32))
        try coffer.expect(0, ["head", "--vault", coffer.path("h.coffer"), "--key-file", coffer.path("raw.key")])
        try coffer.write("bad.key", text: "not a key")
        let bad = try coffer.expect(
            2, ["head", "--vault", coffer.path("h.coffer"), "--key-file", coffer.path("bad.key")])
        XCTAssertTrue(bad.standardError.contains("32 bytes"), bad.standardError)
    }

    func testNoKeyAndNoTerminalIsAClearUsageError() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        let result = try coffer.expect(64, ["head"], environment: ["COFFER_KEY_FILE": ""])
        XCTAssertTrue(result.standardError.contains("--key-file"), result.standardError)
        let json = try coffer.expect(64, ["head", "--json"], environment: ["COFFER_KEY_FILE": ""])
        XCTAssertEqual(try json.errorJSON()["code"] as? String, "no_key")
        try coffer.expect(64, ["org", "list"], environment: ["COFFER_VAULT": ""])
    }

    func testInspectWithoutAndWithAKey() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let keyless = try coffer.expect(0, ["inspect", "--json"], environment: ["COFFER_KEY_FILE": ""]).json()
        XCTAssertEqual(keyless["format_version"] as? Int, 1)
        XCTAssertEqual(keyless["unlocked"] as? Bool, false)
        XCTAssertNotNil(keyless["uuid"] as? String)
        XCTAssertEqual((keyless["keyslots"] as? [Any])?.count, 1)
        XCTAssertGreaterThan(keyless["file_bytes"] as? Int ?? 0, 8192)
        XCTAssertNil(keyless["head"])
        let keyed = try coffer.expect(0, ["inspect", "--json"]).json()
        XCTAssertEqual(keyed["unlocked"] as? Bool, true)
        let byType = try XCTUnwrap(keyed["records_by_type"] as? [String: Int])
        XCTAssertEqual(byType["key_epoch"], 1)
        XCTAssertEqual(byType["transaction"], 8)
        let live = try XCTUnwrap(keyed["live_bytes"] as? Int)
        let dead = try XCTUnwrap(keyed["dead_bytes"] as? Int)
        // The log is the file past its header copies, less the free space after it (F-FREE).
        let logBytes = try XCTUnwrap(keyed["log_bytes"] as? Int)
        XCTAssertEqual(live + dead, logBytes)
        XCTAssertEqual(logBytes, (keyless["file_bytes"] as? Int ?? 0) - (keyless["free_bytes"] as? Int ?? 0) - 8192)
        XCTAssertNotNil(keyed["dead_share"] as? Double)
        let epochs = try XCTUnwrap(keyed["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.first?["id"] as? Int, 1)
        XCTAssertEqual(epochs.first?["state"] as? String, "current")
        XCTAssertGreaterThanOrEqual(epochs.first?["live_records"] as? Int ?? -1, 0)
        XCTAssertEqual((keyed["head"] as? String)?.hasPrefix("9:"), true)
        let text = try coffer.expect(0, ["inspect"]).standardOutput
        XCTAssertTrue(text.contains("UUID:"), text)
        XCTAssertTrue(text.contains("Key epochs:"), text)
    }

    func testVerifyHeadAndExpectedHead() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let head = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(head.hasPrefix("9:"), head)
        let clean = try coffer.expect(0, ["verify", "--json", "--expect-head", head]).json()
        XCTAssertEqual(clean["ok"] as? Bool, true)
        XCTAssertEqual(clean["records"] as? Int, 9)
        XCTAssertEqual(clean["head"] as? String, head)
        XCTAssertEqual((clean["problems"] as? [Any])?.count, 0)
        // The zeros preallocated after the log (F-FREE) are counted, not reported.
        let free = try XCTUnwrap(clean["free_bytes"] as? Int)
        XCTAssertGreaterThan(free, 0)
        XCTAssertEqual((clean["file_bytes"] as? Int ?? 0) % 65_536, 0)
        let summary = try coffer.expect(0, ["verify"]).standardOutput
        XCTAssertTrue(summary.contains("9 records authenticated"), summary)
        XCTAssertTrue(summary.contains("bytes free (preallocated zeros)"), summary)
        try coffer.expect(0, ["org", "create", "later"])
        try coffer.expect(0, ["verify", "--expect-head", head])
        // A head the log never had: the file was replaced or rolled back.
        let forged = "9:" + String(repeating: "0", count: 64)
        let mismatch = try coffer.expect(1, ["verify", "--json", "--expect-head", forged]).json()
        let problems = try XCTUnwrap(mismatch["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.map { $0["kind"] as? String }, ["head_mismatch"])
        XCTAssertEqual(problems[0]["seq"] as? Int, 9)
        let json = try coffer.expect(0, ["head", "--json"]).json()
        XCTAssertEqual(json["sequence"] as? Int, 10)
    }

    /// --expect-head and --head-file (and their variables) on every command that opens the
    /// vault: a copy put back from before the head is refused by readers and writers alike,
    /// verify reports it, and every change leaves its head in the head file.
    func testAnExpectedHeadAndAHeadFileRefuseARolledBackVault() throws {
        let coffer = try CofferRunner()
        let headFile = coffer.path("witness/head")
        try FileManager.default.createDirectory(atPath: coffer.path("witness"), withIntermediateDirectories: false)
        try coffer.expect(
            0,
            [
                "init", "--vault", coffer.path("v.coffer"), "--generate-key-file", coffer.path("v.key"), "--head-file",
                headFile,
            ])
        coffer.environment["COFFER_VAULT"] = coffer.path("v.coffer")
        coffer.environment["COFFER_KEY_FILE"] = coffer.path("v.key")
        let created = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(try String(contentsOfFile: headFile, encoding: .utf8).hasPrefix(created + " vault="))
        let withFile = ["COFFER_HEAD_FILE": headFile]
        try coffer.expect(0, ["org", "create", "acme"], environment: withFile)
        let old = try coffer.bytes("v.coffer")
        let oldHead = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        try coffer.expect(0, ["org", "create", "beta", "--head-file", headFile])
        let newHead = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(try String(contentsOfFile: headFile, encoding: .utf8).hasPrefix(newHead + " vault="))

        try coffer.write("v.coffer", old)
        for arguments in [["org", "list"], ["org", "create", "gamma"], ["inspect"], ["head"], ["log"]] {
            let refused = try coffer.expect(2, arguments + ["--json"], environment: withFile)
            XCTAssertTrue(refused.standardError.contains("head_mismatch"), refused.standardError)
            try coffer.expect(2, arguments, environment: ["COFFER_EXPECT_HEAD": newHead])
            try coffer.expect(2, arguments + ["--expect-head", newHead])
        }
        XCTAssertEqual(try coffer.bytes("v.coffer"), old, "nothing was written")
        let verify = try coffer.expect(1, ["verify", "--json", "--expect-head", oldHead], environment: withFile).json()
        let problems = try XCTUnwrap(verify["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.map { $0["kind"] as? String }, ["head_mismatch"])
        XCTAssertEqual(problems.first?["seq"] as? Int, 3)
        try coffer.expect(0, ["org", "list", "--expect-head", oldHead])

        // A head file that holds no head, an unusable path and a malformed variable are refused.
        try coffer.write("garbage", text: "not a head\n")
        for command in [["org", "list"], ["verify"], ["init", "--vault", coffer.path("u.coffer")]] {
            let garbage = try coffer.expect(2, command + ["--head-file", coffer.path("garbage")])
            XCTAssertTrue(garbage.standardError.contains("does not hold what a writer leaves"), garbage.standardError)
        }
        // A directory that does not exist is named as the head file's, not taken for the vault's.
        let vaultBefore = try coffer.bytes("v.coffer")
        let noDirectory = try coffer.expect(64, ["org", "create", "delta", "--head-file", coffer.path("missing/head")])
        XCTAssertTrue(noDirectory.standardError.contains("The head file's directory"), noDirectory.standardError)
        XCTAssertEqual(try coffer.bytes("v.coffer"), vaultBefore)
        try coffer.expect(64, ["org", "list"], environment: ["COFFER_EXPECT_HEAD": "3:zz"])
        // init never replaces a head file that holds a head.
        let again = try coffer.expect(
            1,
            [
                "init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key"), "--head-file",
                headFile,
            ])
        XCTAssertTrue(again.standardError.contains("already"), again.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("w.coffer")))
        // A head file never names the vault or its key file, and init makes nothing when its
        // directory is missing.
        for headPath in [coffer.path("w.key"), coffer.path("w.coffer")] {
            try coffer.expect(
                64,
                [
                    "init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key"),
                    "--head-file", headPath,
                ])
        }
        try coffer.expect(64, ["org", "list", "--head-file", coffer.path("v.key")])
        try coffer.expect(
            64,
            [
                "init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key"), "--head-file",
                coffer.path("witness/../w.key"),
            ])
        try coffer.expect(64, ["org", "list", "--head-file", coffer.path("v.coffer")])
        try coffer.expect(64, ["org", "list", "--head-file", coffer.path("v.coffer.checkpoint")])
        // Not a regular file: /dev/null reads as empty and a writer would replace the device; a
        // pipe's open waits forever. (A reader: were the refusal lost, it writes nothing.)
        try coffer.expect(64, ["org", "list", "--head-file", "/dev/null"])
        try coffer.expect(64, ["org", "list", "--head-file", coffer.path("witness")])
        XCTAssertEqual(mkfifo(coffer.path("pipe.head"), 0o600), 0)
        // Held open with a line in it, so that a regression reads garbage (exit 2), never hangs.
        let pipe = open(coffer.path("pipe.head"), O_RDWR)
        XCTAssertGreaterThanOrEqual(pipe, 0)
        defer { close(pipe) }
        _ = "garbage\n".withCString { write(pipe, $0, 8) }
        try coffer.expect(64, ["org", "list", "--head-file", coffer.path("pipe.head")])
        try coffer.expect(
            64,
            [
                "init", "--vault", coffer.path("w.coffer"), "--generate-key-file", coffer.path("w.key"), "--head-file",
                coffer.path("nodir/h"),
            ])
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("w.coffer")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("w.key")))
        // Through a symbolic link, the head file it names is kept up to date (an empty file is
        // one where nothing was left yet); a link to nothing is refused.
        try coffer.write("witness/x.head", text: "")
        try FileManager.default.createSymbolicLink(
            atPath: coffer.path("link.head"), withDestinationPath: coffer.path("witness/x.head"))
        let x = [
            "--vault", coffer.path("x.coffer"), "--key-file", coffer.path("x.key"), "--head-file",
            coffer.path("link.head"),
        ]
        try coffer.expect(
            0,
            [
                "init", "--vault", coffer.path("x.coffer"), "--generate-key-file", coffer.path("x.key"), "--head-file",
                coffer.path("link.head"),
            ])
        try coffer.expect(0, ["org", "create", "acme"] + x)
        let xHead = try coffer.expect(0, ["head"] + x).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(
            try String(contentsOfFile: coffer.path("witness/x.head"), encoding: .utf8).hasPrefix(xHead + " vault="))
        XCTAssertEqual(
            try FileManager.default.destinationOfSymbolicLink(atPath: coffer.path("link.head")),
            coffer.path("witness/x.head"))
        try FileManager.default.createSymbolicLink(
            atPath: coffer.path("dangling.head"), withDestinationPath: coffer.path("witness/none"))
        try coffer.expect(
            64,
            [
                "org", "create", "beta", "--vault", coffer.path("x.coffer"), "--key-file", coffer.path("x.key"),
                "--head-file", coffer.path("dangling.head"),
            ])
    }

    /// --wait and COFFER_LOCK_WAIT: ten parallel writers all land; without a wait, or past it,
    /// a held lock is `locked` (exit 2); a bad wait is a usage error.
    func testWritersWaitForTheLockWhenAsked() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let statuses = NSLock()
        nonisolated(unsafe) var results: [Int32] = []
        nonisolated(unsafe) let runner = coffer  // run() only reads it
        let finished = DispatchGroup()
        for index in 0..<10 {
            // A thread each, so the ten processes run at once whatever the number of cores.
            finished.enter()
            Thread.detachNewThread {
                let result = try? runner.run([
                    "credentials", "set", "exa\(index)", "--org", "acme", "--set", "api_key=k-\(index)", "--wait", "60",
                ])
                statuses.withLock { results.append(result?.status ?? -1) }
                finished.leave()
            }
        }
        finished.wait()
        XCTAssertEqual(results, Array(repeating: 0, count: 10))
        let listed = try coffer.expect(0, ["credentials", "list", "--org", "acme", "--json"]).json()
        XCTAssertEqual((listed["credentials"] as? [Any])?.count, 10)

        // Hold the writer lock the way another coffer process would.
        let descriptor = open(coffer.path("v.coffer"), O_RDONLY)
        XCTAssertEqual(flock(descriptor, LOCK_EX), 0)
        defer { close(descriptor) }
        let refused = try coffer.expect(2, ["org", "create", "beta", "--json"])
        XCTAssertTrue(refused.standardError.contains("\"locked\""), refused.standardError)
        XCTAssertTrue(refused.standardError.contains("--wait"), refused.standardError)
        let waited = try coffer.expect(2, ["org", "create", "beta", "--wait=0.2"])
        XCTAssertTrue(waited.standardError.contains("0.2 s waited"), waited.standardError)
        try coffer.expect(2, ["org", "create", "beta"], environment: ["COFFER_LOCK_WAIT": "0.1"])
        // SIGTERM (or Ctrl-C) while waiting stops the wait: 130, nothing changed.
        for signal in [SIGTERM, SIGINT] {
            let stopped = try coffer.run(["org", "create", "beta", "--wait", "60"], signalOnceCaught: signal)
            XCTAssertEqual(stopped.status, 130, stopped.standardError)
            XCTAssertTrue(stopped.standardError.contains("Stopped while waiting"), stopped.standardError)
        }
        try coffer.expect(0, ["org", "list", "--wait"], environment: ["COFFER_LOCK_WAIT": "0.1"])
        for bad in [["--wait", "-3"], ["--wait", "86401"], ["--wait=soon"], ["--wait", "5s"]] {
            try coffer.expect(64, ["org", "create", "beta"] + bad)
        }
        let withUnit = try coffer.run(["org", "create", "--wait", "10min", "beta"])
        XCTAssertEqual(withUnit.status, 64, withUnit.standardError)
        XCTAssertTrue(withUnit.standardError.contains("no unit"), withUnit.standardError)
        try coffer.expect(64, ["org", "create", "beta"], environment: ["COFFER_LOCK_WAIT": "nan"])
        // A reader never waits, but a malformed setting is refused to it too.
        try coffer.expect(64, ["org", "list"], environment: ["COFFER_LOCK_WAIT": "abc"])
    }

    /// What an interrupted compaction left is removed by the next writer, which says so; a
    /// file that only starts alike stays.
    func testAWriterRemovesAndNamesWhatAnInterruptedCompactionLeft() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.write("v.coffer.compact-0011223344556677", [1, 2, 3])
        try coffer.write("v.coffer.compact-keep", [4])
        let list = try coffer.expect(0, ["org", "list"])
        XCTAssertFalse(list.standardError.contains("Removed"), "a reader removes nothing: \(list.standardError)")
        let writer = try coffer.expect(0, ["org", "create", "acme"])
        XCTAssertTrue(writer.standardError.contains("v.coffer.compact-0011223344556677"), writer.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path("v.coffer.compact-0011223344556677")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: coffer.path("v.coffer.compact-keep")))
    }

    func testTornTailIsReportedAndCutOnlyByAWriter() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        // The log without the free space after it (F-FREE).
        let free = try coffer.expect(0, ["inspect", "--json"]).json()["free_bytes"] as? Int ?? 0
        let intact = Array(try coffer.bytes("v.coffer").dropLast(free))
        // An interrupted append: half of a new frame.
        try coffer.write("v.coffer", intact + [0x43, 0x46, 0x52, 0x31, 0x28, 0x01, 0x00])
        let verify = try coffer.expect(1, ["verify", "--json"])
        let problems = try XCTUnwrap(verify.json()["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.map { $0["kind"] as? String }, ["torn_tail"])
        XCTAssertEqual(problems[0]["offset"] as? Int, intact.count)
        XCTAssertEqual(problems[0]["seq"] as? Int, 10)
        let text = try coffer.expect(1, ["verify"]).standardOutput
        XCTAssertTrue(text.contains("torn_tail"), text)
        // A reader warns and changes nothing; the next writer cuts the tail.
        let list = try coffer.expect(0, ["org", "list"])
        XCTAssertTrue(list.standardError.contains("incomplete record"), list.standardError)
        XCTAssertEqual(try coffer.bytes("v.coffer").count, intact.count + 7)
        let write = try coffer.expect(0, ["org", "create", "beta"])
        XCTAssertTrue(write.standardError.contains("cut off"), write.standardError)
        try coffer.expect(0, ["verify"])
    }

    func testBitFlipIsCorruptionWithOffsetAndSequence() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        var bytes = try coffer.bytes("v.coffer")
        // Walk the frames to the third record and flip a bit in its body.
        var offset = 8192
        for _ in 0..<2 {
            let length =
                Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(
                    bytes[offset + 7]) << 24
            offset += 32 + length
        }
        bytes[offset + 100] ^= 0x10
        try coffer.write("v.coffer", bytes)
        let verify = try coffer.expect(1, ["verify", "--json"])
        let document = try verify.json()
        XCTAssertEqual(document["ok"] as? Bool, false)
        let problems = try XCTUnwrap(document["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems[0]["offset"] as? Int, offset)
        XCTAssertEqual(problems[0]["seq"] as? Int, 3)
        XCTAssertTrue(["checksum", "authentication"].contains(problems[0]["kind"] as? String ?? ""))
        // Opening refuses with exit 2 and says where; the file is untouched.
        let list = try coffer.expect(2, ["org", "list", "--json"])
        let error = try list.errorJSON()
        XCTAssertEqual(error["code"] as? String, "corrupted")
        XCTAssertEqual(error["offset"] as? Int, offset)
        XCTAssertEqual(error["seq"] as? Int, 3)
        XCTAssertEqual(try coffer.bytes("v.coffer"), bytes)
        // Inspect with the key shows what needs none, the corruption among it, then the error.
        let inspect = try coffer.expect(2, ["inspect", "--json"])
        let shown = try inspect.json()
        XCTAssertEqual(shown["unlocked"] as? Bool, false)
        XCTAssertEqual(shown["unlock_failure"] as? String, "corrupted")
        XCTAssertEqual((shown["corruption"] as? [String: Any])?["offset"] as? Int, offset)
        XCTAssertEqual(try inspect.errorJSON()["code"] as? String, "corrupted")
        let inspectText = try coffer.expect(2, ["inspect"])
        XCTAssertTrue(
            inspectText.standardOutput.contains("no: reading with the key failed (corrupted)"),
            inspectText.standardOutput)
        // Salvage copies the two good records into a new file, which verifies clean.
        let salvage = try coffer.expect(0, ["salvage", "--output", coffer.path("s.coffer"), "--json"]).json()
        XCTAssertEqual(salvage["records"] as? Int, 2)
        XCTAssertGreaterThan(salvage["bytes_dropped"] as? Int ?? 0, 0)
        XCTAssertEqual(try coffer.bytes("v.coffer"), bytes)
        try coffer.expect(0, ["verify", "--vault", coffer.path("s.coffer")])
        try coffer.expect(1, ["salvage", "--output", coffer.path("s.coffer")])
    }

    func testWrongKeyAndNotAVaultCannotRun() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.write("other.key", [UInt8](repeating: 7, count: 32))
        let before = try coffer.bytes("v.coffer")
        let wrong = try coffer.expect(2, ["verify", "--key-file", coffer.path("other.key")])
        XCTAssertTrue(wrong.standardError.contains("no keyslot accepts it"), wrong.standardError)
        let json = try coffer.expect(2, ["org", "create", "x", "--key-file", coffer.path("other.key"), "--json"])
        XCTAssertEqual(try json.errorJSON()["code"] as? String, "wrong_key")
        XCTAssertEqual(try coffer.bytes("v.coffer"), before)
        try coffer.write("junk", Array(repeating: 0x41, count: 10000))
        let junk = try coffer.expect(2, ["verify", "--vault", coffer.path("junk")])
        XCTAssertTrue(junk.standardError.contains("not a Coffer vault"), junk.standardError)
        try coffer.expect(2, ["inspect", "--vault", coffer.path("junk")])
        // An empty file says what it is and what to do.
        try coffer.write("empty.coffer", [])
        let empty = try coffer.expect(2, ["verify", "--vault", coffer.path("empty.coffer")])
        XCTAssertTrue(
            empty.standardError.contains("is empty") && empty.standardError.contains("coffer init"), empty.standardError
        )
        try coffer.expect(2, ["verify", "--vault", coffer.path("missing.coffer")])
        XCTAssertTrue(
            try coffer.expect(2, ["org", "list", "--vault", coffer.path("missing.coffer")]).standardError.contains(
                "coffer init"))
        try coffer.expect(2, ["org", "list", "--key-file", coffer.path("missing.key")])
        try coffer.expect(2, ["org", "list", "--passphrase-file", coffer.path("missing.txt")])
    }

    func testASecondWriterIsLockedWhileReadersWork() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        guard FileManager.default.isExecutableFile(atPath: CofferRunner.writerBinary) else {
            throw XCTSkip("coffer-test-writer is not built")
        }
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: CofferRunner.writerBinary)
        writer.arguments = ["hold", coffer.path("v.coffer")]
        writer.environment = ["COFFER_TEST_KEY": try coffer.keyHex()]
        let pipe = Pipe()
        writer.standardOutput = pipe
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }
        var ready = Data()
        while !String(decoding: ready, as: UTF8.self).contains("ready") {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            ready += chunk
        }
        XCTAssertTrue(String(decoding: ready, as: UTF8.self).contains("ready"))
        let locked = try coffer.expect(2, ["org", "create", "gamma"])
        XCTAssertTrue(locked.standardError.contains("open for writing"), locked.standardError)
        XCTAssertEqual(try coffer.expect(2, ["key", "rotate", "--json"]).errorJSON()["code"] as? String, "locked")
        // Read-only commands work beside the writer.
        for arguments in [
            ["inspect"], ["verify"], ["head"], ["log"], ["org", "list"], ["credentials", "list", "--org", "acme"],
            ["resolve", "exa", "--org", "acme"],
        ] {
            let result = try coffer.run(arguments)
            XCTAssertNotEqual(result.status, 2, "\(arguments): \(result.standardError)")
        }
    }

    func testReadOnlyCommandsNeverModifyTheFile() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        try coffer.expect(
            0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=exa-secret-value-0001"])
        let bytes = try coffer.bytes("v.coffer")
        let time = coffer.modificationTime("v.coffer")
        usleep(20_000)
        for arguments in [
            ["inspect"], ["inspect", "--json"], ["verify"], ["head"], ["log"], ["org", "list"],
            ["project", "list", "--org", "acme"],
            ["user", "list"], ["member", "list", "--org", "acme"], ["credentials", "list", "--org", "acme"],
            ["credentials", "get", "exa/main", "--org", "acme", "--reveal"],
            ["credentials", "history", "exa/main", "--org", "acme"],
            ["credentials", "delete", "exa/main", "--org", "acme"], ["resolve", "exa", "--org", "acme"],
            ["assignments", "list", "--org", "acme", "--agent", "a"],
            ["api-key", "list", "--org", "acme", "--as", "alice"],
        ] {
            _ = try coffer.run(arguments)
        }
        XCTAssertEqual(try coffer.bytes("v.coffer"), bytes)
        let after = coffer.modificationTime("v.coffer")
        XCTAssertEqual(after.tv_sec, time.tv_sec)
        XCTAssertEqual(after.tv_nsec, time.tv_nsec)
    }

    func testLogListsTransactionsNewestFirst() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let document = try coffer.expect(0, ["log", "--json", "--limit", "3", "--as", "alice"]).json()
        let records = try XCTUnwrap(document["records"] as? [[String: Any]])
        XCTAssertEqual(records.map { $0["seq"] as? Int }, [9, 8, 7])
        let operations = try XCTUnwrap(records[0]["operations"] as? [[String: Any]])
        XCTAssertEqual(operations.first?["op"] as? String, "add_membership")
        XCTAssertEqual(records[0]["actor"] as? String, "cli")
        let all = try coffer.expect(0, ["log"]).standardOutput
        XCTAssertTrue(all.contains("start key epoch 1"), all)
        XCTAssertTrue(all.contains("create organization acme"), all)
    }

    func testKeyCommands() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        let rotated = try coffer.expect(0, ["key", "rotate", "--json"]).json()
        XCTAssertEqual(rotated["epoch"] as? Int, 2)
        let epochs = try XCTUnwrap(try coffer.expect(0, ["inspect", "--json"]).json()["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.map { $0["state"] as? String }, ["active", "current"])
        XCTAssertEqual(epochs.map { $0["id"] as? Int }, [1, 2])
        let minimum = ["COFFER_TEST_KDF": "minimum"]
        let added = try coffer.expect(
            0, ["key", "passphrase", "--json"],
            environment: minimum.merging(["COFFER_NEW_PASSPHRASE": "first phrase"]) { $1 }
        ).json()
        XCTAssertEqual(added["slot"] as? Int, 2)
        XCTAssertEqual(added["replaced"] as? Bool, false)
        try coffer.expect(0, ["head"], environment: ["COFFER_KEY_FILE": "", "COFFER_PASSPHRASE": "first phrase"])
        // With one passphrase slot, the command replaces it.
        try coffer.write("new.txt", text: "second phrase\n")
        let replaced = try coffer.expect(
            0, ["key", "passphrase", "--new-passphrase-file", coffer.path("new.txt"), "--json"], environment: minimum
        ).json()
        XCTAssertEqual(replaced["replaced"] as? Bool, true)
        try coffer.expect(2, ["head"], environment: ["COFFER_KEY_FILE": "", "COFFER_PASSPHRASE": "first phrase"])
        try coffer.expect(0, ["head"], environment: ["COFFER_KEY_FILE": "", "COFFER_PASSPHRASE": "second phrase"])
        try coffer.expect(64, ["key", "passphrase"], environment: minimum)
        // A second slot for a passphrase a slot holds is refused, as for a key file: removing
        // one would leave it working. The slot's own passphrase again (a new cost) is taken.
        let twice = try coffer.expect(
            1, ["key", "passphrase", "--add", "--new-passphrase-file", coffer.path("new.txt")], environment: minimum)
        XCTAssertTrue(twice.standardError.contains("Keyslot 2 holds this passphrase already"), twice.standardError)
        try coffer.expect(
            0, ["key", "passphrase", "--slot", "2", "--new-passphrase-file", coffer.path("new.txt")],
            environment: minimum)
        // A new passphrase never comes from a file whose bytes change with the vault.
        for file in ["v.coffer", "v.coffer.checkpoint"] {
            let refused = try coffer.expect(
                64, ["key", "passphrase", "--add", "--new-passphrase-file", coffer.path(file)], environment: minimum)
            XCTAssertTrue(refused.standardError.contains("would be lost"), refused.standardError)
        }
        // A key or passphrase pasted where a file's name goes is not repeated; an empty one is a usage error.
        let pasted = "07ac1cdb5e2d40c81f28cf7f0ad5c3e6b3e1f3a7c1d49a9e59c3c9f8d5b2d4f7"
        let noFile = try coffer.expect(2, ["head", "--key-file", pasted])
        XCTAssertFalse(noFile.allOutput.contains(pasted), noFile.allOutput)
        let phrase = try coffer.expect(2, ["head", "--passphrase-file", "correct horse battery staple", "--json"])
        XCTAssertFalse(phrase.allOutput.contains("horse"), phrase.allOutput)
        XCTAssertEqual(try phrase.errorJSON()["code"] as? String, "not_found")
        let named = try coffer.expect(2, ["head", "--key-file", coffer.path("missing.key")])
        XCTAssertTrue(named.standardError.contains("missing.key"), named.standardError)
        try coffer.expect(64, ["head", "--key-file", ""])
        let directory = try coffer.expect(2, ["head", "--key-file", coffer.path(""), "--json"])
        XCTAssertEqual(try directory.errorJSON()["code"] as? String, "invalid_key_file")
        let hint = try coffer.expect(1, ["key", "add-keyfile", coffer.path("missing.key")])
        XCTAssertTrue(hint.standardError.contains("pass --generate"), hint.standardError)
        let keyFile = try coffer.expect(0, ["key", "add-keyfile", coffer.path("b.key"), "--generate", "--json"]).json()
        XCTAssertEqual(keyFile["slot"] as? Int, 3)
        try coffer.expect(0, ["head", "--key-file", coffer.path("b.key")])
        try coffer.expect(0, ["key", "remove-slot", "3"])
        try coffer.expect(2, ["head", "--key-file", coffer.path("b.key")])
        try coffer.expect(1, ["key", "remove-slot", "9"])
        try coffer.expect(0, ["key", "remove-slot", "2"])
        let last = try coffer.expect(1, ["key", "remove-slot", "1"])
        XCTAssertTrue(last.standardError.contains("last"), last.standardError)
        try coffer.expect(0, ["head"])
    }

    /// The revocation attack through the binary: a leaver keeps a copy of the vault from while
    /// their passphrase slot existed. After `remove-slot`, that copy's header spliced onto the
    /// current file still opens it with the removed passphrase; after `revoke-old-headers` it
    /// opens nothing, while the key file still does and nothing else was asked for.
    func testRevokeOldHeadersEndsWhatARemovedPassphraseAndAnOldHeaderCouldOpen() throws {
        let coffer = try CofferRunner()
        try coffer.makePopulatedVault()
        let leaver = ["COFFER_KEY_FILE": "", "COFFER_PASSPHRASE": "leaver phrase", "COFFER_TEST_KDF": "minimum"]
        try coffer.expect(
            0, ["key", "passphrase", "--add"],
            environment: ["COFFER_NEW_PASSPHRASE": "leaver phrase", "COFFER_TEST_KDF": "minimum"])
        let backupHeaders = Array(try coffer.bytes("v.coffer").prefix(8192))
        func spliced() throws -> String {
            var bytes = try coffer.bytes("v.coffer")
            bytes.replaceSubrange(0..<8192, with: backupHeaders)
            try coffer.write("spliced.coffer", bytes)
            return coffer.path("spliced.coffer")
        }
        let removed = try coffer.expect(0, ["key", "remove-slot", "2"]).standardOutput
        XCTAssertTrue(removed.contains("revoke-old-headers"), removed)
        try coffer.expect(2, ["head"], environment: leaver)
        try coffer.expect(0, ["org", "list", "--vault", try spliced()], environment: leaver)

        let revoked = try coffer.expect(0, ["key", "revoke-old-headers", "--json"]).json()
        XCTAssertEqual(revoked["revoked"] as? Bool, true)
        XCTAssertEqual((revoked["keyslots"] as? [[String: Any]])?.compactMap { $0["id"] as? Int }, [1])
        try coffer.expect(0, ["project", "create", "after", "--org", "acme"])
        let attempt = try coffer.run(["org", "list", "--vault", try spliced()], environment: leaver)
        XCTAssertNotEqual(attempt.status, 0, attempt.standardOutput)
        XCTAssertFalse(attempt.standardOutput.contains("acme"), attempt.standardOutput)
        let projects = try coffer.expect(0, ["project", "list", "--org", "acme"]).standardOutput
        XCTAssertTrue(projects.contains("after") && projects.contains("web"), projects)
        try coffer.expect(0, ["verify"])
        let text = try coffer.expect(0, ["key", "revoke-old-headers"]).standardOutput
        XCTAssertTrue(text.contains("still unlock the vault"), text)
    }

    /// Removing the keyslot that opened the vault for this very command needs `--yes`, and
    /// says which slots would remain.
    func testRemovingTheSlotInUseNeedsYes() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.expect(0, ["key", "add-keyfile", coffer.path("b.key"), "--generate"])
        try coffer.expect(0, ["key", "add-keyfile", coffer.path("c.key"), "--generate"])
        // Another slot: no question asked; the answer names the slot that was used.
        let other = try coffer.expect(0, ["key", "remove-slot", "3", "--json"]).json()
        XCTAssertEqual(other["unlocked_slot"] as? Int, 1)
        // The slot in use: nothing changes without --yes.
        let refused = try coffer.expect(1, ["key", "remove-slot", "1", "--json"]).json()
        XCTAssertEqual(refused["removed"] as? Bool, false)
        XCTAssertEqual(refused["unlocked_slot"] as? Int, 1)
        XCTAssertEqual((refused["keyslots"] as? [[String: Any]])?.compactMap { $0["id"] as? Int }, [2])
        let text = try coffer.expect(1, ["key", "remove-slot", "1"]).standardOutput
        XCTAssertTrue(text.contains("--yes") && text.contains("Nothing was changed"), text)
        try coffer.expect(0, ["head"])
        try coffer.expect(0, ["key", "remove-slot", "1", "--yes"])
        try coffer.expect(2, ["head"])
        try coffer.expect(0, ["head", "--key-file", coffer.path("b.key")])
    }

    /// A vault reached through a symbolic link is compacted beside the real file: the link
    /// stays a link, the real file holds the compacted vault, nothing forks.
    func testCompactThroughASymlinkKeepsTheLink() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault(name: "real")
        try coffer.expect(0, ["org", "create", "acme"])
        try coffer.expect(0, ["org", "create", "gone"])
        try coffer.expect(0, ["org", "remove", "gone"])
        XCTAssertEqual(symlink(coffer.path("real.coffer"), coffer.path("link.coffer")), 0)
        let through = ["--vault", coffer.path("link.coffer")]
        let report = try coffer.expect(0, ["compact", "--json"] + through).json()
        XCTAssertEqual(report["skipped"] as? Bool, false)
        let destination = try FileManager.default.destinationOfSymbolicLink(atPath: coffer.path("link.coffer"))
        XCTAssertEqual(destination, coffer.path("real.coffer"), "the link was replaced by a file")
        let head = try coffer.expect(0, ["head"] + through).standardOutput
        XCTAssertEqual(try coffer.expect(0, ["head", "--vault", coffer.path("real.coffer")]).standardOutput, head)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: coffer.directory.path).filter {
                $0.contains(".compact-")
            },
            [])
    }

    /// A key or passphrase file others can read works, with a warning (JSON under --json).
    func testAKeyFileOthersCanReadGetsAWarning() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        XCTAssertFalse(try coffer.expect(0, ["head"]).standardError.contains("warning"), "a 0600 key file")
        chmod(coffer.path("v.key"), 0o644)
        let warned = try coffer.expect(0, ["head"])
        XCTAssertTrue(warned.standardError.contains("can be read by other users (mode 644)"), warned.standardError)
        let json = try coffer.expect(0, ["head", "--json"])
        let line = try XCTUnwrap(json.standardError.split(separator: "\n").first)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["status"] as? String, "warning")
        try coffer.write("phrase.txt", text: "a passphrase\n")
        chmod(coffer.path("phrase.txt"), 0o640)
        let added = try coffer.expect(
            0, ["key", "passphrase", "--add", "--new-passphrase-file", coffer.path("phrase.txt")],
            environment: ["COFFER_TEST_KDF": "minimum"])
        XCTAssertTrue(added.standardError.contains("The passphrase file"), added.standardError)
    }

    /// A passphrase whose removal was cut after the first header copy: the CLI says why a
    /// writer refuses it (F-HDR-SUPERSEDED) and changes nothing; a keyslot named to try first
    /// that the vault does not have is refused by name.
    func testASecretAnInterruptedRemovalTookAwayIsRefusedToWritersWithItsReason() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.write("phrase.txt", text: "a passphrase to remove")
        chmod(coffer.path("phrase.txt"), 0o600)
        try coffer.expect(
            0, ["key", "passphrase", "--add", "--new-passphrase-file", coffer.path("phrase.txt")],
            environment: ["COFFER_TEST_KDF": "minimum"])
        let before = try coffer.bytes("v.coffer")
        try coffer.expect(0, ["key", "remove-slot", "2", "--yes"])
        // The older copy (the one in force before, rewritten last) as it was: the crash state.
        var bytes = try coffer.bytes("v.coffer")
        let copy = 4096
        let generation = { (index: Int) in
            before[index * copy + 40..<index * copy + 48].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        let older = generation(0) >= generation(1) ? 0 : 1
        bytes.replaceSubrange(older * copy..<(older + 1) * copy, with: before[older * copy..<(older + 1) * copy])
        try coffer.write("v.coffer", bytes)
        let passphrase = ["--passphrase-file", coffer.path("phrase.txt")]
        let read = try coffer.expect(0, ["org", "list"] + passphrase, environment: ["COFFER_KEY_FILE": ""])
        XCTAssertTrue(read.standardError.contains("older header copy"), read.standardError)
        let refused = try coffer.expect(
            2, ["org", "create", "acme"] + passphrase, environment: ["COFFER_KEY_FILE": ""])
        XCTAssertTrue(refused.standardError.contains("interrupted"), refused.standardError)
        XCTAssertEqual(try coffer.bytes("v.coffer"), bytes, "a refused writer changes nothing")
        let slot = try coffer.expect(2, ["org", "list", "--unlock-slot", "7", "--json"])
        XCTAssertEqual(try slot.errorJSON()["code"] as? String, "invalid_input")
        let repaired = try coffer.expect(0, ["org", "create", "acme"])
        XCTAssertTrue(repaired.standardError.contains("both header copies now agree"), repaired.standardError)
        try coffer.expect(2, ["org", "list"] + passphrase, environment: ["COFFER_KEY_FILE": ""])
    }

    func testCopyOntoAnExistingFileSaysSoOnce() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.write("taken.coffer", text: "something")
        let result = try coffer.expect(1, ["copy", "--to", coffer.path("taken.coffer")])
        XCTAssertEqual(result.standardError.components(separatedBy: "choose another").count, 2, result.standardError)
        XCTAssertEqual(try coffer.bytes("taken.coffer"), Array("something".utf8))
    }

    /// salvage, copy and a generated key file never take the name of the vault's checkpoint
    /// or head file, made yet or not, and an output whose directory is missing is named as
    /// such, not blamed on the vault.
    func testNewFilesNeverTakeTheNameOfWhatTheVaultDependsOn() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        let headFile = ["--head-file", coffer.path("v.head")]
        for arguments in [
            ["salvage", "--output", coffer.path("v.coffer.checkpoint")],
            ["copy", "--to", "./v.coffer.checkpoint"],
            ["key", "add-keyfile", coffer.path("v.coffer.checkpoint"), "--generate"],
            ["salvage", "--output", coffer.path("v.head")] + headFile,
            ["copy", "--to", coffer.path("v.head")] + headFile,
            ["key", "add-keyfile", "v.head", "--generate"] + headFile,
        ] {
            let refused = try coffer.expect(64, arguments)
            XCTAssertTrue(refused.standardError.contains("its checkpoint or head file"), refused.standardError)
        }
        // Through a symbolic link, the checkpoint is the one beside the file the link names.
        try FileManager.default.createSymbolicLink(atPath: coffer.path("link.coffer"), withDestinationPath: "v.coffer")
        for arguments in [
            ["salvage", "--output", coffer.path("v.coffer.checkpoint")], ["copy", "--to", "v.coffer.checkpoint"],
            ["export", "--output", "v.coffer.checkpoint", "--force"],
        ] {
            try coffer.expect(64, arguments + ["--vault", coffer.path("link.coffer")])
        }
        for name in ["v.coffer.checkpoint", "v.head"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: coffer.path(name)), name)
        }
        XCTAssertEqual((try coffer.expect(0, ["inspect", "--json"]).json()["keyslots"] as? [Any])?.count, 1)
        for (arguments, option) in [
            (["salvage", "--output", "missing/s.coffer"], "--output"), (["copy", "--to", "missing/c.coffer"], "--to"),
            (["export", "--output", "missing/e.json"], "--output"),
        ] {
            let missing = try coffer.expect(1, arguments)
            XCTAssertTrue(
                missing.standardError.contains("\(option) missing/"), "\(arguments): \(missing.standardError)")
            XCTAssertTrue(missing.standardError.contains("the directory missing does not exist"), missing.standardError)
        }
        // A directory, or a path through a file, is a usage error, --force or not.
        try FileManager.default.createDirectory(atPath: coffer.path("out"), withIntermediateDirectories: false)
        for arguments in [
            ["export", "--output", coffer.path("out"), "--force"], ["salvage", "--output", coffer.path("out")],
            ["copy", "--to", coffer.path("out")], ["export", "--output", coffer.path("v.key") + "/x.json"],
        ] {
            try coffer.expect(64, arguments)
        }
    }

    func testCompactReencryptsRetiresEpochsAndKeepsTheCredentials() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.expect(0, ["org", "create", "acme"])
        try coffer.expect(0, ["credentials", "set", "exa", "--org", "acme", "--set", "token=exa-compact-secret-1"])
        try coffer.expect(
            0, ["credentials", "rotate-key", "exa/main", "--org", "acme", "--set", "token=exa-compact-secret-2"])
        try coffer.expect(0, ["key", "rotate"])
        let before = try coffer.expect(0, ["head"]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let report = try coffer.expect(0, ["compact", "--reencrypt", "--json"]).json()
        XCTAssertTrue((report["head"] as? String)?.hasPrefix("1:") ?? false, "\(report)")
        // F-LINEAGE: the head kept from before the compaction still verifies.
        try coffer.expect(0, ["verify", "--expect-head", before])
        XCTAssertEqual(report["retired_epochs"] as? [Int], [1, 2])
        XCTAssertEqual(report["epoch"] as? Int, 3)
        let inspect = try coffer.expect(0, ["inspect", "--json"]).json()
        let epochs = try XCTUnwrap(inspect["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.compactMap { $0["state"] as? String }, ["retired", "retired", "current"])
        XCTAssertEqual(epochs.compactMap { $0["live_records"] as? Int }.prefix(2), [0, 0])
        let got = try coffer.expect(0, ["credentials", "get", "exa/main", "--org", "acme", "--reveal", "--json"]).json()
        XCTAssertEqual((got["fields"] as? [String: Any])?["token"] as? String, "exa-compact-secret-2")
        try coffer.expect(0, ["verify", "--expect-head", report["head"] as! String])
        // `log` shows what compaction wrote as sentences, not as the model's debug text.
        let log = try coffer.expect(0, ["log"]).standardOutput
        XCTAssertTrue(log.contains("restore credential exa/main"), log)
        XCTAssertTrue(log.contains("restore organization acme"), log)
        XCTAssertFalse(log.contains("restoreCredential("), log)
        try coffer.expect(0, ["compact", "--new-master-key"])
        try coffer.expect(0, ["verify"])
        try coffer.expect(0, ["verify", "--expect-head", before])
        // Compacted just now: nothing to reclaim, the vault stays byte for byte; --force compacts.
        let bytesBefore = try coffer.bytes("v.coffer")
        let skipped = try coffer.expect(0, ["compact", "--json"]).json()
        XCTAssertEqual(skipped["skipped"] as? Bool, true)
        XCTAssertEqual(try coffer.bytes("v.coffer"), bytesBefore)
        XCTAssertTrue(try coffer.expect(0, ["compact"]).standardOutput.hasPrefix("Nothing to reclaim"))
        XCTAssertEqual(try coffer.expect(0, ["compact", "--force", "--json"]).json()["skipped"] as? Bool, false)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: coffer.directory.path).filter {
                $0.hasPrefix("v.coffer.")
            },
            ["v.coffer.checkpoint"], "no temporary file left, only the index checkpoint the compaction wrote")
    }

    /// Issue: a re-encrypting compaction of a freshly imported vault grew it by a sixth, because
    /// every credential carried the stamp its import transaction had carried once. Credentials
    /// created together are written as their create operations now (OP-COMPACT-CREATED).
    func testReencryptingAnImportedVaultDoesNotGrowIt() throws {
        let coffer = try CofferRunner()
        try coffer.makeVault()
        try coffer.expect(0, ["org", "create", "acme"])
        let count = 4096 + 100  // VaultIndex.compactionCreatedTogetherMin and more
        let lines = (0..<count).map { "APP\($0)_TOKEN=tok-\($0)-0123456789abcdef0123456789" }
        try coffer.write("bulk.env", text: lines.joined(separator: "\n") + "\n")
        try coffer.expect(0, ["import", "--dotenv", coffer.path("bulk.env"), "--app-from-prefix", "--org", "acme"])
        let imported = try coffer.bytes("v.coffer").count
        let report = try coffer.expect(0, ["compact", "--reencrypt", "--json"]).json()
        XCTAssertLessThanOrEqual(try coffer.bytes("v.coffer").count, imported, "\(report)")
        try coffer.expect(0, ["verify"])
        let value = try coffer.expect(0, ["credentials", "get", "app77/main", "--org", "acme", "--field", "token"])
        XCTAssertEqual(value.standardOutput, "tok-77-0123456789abcdef0123456789")
        let history = try coffer.expect(0, ["credentials", "history", "app77/main", "--org", "acme", "--json"]).json()
        let changes = try XCTUnwrap(history["history"] as? [[String: Any]], "\(history)")
        XCTAssertEqual(changes.compactMap { $0["actor"] as? String }, ["cli"])
    }

    func testVersionHelpAndCompletions() throws {
        let coffer = try CofferRunner()
        XCTAssertTrue(try coffer.expect(0, ["--version"]).standardOutput.hasPrefix("coffer "))
        let help = try coffer.expect(0, ["credentials", "set", "--help"]).standardOutput
        XCTAssertTrue(help.contains("Example"), help)
        XCTAssertTrue(help.contains("--project-slug"), help)
        for shell in ["bash", "zsh", "fish"] {
            let script = try coffer.expect(0, ["completions", shell]).standardOutput
            XCTAssertTrue(script.contains("credentials"), shell)
        }
        let usage = try coffer.expect(64, ["frobnicate"])
        XCTAssertTrue(usage.standardError.contains("frobnicate"), usage.standardError)
        let json = try coffer.expect(64, ["org", "create", "--json"])
        XCTAssertEqual(try json.errorJSON()["code"] as? String, "usage")
    }
}
