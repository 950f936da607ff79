import ArgumentParser
import Coffer

/// `--project P`, `--user U`, `--scope S`: narrowing a credential selector to what `list`
/// shows, so a credential fanned out to two projects under one slug is selectable without its
/// id (`exa/work --project web`).
struct SelectorFilters: ParsableArguments {
    @Option(
        name: .customLong("project"),
        help: ArgumentHelp("Only a credential of this project (slug or id).", valueName: "project"))
    var project: String?

    @Option(
        name: .customLong("user"),
        help: ArgumentHelp("Only a credential of this user (handle or id).", valueName: "user"))
    var user: String?

    @Option(
        name: .customLong("scope"),
        help: ArgumentHelp("Only a credential at this scope: org, project or user.", valueName: "scope"))
    var scope: ScopeWord?

    /// The filters as a value (an option group read outside parsing traps).
    var narrowing: SelectorNarrowing { SelectorNarrowing(project: project, user: user, scope: scope?.value) }
}

/// What `--project`, `--user` and `--scope` narrow a selector to; nothing by default.
struct SelectorNarrowing {
    var project: String?
    var user: String?
    var scope: CredentialScope?

    var isEmpty: Bool { project == nil && user == nil && scope == nil }
}

/// Looking up one credential by selector, for the commands that show or change one.
extension VaultIndex {
    /// The credential `selector` names in `organization`, narrowed by `filters`.
    ///
    /// A selector is an id, `SLUG`, `SCOPE/SLUG` or `APP/SLUG` (the engine's rule), or an app
    /// key alone when exactly one credential of that app matches. When several match and
    /// exactly one of them is what the command can act on (`preferring`: the revoked one for a
    /// restore, the active one for a revoke), that one; otherwise the error names each with the
    /// selector and filter that picks it alone.
    func selected(
        _ selector: String, in organization: String, filters: SelectorNarrowing = SelectorNarrowing(),
        preferring: ((CredentialInfo) -> Bool)? = nil
    ) throws(CofferError) -> CredentialView {
        let organizationID = try organizationID(organization)
        if filters.isEmpty {
            do throws(CofferError) {
                return view(try selectCredential(selector, in: organizationID))
            } catch  where error.code == .notFound || error.code == .ambiguous {
                // Below: an app key alone, and candidates named so that each can be picked.
            }
        }
        var filter = CredentialFilter(organization: organizationID, scope: filters.scope)
        if let project = filters.project { filter.project = try projectID(project, in: organizationID) }
        if let user = filters.user { filter.user = try userID(user) }
        let listed = credentials(matching: filter)
        var matches = listed.filter { Self.matches($0, selector) }
        if matches.isEmpty && !selector.contains("/") && CredentialID(selector) == nil {
            matches = listed.filter { $0.appKey == selector }
        }
        guard !matches.isEmpty else {
            let narrowed = filters.isEmpty ? "" : " with the filters given"
            throw CofferError(
                .notFound,
                "No credential matches `\(selector)`\(narrowed) in this organization. List credentials to find it.")
        }
        if matches.count > 1, let preferring {
            let preferred = matches.filter(preferring)
            if preferred.count == 1 { return view(preferred[0].id) }
        }
        guard matches.count == 1 else {
            let candidates = matches.sorted { $0.id < $1.id }.map { info in
                // An app named like a scope (`org/main`) reads as SCOPE/SLUG: only the id picks it.
                CredentialScope(selectorWord: info.appKey) == nil
                    ? "\(info.id): \(info.appKey)/\(info.slug) \(pickingFilter(info))"
                    : "\(info.id): by its id (the app `\(info.appKey)` reads as a scope in APP/SLUG)"
            }
            throw CofferError(
                .ambiguous,
                "Several credentials match `\(selector)`. Each candidate below is followed by the selector and filter that "
                    + "pick it alone; or give its id.",
                candidates: candidates)
        }
        return view(matches[0].id)
    }

    private func view(_ id: CredentialID) -> CredentialView {
        // Every id here came from the index under the same read.
        CredentialView(credential(id: id)!, in: self)
    }

    /// Whether `info` is what `selector` names: its id, its slug, SCOPE/SLUG or APP/SLUG.
    private static func matches(_ info: CredentialInfo, _ selector: String) -> Bool {
        if let id = CredentialID(selector) { return info.id == id }
        let parts = selector.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: return info.slug == selector
        case 2:
            guard info.slug == parts[1] else { return false }
            return CredentialScope(selectorWord: parts[0]).map { $0 == info.scope } ?? (info.appKey == parts[0])
        default: return false
        }
    }

    /// The filter that, with APP/SLUG, names `info` alone: its owner.
    private func pickingFilter(_ info: CredentialInfo) -> String {
        switch info.owner {
        case .organization: "--scope org"
        case .project(let id): "--project \(project(id: id)?.slug ?? id.description)"
        case .user(let id): "--user \(user(id: id)?.handle ?? id.description)"
        }
    }
}

extension Vault {
    /// The id of the credential `selector` and `filters` name, as the text a planner takes.
    func selectedID(
        _ selector: String, in organization: String, filters: SelectorFilters,
        preferring: ((CredentialInfo) -> Bool)? = nil
    ) throws(CofferError) -> String {
        try read { index throws(CofferError) in
            try index.selected(selector, in: organization, filters: filters.narrowing, preferring: preferring).info.id
                .description
        }
    }
}
