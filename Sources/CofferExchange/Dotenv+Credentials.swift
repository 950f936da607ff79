import Coffer

extension Dotenv {
    /// Which app the assignments of a dotenv file belong to.
    public enum AppChoice: Sendable, Equatable {
        /// The app is the part of each key before its first `_`, lower-cased: `EXA_API_KEY`
        /// belongs to `exa`, with the field name `api_key`.
        case fromPrefix
        /// Every assignment belongs to this app; field names are the keys, lower-cased.
        case app(String)
    }

    /// The credentials a dotenv file holds (FORMAT.md §12.4, D-MAP): the
    /// assignments grouped by app, each group one credential whose type follows from its
    /// field names:
    ///
    /// | Field names (lower case) | Type | Fields |
    /// |---|---|---|
    /// | any one name | `api_token` | `token` |
    /// | a user name (`username`, `user`, `login`) and a password (`password`, `pass`, `passwd`, `pwd`) | `username_password` | `username`, `password` |
    /// | a key id (`key`, `api_key`, `access_key`, `access_key_id`, `key_id`, `client_id`, `app_key`) and a secret (`secret`, `api_secret`, `secret_key`, `secret_access_key`, `client_secret`, `app_secret`) | `api_key_pair` | `api_key`, `api_secret` |
    /// | anything else | `custom` | a JSON object of every name and value |
    ///
    /// Assignments with an empty value, and (with ``AppChoice/fromPrefix``) keys without a
    /// prefix, are left out and listed as skipped. Every credential gets the slug `slug`,
    /// the app as its label, kind `api_key` and category `custom`.
    public static func credentials(_ entries: [Entry], app choice: AppChoice, slug: String = "main")
        -> CredentialEntries
    {
        var result = CredentialEntries()
        var groups: [(app: String, members: [(name: String, entry: Entry)])] = []
        for entry in entries {
            let source = "line \(entry.line)"
            guard entry.value.count > 0 else {
                result.skipped.append(.init(source: source, name: entry.key, reason: "empty value: nothing to store"))
                continue
            }
            let app: String
            let name: String
            switch choice {
            case .app(let given):
                app = given
                name = entry.key.lowercased()
            case .fromPrefix:
                guard let underscore = entry.key.firstIndex(of: "_"), underscore != entry.key.startIndex,
                    entry.key.index(after: underscore) != entry.key.endIndex
                else {
                    result.skipped.append(
                        .init(
                            source: source, name: entry.key,
                            reason: "no APP_ prefix to take the app from; import it with --app"))
                    continue
                }
                app = entry.key[..<underscore].lowercased()
                name = entry.key[entry.key.index(after: underscore)...].lowercased()
            }
            if let position = groups.firstIndex(where: { $0.app == app }) {
                groups[position].members.append((name, entry))
            } else {
                groups.append((app, [(name, entry)]))
            }
        }
        for group in groups {
            let lines = group.members.map(\.entry.line)
            // Messages name at most a few lines: a group can hold thousands.
            let shown = lines.prefix(Self.linesShownMax).map(String.init).joined(separator: ", ")
            let source =
                lines.count == 1
                ? "line \(lines[0])"
                : "lines " + shown
                    + (lines.count > Self.linesShownMax ? " and \(lines.count - Self.linesShownMax) more" : "")
            let (type, fields) = classify(group.members)
            result.entries.append(
                CredentialEntry(
                    source: source, appKey: group.app, slug: slug, label: group.app, type: type, fields: fields))
        }
        return result
    }

    /// The most line numbers a message lists for one credential.
    static let linesShownMax = 8

    static let userNames: Set<String> = ["username", "user", "login", "user_name"]
    static let passwordNames: Set<String> = ["password", "pass", "passwd", "pwd"]
    static let keyNames: Set<String> = [
        "key", "api_key", "apikey", "access_key", "access_key_id", "key_id", "client_id", "app_key",
    ]
    static let secretNames: Set<String> = [
        "secret", "api_secret", "secret_key", "secret_access_key", "client_secret", "app_secret",
    ]

    /// `name` (a lower-cased member name) as `key` spells it at its end (`SVC_Token` →
    /// `Token`), or the whole key when it does not end so.
    private static func spelled(_ name: String, in key: String) -> String {
        let count = name.utf8.count
        guard key.utf8.count >= count else { return key }
        let tail = String(decoding: key.utf8.suffix(count), as: UTF8.self)
        return tail.lowercased() == name ? tail : key
    }

    private static func classify(_ members: [(name: String, entry: Entry)]) -> (CredentialType, FieldValues) {
        if members.count == 1 { return (.apiToken, FieldValues(["token": members[0].entry.value])) }
        if members.count == 2 {
            let (first, second) = (members[0], members[1])
            for (a, b) in [(first, second), (second, first)] {
                if userNames.contains(a.name), passwordNames.contains(b.name) {
                    return (.usernamePassword, FieldValues(["username": a.entry.value, "password": b.entry.value]))
                }
                if keyNames.contains(a.name), secretNames.contains(b.name) {
                    return (.apiKeyPair, FieldValues(["api_key": a.entry.value, "api_secret": b.entry.value]))
                }
            }
        }
        // Names that collide once lower-cased (`APP_Token`, `APP_TOKEN`) keep their spelling,
        // without the prefix (`Token`, `TOKEN`); the others stay lower-cased.
        var counts: [String: Int] = [:]
        for member in members { counts[member.name, default: 0] += 1 }
        var names = members.map { member in
            counts[member.name]! > 1 ? spelled(member.name, in: member.entry.key) : member.name
        }
        if Set(names).count != names.count {
            names = zip(names, members).map { name, member in counts[member.name]! > 1 ? member.entry.key : name }
        }
        var object: [String: JSONValue] = [:]
        for (name, member) in zip(names, members) { object[name] = .secret(member.entry.value) }
        let json = SecretBuffer()
        JSONValue.object(object).writeCompact(to: json)
        return (.custom, FieldValues(["json": json.secureBytes()]))
    }
}
