import CofferCrypto
import CofferErrors

/// Naming things the way people type them (FORMAT.md, OPS-SELECTOR).
extension VaultIndex {
    /// The credential of `organization` a selector names.
    ///
    /// A selector is an id (`cred_…`), a slug (`work`), `SCOPE/SLUG` with scope `org`,
    /// `organization`, `project` or `user` (`org/work`), or `APP/SLUG` (`linear/work`).
    /// A first part that is a scope word is read as a scope. Revoked instances match too.
    ///
    /// - Throws: `.notFound` when nothing matches, `.ambiguous` listing the candidates (ids
    ///   first) when several do, `.invalidInput` for a malformed selector.
    public func selectCredential(_ selector: String, in organization: OrganizationID) throws(CofferError)
        -> CredentialID
    {
        let organizationHandle = try tables.requireOrganization(organization)
        if let id = CredentialID(selector) {
            guard let slot = tables.credentialSlot(id), tables.credential(slot).organization == organizationHandle
            else {
                throw CofferError(
                    .notFound, "No credential has the id \(id) in this organization. List credentials to find it.")
            }
            return id
        }
        let parts = selector.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, !parts.contains(where: \.isEmpty) else {
            throw CofferError(.invalidInput, "A credential selector is an id, SLUG, SCOPE/SLUG or APP/SLUG.")
        }
        let slug = parts[parts.count - 1]
        var scope: CredentialScope?
        var app: Handle?
        if parts.count == 2 {
            if let word = CredentialScope(selectorWord: parts[0]) {
                scope = word
            } else {
                app = tables.stringHandle(parts[0]) ?? noHandle
            }
        }
        let matches =
            (tables.stringHandle(slug).map { tables.slugGroup(SlugKey(organization: organizationHandle, slug: $0)) }
            ?? [])
            .filter { slot in
                let record = tables.credential(slot)
                return (scope == nil || record.scope == scope) && (app == nil || record.app == app)
            }
        guard !matches.isEmpty else {
            throw CofferError(
                .notFound, "No credential matches `\(selector)` in this organization. List credentials to find it.")
        }
        guard matches.count == 1 else {
            let candidates = matches.sorted { tables.credential($0).id < tables.credential($1).id }.map(
                tables.candidateName)
            // What the selector did not already name: an APP/SLUG fanned out is told apart by id.
            let advice = scope != nil ? "its id or APP/SLUG" : app != nil ? "its id" : "its id, APP/SLUG or SCOPE/SLUG"
            throw CofferError(
                .ambiguous,
                "Several credentials match `\(selector)`. Select one by \(advice); the candidates give each.",
                candidates: candidates)
        }
        return tables.credential(matches[0]).id
    }

    /// The organization named by an id or slug.
    /// - Throws: `.notFound`.
    public func organizationID(_ reference: String) throws(CofferError) -> OrganizationID {
        guard let info = organization(reference) else {
            throw CofferError(.notFound, "No organization is named `\(reference)`. List organizations to find it.")
        }
        return info.id
    }

    /// The project of `organization` named by an id or slug.
    /// - Throws: `.notFound`.
    public func projectID(_ reference: String, in organization: OrganizationID) throws(CofferError) -> ProjectID {
        guard let info = project(reference, in: organization) else {
            throw CofferError(
                .notFound, "No project is named `\(reference)` in this organization. List its projects to find it.")
        }
        return info.id
    }

    /// The user named by an id or handle.
    /// - Throws: `.notFound`.
    public func userID(_ reference: String) throws(CofferError) -> UserID {
        guard let info = user(reference) else {
            throw CofferError(.notFound, "No user is named `\(reference)`. List users to find it.")
        }
        return info.id
    }
}
