import CofferCrashStates
import CofferSimulation
import XCTest

/// The strace reader and the persistence model behind `make crash-real` (docs/crash-testing.md).
final class CrashStatesTests: XCTestCase {
    /// `\xHH` escapes of `text`, as `strace -xx` prints strings and paths.
    private func hex(_ text: String) -> String { hex(Array(text.utf8)) }
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { "\\x" + String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    func testParsesCallsJoinsInterruptedOnesAndSkipsSignals() throws {
        let root = "/w"
        let text = """
            1234  openat(AT_FDCWD<\(hex(root))>, "\(hex("v.key"))", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 3<\(hex("/w/v.key"))>
            12345 pwrite64(3<\(hex("/w/v.key"))>, "\(hex([0, 1, 255]))", 3, 8 <unfinished ...>
            1234  openat(AT_FDCWD<\(hex(root))>, "\(hex("missing"))", O_RDONLY) = -1 ENOENT (No such file or directory)
            1234  --- SIGCHLD {si_signo=SIGCHLD} ---
            12345 <... pwrite64 resumed>) = 3
            1234  fdatasync(3<\(hex("/w/v.key"))> <unfinished ...>
            1234  <... fdatasync resumed>)          = 0
            1234  close(7)                          = 0
            1234  +++ exited with 0 +++
            """
        let calls = try TraceParser.parse(text)
        XCTAssertEqual(calls.map(\.name), ["openat", "openat", "pwrite64", "fdatasync", "close"])
        // strace pads short lines and resumed halves before ` = `.
        XCTAssertEqual(calls[3].descriptorPath(0), "/w/v.key")
        XCTAssertEqual(calls[4].number(0), 7)
        XCTAssertEqual(calls[4].result, 0)
        XCTAssertThrowsError(try TraceParser.parse("1 close 7 = 0"))
        XCTAssertEqual(calls[0].string(1), "v.key")
        XCTAssertEqual(calls[0].descriptorPath(0), root)
        XCTAssertEqual(calls[0].flags(2), ["O_WRONLY", "O_CREAT", "O_EXCL", "O_CLOEXEC"])
        XCTAssertEqual(calls[0].result, 3)
        XCTAssertEqual(calls[0].resultPath, "/w/v.key")
        XCTAssertTrue(calls[1].failed)
        XCTAssertEqual(calls[2].bytes(1), [0, 1, 255])
        XCTAssertEqual(calls[2].number(3), 8)
        XCTAssertEqual(calls[2].descriptorPath(0), "/w/v.key")
    }

    func testRefusesTruncatedStringsAndUnescapedOnes() {
        XCTAssertThrowsError(try TraceParser.parse(#"1 write(3, "\x41\x42"..., 300) = 300"#))
        XCTAssertThrowsError(try TraceParser.parse(#"1 write(3, "AB", 2) = 2"#))
    }

    /// A trace of a new file written, synced, renamed into place and its directory synced.
    private func replayed(syncingDirectory: Bool) throws -> TraceReplay {
        var calls = [
            #"1 openat(AT_FDCWD<\#(hex("/w"))>, "\#(hex("out.tmp"))", O_WRONLY|O_CREAT|O_EXCL, 0600) = 3<\#(hex("/w/out.tmp"))>"#,
            #"1 write(3<\#(hex("/w/out.tmp"))>, "\#(hex([UInt8](repeating: 7, count: 1024)))", 1024) = 1024"#,
            #"1 fsync(3<\#(hex("/w/out.tmp"))>) = 0"#,
            #"1 close(3<\#(hex("/w/out.tmp"))>) = 0"#,
            #"1 rename("\#(hex("/w/out.tmp"))", "\#(hex("/w/out"))") = 0"#,
        ]
        if syncingDirectory {
            calls += [
                #"1 openat(AT_FDCWD<\#(hex("/w"))>, "\#(hex("/w"))", O_RDONLY|O_DIRECTORY) = 4<\#(hex("/w"))>"#,
                #"1 fsync(4<\#(hex("/w"))>) = 0"#,
            ]
        }
        var replay = TraceReplay(root: "/w", initial: FileTree(files: ["old": [1]]))
        for call in try TraceParser.parse(calls.joined(separator: "\n")) { try replay.apply(call) }
        return replay
    }

    /// Every state of every crash point, as path → bytes.
    private func allStates(_ model: CrashModel, at event: Int) -> [[String: [UInt8]]] {
        var generator = SeededGenerator(seed: 1)
        return model.choices(at: event, limit: 1000, generator: &generator).map { model.tree(for: $0).files }
    }

    func testUnsyncedWritesMayBeLostTornOrKeptAndASyncMakesThemDurable() throws {
        let model = try replayed(syncingDirectory: true).model
        let whole = [UInt8](repeating: 7, count: 1024)
        // After the write: the new file is there or not, empty, torn at a sector, or whole.
        let afterWrite = allStates(model, at: 1)
        XCTAssertTrue(afterWrite.contains { $0["out.tmp"] == nil })
        XCTAssertTrue(afterWrite.contains { $0["out.tmp"] == [] })
        XCTAssertTrue(afterWrite.contains { $0["out.tmp"] == Array(whole[..<512]) })
        XCTAssertTrue(afterWrite.contains { $0["out.tmp"] == whole })
        XCTAssertTrue(
            afterWrite.contains { $0["out.tmp"] == [UInt8](repeating: 0, count: 1024) }, "no zero-filled tail")
        // After the fsync the bytes are durable, though the name may not be.
        for state in allStates(model, at: 2) { XCTAssertTrue(state["out.tmp"] == nil || state["out.tmp"] == whole) }
        // After the rename: the old name or the new one, never both, never a short file.
        let afterRename = allStates(model, at: 3)
        XCTAssertTrue(afterRename.contains { $0["out"] == whole })
        for state in afterRename {
            XCTAssertFalse(state["out"] != nil && state["out.tmp"] != nil)
            XCTAssertTrue(state["out"] == nil || state["out"] == whole)
            XCTAssertEqual(state["old"], [1])
        }
        // After the directory sync, only the new name.
        let last = model.events.count - 1
        XCTAssertEqual(model.durablePrefix(at: last), model.steps.count)
        for state in allStates(model, at: last) { XCTAssertEqual(state, ["old": [1], "out": whole]) }
    }

    func testARenameWhoseDirectoryIsNeverSyncedMayBeLost() throws {
        let model = try replayed(syncingDirectory: false).model
        let last = allStates(model, at: model.events.count - 1)
        XCTAssertTrue(last.contains { $0["out"] == nil }, "an unsynced rename was always kept")
        XCTAssertTrue(last.contains { $0["out"] != nil })
    }

    /// Two processes of one command (a shell's children) with the same descriptor number on
    /// different files, a thread sharing its process's descriptors, and a child whose first
    /// call comes before its parent's clone returns.
    func testEachProcessHasItsOwnDescriptorsAndItsThreadsShareThem() throws {
        let a = hex("/w/a")
        let b = hex("/w/b")
        let acknowledgements = hex("/acks")
        let trace = [
            #"10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>"#,
            #"11 openat(AT_FDCWD<\#(hex("/w"))>, "\#(hex("a"))", O_WRONLY|O_CREAT, 0600) = 3<\#(a)>"#,
            #"10 <... clone resumed>, child_tidptr=0x7f) = 11"#,
            #"10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 12"#,
            #"12 openat(AT_FDCWD<\#(hex("/w"))>, "\#(hex("b"))", O_WRONLY|O_CREAT, 0600) = 3<\#(b)>"#,
            #"12 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0}, 88) = 13"#,
            #"11 pwrite64(3<\#(a)>, "\#(hex("A"))", 1, 0) = 1"#,
            #"13 pwrite64(3<\#(b)>, "\#(hex("B"))", 1, 0) = 1"#,
            #"13 write(1<\#(acknowledgements)>, "\#(hex("w1\nw2\n"))", 6) = 6"#,
            #"11 close(3<\#(a)>) = 0"#,
            #"13 pwrite64(3<\#(b)>, "\#(hex("C"))", 1, 1) = 1"#,
        ]
        var replay = TraceReplay(root: "/w", initial: FileTree(), acknowledgements: "/acks")
        let calls = try TraceParser.parse(trace.joined(separator: "\n"))
        replay.expectThreads(of: calls)
        for call in calls { try replay.apply(call) }
        XCTAssertEqual(replay.live.files, ["a": Array("A".utf8), "b": Array("BC".utf8)])
        // Two links and two writes came before the acknowledgements, nothing went to a file.
        XCTAssertEqual(replay.acknowledgements.map(\.events), [4, 4])
        XCTAssertEqual(replay.acknowledgements.map(\.batch), ["w1", "w2"])

        // Without knowing the clones, the thread's descriptor 3 is one the replay never saw
        // opened: it refuses rather than guess whose it is.
        var unaware = TraceReplay(root: "/w", initial: FileTree())
        XCTAssertThrowsError(
            try {
                for call in calls { try unaware.apply(call) }
            }())
    }

    /// The check of commits made at once: every acknowledged batch whole, any other whole or
    /// absent, nothing else changed.
    func testTheLedgerWantsEveryAcknowledgedBatchWholeAndNothingElse() {
        let plan = [
            CrashLedger.Planned(batch: "w1", slug: "w1-1", value: Array("one".utf8)),
            CrashLedger.Planned(batch: "w2", slug: "w2-1", value: Array("two".utf8)),
            CrashLedger.Planned(batch: "w2", slug: "w2-2", value: Array("three".utf8)),
        ]
        func entry(_ slug: String, _ value: String) -> (key: String, fields: String) {
            ("app/\(slug)", "token=" + value.utf8.map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        }
        let base = [entry("s1", "before").key: entry("s1", "before").fields]
        // w1 acknowledged once 5 events had happened: a crash after event 4 comes after it.
        let ledger = CrashLedger(plan: plan, base: base, acknowledgements: [(events: 5, batch: "w1")])
        func contents(_ entries: [(key: String, fields: String)], keepingBase: Bool = true) -> Result<
            [String: String], TraceError
        > {
            var contents = keepingBase ? base : [:]
            for entry in entries { contents[entry.key] = entry.fields }
            return .success(contents)
        }
        XCTAssertEqual(ledger.check(contents([]), crashAfter: 3), [])
        XCTAssertEqual(ledger.check(contents([entry("w1-1", "one")]), crashAfter: 3), [])
        XCTAssertEqual(
            ledger.check(
                contents([entry("w1-1", "one"), entry("w2-1", "two"), entry("w2-2", "three")]), crashAfter: 9), [])
        XCTAssertEqual(
            ledger.check(contents([]), crashAfter: 4), ["batch w1, acknowledged, lost 1 of its 1 credentials"])
        XCTAssertEqual(
            ledger.check(contents([entry("w1-1", "one"), entry("w2-2", "three")]), crashAfter: 4),
            ["batch w2 is there in part: 1 of its 2 credentials"])
        XCTAssertEqual(
            ledger.check(contents([entry("w1-1", "uno")]), crashAfter: 4),
            ["app/w1-1 holds other values than its commit wrote"])
        XCTAssertEqual(
            ledger.check(contents([entry("w1-1", "one"), entry("x", "?")]), crashAfter: 4),
            ["app/x appears, yet nobody wrote it"])
        XCTAssertEqual(
            ledger.check(contents([entry("w1-1", "one")], keepingBase: false), crashAfter: 4),
            ["app/s1, there before, is missing"])
        XCTAssertEqual(
            ledger.check(.failure(TraceError("error corrupted")), crashAfter: 4),
            ["the vault shows error corrupted, expected its credentials"])
    }

    func testTheSameSeedMakesTheSameStates() throws {
        let model = try replayed(syncingDirectory: true).model
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        XCTAssertEqual(
            model.choices(at: 1, limit: 50, generator: &first), model.choices(at: 1, limit: 50, generator: &second))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
