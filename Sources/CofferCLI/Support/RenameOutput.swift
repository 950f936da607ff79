import Coffer

/// What a rename answers: the names now, and whether anything changed (a rename to the same
/// names writes nothing and says so).
enum RenameOutput {
    static func emit(
        _ subject: String, id: String, names: [(key: String, value: String)], changed: Bool, output: Output
    ) {
        var document: [String: JSON] = ["id": .string(id), "changed": .bool(changed)]
        for (key, value) in names { document[key] = .string(value) }
        let shown = names.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        output.emit(
            .object(document),
            text: { changed ? "Renamed \(subject) (\(id)): \(shown)." : "Unchanged: \(subject) already has \(shown)." })
    }
}
