import Foundation
import XCTest

/// FORMAT.md is the reference the code cites: every rule id a source file, a test or a document
/// names (`F-SEAL`, `OPS-FIELD-PORT`, a family as `OPS-TEXT-*`) is defined there as `[ID]`, and
/// its sections are numbered one way throughout.
final class FormatRuleReferenceTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let rulePrefixes = "(?:F|OPS|B|X|I|D|K|INV)"

    func testEveryCitedRuleIsDefined() throws {
        let format = try String(contentsOf: Self.repository.appendingPathComponent("FORMAT.md"), encoding: .utf8)
        let definition = try NSRegularExpression(pattern: "\\[(\(Self.rulePrefixes)-[A-Z0-9-]+)\\]")
        let defined = Set(
            definition.matches(in: format, range: NSRange(format.startIndex..., in: format)).map {
                String(format[Range($0.range(at: 1), in: format)!])
            })
        XCTAssertGreaterThan(defined.count, 100)
        let citation = try NSRegularExpression(
            pattern: "\\b(\(Self.rulePrefixes)-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)(-\\*)?")
        var undefined: [String] = []
        for file in try Self.citingFiles() {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in citation.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let id = String(text[Range(match.range(at: 1), in: text)!])
                let isFamily = match.range(at: 2).location != NSNotFound
                let known = isFamily ? defined.contains { $0.hasPrefix(id + "-") } : defined.contains(id)
                if !known {
                    undefined.append(
                        "\(id)\(isFamily ? "-*" : "") in \(file.path.dropFirst(Self.repository.path.count + 1))")
                }
            }
        }
        XCTAssertEqual(undefined, [], "rule ids cited but not defined in FORMAT.md")
    }

    func testSectionsAreNumbered() throws {
        let format = try String(contentsOf: Self.repository.appendingPathComponent("FORMAT.md"), encoding: .utf8)
        let headings = format.split(separator: "\n").filter { $0.hasPrefix("### ") || $0.hasPrefix("#### ") }
        let lettered = headings.filter { line in
            let title = line.drop { $0 == "#" }.dropFirst()
            return !(title.first?.isNumber ?? false)
        }
        XCTAssertEqual(lettered, [], "sections not numbered like the rest")
    }

    /// Swift sources and tests, README, the docs and FORMAT.md itself.
    private static func citingFiles() throws -> [URL] {
        var files = ["README.md", "FORMAT.md", "BENCHMARKS.md"].map { repository.appendingPathComponent($0) }
        for directory in ["Sources", "Tests", "docs"] {
            let root = repository.appendingPathComponent(directory)
            guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
                continue
            }
            for case let url as URL in walker where ["swift", "md"].contains(url.pathExtension) {
                files.append(url)
            }
        }
        return files
    }
}
