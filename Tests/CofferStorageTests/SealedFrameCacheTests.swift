import CofferFormat
import XCTest

@testable import CofferStorage

/// The cache of sealed frames behind reveals: bounded by bytes, the oldest forgotten first,
/// nothing kept when it has no room.
final class SealedFrameCacheTests: XCTestCase {
    /// A frame of `count` bytes of `byte`, kept with a header and a chain hash as a read keeps it.
    private func entry(_ byte: UInt8, count: Int) -> SealedFrameCache.Entry {
        SealedFrameCache.Entry(
            bytes: [UInt8](repeating: byte, count: count),
            header: FrameHeader(bodyBytes: UInt32(count), sequence: 1, epoch: 1, type: .transaction, bodyChecksum: 0),
            previousChain: [UInt8](repeating: byte, count: 32))
    }

    func testKeepsFramesWithinItsCapacityAndForgetsTheOldestFirst() {
        // Room for three frames of 300 bytes with what each entry keeps beside its frame.
        let capacity = 3 * entry(0, count: 300).cost + 100
        let cache = SealedFrameCache(capacity: capacity)
        for offset in 0..<4 { cache.keep(entry(UInt8(offset), count: 300), at: UInt64(offset) * 300) }
        // Four offered: the first frame made room for the fourth.
        XCTAssertNil(cache.frame(at: 0))
        for offset in 1..<4 { XCTAssertEqual(cache.frame(at: UInt64(offset) * 300)?.bytes.first, UInt8(offset)) }
        // A frame kept again stays as it was, and costs no room.
        cache.keep(entry(9, count: 1), at: 300)
        XCTAssertEqual(cache.frame(at: 300)?.bytes.count, 300)
        XCTAssertEqual(cache.frame(at: 300)?.previousChain.first, 1)
        // Larger than the whole cache: not kept, and nothing else is forgotten for it.
        cache.keep(entry(7, count: capacity), at: 5000)
        XCTAssertNil(cache.frame(at: 5000))
        XCTAssertNotNil(cache.frame(at: 900))
    }

    func testACacheOfNoBytesKeepsNothing() {
        let cache = SealedFrameCache(capacity: 0)
        cache.keep(entry(1, count: 3), at: 8192)
        XCTAssertNil(cache.frame(at: 8192))
    }

    /// Many frames through a small cache: the queue of offsets is compacted as it goes, and
    /// what is kept is always the newest frames that fit.
    func testLongUseKeepsTheNewestFramesThatFit() {
        let cache = SealedFrameCache(capacity: 100 * entry(1, count: 64).cost)
        for offset in 0..<10_000 { cache.keep(entry(1, count: 64), at: UInt64(offset)) }
        XCTAssertNil(cache.frame(at: 9_899))
        for offset in 9_900..<10_000 { XCTAssertNotNil(cache.frame(at: UInt64(offset)), "offset \(offset)") }
    }
}
