import Coffer
import CofferSimulation
import Foundation
import XCTest

@testable import CofferExchange

/// Damaged inputs of every kind: each reader either reads them or throws `CofferError`, and
/// never crashes, hangs or reads out of bounds. Seeded; a failure prints its seed.
final class RobustnessTests: XCTestCase {
    static let seed: UInt64 = 0x00C0_FFEE

    /// `bytes` with a few random bytes changed, inserted or removed.
    func damaged(_ bytes: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var copy = bytes
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            guard !copy.isEmpty else { break }
            let position = Int.random(in: 0..<copy.count, using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: copy[position] ^= UInt8.random(in: 1...255, using: &generator)
            case 1: copy.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            case 2: copy.remove(at: position)
            default:
                copy[position] =
                    [0x22, 0x5C, 0x2C, 0x0A, 0x7B, 0x5D, 0x27, 0x3D][Int.random(in: 0..<8, using: &generator)]
            }
        }
        return copy
    }

    func expectNoCrash(_ name: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch is CofferError {
        } catch {
            XCTFail("\(name) (seed \(Self.seed)): \(error) is not a CofferError")
        }
    }

    func testDamagedInputsFailCleanly() throws {
        var generator = SeededGenerator(seed: Self.seed)
        let json = BundleVectorBuilder.content
        let csv = Array(
            try Data(contentsOf: BundleVectorBuilder.fixtures.appendingPathComponent("keepassxc-export.csv")))
        let dotenv = Array("# c\nexport A_KEY=\"x\\ny\"\nB_USER='u'\nB_PASS=p # c\n".utf8)
        let bundle = try json.withUnsafeBytes {
            try ExportBundle.seal(
                $0, secret: .keyFile(Fixture.key), cost: .minimum, salt: BundleVectorBuilder.salt,
                noncePrefix: BundleVectorBuilder.noncePrefix)
        }
        var decoded = 0
        for _ in 0..<1500 {
            let input = damaged(json, using: &generator)
            expectNoCrash("json") {
                _ = try input.withUnsafeBytes { try ExportDocument.decode($0) }
                decoded += 1
            }
            let table = damaged(csv, using: &generator)
            expectNoCrash("csv") { _ = try table.withUnsafeBytes { try KeePassXCCSV.credentials($0) } }
            let environment = damaged(dotenv, using: &generator)
            expectNoCrash("dotenv") {
                let entries = try environment.withUnsafeBytes { try Dotenv.parse($0) }
                _ = Dotenv.credentials(entries, app: .fromPrefix)
            }
            let sealed = damaged(bundle, using: &generator)
            // Damage can undo itself (a byte set to its own value, an insertion then a removal).
            guard sealed != bundle else { continue }
            expectNoCrash("bundle") {
                _ = try sealed.withUnsafeBytes { try ExportBundle.open($0, secret: .keyFile(Fixture.key)) }
                XCTFail("a damaged bundle opened (seed \(Self.seed))")
            }
        }
        // Some damage leaves a valid document (a changed letter in a name).
        XCTAssertGreaterThan(decoded, 0)
    }
}
