import CofferErrors
import CofferModel

/// Credential edits at the vault's level: the planner's `updateCredential` and
/// `rotateCredential` merge the given fields with the stored ones, which they read through a
/// reader; here the vault is that reader. Credentials and organizations are named by selector
/// and slug, or by their typed ids.
extension Vault {
    /// Updates a credential: label, default mark, fields (blank keeps, `clearedFields`
    /// removes), slug; one transaction, durable when it returns.
    ///
    /// - Returns: the credential's id (nothing is written when nothing changes).
    /// - Throws: what `Planner.updateCredential` and `mutate(actor:_:)` throw.
    @discardableResult
    public func updateCredential(
        _ selector: String, in organization: String, _ update: CredentialUpdate, actor: String
    ) throws(CofferError) -> CredentialID {
        try mutate(actor: actor) { planner in
            try planner.updateCredential(selector, in: organization, update) { location throws(CofferError) in
                try self.readOperation(at: location)
            }
        }
    }

    /// `updateCredential(_:in:_:actor:)` by typed ids.
    @discardableResult
    public func updateCredential(
        _ credential: CredentialID, in organization: OrganizationID, _ update: CredentialUpdate, actor: String
    ) throws(CofferError) -> CredentialID {
        try updateCredential(credential.description, in: organization.description, update, actor: actor)
    }

    /// Rotates a credential's secret: a new version with the given fields replaced, the others
    /// kept; at least one secret field must change.
    @discardableResult
    public func rotateCredential(
        _ selector: String, in organization: String, fields: FieldValues, actor: String
    ) throws(CofferError) -> CredentialID {
        try mutate(actor: actor) { planner in
            try planner.rotateCredential(selector, in: organization, fields: fields) { location throws(CofferError) in
                try self.readOperation(at: location)
            }
        }
    }

    /// `rotateCredential(_:in:fields:actor:)` by typed ids.
    @discardableResult
    public func rotateCredential(
        _ credential: CredentialID, in organization: OrganizationID, fields: FieldValues, actor: String
    ) throws(CofferError) -> CredentialID {
        try rotateCredential(credential.description, in: organization.description, fields: fields, actor: actor)
    }

    /// `updateCredential(_:in:_:actor:)` by selector, on the vault's own threads.
    @discardableResult
    public func updateCredential(
        _ selector: String, in organization: String, _ update: CredentialUpdate, actor: String
    ) async throws(CofferError) -> CredentialID {
        try await Self.offload { () throws(CofferError) in
            try self.updateCredential(selector, in: organization, update, actor: actor)
        }
    }

    /// `rotateCredential(_:in:fields:actor:)` by selector, on the vault's own threads.
    @discardableResult
    public func rotateCredential(
        _ selector: String, in organization: String, fields: FieldValues, actor: String
    ) async throws(CofferError) -> CredentialID {
        try await Self.offload { () throws(CofferError) in
            try self.rotateCredential(selector, in: organization, fields: fields, actor: actor)
        }
    }

    /// `updateCredential(_:in:_:actor:)` by typed ids, on the vault's own threads.
    @discardableResult
    public func updateCredential(
        _ credential: CredentialID, in organization: OrganizationID, _ update: CredentialUpdate, actor: String
    ) async throws(CofferError) -> CredentialID {
        try await Self.offload { () throws(CofferError) in
            try self.updateCredential(credential, in: organization, update, actor: actor)
        }
    }

    /// `rotateCredential(_:in:fields:actor:)` by typed ids, on the vault's own threads.
    @discardableResult
    public func rotateCredential(
        _ credential: CredentialID, in organization: OrganizationID, fields: FieldValues, actor: String
    ) async throws(CofferError) -> CredentialID {
        try await Self.offload { () throws(CofferError) in
            try self.rotateCredential(credential, in: organization, fields: fields, actor: actor)
        }
    }
}
