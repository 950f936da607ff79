import Coffer

/// Operations as `coffer log` shows them: what changed, by id and slug, never a value.
/// Credential fields are named, their values never read; API keys show only their preview.
///
enum OperationText {
    /// A short word for the operation (`create_credential`) and a sentence.
    static func describe(_ operation: ModelOperation) -> (word: String, text: String) {
        switch operation {
        case .setVersionRetention(let count):
            ("set_version_retention", "keep \(count) versions of each credential")
        case .createOrganization(let id, let slug, let name):
            ("create_organization", "create organization \(slug) \"\(name)\" \(id)")
        case .renameOrganization(let id, let slug, let name):
            ("rename_organization", "rename organization \(id) to \(slug) \"\(name)\"")
        case .removeOrganization(let id):
            ("remove_organization", "remove organization \(id)")
        case .createProject(let id, let organization, let slug, let name):
            ("create_project", "create project \(slug) \"\(name)\" \(id) in \(organization)")
        case .renameProject(let id, let slug, let name):
            ("rename_project", "rename project \(id) to \(slug) \"\(name)\"")
        case .removeProject(let id):
            ("remove_project", "remove project \(id)")
        case .createUser(let id, let handle, let displayName):
            ("create_user", "create user \(handle) \"\(displayName)\" \(id)")
        case .renameUser(let id, let handle, let displayName):
            ("rename_user", "rename user \(id) to \(handle) \"\(displayName)\"")
        case .removeUser(let id):
            ("remove_user", "remove user \(id)")
        case .addMembership(let user, let organization, let role):
            ("add_membership", "add \(user) to \(organization) as \(role.word)")
        case .changeMembershipRole(let user, let organization, let role):
            ("change_role", "make \(user) \(role.word) in \(organization)")
        case .removeMembership(let user, let organization):
            ("remove_membership", "remove \(user) from \(organization)")
        case .createCredential(let new):
            (
                "create_credential",
                "create credential \(new.appKey)/\(new.slug) \(new.id) (\(new.type.word)) at \(new.owner), fields \(new.fields.names.joined(separator: ", "))"
            )
        case .relabelCredential(let id, let label):
            ("relabel_credential", "relabel \(id) \"\(label)\"")
        case .setCredentialFields(let change):
            (
                change.reason == .rotate ? "rotate_credential" : "update_credential",
                "\(change.reason == .rotate ? "rotate" : "update") \(change.id) to version \(change.version), changed \(change.changedFields.joined(separator: ", "))"
            )
        case .revokeCredential(let id):
            ("revoke_credential", "revoke \(id)")
        case .reinstateCredential(let id):
            ("reinstate_credential", "reinstate \(id)")
        case .changeCredentialSlug(let id, let slug):
            ("change_credential_slug", "change the slug of \(id) to \(slug)")
        case .deleteCredential(let id):
            ("delete_credential", "delete \(id)")
        case .setDefault(let id):
            ("set_default", "make \(id) the default")
        case .clearDefault(let id):
            ("clear_default", "clear the default mark of \(id)")
        case .assign(_, let target, let appKey, let credential):
            ("assign", "assign \(credential) to \(Describe.target(target)) for \(appKey)")
        case .unassign(_, let target, let appKey):
            ("unassign", "unassign \(Describe.target(target)) for \(appKey)")
        case .createAPIKey(let new):
            ("create_api_key", "create API key \(new.id) \"\(new.name)\" \(new.preview) for \(new.creator)")
        case .revokeAPIKey(let id):
            ("revoke_api_key", "revoke API key \(id)")
        case .deleteAPIKey(let id):
            ("delete_api_key", "delete API key record \(id)")
        case .restoreOrganization(let id, let slug, let name, let created):
            ("restore_organization", "restore organization \(slug) \"\(name)\" \(id), \(Self.stamp(created))")
        case .restoreProject(let id, let organization, let slug, let name, let created):
            ("restore_project", "restore project \(slug) \"\(name)\" \(id) in \(organization), \(Self.stamp(created))")
        case .restoreUser(let id, let handle, let displayName, let created):
            ("restore_user", "restore user \(handle) \"\(displayName)\" \(id), \(Self.stamp(created))")
        case .restoreCredential(let restored):
            (
                "restore_credential",
                "restore credential \(restored.appKey)/\(restored.slug) \(restored.id) (\(restored.type.word)) at \(restored.owner), "
                    + "\(restored.state.word)\(restored.isDefault ? ", default" : ""), version \(restored.version), "
                    + "\(restored.changes.count) change\(restored.changes.count == 1 ? "" : "s") of its history, fields \(restored.fields.names.joined(separator: ", "))"
            )
        case .restoreCredentialHistory(let id, let changes):
            ("restore_credential_history", "restore \(changes.count) older changes of the history of \(id)")
        case .restoreVersion(let id, let version, let fields):
            ("restore_version", "restore version \(version) of \(id), fields \(fields.names.joined(separator: ", "))")
        case .restoreAssignment(_, let target, let appKey, let credential):
            (
                "restore_assignment",
                "restore the assignment of \(credential) to \(Describe.target(target)) for \(appKey)"
            )
        case .restoreAPIKey(let key):
            (
                "restore_api_key",
                "restore API key \(key.id) \"\(key.name)\" \(key.preview) for \(key.creator)\(key.revoked == nil ? "" : ", revoked")"
            )
        }
    }

    /// Who and when, for a restored entity.
    private static func stamp(_ stamp: ChangeStamp) -> String {
        "created \(Describe.time(stamp.timeMilliseconds)) by \(stamp.actor)"
    }
}
