import CofferCrypto
import CofferErrors

/// A newly created platform API key. ``secret`` is the only copy of the key: show it once.
public struct CreatedAPIKey: Sendable {
    /// The key's identifier.
    public let id: APIKeyID
    /// The key itself (`ck_live_…`). The vault keeps only its keyed hash.
    public let secret: SecureBytes
    /// The preview the vault keeps.
    public let preview: String
}

extension Planner {
    /// Creates a platform API key for a member: it acts as that user, with that user's role.
    ///
    /// - Parameters:
    ///   - hashKey: the vault's API-key hash subkey (`MasterKeySubkey.apiKeyHash`).
    /// - Returns: the plan and the key, to show exactly once.
    /// - Throws: `.permissionDenied` when the creator is not a member, `.invalidInput` for a
    ///   bad name.
    public func createAPIKey(
        in organization: String, creator: String, name: String, hashKey: SecureBytes
    ) throws(CofferError) -> Plan<CreatedAPIKey> {
        let organizationID = try index.organizationID(organization)
        let userID = try index.userID(creator)
        _ = try index.requireRole(of: userID, in: organizationID)
        try Names.checkName(name, what: "API key name")
        while true {
            let secret = APIKeyFormat.generate(randomBytes: randomBytes)
            let hash = APIKeyFormat.hash(of: secret, hashKey: hashKey)
            // A 64-bit tag collision is astronomically unlikely; draw again rather than fail.
            guard index.tables.apiKeyByTag[APIKeyFormat.tag(of: hash)] == nil else { continue }
            let id = newIdentifier { index.tables.apiKeys[$0] != nil }
            let preview = APIKeyFormat.preview(of: secret)
            let new = NewAPIKey(
                APIKeyMetadata(
                    id: id, organization: organizationID, creator: userID, name: name, hash: hash, preview: preview))
            return Plan(
                operations: [.createAPIKey(new)], value: CreatedAPIKey(id: id, secret: secret, preview: preview))
        }
    }

    /// Revokes a platform API key on behalf of `actingUser` (OPS-APIKEY-VISIBILITY): owners
    /// and admins revoke any key of the organization, a builder only keys it created.
    /// - Throws: `.permissionDenied` when the user may not, `.notFound` for an unknown key,
    ///   `.invalidInput` when already revoked.
    public func revokeAPIKey(_ id: APIKeyID, in organization: String, actingUser: String) throws(CofferError) -> Plan<
        Void
    > {
        let organizationID = try index.organizationID(organization)
        let userID = try index.userID(actingUser)
        let role = try index.requireRole(of: userID, in: organizationID)
        guard let key = index.apiKey(id: id), key.organization == organizationID else {
            throw CofferError(.notFound, "No API key has the id \(id) in this organization. List API keys to find it.")
        }
        guard role.managesAllAPIKeys || key.creator == userID else {
            throw CofferError(
                .permissionDenied, "You can revoke only API keys you created. Ask an owner or admin to revoke this one."
            )
        }
        guard key.state == .active else { throw CofferError(.invalidInput, "The API key \(id) is already revoked.") }
        return Plan(operations: [.revokeAPIKey(id: id)], value: ())
    }
}
