import XCTest

@testable import CofferCrypto

final class SecureMemoryTests: XCTestCase {
    func testSizeClassesArePowersOfTwo() {
        XCTAssertEqual(SecureMemory.sizeClass(for: 1), 0)
        XCTAssertEqual(SecureMemory.sizeClass(for: 32), 0)
        XCTAssertEqual(SecureMemory.sizeClass(for: 33), 1)
        XCTAssertEqual(SecureMemory.sizeClass(for: 64), 1)
        XCTAssertEqual(SecureMemory.sizeClass(for: 65), 2)
        XCTAssertEqual(SecureMemory.sizeClass(for: SecureMemory.slotBytesMax), SecureMemory.classes.count - 1)
        for (index, sizeClass) in SecureMemory.classes.map({ $0.takeUnretainedValue() }).enumerated() {
            XCTAssertEqual(sizeClass.slotBytes, SecureMemory.slotBytesMin << index)
            XCTAssertEqual(SecureMemory.sizeClass(for: sizeClass.slotBytes), index)
        }
    }

    func testEverySizeGetsZeroedMemoryThatHoldsIt() {
        for count in [0, 1, 7, 32, 33, 500, 4096, 16 * 1024, 16 * 1024 + 1, 300_000] {
            let allocation = SecureMemory.allocate(count)
            XCTAssertGreaterThanOrEqual(allocation.capacity, max(count, 1), "count \(count)")
            let bytes = UnsafeRawBufferPointer(start: allocation.pointer, count: allocation.capacity)
            XCTAssertTrue(bytes.allSatisfy { $0 == 0 }, "count \(count)")
            SecureMemory.release(allocation)
        }
    }

    /// A released slot is handed out again, and it comes back zeroed: nothing of the previous
    /// secret, not even the free-list link, is visible to the next owner.
    func testAReleasedSlotIsReusedZeroed() {
        let first = SecureMemory.allocate(200)
        UnsafeMutableRawBufferPointer(start: first.pointer, count: first.capacity).initializeMemory(
            as: UInt8.self, repeating: 0xA5)
        let address = first.pointer
        SecureMemory.release(first)
        let second = SecureMemory.allocate(200)
        defer { SecureMemory.release(second) }
        XCTAssertEqual(second.pointer, address, "the last slot released is the first handed out")
        let bytes = UnsafeRawBufferPointer(start: second.pointer, count: second.capacity)
        XCTAssertTrue(bytes.allSatisfy { $0 == 0 })
    }

    /// More secrets than one region holds, alive at once, then released out of order.
    func testManyLiveSecretsSpanRegionsWithoutOverlap() {
        let count = SecureMemory.regionBytes / 64 * 3
        var secrets: [SecureBytes] = []
        for value in 0..<count {
            secrets.append(
                SecureBytes(count: 48) { $0.initializeMemory(as: UInt8.self, repeating: UInt8(value & 0xFF)) })
        }
        for (value, secret) in secrets.enumerated() {
            XCTAssertTrue(secret.withUnsafeBytes { $0.allSatisfy { $0 == UInt8(value & 0xFF) } }, "secret \(value)")
        }
        var generator = SystemRandomNumberGenerator()
        secrets.shuffle(using: &generator)
        secrets.removeAll()
    }

    func testThreadsAllocateAndReleaseConcurrently() {
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<5_000 {
                let size = 16 << ((thread + round) % 9)
                let marker = UInt8(truncatingIfNeeded: thread * 31 + round)
                let secret = SecureBytes(count: size) { $0.initializeMemory(as: UInt8.self, repeating: marker) }
                XCTAssertTrue(secret.withUnsafeBytes { $0.allSatisfy { $0 == marker } })
            }
        }
    }
}
