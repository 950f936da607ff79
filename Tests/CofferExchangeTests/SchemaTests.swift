import Coffer
import CofferSimulation
import Foundation
import XCTest

@testable import CofferExchange

/// `schema/export-v1.schema.json` describes what the writer writes: exports of every kind of
/// state validate against it, and it refuses what the format refuses. A small validator of
/// the keywords the schema uses keeps the test free of dependencies.
final class SchemaTests: XCTestCase {
    static var schemaURL: URL {
        BundleVectorBuilder.fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schema/export-v1.schema.json")
    }

    func schema() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: Self.schemaURL)) as! [String: Any]
    }

    func testExportsValidateAgainstTheSchema() throws {
        let schema = try schema()
        let disk = SimulatedDisk()
        let vault = try Fixture.populatedVault(on: disk)
        for bytes in [
            try Fixture.export(vault), try Fixture.export(vault, revealing: false), BundleVectorBuilder.content,
        ] {
            let document = try JSONSerialization.jsonObject(with: Data(bytes))
            XCTAssertEqual(SchemaValidator(root: schema).errors(document, schema, path: "$"), [])
        }
    }

    func testTheSchemaRefusesWhatTheFormatRefuses() throws {
        let schema = try schema()
        var document = try JSONSerialization.jsonObject(with: Data(BundleVectorBuilder.content)) as! [String: Any]
        document["extra"] = 1
        var credentials = document["credentials"] as! [[String: Any]]
        credentials[0]["type"] = "password"
        credentials[0]["id"] = "cred_UPPERCASE"
        document["credentials"] = credentials
        let errors = SchemaValidator(root: schema).errors(document, schema, path: "$")
        XCTAssertEqual(
            errors.sorted(),
            ["$.credentials[0].id: pattern", "$.credentials[0].type: enum", "$: additional property extra"])
    }
}

/// The JSON Schema keywords `export-v1.schema.json` uses: `$ref` (local), `type`, `const`,
/// `enum`, `pattern`, `minimum`, `maximum`, `minLength`, `minItems`, `properties`,
/// `required`, `additionalProperties`, `propertyNames`, `items`.
struct SchemaValidator {
    let root: [String: Any]

    /// JSONSerialization gives booleans and numbers as `NSNumber`s; a boolean's type encoding
    /// is a C `char` (`c`) or `bool` (`B`).
    static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        let encoding = String(cString: number.objCType)
        return encoding == "c" || encoding == "B"
    }

    func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let reference = schema["$ref"] as? String, reference.hasPrefix("#/$defs/") else { return schema }
        let definitions = root["$defs"] as! [String: Any]
        return definitions[String(reference.dropFirst("#/$defs/".count))] as! [String: Any]
    }

    func errors(_ value: Any, _ given: [String: Any], path: String) -> [String] {
        let schema = resolve(given)
        var errors: [String] = []
        if let type = schema["type"] as? String {
            let matches: Bool
            switch type {
            case "object": matches = value is [String: Any]
            case "array": matches = value is [Any]
            case "string": matches = value is String
            case "boolean": matches = Self.isBoolean(value)
            case "integer":
                matches =
                    !Self.isBoolean(value)
                    && (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } ?? false
            default: matches = false
            }
            if !matches { return ["\(path): type \(type)"] }
        }
        if let constant = schema["const"] {
            if "\(constant)" != "\(value)" { errors.append("\(path): const") }
        }
        if let options = schema["enum"] as? [String], !options.contains(value as? String ?? "\u{0}") {
            errors.append("\(path): enum")
        }
        if let pattern = schema["pattern"] as? String, let text = value as? String {
            let expression = try! NSRegularExpression(pattern: pattern)
            if expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                errors.append("\(path): pattern")
            }
        }
        if let number = value as? NSNumber, !(value is String) {
            if let minimum = schema["minimum"] as? Double, number.doubleValue < minimum {
                errors.append("\(path): minimum")
            }
            if let maximum = schema["maximum"] as? Double, number.doubleValue > maximum {
                errors.append("\(path): maximum")
            }
        }
        if let minimum = schema["minLength"] as? Int, let text = value as? String, text.count < minimum {
            errors.append("\(path): minLength")
        }
        if let array = value as? [Any] {
            if let minimum = schema["minItems"] as? Int, array.count < minimum { errors.append("\(path): minItems") }
            if let items = schema["items"] as? [String: Any] {
                for (index, element) in array.enumerated() {
                    errors += self.errors(element, items, path: "\(path)[\(index)]")
                }
            }
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                errors.append("\(path): required \(name)")
            }
            if let names = schema["propertyNames"] as? [String: Any] {
                for name in object.keys { errors += self.errors(name, names, path: "\(path).\(name) (name)") }
            }
            for (name, member) in object {
                if let property = properties[name] as? [String: Any] {
                    errors += self.errors(member, property, path: "\(path).\(name)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    errors += self.errors(member, additional, path: "\(path).\(name)")
                } else if schema["additionalProperties"] as? Bool == false {
                    errors.append("\(path): additional property \(name)")
                }
            }
        }
        return errors
    }
}
