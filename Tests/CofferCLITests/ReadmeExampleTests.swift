import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The README's Swift example is the middle of Examples/ReadmeExample/main.swift, word for
/// word, and that program builds (with the tests) and runs.
final class ReadmeExampleTests: XCTestCase {
    static let repository: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/CofferCLITests/ReadmeExampleTests.swift
        return components.joined(separator: "/")
    }()

    func testTheReadmeShowsTheExampleAsItIs() throws {
        let example = try String(
            contentsOfFile: Self.repository + "/Examples/ReadmeExample/main.swift", encoding: .utf8)
        let readme = try String(contentsOfFile: Self.repository + "/README.md", encoding: .utf8)
        let begin = try XCTUnwrap(example.range(of: "// README: begin\n"))
        let end = try XCTUnwrap(example.range(of: "// README: end\n"))
        let block = String(example[begin.upperBound..<end.lowerBound])
        XCTAssertTrue(
            readme.contains("```swift\n" + block + "```\n"),
            "README.md's Swift example differs from the example program")
    }

    func testTheExampleRuns() throws {
        let binary = CofferRunner.productsDirectory.appendingPathComponent("coffer-readme-example").path
        guard access(binary, X_OK) == 0 else { throw XCTSkip("coffer-readme-example is not built at \(binary)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("The README example ran"), text)
    }
}
