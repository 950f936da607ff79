import Coffer

/// The CSV that `keepassxc-cli export --format csv` writes (KeePassXC 2.7: the columns
/// `Group`, `Title`, `Username`, `Password`, `URL`, `Notes`, `TOTP`, `Icon`, `Last Modified`,
/// `Created`), read as credentials (FORMAT.md §12.5, K-MAP):
///
/// - **App key**: the title, lower-cased, accents folded (`é` → `e`), every run of other
///   characters than `a-z 0-9 . _` turned into one `-`, cut to 64 bytes: `Stripe API` →
///   `stripe-api`. An entry without a usable title is skipped.
/// - **Slug**: the group path below the database's root group, each group so folded, joined
///   with `-`: `Passwords/Work/Email` → `work-email`; an entry of the root group gets `main`.
///   When two entries would get the same app and slug, the later ones get `-2`, `-3`, ….
/// - **Type**: with a password and nothing secret beside it (no notes, no TOTP):
///   `username_password` when there is a user name, else `api_token` (the password is the
///   token). With notes or a TOTP secret, or a user name that is not one line, `custom`: a
///   JSON object of the non-empty `username`, `password`, `url`, `notes` and `totp`, so
///   that nothing secret is lost. Without a password: `custom` with the notes when there are
///   notes, else the entry is skipped (nothing secret to keep).
/// - **Label**: the title, followed by ` (URL)` when there is a URL; a label is at most 200
///   bytes, and when title and URL do not fit, or the URL holds a user name or password, the
///   credential is `custom` so the URL is kept, as a secret member, and out of the label.
/// - Entries of the `Recycle Bin` group (directly under the root) are skipped. `Icon`, `Last
///   Modified` and `Created` are not imported. Kind `api_key`, category `custom`.
///
/// Every record of the CSV is either a proposed credential or a skipped entry with its
/// reason, so the import report accounts for each one.
public enum KeePassXCCSV {
    /// The columns an export must have; `TOTP` and the others are optional.
    static let requiredColumns = ["Group", "Title", "Username", "Password", "URL", "Notes"]
    static let labelBytesMax = 200

    /// Reads the credentials of a KeePassXC CSV export.
    ///
    /// - Throws: `.invalidInput` naming the line: malformed CSV (a broken quote, a short
    ///   record), or a header without the columns KeePassXC writes.
    public static func credentials(_ bytes: UnsafeRawBufferPointer) throws(CofferError) -> CredentialEntries {
        let table = try CSVTable.parse(bytes)
        guard let header = table.records.first else {
            throw CofferError(.invalidInput, "The CSV is empty: a KeePassXC export starts with its header line.")
        }
        let names = header.fields.map(table.text)
        var columns: [String: Int] = [:]
        for (position, name) in names.enumerated() where columns[name] == nil { columns[name] = position }
        for required in requiredColumns where columns[required] == nil {
            throw CSVTable.failure(
                header.line,
                "the header has no `\(required)` column; this is not what `keepassxc-cli export --format csv` writes (it needs \(requiredColumns.joined(separator: ", ")))"
            )
        }
        var result = CredentialEntries()
        var taken: Set<String> = []
        for record in table.records.dropFirst() {
            let source = "line \(record.line)"
            func text(_ column: String) -> String { columns[column].map { table.text(record.fields[$0]) } ?? "" }
            func secret(_ column: String) -> SecureBytes? {
                guard let position = columns[column] else { return nil }
                let field = record.fields[position]
                return field.range.isEmpty ? nil : table.secret(field)
            }
            let title = text("Title")
            let groups = text("Group").split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let shownName = (groups.dropFirst() + [title]).joined(separator: "/")
            if groups.count >= 2, groups[1] == "Recycle Bin" {
                result.skipped.append(.init(source: source, name: shownName, reason: "in the recycle bin"))
                continue
            }
            let app = fold(title)
            guard !app.isEmpty else {
                result.skipped.append(
                    .init(source: source, name: shownName, reason: "no title to make an app key from"))
                continue
            }
            let username = secret("Username")
            let password = secret("Password")
            let notes = secret("Notes")
            let totp = secret("TOTP")
            let url = text("URL")
            guard password != nil || notes != nil || totp != nil else {
                result.skipped.append(
                    .init(source: source, name: shownName, reason: "no password, notes or TOTP: nothing secret to keep")
                )
                continue
            }
            let groupSlug = groups.dropFirst().map(fold).filter { !$0.isEmpty }.joined(separator: "-")
            var slug = String((groupSlug.isEmpty ? "main" : groupSlug).utf8.prefix(60))!
            if slug.hasSuffix("-") { slug.removeLast() }
            var unique = slug
            var suffix = 2
            while !taken.insert("\(app)\n\(unique)").inserted {
                unique = "\(slug)-\(suffix)"
                suffix += 1
            }

            let titleLabel = Self.label(title.isEmpty ? app : title)
            // A URL with a user name and password in it (`https://user:pw@host`) is secret:
            // it stays out of the label, in a custom credential's object.
            let urlIsSecret = Self.hasUserInfo(url)
            let labelWithURL = url.isEmpty || urlIsSecret ? titleLabel : "\(titleLabel) (\(url))"
            let urlFits = !urlIsSecret && Self.label(labelWithURL) == labelWithURL
            let usernameIsLine = username.map(isOneLine) ?? true
            let type: CredentialType
            let fields: FieldValues
            if let password, notes == nil, totp == nil, urlFits, usernameIsLine {
                if let username {
                    type = .usernamePassword
                    fields = FieldValues(["username": username, "password": password])
                } else {
                    type = .apiToken
                    fields = FieldValues(["token": password])
                }
            } else {
                var object: [String: JSONValue] = [:]
                if let username { object["username"] = .secret(username) }
                if let password { object["password"] = .secret(password) }
                if let position = columns["URL"], !url.isEmpty {
                    object["url"] = .secret(table.secret(record.fields[position]))
                }
                if let notes { object["notes"] = .secret(notes) }
                if let totp { object["totp"] = .secret(totp) }
                let json = SecretBuffer()
                JSONValue.object(object).writeCompact(to: json)
                type = .custom
                fields = FieldValues(["json": json.secureBytes()])
            }
            result.entries.append(
                CredentialEntry(
                    source: source, appKey: app, slug: unique,
                    label: type == .custom ? titleLabel : Self.label(labelWithURL),
                    type: type, fields: fields))
        }
        return result
    }

    /// A title or group name as an app key or slug part: lower case, accents folded, runs of
    /// other characters as one `-`, no `-` at either end, at most 64 bytes.
    static func fold(_ text: String) -> String {
        var folded = ""
        var pendingDash = false
        for scalar in text.lowercased().unicodeScalars {
            let replacement: String
            switch scalar {
            case "a"..."z", "0"..."9", ".", "_": replacement = String(scalar)
            default: replacement = accents[scalar] ?? ""
            }
            if replacement.isEmpty {
                pendingDash = !folded.isEmpty
                continue
            }
            if pendingDash { folded += "-" }
            pendingDash = false
            folded += replacement
        }
        var cut = String(folded.utf8.prefix(64))!
        while cut.hasSuffix("-") || cut.hasSuffix(".") || cut.hasSuffix("_") { cut.removeLast() }
        while let first = cut.first, first == "." || first == "_" { cut.removeFirst() }
        return cut
    }

    /// Latin letters with diacritics and ligatures, as ASCII.
    static let accents: [Unicode.Scalar: String] = {
        var table: [Unicode.Scalar: String] = [:]
        let groups: [(String, String)] = [
            ("àáâãäåāăą", "a"), ("çćĉċč", "c"), ("ďđ", "d"), ("èéêëēĕėęě", "e"), ("ĝğġģ", "g"), ("ĥħ", "h"),
            ("ìíîïĩīĭįı", "i"), ("ĵ", "j"), ("ķ", "k"), ("ĺļľŀł", "l"), ("ñńņňŉ", "n"), ("òóôõöøōŏő", "o"),
            ("ŕŗř", "r"), ("śŝşš", "s"), ("ţťŧ", "t"), ("ùúûüũūŭůűų", "u"), ("ŵ", "w"), ("ýÿŷ", "y"), ("źżž", "z"),
        ]
        for (letters, ascii) in groups {
            for scalar in letters.unicodeScalars { table[scalar] = ascii }
        }
        table["ß"] = "ss"
        table["æ"] = "ae"
        table["œ"] = "oe"
        table["þ"] = "th"
        table["ð"] = "d"
        return table
    }()

    /// A label (OPS-TEXT-NAME): control characters as spaces, blanks trimmed, at most 200
    /// bytes cut at a character boundary.
    static func label(_ text: String) -> String {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            cleaned.append(scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0) ? " " : scalar)
        }
        var label = String(cleaned).trimmingBlanks()
        while label.utf8.count > labelBytesMax { label.removeLast() }
        return label.trimmingBlanks()
    }

    /// Whether a URL carries user information (`scheme://user:password@host/…`).
    static func hasUserInfo(_ url: String) -> Bool {
        guard let scheme = url.firstRange(of: "://") else { return false }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return authority.contains("@")
    }

    /// OPS-FIELD-TEXT line rule for a user name: at most 1024 bytes, no control characters.
    private static func isOneLine(_ value: SecureBytes) -> Bool {
        value.withUnsafeBytes { bytes in bytes.count <= 1024 && !bytes.contains { $0 < 0x20 || $0 == 0x7F } }
    }
}

extension String {
    fileprivate func trimmingBlanks() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
