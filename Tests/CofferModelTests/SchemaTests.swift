import CofferCrypto
import CofferTestSupport
import XCTest

@testable import CofferModel

final class SchemaTests: XCTestCase {
    static let pem =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    /// A throw-away key made by `ssh-keygen -t ed25519` with a passphrase; `ssh-keygen -l`
    /// gives the fingerprint the tests expect (the key without one: ``TestSSHKeys``).
    static let encryptedOpenSSHKey = """
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABD803TaD7
        XdVNCnqAYL5kUnAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIPBv53ywLsQZgvAB
        yQeDXJbwfBSHwLNSSHl7JCMF2eVAAAAAkOSMChZKKfSg2871+s9fXH93+E2USqYReNhMtf
        NOre1wjJOsSNBElDHpr+ShIapV5CugdyHmFU7yJqyvw8cVfE6K7mHu8PYqPQ8wyg0RKadM
        I8qrw3k9Fzjb7nbJNuc67dyioJMRVGEBlfwId7efY1WDHrXNuo4cEf/4Vfj5TrTRjDL3uX
        krnPpLkch+S2aLYQ==
        -----END OPENSSH PRIVATE KEY-----
        """

    /// A valid, complete field set for each type.
    static let valid: [CredentialType: [String: String]] = [
        .apiToken: ["token": "sk-live-0123456789a1b2"],
        .apiKeyPair: ["api_key": "AKIAEXAMPLE1234", "api_secret": "wJalrXUtnFEMI/K7MDENG"],
        .usernamePassword: ["username": "svc", "password": "correct horse battery"],
        .smtp: [
            "host": "smtp.example.com", "port": "587", "username": "mailer", "password": "hunter2hunter2",
            "encryption": "starttls",
        ],
        .oauth2: [
            "client_id": "client-123", "client_secret": "cs-0123456789", "access_token": "at-0123456789",
            "refresh_token": "rt-0123456789", "expires_at": "1767225600", "scopes": "read write:org",
        ],
        .sshKey: [
            "private_key": pem, "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host",
            "passphrase": "pass phrase 12",
        ],
        .custom: ["json": #"{"api_key": "abc", "nested": {"a": [1, 2.5e3, true, null]}, "region": "eu"}"#],
    ]

    func check(_ type: CredentialType, _ values: [String: String]) throws -> [String?] {
        try FieldValidation.check(fields(values), of: type)
    }

    func assertRejected(
        _ type: CredentialType, _ values: [String: String], naming field: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let error = assertThrowsCoffer(.invalidInput, file: file, line: line) { try check(type, values) }
        XCTAssertTrue(error?.message.contains("`\(field)`") ?? false, error?.message ?? "", file: file, line: line)
        for value in values.values where value.count > 3 {
            XCTAssertFalse(error?.message.contains(value) ?? false, "message leaks a value", file: file, line: line)
        }
    }

    func testEveryTypeAcceptsItsValidFields() throws {
        for type in CredentialType.allCases {
            let texts = try check(type, Self.valid[type]!)
            XCTAssertEqual(texts.count, type.fields.count)
        }
    }

    func testRequiredFields() {
        for type in CredentialType.allCases {
            for spec in type.fields where spec.isRequired {
                var values = Self.valid[type]!
                values[spec.name] = nil
                if type == .smtp, spec.name == "username" { continue }
                assertRejected(type, values, naming: spec.name)
            }
        }
        // Optional fields may be left out.
        XCTAssertNoThrow(try check(.sshKey, ["private_key": Self.pem]))
        XCTAssertNoThrow(try check(.smtp, ["host": "mail", "port": "25", "encryption": "none"]))
        XCTAssertNoThrow(
            try check(.oauth2, Self.valid[.oauth2]!.filter { $0.key != "scopes" && $0.key != "expires_at" }))
    }

    func testUnknownAndEmptyFields() {
        var values = Self.valid[.apiToken]!
        // A name that is not a field is not repeated: it may be a secret typed in its place.
        values["sk-live-pasted-as-a-name"] = "x"
        let unknown = assertThrowsCoffer(.invalidInput) { try check(.apiToken, values) }
        XCTAssertEqual(
            unknown?.message,
            "The api_token type has no field of a name given (names that are not fields are not repeated, in case one is a secret). Its fields are: token."
        )
        assertRejected(.apiToken, ["token": ""], naming: "token")
    }

    func testKnownFieldNamesAreFoundByTheirBytes() {
        // Every type's field names, and nothing else: a decoder falls back to making the
        // `String` for a name no type has (a hostile or future record's).
        for type in CredentialType.allCases {
            for field in type.fields {
                let found = Array(field.name.utf8).withUnsafeBytes { FieldSpec.knownName($0) }
                XCTAssertEqual(found, field.name)
                // The decoder skips the repeat check of canonically equivalent names for these.
                XCTAssertTrue(field.name.utf8.allSatisfy { $0 < 0x80 }, "\(field.name) is ASCII")
            }
        }
        // A known name with a zero byte after it (its padded words are the same; its length
        // is not), and names of 16 and 17 bytes.
        for other in [
            "", "t", "toke", "tokens", "Token", "json ", "private_keys", "accès", "token\u{0}", "client_secret_16",
            "refresh_tokens_17",
        ] {
            XCTAssertNil(Array(other.utf8).withUnsafeBytes { FieldSpec.knownName($0) }, other)
        }
    }

    /// An `ssh_key` whose public key is not its private key's is refused by the planner where
    /// the private key tells (OpenSSH); a PEM key cannot tell and is taken as given.
    func testAnSSHKeyPairMustMatch() throws {
        var fixture = try Fixture()
        func create(_ slug: String, _ values: [String: String]) throws {
            try fixture.vault.commit(
                fixture.vault.planner.createCredential(
                    in: "acme",
                    CredentialDraft(
                        appKey: "deploy", slug: slug, label: "Deploy", type: .sshKey, fields: fields(values))))
        }
        try create("matching", ["private_key": TestSSHKeys.privateKey, "public_key": TestSSHKeys.publicKey])
        let other = TestSSHKeys.otherPublicKey
        let refused = assertThrowsCoffer(.invalidInput) {
            try create("mismatched", ["private_key": TestSSHKeys.privateKey, "public_key": other])
        }
        XCTAssertTrue(refused?.message.contains("not the public half") ?? false, refused?.message ?? "")
        let listed = fixture.index.credentials(matching: CredentialFilter(organization: fixture.acme))
        XCTAssertNil(listed.first { $0.slug == "mismatched" })
        try create("pem", ["private_key": Self.pem, "public_key": other])
        // A PEM key cannot tell its public half, but its algorithm must be the public key's.
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n"
        assertThrowsCoffer(.invalidInput) { try create("rsa-ed25519", ["private_key": rsa, "public_key": other]) }
        try create("rsa", ["private_key": rsa, "public_key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ me@host"])
        // A rotation to a new private key that keeps the old public key is refused too.
        let matching = try fixture.index.selectCredential("deploy/matching", in: fixture.acme)
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.rotateCredential(
                matching.description, in: "acme", fields: fields(["private_key": Self.encryptedOpenSSHKey]),
                reveal: fixture.vault.read)
        }
    }

    func testFieldRules() {
        var smtp = Self.valid[.smtp]!
        for port in ["0", "65536", "80a", "", "0587", "-1", "99999999"] {
            smtp["port"] = port
            assertRejected(.smtp, smtp, naming: port.isEmpty ? "port" : "port")
        }
        smtp["port"] = "65535"
        XCTAssertNoThrow(try check(.smtp, smtp))
        for encryption in ["SSL", "tls1.2", "plain"] {
            smtp["encryption"] = encryption
            assertRejected(.smtp, smtp, naming: "encryption")
        }
        smtp["encryption"] = "ssl"
        smtp["host"] = "smtp example.com"
        assertRejected(.smtp, smtp, naming: "host")
        smtp["host"] = "[2001:db8::1]"
        XCTAssertNoThrow(try check(.smtp, smtp))
        smtp["username"] = nil
        assertRejected(.smtp, smtp, naming: "username")

        var oauth = Self.valid[.oauth2]!
        oauth["expires_at"] = "tomorrow"
        assertRejected(.oauth2, oauth, naming: "expires_at")
        oauth["expires_at"] = "1767225600"
        for scopes in ["read  write", " read", "read\"", "read\nwrite"] {
            oauth["scopes"] = scopes
            assertRejected(.oauth2, oauth, naming: "scopes")
        }
        oauth["scopes"] = nil
        oauth["client_id"] = "line\nbreak"
        assertRejected(.oauth2, oauth, naming: "client_id")

        assertRejected(.sshKey, ["private_key": "not a key"], naming: "private_key")
        assertRejected(.sshKey, ["private_key": Self.pem, "public_key": "BBBB-not-a-key"], naming: "public_key")
        assertRejected(.apiToken, ["token": String(repeating: "a", count: 65537)], naming: "token")
        assertRejected(.apiToken, ["token": "nul\u{0}byte"], naming: "token")
        // OPS-FIELD-TEXT: not UTF-8 (a stray byte, an overlong form, a surrogate, past U+10FFFF,
        // cut short) or a NUL, in a word of ASCII or after one; text of every length is fine.
        let eight = Array("sk-live-".utf8)
        for bytes: [UInt8] in [
            [0x61, 0xFF, 0x62], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], eight + [0xE2, 0x82],
            eight + [0], [0x61, 0] + eight, eight + eight + [0x80],
        ] {
            let fields = FieldValues(["token": SecureBytes(copying: bytes)])
            do {
                _ = try FieldValidation.check(fields, of: .apiToken)
                XCTFail("\(bytes) accepted")
            } catch {
                XCTAssertEqual(error.code, .invalidInput, "\(bytes)")
            }
        }
        for text in ["a", "sk-live-0", "caf\u{E9} \u{2713} \u{1F600}", String(repeating: "\u{E9}x", count: 9)] {
            XCTAssertNoThrow(try check(.apiToken, ["token": text]), text)
        }
    }

    func testJSONObjects() {
        let accepted = [
            "{}", #"{"a":1}"#, #" { "a" : [ ] , "b" : { } } "#, #"{"e":"\u00e9\ud83d\ude00\n\"\\\/"}"#,
            #"{"n":-0.5E-3}"#,
            "{\"deep\":" + String(repeating: "[", count: 62) + String(repeating: "]", count: 62) + "}",
        ]
        for text in accepted {
            XCTAssertNoThrow(try check(.custom, ["json": text]), text)
        }
        let rejected = [
            "[]", "1", #""s""#, "{", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":tru}"#,
            #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, "{\"a\":\"\u{01}\"}", #"{"a":1}{"#, #"{"a":1,"a":2}"#, #"{'a':1}"#,
            "{\"deep\":" + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}",
        ]
        for text in rejected {
            assertRejected(.custom, ["json": text], naming: "json")
        }
    }

    func testPreviews() throws {
        XCTAssertEqual(Preview.of(secret("sk-live-0123456789a1b2")), "••••a1b2")
        XCTAssertEqual(Preview.of(secret("abc")), "••••", "short secrets show nothing")
        XCTAssertEqual(Preview.of(secret("1234567")), "••••")
        XCTAssertEqual(Preview.of(secret("12345678")), "••••", "under 16 characters, nothing shows")
        XCTAssertEqual(Preview.of(secret("GitHubPW123!xyz")), "••••", "a password typed where a token goes")
        XCTAssertEqual(Preview.of(secret("0123456789abcdef")), "••••cdef")
        XCTAssertEqual(Preview.of(secret("token-with-newline-xyz1\n")), "••••xyz1", "trailing whitespace is ignored")
        XCTAssertEqual(Preview.of(secret("pässwörd-ünïcødé")), "••••cødé")
        // Long values are decoded from near their end only; the preview is the same.
        let long = String(repeating: "x", count: 3000) + "é€😀ab"
        XCTAssertEqual(Preview.of(secret(long)), "••••€😀ab")
        XCTAssertEqual(Preview.of(secret(String(repeating: "😀", count: 20) + "1234\n")), "••••1234")
        XCTAssertEqual(Preview.of(secret(String(repeating: "€", count: 22))), "••••€€€€")
        XCTAssertEqual(Preview.of(secret("0123456789abcd\u{7}e")), "••••", "control characters are never shown")

        let smtp = try check(.smtp, Self.valid[.smtp]!)
        XCTAssertEqual(
            smtp, ["smtp.example.com", "587", "mailer", "••••", "starttls"],
            "non-secret fields are shown in full; a password shows no character")
        let login = try check(.usernamePassword, ["username": "svc", "password": "a-long-chosen-passphrase-1234"])
        XCTAssertEqual(login, ["svc", "••••"])
        let custom = try check(.custom, Self.valid[.custom]!)
        XCTAssertEqual(custom, ["{api_key: ••••, nested: ••••, region: ••••}"])
        // A key shows its type and fingerprint, as `ssh-keygen -l` prints them, whether or not
        // it is encrypted; a key whose blob does not parse shows the mask; a PEM key its kind.
        let ssh = try check(
            .sshKey, ["private_key": TestSSHKeys.privateKey, "passphrase": "a long ssh key passphrase"])
        XCTAssertEqual(ssh, ["ssh-ed25519 SHA256:9Kc6EhpLwJUHnsZH+RGTRYItV2nk2rCIk5gsGwpZ1z8", nil, "••••"])
        XCTAssertEqual(
            try check(.sshKey, ["private_key": Self.encryptedOpenSSHKey]),
            ["ssh-ed25519 SHA256:JYb/5Kn2m2hSNOMSwF7FsFX2ndlp+HzB+4Ym0wjXQLs", nil, nil])
        XCTAssertEqual(try check(.sshKey, ["private_key": Self.pem]), ["••••", nil, nil])
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n"
        XCTAssertEqual(try check(.sshKey, ["private_key": rsa]), ["RSA private key (PEM)", nil, nil])
    }

    /// An ASCII token's preview, made without decoding, is the one decoding makes: on random
    /// tokens of ASCII (controls and whitespace among them) and of other scalars, around the
    /// lengths where the rule changes (16 scalars, 64 bytes); and past 64 bytes, a preview
    /// made from 4 ASCII bytes at the end, whatever precedes them. Seeded; a failure prints
    /// its seed.
    func testAnASCIITokensPreviewIsTheDecodedOne() {
        let pieces: [String] = ["a", "Z", "0", "-", "_", " ", "\n", "\t", "\u{7}", "\u{7F}", "é", "€", "😀"]
        var tailsShown = 0
        for seed: UInt64 in 1...3 {
            let random = SplitMix64(seed: seed)
            for round in 0..<2000 {
                let asciiOnly = random.next() % 2 == 0
                let choices = asciiOnly ? Array(pieces.prefix(10)) : pieces
                var token = ""
                for _ in 0..<Int(random.next() % 72) { token += choices[Int(random.next() % UInt64(choices.count))] }
                let bytes = Array(token.utf8)
                bytes.withUnsafeBytes { view in
                    var end = view.count
                    while end > 0, [0x20, 0x09, 0x0A, 0x0D].contains(view[end - 1]) { end -= 1 }
                    let decoded = Preview.ofDecoding(view, end: end)
                    XCTAssertEqual(Preview.of(view), decoded, "seed \(seed), round \(round)")
                    let ascii = Preview.ofASCII(UnsafeRawBufferPointer(rebasing: view[..<end]))
                    if asciiOnly {
                        XCTAssertEqual(ascii, decoded, "seed \(seed), round \(round)")
                    } else if bytes[..<end].contains(where: { $0 >= 0x80 }) {
                        XCTAssertNil(ascii, "seed \(seed), round \(round)")
                    }
                    // Past 64 bytes, the last 4 bytes when they are ASCII.
                    if end > 64 {
                        let tail = Preview.ofASCIITail(UnsafeRawBufferPointer(rebasing: view[(end - 4)..<end]))
                        if bytes[(end - 4)..<end].allSatisfy({ $0 < 0x80 }) {
                            XCTAssertEqual(tail, decoded, "seed \(seed), round \(round)")
                            tailsShown += 1
                        } else {
                            XCTAssertNil(tail, "seed \(seed), round \(round)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(tailsShown, 500, "tokens past 64 bytes with an ASCII tail")
    }

    /// A rollback is a new version with an older version's values, fields it lacked cleared;
    /// nothing to do when the values are already those; only to an earlier, retained version.
    func testRollbackMakesANewVersionWithTheOlderValues() throws {
        var fixture = try Fixture()
        let draft = CredentialDraft(
            appKey: "ssh", slug: "deploy", label: "Deploy", type: .sshKey, category: .communication,
            fields: fields(["private_key": Self.pem]))
        let id = try fixture.vault.commit(fixture.vault.planner.createCredential(in: "acme", draft))[0]
        let update = CredentialUpdate(
            fields: fields([
                "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFzvIxxnbhwZMlvs7HgjuPE+UbQM2gDKG7lxEJltDH/x deploy"
            ]))
        try fixture.vault.commit(
            fixture.vault.planner.updateCredential(id.description, in: "acme", update, reveal: fixture.vault.read))
        XCTAssertNotNil(try fixture.vault.revealed(id)["public_key"])
        try fixture.vault.commit(
            fixture.vault.planner.rollbackCredential(
                id.description, in: "acme", toVersion: 1, reveal: fixture.vault.read))
        XCTAssertNil(try fixture.vault.revealed(id)["public_key"], "a field version 1 lacked is cleared")
        XCTAssertEqual(fixture.index.credential(id: id)?.version, 3)
        XCTAssertEqual(fixture.index.history(of: id).last?.changedFields, ["public_key"])
        XCTAssertTrue(
            try fixture.vault.planner.rollbackCredential(
                id.description, in: "acme", toVersion: 1, reveal: fixture.vault.read
            ).isEmpty)
        for version: UInt32 in [0, 3, 9] {
            assertThrowsCoffer(.invalidInput) {
                try fixture.vault.planner.rollbackCredential(
                    id.description, in: "acme", toVersion: version, reveal: fixture.vault.read)
            }
        }
    }

    func testBlankKeepsValueAndNewVersions() throws {
        var fixture = try Fixture()
        let draft = CredentialDraft(
            appKey: "mail", slug: "out", label: "Mail", type: .smtp, category: .communication,
            fields: fields(Self.valid[.smtp]!))
        let id = try fixture.vault.commit(fixture.vault.planner.createCredential(in: "acme", draft))[0]
        // A blank password and a new host: the password stays, the host changes.
        let update = CredentialUpdate(fields: fields(["password": "", "host": "mail.example.org"]))
        try fixture.vault.commit(
            fixture.vault.planner.updateCredential(id.description, in: "acme", update, reveal: fixture.vault.read))
        var revealed = try fixture.vault.revealed(id)
        XCTAssertEqual(revealed["password"], "hunter2hunter2")
        XCTAssertEqual(revealed["host"], "mail.example.org")
        let info = try XCTUnwrap(fixture.index.credential(id: id))
        XCTAssertEqual(info.version, 2)
        XCTAssertEqual(info.fields.first { $0.name == "host" }?.text, "mail.example.org")
        XCTAssertEqual(fixture.index.history(of: id).last?.changedFields, ["host"])

        // Same values again: nothing to do.
        let same = try fixture.vault.planner.updateCredential(
            id.description, in: "acme", CredentialUpdate(fields: fields(["host": "mail.example.org"])),
            reveal: fixture.vault.read)
        XCTAssertTrue(same.isEmpty)
        // A blank value under a name that is no field is a typo, not "unchanged"; in a rotation too.
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.updateCredential(
                id.description, in: "acme", CredentialUpdate(fields: fields(["hots": ""])), reveal: fixture.vault.read)
        }
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.rotateCredential(
                id.description, in: "acme", fields: fields(["pasword": "new-one-0123456789"]),
                reveal: fixture.vault.read)
        }
        // And in a creation: a blank value under a name the type lacks is refused, not left out.
        var misspelt = Self.valid[.smtp]!
        misspelt["usernmae"] = ""
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "mail", slug: "other", label: "Mail", type: .smtp, category: .communication,
                    fields: fields(misspelt)))
        }

        // Clearing an optional field, and refusing to clear a required one.
        try fixture.vault.commit(
            fixture.vault.planner.updateCredential(
                id.description, in: "acme", CredentialUpdate(clearedFields: ["password", "username"]),
                reveal: fixture.vault.read))
        revealed = try fixture.vault.revealed(id)
        XCTAssertNil(revealed["password"])
        XCTAssertEqual(fixture.index.history(of: id).last?.changedFields, ["username", "password"])
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.updateCredential(
                id.description, in: "acme", CredentialUpdate(clearedFields: ["host"]), reveal: fixture.vault.read)
        }
        // An invalid new value names the field.
        let error = assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.updateCredential(
                id.description, in: "acme", CredentialUpdate(fields: fields(["port": "seventy"])),
                reveal: fixture.vault.read)
        }
        XCTAssertTrue(error?.message.contains("`port`") ?? false)
    }

    func testRotationKeepsTheLastVersions() throws {
        var fixture = try Fixture()
        let id = try fixture.token("exa", "main", value: "sk-version-0001")[0]
        try fixture.vault.commit(fixture.vault.planner.setVersionRetention(3))
        for version in 2...6 {
            try fixture.vault.commit(
                fixture.vault.planner.rotateCredential(
                    id.description, in: "acme", fields: fields(["token": "sk-version-000\(version)"]),
                    reveal: fixture.vault.read),
                actor: "alice")
        }
        let index = fixture.index
        XCTAssertEqual(index.versions(of: id).map(\.version), [6, 5, 4])
        XCTAssertEqual(try fixture.vault.revealed(id, version: 4)["token"], "sk-version-0004")
        XCTAssertNil(index.location(of: id, version: 3), "older versions are no longer readable")
        XCTAssertEqual(index.history(of: id).map(\.version), [1, 2, 3, 4, 5, 6], "history keeps every change")
        XCTAssertEqual(index.history(of: id).last?.kind, .rotated)
        XCTAssertEqual(index.history(of: id).last?.stamp.actor, "alice")
        XCTAssertNotNil(index.credential(id: id)?.rotated)
        XCTAssertEqual(index.credential(id: id)?.fields.first?.text, "••••", "15 characters show none")

        // Lowering the retention lets go at once.
        try fixture.vault.commit(fixture.vault.planner.setVersionRetention(1))
        XCTAssertEqual(fixture.index.versions(of: id).map(\.version), [6])
        XCTAssertEqual(fixture.index.checkInvariants(), [])

        // Rotating to the same value, or without a secret field, is refused.
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.rotateCredential(
                id.description, in: "acme", fields: fields(["token": "sk-version-0006"]), reveal: fixture.vault.read)
        }
        assertThrowsCoffer(.invalidInput) {
            try fixture.vault.planner.rotateCredential(
                id.description, in: "acme", fields: fields([:]), reveal: fixture.vault.read)
        }
    }
}
