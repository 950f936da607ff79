import Coffer
import Foundation
import XCTest

@testable import CofferExchange

final class ExchangeFilesTests: XCTestCase {
    func testWritesPrivatelyReplacesOnlyWhenAskedAndReadsBack() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("exchange-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.json").path
        try Array("first".utf8).withUnsafeBytes { try ExchangeFiles.write($0, to: path, replacing: false) }
        // Without replacing, an existing file stays as it was and no temporary file is left.
        XCTAssertThrowsError(
            try Array("other".utf8).withUnsafeBytes { try ExchangeFiles.write($0, to: path, replacing: false) }
        ) { error in
            XCTAssertEqual((error as? CofferError)?.code, .alreadyExists)
        }
        XCTAssertEqual(try ExchangeFiles.read(path).withUnsafeBytes { Array($0) }, Array("first".utf8))
        try Array("second".utf8).withUnsafeBytes { try ExchangeFiles.write($0, to: path, replacing: true) }
        XCTAssertEqual(try ExchangeFiles.read(path).withUnsafeBytes { Array($0) }, Array("second".utf8))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.path), ["out.json"], "no temporary file left")

        XCTAssertThrowsError(try ExchangeFiles.read(path, maximum: 3)) { error in
            XCTAssertEqual((error as? CofferError)?.code, .invalidInput)
        }
        XCTAssertThrowsError(try ExchangeFiles.read(directory.appendingPathComponent("missing").path)) { error in
            XCTAssertEqual((error as? CofferError)?.code, .notFound)
        }
        XCTAssertThrowsError(
            try Array("x".utf8).withUnsafeBytes {
                try ExchangeFiles.write($0, to: "/nonexistent-dir/x", replacing: false)
            }
        ) { error in
            XCTAssertEqual((error as? CofferError)?.code, .notFound)
        }
    }
}
