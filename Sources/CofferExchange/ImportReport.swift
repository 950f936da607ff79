import Coffer

/// How an import treats an object that the vault holds already (same slug, handle, app and
/// slug at the same owner, assignment key, or API key id).
public enum ConflictPolicy: String, Sendable, CaseIterable {
    /// Keep the vault's object; later objects of the import that refer to it use it.
    case skip
    /// Make the vault's object like the import's: names, label, role, field values (as a
    /// new version), default mark, revocation, assignment target. Ids, creation stamps and
    /// history stay the vault's.
    case replace
    /// Refuse the whole import, listing every conflict. The default.
    case fail
}

/// What an import did, or would do under `--dry-run`: one item per object of the input.
public struct ImportReport: Sendable {
    public enum Action: String, Sendable, CaseIterable {
        case created
        case changed
        case skipped
    }

    public struct Item: Sendable, Hashable {
        /// `organization`, `project`, `user`, `membership`, `credential`, `assignment`,
        /// `api_key` or `setting`.
        public var kind: String
        /// What people call it: a slug, a handle, `app/slug (organization acme)`.
        public var name: String
        /// Its id in the vault after the import, when it has one.
        public var id: String?
        public var action: Action
        /// Why it was skipped or what changed; `nil` for a plain creation.
        public var detail: String?
        /// Where it is in the input: a JSON path or a line.
        public var source: String

        public init(kind: String, name: String, id: String?, action: Action, detail: String?, source: String) {
            self.kind = kind
            self.name = name
            self.id = id
            self.action = action
            self.detail = detail
            self.source = source
        }
    }

    /// Whether nothing was written.
    public var dryRun: Bool
    public var items: [Item]
    /// The operations of the one transaction (0 when there was nothing to do).
    public var operationCount: Int

    public func count(_ action: Action) -> Int { items.filter { $0.action == action }.count }

    /// The report as `--json` prints it.
    public var json: JSONValue {
        [
            "dry_run": .bool(dryRun),
            "operations": .unsigned(UInt64(operationCount)),
            "summary": .object(
                Dictionary(
                    uniqueKeysWithValues: Action.allCases.map { ($0.rawValue, JSONValue.unsigned(UInt64(count($0)))) })),
            "items": .array(
                items.map { item in
                    var object: [String: JSONValue] = [
                        "kind": .string(item.kind), "name": .string(item.name), "action": .string(item.action.rawValue),
                        "source": .string(item.source),
                    ]
                    if let id = item.id { object["id"] = .string(id) }
                    if let detail = item.detail { object["detail"] = .string(detail) }
                    return .object(object)
                }),
        ]
    }
}
