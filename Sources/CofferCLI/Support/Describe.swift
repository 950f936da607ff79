import Coffer
import CofferFormat

/// Text forms of times, identifiers and model values, shared by every command so that the
/// same thing always reads the same way. Nothing here sees a secret value.
enum Describe {
    /// `2026-11-23T18:50:59Z` from milliseconds since the Unix epoch (UTC, whole seconds).
    static func time(_ milliseconds: UInt64) -> String {
        let seconds = Int64(milliseconds / 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }

    /// The vault UUID in the usual 8-4-4-4-12 form.
    static func uuid(_ bytes: [UInt8]) -> String {
        let hex = Array(Hex.encode(bytes))
        guard hex.count == 32 else { return String(hex) }
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }.joined(separator: "-")
    }

    /// `1 record`, `2 records`.
    static func count(_ count: some BinaryInteger, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }

    /// A byte count with thousands separators: `12,345`.
    static func bytes(_ count: UInt64) -> String {
        let digits = Array(String(count))
        var text = ""
        for (position, digit) in digits.enumerated() {
            if position > 0 && (digits.count - position) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    /// The slug or handle of a scope owner, or its id when it no longer exists.
    static func ownerName(_ owner: ScopeOwner, in index: borrowing VaultIndex) -> String {
        switch owner {
        case .organization(let id): index.organization(id: id)?.slug ?? id.description
        case .project(let id): index.project(id: id)?.slug ?? id.description
        case .user(let id): index.user(id: id)?.handle ?? id.description
        }
    }

    static func ownerID(_ owner: ScopeOwner) -> String {
        switch owner {
        case .organization(let id): id.description
        case .project(let id): id.description
        case .user(let id): id.description
        }
    }

    /// A user's handle, or the id when the user is gone.
    static func userName(_ id: UserID, in index: borrowing VaultIndex) -> String {
        index.user(id: id)?.handle ?? id.description
    }

    /// `workflow triage consumer fetch` → `workflow triage / fetch` (`*` for every consumer).
    static func target(_ target: AssignmentTarget) -> String {
        "\(target.kind.word) \(target.slug) / \(target.consumer)"
    }

    static func targetJSON(_ target: AssignmentTarget) -> JSON {
        ["kind": .string(target.kind.word), "slug": .string(target.slug), "consumer": .string(target.consumer)]
    }

    /// A one-line summary of a credential: `exa/work (organization acme)`.
    static func credentialName(_ id: CredentialID, in index: borrowing VaultIndex) -> String {
        guard let info = index.credential(id: id) else { return id.description }
        return "\(info.appKey)/\(info.slug) (\(info.scope.word) \(ownerName(info.owner, in: index)))"
    }

    /// What a removal took or would take with it, one line per item.
    static func impactLines(_ impact: Impact, in index: borrowing VaultIndex, names: [CredentialID: String] = [:])
        -> [String]
    {
        var lines: [String] = []
        for assignment in impact.removedAssignments {
            let credential = names[assignment.credential] ?? assignment.credential.description
            lines.append("assignment \(target(assignment.target)) for \(assignment.appKey) → \(credential)")
        }
        for id in impact.clearedDefaults { lines.append("default mark of \(names[id] ?? id.description)") }
        for id in impact.deletedCredentials { lines.append("credential \(names[id] ?? id.description)") }
        for id in impact.revokedAPIKeys { lines.append("API key \(id): revoked, its record kept") }
        for id in impact.deletedAPIKeys { lines.append("API key \(id): record deleted") }
        for membership in impact.removedMemberships {
            let organization = index.organization(id: membership.organization)?.slug ?? "\(membership.organization)"
            lines.append(
                "membership of \(userName(membership.user, in: index)) in \(organization) (\(membership.role.word))")
        }
        for id in impact.removedProjects { lines.append("project \(index.project(id: id)?.slug ?? id.description)") }
        return lines
    }

    /// The impact as JSON: the consumers that lose a credential first, as scripts need them.
    static func impactJSON(_ impact: Impact, in index: borrowing VaultIndex) -> JSON {
        [
            "assignments": .array(
                impact.removedAssignments.map {
                    [
                        "target": targetJSON($0.target), "app": .string($0.appKey),
                        "credential": .string($0.credential.description),
                    ]
                }),
            "cleared_defaults": .array(impact.clearedDefaults.map { .string($0.description) }),
            "deleted_credentials": .array(impact.deletedCredentials.map { .string($0.description) }),
            "revoked_api_keys": .array(impact.revokedAPIKeys.map { .string($0.description) }),
            "deleted_api_keys": .array(impact.deletedAPIKeys.map { .string($0.description) }),
            "removed_memberships": .array(
                impact.removedMemberships.map {
                    ["user": .string(userName($0.user, in: index)), "role": .string($0.role.word)]
                }),
            "removed_projects": .array(impact.removedProjects.map { .string($0.description) }),
        ]
    }

    /// Names of every credential an impact mentions, taken before the change removes them;
    /// with the organization when it spans several (a user's removal), so that one user's
    /// credentials of one app in two organizations are told apart.
    static func credentialNames(_ impact: Impact, in index: borrowing VaultIndex) -> [CredentialID: String] {
        let ids = impact.deletedCredentials + impact.clearedDefaults + impact.removedAssignments.map(\.credential)
        let organizations = Set(ids.compactMap { index.credential(id: $0)?.organization })
        var names: [CredentialID: String] = [:]
        for id in ids {
            names[id] = credentialName(id, in: index)
            if organizations.count > 1, let info = index.credential(id: id) {
                names[id]! += " in \(index.organization(id: info.organization)?.slug ?? "\(info.organization)")"
            }
        }
        return names
    }
}

/// A credential's metadata as the CLI shows it: everything but secret values.
struct CredentialView {
    let info: CredentialInfo
    let ownerName: String

    init(_ info: CredentialInfo, in index: borrowing VaultIndex) {
        self.info = info
        self.ownerName = Describe.ownerName(info.owner, in: index)
    }

    /// The members every credential document has (`credentials set`, `get`, `resolve`).
    var identity: [String: JSON] {
        [
            "id": .string(info.id.description), "app": .string(info.appKey), "slug": .string(info.slug),
            "scope": .string(info.scope.word), "owner": .string(ownerName),
            "owner_id": .string(Describe.ownerID(info.owner)),
        ]
    }

    /// The full metadata with previews of the current version.
    var json: JSON { .object(members) }

    /// The members of ``json``, for answers that add their own.
    var members: [String: JSON] {
        var object = identity
        object["label"] = .string(info.label)
        object["type"] = .string(info.type.word)
        object["kind"] = .string(info.kind.word)
        object["category"] = .string(info.category.word)
        object["state"] = .string(info.state.word)
        object["version"] = .unsigned(UInt64(info.version))
        object["default"] = .bool(info.isDefault)
        object["created"] = .string(Describe.time(info.created.timeMilliseconds))
        object["updated"] = .string(Describe.time(info.updated.timeMilliseconds))
        object["fields"] = .object(
            Dictionary(uniqueKeysWithValues: info.fields.map { ($0.name, JSON.string($0.text)) }))
        return object
    }

    /// `token=••••a1b2 host=smtp.example.com`
    var fieldsText: String {
        info.fields.map { "\($0.name)=\($0.text)" }.joined(separator: " ")
    }
}
