import Coffer

/// Turns `--set` fields into the fields of a credential type.
///
/// - `api_token` has one field, `token`: a single token-like name (`apiKey`, `api_key`,
///   `token`, `secret`, …) is taken as it, so `--set apiKey=…` works as people type it.
/// - `custom` has one field, `json`: `--set json=…` is taken as the object itself; any other
///   names are members of the object, which the planner builds or edits (OPS-FIELD-CUSTOM:
///   `--set region=eu --set key=…` → `{"key":"…","region":"eu"}`, and later
///   `update --set region=us` changes that member alone).
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
        default:
            return fields
        }
    }
}
