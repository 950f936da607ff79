import CofferCrypto
import CofferFormat
import XCTest

/// Hostile bytes produce errors, never traps: truncations and seeded mutations of real
/// structures through every decoder (the fuzzers do this at scale; this runs in `make test`).
final class DecoderRobustnessTests: XCTestCase {
    func testTruncatedAndMutatedInputsNeverTrap() throws {
        let vault = VectorBuilder.smallVault()
        let header = Array(vault.bytes[0..<4096])
        let frame = Array(vault.bytes[vault.offsets[1]..<vault.offsets[2]])
        let payload = VectorBuilder.transactions[1].payload.encode()!.withUnsafeBytes { Array($0) }
        var state: UInt64 = 0x5EED
        func random() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        for length in 0...payload.count {
            _ = TransactionPayload.decode(SecureBytes(copying: Array(payload.prefix(length))))
            _ = KeyEpochPayload.decode(SecureBytes(copying: Array(payload.prefix(length))))
        }
        for length in 0...frame.count {
            _ = Array(frame.prefix(length)).withUnsafeBytes { FrameHeader.decode($0) }
        }
        for round in 0..<3000 {
            var mutatedHeader = header
            var mutatedFrame = frame
            var mutatedPayload = payload
            for _ in 0..<(1 + random() % 4) {
                mutatedHeader[Int(random() % UInt64(header.count))] = UInt8(truncatingIfNeeded: random())
                mutatedFrame[Int(random() % UInt64(frame.count))] = UInt8(truncatingIfNeeded: random())
                mutatedPayload[Int(random() % UInt64(payload.count))] = UInt8(truncatingIfNeeded: random())
            }
            _ = mutatedHeader.withUnsafeBytes { FileHeader.decode($0) }
            if case .success(let decoded) = mutatedFrame.withUnsafeBytes({ FrameHeader.decode($0) }),
                decoded.frameBytes == frame.count
            {
                let position = RecordPosition(
                    vaultID: VectorBuilder.vaultID, sequence: decoded.sequence, type: .transaction, epoch: 1,
                    previousChain: [UInt8](repeating: 0, count: 32))
                _ = mutatedFrame[32...].withUnsafeBytes {
                    SealedRecord.open(header: decoded, body: $0, at: position, key: VectorBuilder.dataKeys[0])
                }
            }
            XCTAssertNoThrow(TransactionPayload.decode(SecureBytes(copying: mutatedPayload)), "round \(round)")
        }
    }

    func testHostileOperationCountDoesNotAllocate() {
        var writer = ByteWriter()
        writer.write(UInt64(0))
        writer.writeString("a")
        writer.write(UInt32.max)
        XCTAssertNil(TransactionPayload.decode(SecureBytes(copying: writer.bytes)))
    }

    /// One operation read out of a payload: the same bytes as the whole decode gives, and
    /// nothing for every payload the whole decode refuses (cut short, a byte too many, an
    /// actor that is not UTF-8, a count too large) or an index past the operations.
    func testOneOperationIsReadExactlyAsTheWholeDecodeReadsIt() {
        let payload = TransactionPayload(
            timeMilliseconds: 42, actor: "alice",
            operations: (0..<3).map {
                Operation(code: UInt16(10 + $0), bytes: [UInt8](repeating: UInt8($0), count: 5 * $0))
            })
        let bytes = payload.encode()!.withUnsafeBytes { Array($0) }
        func agree(_ variant: [UInt8], _ context: String) {
            let decoded = TransactionPayload.decode(SecureBytes(copying: variant))
            for index in -1...3 {
                let one = TransactionPayload.operation(at: index, in: SecureBytes(copying: variant))
                // Where a reveal finds it, in place.
                let shared = variant.withUnsafeBytes { bytes in
                    TransactionPayload.operationPlace(at: index, in: bytes).map {
                        Operation(code: $0.code, bytes: Array(bytes[$0.body]))
                    }
                }
                let expected = decoded.flatMap {
                    index >= 0 && index < $0.operations.count ? $0.operations[index] : nil
                }
                XCTAssertEqual(one?.code, expected?.code, "\(context), operation \(index)")
                XCTAssertEqual(one?.body, expected?.body, "\(context), operation \(index)")
                XCTAssertEqual(shared?.code, expected?.code, "\(context), operation \(index), in place")
                XCTAssertEqual(shared?.body, expected?.body, "\(context), operation \(index), in place")
            }
        }
        agree(bytes, "whole")
        XCTAssertNotNil(TransactionPayload.operation(at: 2, in: SecureBytes(copying: bytes)))
        for length in 0..<bytes.count { agree(Array(bytes.prefix(length)), "\(length) bytes") }
        agree(bytes + [0], "a byte too many")
        var badActor = bytes
        badActor[10] = 0xFF
        agree(badActor, "an actor that is not UTF-8")
        var bigCount = bytes
        bigCount[15] = 0x7F
        agree(bigCount, "a count too large")
    }

    func testOversizedCostIsRejectedBeforeArgon2() throws {
        var header = VectorBuilder.header(generation: 1)
        header.keyslots[1].cost = Argon2id.Cost(operations: 1, memoryBytes: 4 << 30)
        let bytes = header.encode(masterKey: VectorBuilder.masterKey)
        guard case .failure(let error) = bytes.withUnsafeBytes({ FileHeader.decode($0) }) else {
            return XCTFail("a 4 GiB Argon2id cost was accepted")
        }
        XCTAssertEqual(error.code, .corrupted)
    }
}
