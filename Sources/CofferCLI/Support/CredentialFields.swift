import Coffer

/// Turns `--set` fields into the fields of a credential type.
///
/// - `api_token` has one field, `token`: a single token-like name (`apiKey`, `api_key`,
///   `token`, `secret`, …) is taken as it, so `--set apiKey=…` works as people type it.
/// - `custom` has one field, `json`: `--set json=…` is taken as the object itself; any other
///   names become the members of a JSON object built in secure memory
///   (`--set region=eu --set key=…` → `{"key":"…","region":"eu"}`).
/// - Every other type takes its own field names as they are.
enum CredentialFields {
    /// Names that mean "the token" (compared without case, `_` and `-`).
    static let tokenNames: Set<String> = [
        "token", "apikey", "apitoken", "accesstoken", "authtoken", "bearertoken", "secret", "secretkey", "key", "pat",
        "personalaccesstoken",
    ]

    static func isTokenLike(_ name: String) -> Bool {
        tokenNames.contains(String(name.lowercased().filter { $0 != "_" && $0 != "-" }))
    }

    /// The type `credentials set` uses without `--type`: `api_token` when the only field is
    /// token-like, `custom` otherwise.
    static func inferredType(_ fields: FieldValues) -> CredentialType {
        fields.count == 1 && isTokenLike(fields.names[0]) ? .apiToken : .custom
    }

    /// The fields as `type` names them.
    static func shaped(_ fields: FieldValues, for type: CredentialType) -> FieldValues {
        switch type {
        case .apiToken where fields.count == 1 && fields["token"] == nil && isTokenLike(fields.names[0]):
            return FieldValues(["token": fields[fields.names[0]]!])
        case .custom where !(fields.count == 1 && fields["json"] != nil) && fields.count > 0:
            return FieldValues(["json": jsonObject(fields)])
        default:
            return fields
        }
    }

    /// `{"name":"value",…}` with names in byte order, written straight into secure memory.
    static func jsonObject(_ fields: FieldValues) -> SecureBytes {
        let names = fields.names
        var count = 2 + max(0, names.count - 1)
        var quotedNames: [[UInt8]] = []
        for name in names {
            var quoted: [UInt8] = []
            JSONEscaping.append(name.utf8, to: &quoted)
            quotedNames.append(quoted)
            count += quoted.count + 1 + fields[name]!.withUnsafeBytes { JSONEscaping.escapedCount($0) }
        }
        return SecureBytes(count: count) { target in
            var cursor = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: target[cursor..<cursor + bytes.count]).copyMemory(from: bytes)
                cursor += bytes.count
            }
            func put(_ byte: UInt8) {
                target[cursor] = byte
                cursor += 1
            }
            put(UInt8(ascii: "{"))
            for (position, name) in names.enumerated() {
                if position > 0 { put(UInt8(ascii: ",")) }
                quotedNames[position].withUnsafeBytes { put($0) }
                put(UInt8(ascii: ":"))
                fields[name]!.withUnsafeBytes { value in
                    let width = JSONEscaping.escapedCount(value)
                    JSONEscaping.escape(value, into: UnsafeMutableRawBufferPointer(rebasing: target[cursor..<cursor + width]))
                    cursor += width
                }
            }
            put(UInt8(ascii: "}"))
            precondition(cursor == count, "JSON object length mismatch")
        }
    }
}
