import CofferCrypto
import CofferFormat
import CofferSimulation
import CofferTestSupport
import XCTest

@testable import CofferStorage

/// F-FREE: a writer overwrites free space below the length a reader without the lock read, so
/// the reader can meet stale zeros, or part of a write, before a valid frame. It reads again,
/// and reports corruption only when two fresh reads agree.
final class FreeSpaceReaderTests: XCTestCase {
    private let path = "/vault/v.coffer"

    /// A log as a reader beside a writer sees it: its first `tornReads` reads find the bytes of
    /// `zeroed` still zero (a write not yet landed there), the later ones the file as it is.
    private final class TearingLog: LogDevice, @unchecked Sendable {
        let bytes: [UInt8]
        let zeroed: Range<Int>
        let tornReads: Int
        private(set) var reads = 0

        init(bytes: [UInt8], zeroed: Range<Int>, tornReads: Int) {
            self.bytes = bytes
            self.zeroed = zeroed
            self.tornReads = tornReads
        }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Result<Int, SystemError> {
            reads += 1
            let start = min(Int(offset), bytes.count)
            let count = min(buffer.count, bytes.count - start)
            for index in 0..<count {
                let position = start + index
                buffer[index] = reads <= tornReads && zeroed.contains(position) ? 0 : bytes[position]
            }
            return .success(count)
        }

        func end() -> Result<UInt64, SystemError> { .success(UInt64(bytes.count)) }
        func append(_ frames: FrameBatch, at offset: UInt64) -> Result<LogWriteOutcome, SystemError> {
            .failure(.ioError)
        }
        func sync() -> Result<Void, SystemError> { .failure(.ioError) }
        func replaceHeaderCopy(_ index: Int, with bytes: [UInt8]) -> Result<LogWriteOutcome, SystemError> {
            .failure(.ioError)
        }
        func cutTornTail(at end: UInt64) -> Result<Void, SystemError> { .failure(.ioError) }
        func close() {}
    }

    /// A vault whose file holds free space, then two records appended into it in one batch:
    /// the file's bytes, the vault id, and where the first of the two starts and ends.
    private func makeVault() throws -> (bytes: [UInt8], vaultID: [UInt8], first: Range<Int>) {
        let disk = SimulatedDisk()
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: .init(storage: disk))
        _ = try store.append([Fixture.payload("before the reader")])
        let receipt = try store.append([Fixture.payload("in flight, one"), Fixture.payload("in flight, two")])
        let start = Int(receipt.records[0].offset)
        let end = Int(receipt.records[1].offset)
        let vaultID = store.vaultID
        store.close()
        let bytes = try XCTUnwrap(disk.contents(of: path))
        XCTAssertEqual(bytes.count % FormatConstants.freeSpaceAlignment, 0)
        return (bytes, vaultID, start..<end)
    }

    private func scan(_ log: TearingLog, vaultID: [UInt8]) throws -> (ScanOutcome, [UInt64]) {
        var sequences: [UInt64] = []
        let outcome = try LogScanner(log: log, vaultID: vaultID, keyRecordKey: nil, fileSize: UInt64(log.bytes.count))
            .scan { sequences.append($0.sequence) }.get()
        return (outcome, sequences)
    }

    func testAReadThatSawPartOfAWriteIsReadAgain() throws {
        let vault = try makeVault()
        // The first read finds the first frame of the batch still zero and the second one
        // whole: corruption, if it were believed.
        let log = TearingLog(bytes: vault.bytes, zeroed: vault.first, tornReads: 1)
        let (outcome, sequences) = try scan(log, vaultID: vault.vaultID)
        XCTAssertNil(outcome.corruption)
        XCTAssertNil(outcome.tornTail)
        XCTAssertEqual(sequences, [1, 2, 3, 4])
        XCTAssertGreaterThan(outcome.freeBytes, 0)
    }

    func testDamageThatStaysIsCorruptionAfterTwoFreshReads() throws {
        let vault = try makeVault()
        let log = TearingLog(bytes: vault.bytes, zeroed: vault.first, tornReads: .max)
        let (outcome, sequences) = try scan(log, vaultID: vault.vaultID)
        XCTAssertEqual(outcome.corruption?.offset, UInt64(vault.first.lowerBound))
        XCTAssertEqual(sequences, [1, 2])
        // The first verdict, then two fresh reads of what follows that agree, and the verdict
        // decided again from fresh bytes in between.
        XCTAssertLessThanOrEqual(log.reads, 12)
    }
}
