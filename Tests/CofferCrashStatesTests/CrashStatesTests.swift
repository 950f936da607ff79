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
            1234  +++ exited with 0 +++
            """
        let calls = try TraceParser.parse(text)
        XCTAssertEqual(calls.map(\.name), ["openat", "openat", "pwrite64"])
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
        XCTAssertTrue(afterWrite.contains { $0["out.tmp"] == [UInt8](repeating: 0, count: 1024) }, "no zero-filled tail")
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
