import CofferCrypto
import CofferErrors
import CofferFormat
import CofferSimulation
import CofferTestSupport
import XCTest

@testable import CofferStorage

/// The vault file mapped for reading records (`mapsLog`): the mapping grows with the log and
/// shows what is appended after it was made; a store reading through it reads what a store
/// reading the file reads, with the same checks and the same errors.
final class LogMappingTests: XCTestCase {
    /// A file of `count` bytes, each its offset's low byte, as a log device.
    private func device(_ path: String, count: Int, on storage: any StorageSystem = PosixStorage()) throws
        -> FileLogDevice
    {
        let file = try storage.open(path, mode: .createNew).get()
        try file.write((0..<count).map { UInt8(truncatingIfNeeded: $0) }, at: 0).get()
        return FileLogDevice(file: file, storage: storage, path: path, checksReplacement: false)
    }

    /// Appends `count` records of random bytes (fewer than `bytesMax` each), one at a time.
    private func appendRandomRecords(
        _ count: Int, to store: VaultStore, bytesMax: UInt64, seed: UInt64
    ) throws -> [(record: PlacedRecord, payload: SecureBytes)] {
        var generator = SeededGenerator(seed: seed)
        return try (0..<count).map { _ in
            let payload = SecureBytes(
                copying: (0..<Int(generator.next() % bytesMax)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            )
            return (try store.append([payload]).records[0], payload)
        }
    }

    func testMapsAgainOnlyWhenTheLogOutgrowsTheMappingAndKeepsTheOldOneForItsHolders() throws {
        let directory = TemporaryDirectory()
        let log = try device(directory.file("log"), count: 10_000)
        let mapping = LogMapping(log: log, lengthMin: 4096)
        let first = try XCTUnwrap(mapping.covering(100))
        XCTAssertEqual(first.bytes.count, 4096)
        XCTAssertTrue(mapping.covering(4096) === first, "a mapping that covers the bytes is reused")
        let second = try XCTUnwrap(mapping.covering(9000))
        XCTAssertEqual(second.bytes.count, 16_384, "doubled until it covers the bytes asked for")
        // The first mapping is still valid for whoever holds it, and both show the file.
        XCTAssertEqual(first.bytes[4095], UInt8(truncatingIfNeeded: 4095))
        XCTAssertEqual(second.bytes[8999], UInt8(truncatingIfNeeded: 8999))
        // Bytes written after the mapping was made show through it.
        try log.file.write([0xAB, 0xCD], at: 10_000).get()
        XCTAssertEqual(Array(second.bytes[10_000..<10_002]), [0xAB, 0xCD])
        mapping.release()
        XCTAssertNil(mapping.covering(100), "a released mapping is not made again")
        XCTAssertEqual(second.bytes[0], 0, "still held, still mapped")
    }

    /// Files that map only while the storage's `mapsLeft` lasts, then fail as mmap does.
    private final class MapsOnlySoMany: ForwardingStorage, @unchecked Sendable {
        let mapsLeft = Locked(0)

        override func wrap(_ file: any StorageFile) -> any StorageFile { MapsOnlySoManyFile(file, storage: self) }
    }

    private final class MapsOnlySoManyFile: ForwardingFile, @unchecked Sendable {
        let storage: MapsOnlySoMany

        init(_ file: any StorageFile, storage: MapsOnlySoMany) {
            self.storage = storage
            super.init(file)
        }

        override func mapReadOnly(_ count: Int) -> Result<(any StorageMapping)?, SystemError> {
            let allowed = storage.mapsLeft.withLock { left in
                defer { left -= 1 }
                return left > 0
            }
            return allowed ? file.mapReadOnly(count) : .failure(SystemError(ENOMEM))
        }
    }

    func testAFailedMappingKeepsServingWhatTheLastOneCoversAndMapsNoMore() throws {
        let directory = TemporaryDirectory()
        let storage = MapsOnlySoMany(PosixStorage())
        storage.mapsLeft.withLock { $0 = 1 }
        let log = try device(directory.file("log"), count: 10_000, on: storage)
        let mapping = LogMapping(log: log, lengthMin: 4096)
        let first = try XCTUnwrap(mapping.covering(4096))
        XCTAssertNil(mapping.covering(4097), "the second mmap fails")
        XCTAssertTrue(mapping.covering(100) === first, "what the first covers is still served")
        storage.mapsLeft.withLock { $0 = 1 }
        XCTAssertNil(mapping.covering(4097), "after a failure, nothing is mapped again")
    }

    func testALogThatCannotBeMappedIsRead() throws {
        let disk = SimulatedDisk()
        let file = try disk.open("/log", mode: .createNew).get()
        try file.write([1, 2, 3], at: 0).get()
        let log = FileLogDevice(file: file, storage: disk, path: "/log", checksReplacement: false)
        XCTAssertNil(LogMapping(log: log, lengthMin: 4096).covering(3))
    }

    /// The reads of `testARecordsPayloadIsReadWhereItLies` through the mapping: the same
    /// bytes, a frame larger than a page too, the same errors; then a record appended after
    /// the reader mapped the file, and a damaged one.
    func testAStoreReadingThroughTheMappingReadsWhatTheFileHolds() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        let large = SecureBytes(copying: (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var options = VaultStore.Options()
        options.mapsLog = true
        let writer = try VaultStore.create(path: path, secret: Fixture.secret, options: options)
        defer { writer.close() }
        let receipt = try writer.append([Fixture.payload("small"), large])
        options.readOnly = true
        let reader = try VaultStore.open(path: path, secret: Fixture.secret, options: options)
        defer { reader.close() }
        XCTAssertNotNil(reader.mapping)
        for store in [writer, reader] {
            for (record, expected) in zip(receipt.records, [Fixture.payload("small"), large]) {
                var seen: [UInt8] = []
                try store.withRecordPayload(sequence: record.sequence, offset: record.offset) { seen = Array($0) }
                XCTAssertTrue(seen == expected.withUnsafeBytes { Array($0) }, "record \(record.sequence)")
                let read = try store.readRecord(sequence: record.sequence, offset: record.offset)
                XCTAssertEqual(read.payload, expected)
                XCTAssertEqual(read.frameBytes, record.frameBytes)
            }
            let other = receipt.records[0]
            XCTAssertThrowsCode(
                .corrupted,
                try store.withRecordPayload(sequence: other.sequence, offset: receipt.records[1].offset) { _ in })
            XCTAssertThrowsCode(.notFound, try store.withRecordPayload(sequence: 99, offset: other.offset) { _ in })
        }
        // Nothing was read into the cache of sealed frames: the mapping served every read.
        XCTAssertTrue(reader.frameCache.frame(at: receipt.records[0].offset) == nil)

        // Appended after the reader mapped the file: shown through the same mapping.
        let later = try writer.append([Fixture.payload("later")]).records[0]
        _ = try reader.catchUp { _ in }
        let laterRead = try reader.readRecord(sequence: later.sequence, offset: later.offset)
        XCTAssertEqual(laterRead.payload, Fixture.payload("later"))

        // A byte of a body changed on disk: the tag still refuses it.
        let damaged = receipt.records[1]
        let file = try PosixStorage().open(path, mode: .readWrite).get()
        let at = damaged.offset + UInt64(FormatConstants.frameHeaderBytes) + 40
        let byte = try file.read(count: 1, at: at).get()
        try file.write([byte[0] ^ 0x01], at: at).get()
        file.close()
        XCTAssertThrowsCode(
            .corrupted, try reader.withRecordPayload(sequence: damaged.sequence, offset: damaged.offset) { _ in })

        reader.close()
        XCTAssertThrowsCode(.closed, try reader.readRecord(sequence: later.sequence, offset: later.offset))
    }

    /// Mappings of a page at least: the mapping is made longer as the reads go (16, 32, 64,
    /// 128 KiB here, a frame across each end), and every record is read through it, none from
    /// the file. Then a store whose first mapping ends inside a record's header, and one whose
    /// first mapping ends inside a record's body, read that record through a longer mapping. A
    /// frame header changed on disk is refused as the file's read refuses it.
    func testRecordsAcrossTheEndsOfShortMappingsAreReadThroughThem() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("v")
        var options = VaultStore.Options()
        options.mapsLog = true
        options.mappingLengthMin = 4096
        let store = try VaultStore.create(path: path, secret: Fixture.secret, options: options)
        defer { store.close() }
        let written = try appendRandomRecords(40, to: store, bytesMax: 3000, seed: 41)
        for (record, payload) in written {
            XCTAssertEqual(
                try store.readRecord(sequence: record.sequence, offset: record.offset).payload, payload,
                "record \(record.sequence), seed 41")
            XCTAssertTrue(
                store.frameCache.frame(at: record.offset) == nil, "record \(record.sequence) was read from the file")
        }
        XCTAssertGreaterThan(store.logEnd, 8 * 4096, "the records cross several mapping ends")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(store.mapping?.covering(0)).bytes.count, Int(store.logEnd))

        for (depth, what) in [(16, "header"), (100, "body")] {
            let (before, record) = (written[11].record, written[12].record)
            var reading = options
            reading.readOnly = true
            reading.mappingLengthMin = Int(record.offset) + depth
            let reader = try VaultStore.open(path: path, secret: Fixture.secret, options: reading)
            defer { reader.close() }
            for (placed, payload) in [(before, written[11].payload), (record, written[12].payload)] {
                XCTAssertEqual(
                    try reader.readRecord(sequence: placed.sequence, offset: placed.offset).payload, payload,
                    "the first mapping ending in record \(record.sequence)'s \(what)")
                XCTAssertTrue(reader.frameCache.frame(at: placed.offset) == nil, "read from the file, \(what)")
            }
            XCTAssertGreaterThan(try XCTUnwrap(reader.mapping?.covering(0)).bytes.count, Int(record.offset) + depth)
        }

        let damaged = written[7].record
        let file = try PosixStorage().open(path, mode: .readWrite).get()
        let at = damaged.offset + 9  // in the sequence number, under the header's CRC
        let byte = try file.read(count: 1, at: at).get()
        try file.write([byte[0] ^ 0x10], at: at).get()
        file.close()
        let error = try XCTUnwrap(
            assertThrowsCoffer(.corrupted) { try store.readRecord(sequence: damaged.sequence, offset: damaged.offset) })
        XCTAssertTrue(error.message.contains("frame header is damaged"), error.message)
    }

    /// A store whose mapping cannot be made longer when the log outgrows it reads what the
    /// mapping covers through it and the rest from the file, the same bytes either way.
    func testAStoreWhoseMappingCannotGrowReadsTheRestFromTheFile() throws {
        let directory = TemporaryDirectory()
        let storage = MapsOnlySoMany(PosixStorage())
        storage.mapsLeft.withLock { $0 = 1 }
        var options = VaultStore.Options(storage: storage)
        options.mapsLog = true
        options.mappingLengthMin = 4096
        let store = try VaultStore.create(path: directory.file("v"), secret: Fixture.secret, options: options)
        defer { store.close() }
        let written = try appendRandomRecords(40, to: store, bytesMax: 2000, seed: 43)
        // The first read maps enough for the first record; the later ones ask for more and are refused.
        _ = try store.readRecord(sequence: written[0].record.sequence, offset: written[0].record.offset)
        let mapped = try XCTUnwrap(store.mapping?.covering(0), "the first mapping is made")
        XCTAssertGreaterThan(store.logEnd, UInt64(mapped.bytes.count) + 4096, "the records run past the first mapping")
        for (record, payload) in written + written.reversed() {
            XCTAssertEqual(
                try store.readRecord(sequence: record.sequence, offset: record.offset).payload, payload,
                "record \(record.sequence), seed 43")
        }
        XCTAssertTrue(store.mapping?.covering(0) === mapped, "the first mapping is kept")
        var fromFile = 0
        for (record, _) in written {
            let read = store.frameCache.frame(at: record.offset) != nil
            let covered = record.offset + UInt64(record.frameBytes) <= UInt64(mapped.bytes.count)
            XCTAssertEqual(read, !covered, "record \(record.sequence) at \(record.offset) read from the file, seed 43")
            if read { fromFile += 1 }
        }
        XCTAssertGreaterThan(fromFile, 0)
        XCTAssertLessThanOrEqual(storage.mapsLeft.withLock { $0 }, -1, "a longer mapping was asked for and refused")
    }

    func testAStoreOnAFileSystemThatMapsNothingReadsTheFile() throws {
        let disk = SimulatedDisk()
        var options = VaultStore.Options(storage: disk)
        options.mapsLog = true
        let store = try VaultStore.create(path: "/vault/v.coffer", secret: Fixture.secret, options: options)
        defer { store.close() }
        let record = try store.append([Fixture.payload("kept")]).records[0]
        XCTAssertEqual(
            try store.readRecord(sequence: record.sequence, offset: record.offset).payload, Fixture.payload("kept"))
        XCTAssertTrue(store.frameCache.frame(at: record.offset) != nil, "read from the file, kept in the cache")
    }
}
