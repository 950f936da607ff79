import Coffer

/// `--as USER` checked against the vault. It is a claim, not an authentication: whoever holds
/// the key can name anyone. But the claim is held to what the model allows the user it names:
/// the user exists, and is a member of the organization the command works in.
enum ActingUser {
    static func check(_ reference: String, organization: String?, in vault: Vault) throws(CommandFailure) {
        let (user, role, organizationSlug) = vault.read { index in
            let user = index.user(reference)
            // An organization that does not exist is the command's own error to report.
            let found = organization.flatMap { index.organization($0) }
            let role = user.flatMap { user in found.flatMap { index.role(of: user.id, in: $0.id) } }
            return (user, role, found?.slug)
        }
        guard let user else {
            throw CommandFailure(
                .no, code: "not_found",
                "The acting user given with --as is not a user of this vault. `coffer user list` lists them; "
                    + "omit --as to act as the operator.")
        }
        if let organizationSlug, role == nil {
            throw CommandFailure(
                .no, code: "permission_denied",
                "The acting user \(user.handle) is not a member of the organization \(organizationSlug): a command acts "
                    + "there only for a member. Add the membership (`coffer member add`), or omit --as to act as the operator."
            )
        }
    }

    /// A user credential is that user's: acting as another user, its values stay hidden, and
    /// it is not changed (`refusal` says which).
    static func checkValuesVisible(
        _ info: CredentialInfo, acting: String?, in vault: Vault, refusal: String = "its values are not shown"
    ) throws(CommandFailure) {
        guard let acting, case .user(let owner) = info.owner, vault.read({ $0.user(acting)?.id }) != owner else {
            return
        }
        throw CommandFailure(
            .no, code: "not_visible",
            "This credential belongs to another user's scope: acting as \(acting), \(refusal). Omit --as to act as the operator."
        )
    }

    /// Before credentials go into the scope of `user` (`--user`): acting as another user,
    /// nothing goes there (nor takes its default). A user that does not exist is the
    /// command's own error to report.
    static func checkOwnScope(_ user: String?, acting: String?, in vault: Vault) throws(CommandFailure) {
        guard let acting, let user else { return }
        let (actingID, userID) = vault.read { index in (index.user(acting)?.id, index.user(user)?.id) }
        guard let userID, actingID != userID else { return }
        throw CommandFailure(
            .no, code: "not_visible",
            "Acting as \(acting), credentials go only into the acting user's own scope, not \(user)'s. Omit --as "
                + "to act as the operator.")
    }

    /// Before a change to the credential `selector` names: acting as another user, a user
    /// credential is not changed (`refusal` says how).
    static func checkMayChange(
        _ selector: String, in organization: String, acting: String?, vault: Vault,
        refusal: String = "it is not changed"
    ) throws(CommandFailure) {
        guard acting != nil else { return }
        let info: CredentialInfo
        do throws(CofferError) {
            info = try vault.read { index throws(CofferError) in try index.selected(selector, in: organization).info }
        } catch {
            // The change itself reports a selector that does not resolve.
            return
        }
        try checkValuesVisible(info, acting: acting, in: vault, refusal: refusal)
    }
}
