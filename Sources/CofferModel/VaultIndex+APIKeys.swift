import CofferCrypto
import CofferErrors

/// Platform API keys: listing by role and checking a presented key (FORMAT.md,
/// OPS-APIKEY-*).
extension VaultIndex {
    /// The API keys of an organization that `user` may see (OPS-APIKEY-VISIBILITY): every
    /// key for owners and admins, only the keys it created for a builder. Oldest first.
    ///
    /// - Throws: `.permissionDenied` when `user` is not a member of the organization.
    public func apiKeys(organization: OrganizationID, visibleTo user: UserID) throws(CofferError) -> [APIKeyInfo] {
        let role = try requireRole(of: user, in: organization)
        let handle = try tables.requireOrganization(organization)
        return tables.apiKeys.values
            .filter { $0.organization == handle && (role.managesAllAPIKeys || $0.creator == user) }
            .sorted { ($0.createdTime, $0.id) < ($1.createdTime, $1.id) }
            .map(apiKeyInfo)
    }

    /// An API key's metadata, whoever asks (for the engine; people go through
    /// ``apiKeys(organization:visibleTo:)``).
    public func apiKey(id: APIKeyID) -> APIKeyInfo? {
        tables.apiKeys[id].map(apiKeyInfo)
    }

    /// Checks a presented key: well formed, known, active, and its creator still a member.
    ///
    /// Finding the key takes a dictionary lookup by the first eight bytes of the keyed hash,
    /// which an attacker cannot compute without the hash key; the whole hash is then compared
    /// in constant time, against a dummy when nothing was found.
    ///
    /// - Parameters:
    ///   - presented: the key as presented (`ck_live_…`).
    ///   - hashKey: the vault's API-key hash subkey.
    /// - Returns: the key, organization, user and that user's current role.
    /// - Throws: `.permissionDenied` with one message for malformed, unknown and revoked keys,
    ///   so a caller learns nothing about which.
    public func checkAPIKey(_ presented: SecureBytes, hashKey: SecureBytes) throws(CofferError) -> APIKeyCheck {
        guard APIKeyFormat.isWellFormed(presented) else { throw Self.invalidAPIKey }
        return try checkAPIKey(hash: APIKeyFormat.hash(of: presented, hashKey: hashKey))
    }

    /// Checks an already computed keyed hash; see ``checkAPIKey(_:hashKey:)``.
    public func checkAPIKey(hash: [UInt8]) throws(CofferError) -> APIKeyCheck {
        guard hash.count == APIKeyFormat.hashByteCount else { throw Self.invalidAPIKey }
        let record = tables.apiKeyByTag[APIKeyFormat.tag(of: hash)].flatMap { tables.apiKeys[$0] }
        let stored = record?.hash ?? [UInt8](repeating: 0, count: APIKeyFormat.hashByteCount)
        let matches = constantTimeEquals(stored, hash)
        guard matches, let record, record.state == .active, let user = tables.userHandle(record.creator),
            let role = tables.memberships[MembershipKey(user: user, organization: record.organization)]
        else { throw Self.invalidAPIKey }
        return APIKeyCheck(
            apiKey: record.id, organization: tables.organization(record.organization).id, user: record.creator,
            role: role)
    }

    static let invalidAPIKey = CofferError(
        .permissionDenied,
        "The API key is not valid: it is unknown or revoked. Create a new key in the organization's settings.")

    /// The role of a member, or `.permissionDenied` for a non-member.
    func requireRole(of user: UserID, in organization: OrganizationID) throws(CofferError) -> Role {
        guard let role = role(of: user, in: organization) else {
            throw CofferError(
                .permissionDenied, "Only members of the organization can do this. Ask an owner to add you.")
        }
        return role
    }

    func apiKeyInfo(_ record: APIKeyRecord) -> APIKeyInfo {
        APIKeyInfo(
            id: record.id, organization: tables.organization(record.organization).id, creator: record.creator,
            name: record.name,
            preview: record.preview, state: record.state,
            created: tables.stamp(time: record.createdTime, actor: record.createdBy),
            revoked: record.state == .revoked ? tables.stamp(time: record.revokedTime, actor: record.revokedBy) : nil)
    }
}
