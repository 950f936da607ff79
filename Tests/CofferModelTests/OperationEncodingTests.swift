import CofferCrypto
import CofferErrors
import CofferFormat
import XCTest

@testable import CofferModel

final class OperationEncodingTests: XCTestCase {
    static func id<Kind>(_ n: UInt64) -> Identifier<Kind> {
        Identifier(high: 0x0102_0304_0506_0700 | n, low: n &* 0x9E37_79B9)
    }

    /// One operation of every kind, with every optional part present somewhere.
    static var samples: [ModelOperation] {
        let organization: OrganizationID = id(1)
        let project: ProjectID = id(2)
        let user: UserID = id(3)
        let credential: CredentialID = id(4)
        let apiKey: APIKeyID = id(5)
        let target = AssignmentTarget(kind: .agent, slug: "helper", consumer: "search")
        return [
            .setVersionRetention(count: 12),
            .createOrganization(id: organization, slug: "acme", name: "Acme Ünïcode"),
            .renameOrganization(id: organization, slug: "acme-2", name: "Acme 2"),
            .removeOrganization(id: organization),
            .createProject(id: project, organization: organization, slug: "web", name: "Web"),
            .renameProject(id: project, slug: "www", name: "WWW"),
            .removeProject(id: project),
            .createUser(id: user, handle: "alice", displayName: "Alice"),
            .renameUser(id: user, handle: "alice2", displayName: "Alice Two"),
            .removeUser(id: user),
            .addMembership(user: user, organization: organization, role: .admin),
            .changeMembershipRole(user: user, organization: organization, role: .builder),
            .removeMembership(user: user, organization: organization),
            .createCredential(
                NewCredential(
                    CredentialMetadata(
                        id: credential, organization: organization, appKey: "smtp-out", slug: "work", label: "Mail",
                        kind: .apiKey,
                        type: .smtp, category: .communication, owner: .project(project)),
                    fields: fields([
                        "host": "smtp.example.com", "port": "587", "username": "u", "password": "p4ss-w0rd!",
                        "encryption": "starttls",
                    ]))),
            .createCredential(
                NewCredential(
                    CredentialMetadata(
                        id: id(6), organization: organization, appKey: "exa", slug: "mine", label: "Exa",
                        kind: .keystroke,
                        type: .apiToken, category: .llmProvider, owner: .user(user)), fields: fields(["token": "t"]))),
            .relabelCredential(id: credential, label: "Production Mail"),
            .setCredentialFields(
                CredentialFieldsChange(
                    id: credential, reason: .rotate, version: 2, changedFields: ["password"],
                    fields: fields([
                        "host": "smtp.example.com", "port": "587", "username": "u", "password": "n3w",
                        "encryption": "tls",
                    ]))),
            .revokeCredential(id: credential),
            .reinstateCredential(id: credential),
            .changeCredentialSlug(id: credential, slug: "primary"),
            .deleteCredential(id: credential),
            .setDefault(id: credential),
            .clearDefault(id: credential),
            .assign(organization: organization, target: target, appKey: "exa", credential: credential),
            .unassign(organization: organization, target: AssignmentTarget(kind: .poll, slug: "sync"), appKey: "exa"),
            .createAPIKey(
                NewAPIKey(
                    APIKeyMetadata(
                        id: apiKey, organization: organization, creator: user, name: "CI", hash: Array(0..<32),
                        preview: "ck_live_••••abcd"))),
            .revokeAPIKey(id: apiKey),
            .deleteAPIKey(id: apiKey),
        ] + restoreSamples
    }

    /// One restore operation of every kind, with every optional part present somewhere.
    static var restoreSamples: [ModelOperation] {
        let organization: OrganizationID = id(1)
        let project: ProjectID = id(2)
        let user: UserID = id(3)
        let credential: CredentialID = id(4)
        let apiKey: APIKeyID = id(5)
        let stamp = ChangeStamp(timeMilliseconds: 1_700_000_000_123, actor: "alice")
        let empty = ChangeStamp(timeMilliseconds: 0, actor: "")
        let smtp = fields([
            "host": "smtp.example.com", "port": "587", "username": "u", "password": "p4ss-w0rd!",
            "encryption": "starttls",
        ])
        return [
            .restoreOrganization(id: organization, slug: "acme", name: "Acme Ünïcode", created: stamp),
            .restoreProject(id: project, organization: organization, slug: "web", name: "Web", created: stamp),
            .restoreUser(id: user, handle: "alice", displayName: "Alice", created: empty),
            .restoreCredential(
                RestoredCredential(
                    CredentialMetadata(
                        id: credential, organization: organization, appKey: "smtp-out", slug: "work", label: "Mail",
                        kind: .apiKey, type: .smtp, category: .communication, owner: .project(project)),
                    state: .revoked,
                    isDefault: false,
                    changes: [
                        RestoredChange(kind: .rotated, version: 3, changedFieldMask: 0b01000, stamp: stamp),
                        RestoredChange(kind: .relabeled, version: 3, changedFieldMask: 0, stamp: empty),
                        RestoredChange(kind: .revoked, version: 3, changedFieldMask: 0, stamp: stamp),
                    ], fields: smtp)),
            .restoreCredential(
                RestoredCredential(
                    CredentialMetadata(
                        id: id(6), organization: organization, appKey: "exa", slug: "mine", label: "Exa",
                        kind: .keystroke, type: .apiToken, category: .llmProvider, owner: .user(user)), state: .active,
                    isDefault: true,
                    changes: [RestoredChange(kind: .created, version: 1, changedFieldMask: 1, stamp: stamp)],
                    fields: fields(["token": "t"]))),
            .restoreCredentialHistory(
                id: credential,
                changes: [
                    RestoredChange(kind: .created, version: 1, changedFieldMask: 0b10111, stamp: stamp),
                    RestoredChange(kind: .defaultSet, version: 1, changedFieldMask: 0, stamp: stamp),
                    RestoredChange(kind: .defaultCleared, version: 1, changedFieldMask: 0, stamp: stamp),
                    RestoredChange(kind: .fieldsUpdated, version: 2, changedFieldMask: 0b11000, stamp: empty),
                ]),
            .restoreVersion(
                id: credential, version: 2,
                fields: fields([
                    "host": "smtp.example.com", "port": "587", "username": "u", "password": "n3w",
                    "encryption": "tls",
                ])),
            .restoreAssignment(
                organization: organization,
                target: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "step-1"),
                appKey: "smtp-out", credential: credential),
            .restoreAPIKey(
                RestoredAPIKey(
                    APIKeyMetadata(
                        id: apiKey, organization: organization, creator: user, name: "CI", hash: Array(0..<32),
                        preview: "ck_live_••••abcd"), created: stamp, revoked: nil)),
            .restoreAPIKey(
                RestoredAPIKey(
                    APIKeyMetadata(
                        id: id(7), organization: organization, creator: id(8), name: "Old", hash: Array(32..<64),
                        preview: "ck_live_••••wxyz"), created: empty, revoked: stamp)),
        ]
    }

    func testSamplesCoverEveryCode() {
        XCTAssertEqual(Set(Self.samples.map(\.code)), Set(OperationCode.allCases))
    }

    func testRoundTripOfEveryKind() throws {
        for operation in Self.samples {
            let encoded = operation.encode()
            XCTAssertEqual(encoded.code, operation.code.rawValue)
            let decoded = try ModelOperation.decode(encoded).get()
            XCTAssertEqual(decoded, operation, "\(operation)")
            // One encoding per operation: re-encoding gives the same bytes.
            XCTAssertEqual(decoded.encode().body, encoded.body, "\(operation)")
            // The counted size is the size of the bytes.
            XCTAssertEqual(operation.encodedBodyByteCount, encoded.body.count, "\(operation)")
        }
        let change = RestoredChange(
            kind: .rotated, version: 9, changedFieldMask: 1, stamp: ChangeStamp(timeMilliseconds: 1, actor: "ab"))
        XCTAssertEqual(change.encodedByteCount, 16 + 2)
        XCTAssertEqual(RestoredChange.encodedBytesMin, 16)
    }

    /// Restore codes sit at 0x80 and above in their entity's group, and only there.
    func testRestoreCodes() {
        let restore = Set(Self.restoreSamples.map(\.code))
        XCTAssertEqual(restore.count, 8)
        for code in OperationCode.allCases {
            XCTAssertEqual(code.rawValue & 0xFF >= 0x80, restore.contains(code), "\(code)")
        }
    }

    /// Freezes the on-disk encoding: if this changes, the format broke compatibility.
    func testEncodingIsStable() {
        let operation = ModelOperation.createCredential(
            NewCredential(
                CredentialMetadata(
                    id: CredentialID(high: 1, low: 2), organization: OrganizationID(high: 3, low: 4), appKey: "exa",
                    slug: "work",
                    label: "Exa", kind: .apiKey, type: .apiToken, category: .llmProvider,
                    owner: .organization(OrganizationID(high: 3, low: 4))),
                fields: fields(["token": "abc"])))
        let body = operation.encode().body.withUnsafeBytes { Hex.encode(Array($0)) }
        XCTAssertEqual(
            body,
            "0000000000000001" + "0000000000000002" + "0000000000000003" + "0000000000000004"
                + "0300" + "657861" + "0400" + "776f726b" + "0300" + "457861"
                + "01" + "01" + "01" + "01" + "0000000000000003" + "0000000000000004"
                + "01" + "0500" + "746f6b656e" + "03000000" + "616263")
        XCTAssertEqual(
            ModelOperation.setVersionRetention(count: 10).encode().body.withUnsafeBytes { Hex.encode(Array($0)) },
            "0a00")
        // FORMAT.md §9.6.5: reinstate and change slug.
        let id = CredentialID(high: 1, low: 2)
        let reinstate = ModelOperation.reinstateCredential(id: id).encode()
        XCTAssertEqual(reinstate.code, 0x0508)
        XCTAssertEqual(
            reinstate.body.withUnsafeBytes { Hex.encode(Array($0)) }, "0000000000000001" + "0000000000000002")
        let slug = ModelOperation.changeCredentialSlug(id: id, slug: "prod").encode()
        XCTAssertEqual(slug.code, 0x0509)
        XCTAssertEqual(
            slug.body.withUnsafeBytes { Hex.encode(Array($0)) },
            "0000000000000001" + "0000000000000002" + "0400" + "70726f64")
    }

    /// Freezes the restore encodings of the example in FORMAT.md §9.15.
    func testRestoreEncodingIsStable() {
        let organization = OrganizationID(high: 3, low: 4)
        let stamp = ChangeStamp(timeMilliseconds: 0x0000_018B_CFE5_6800, actor: "alice")
        let operation = ModelOperation.restoreCredential(
            RestoredCredential(
                CredentialMetadata(
                    id: CredentialID(high: 1, low: 2), organization: organization, appKey: "exa", slug: "work",
                    label: "Exa", kind: .apiKey, type: .apiToken, category: .llmProvider,
                    owner: .organization(organization)),
                state: .active, isDefault: true,
                changes: [
                    RestoredChange(kind: .rotated, version: 2, changedFieldMask: 1, stamp: stamp),
                    RestoredChange(kind: .defaultSet, version: 2, changedFieldMask: 0, stamp: stamp),
                ], fields: fields(["token": "abc"])))
        XCTAssertEqual(operation.code.rawValue, 0x0580)
        let stampHex = "0068e5cf8b010000" + "0500" + "616c696365"
        XCTAssertEqual(
            operation.encode().body.withUnsafeBytes { Hex.encode(Array($0)) },
            "0000000000000001" + "0000000000000002" + "0000000000000003" + "0000000000000004"
                + "0300" + "657861" + "0400" + "776f726b" + "0300" + "457861"
                + "01" + "01" + "01" + "01" + "0000000000000003" + "0000000000000004"
                + "01" + "01" + "02000000"
                + "03" + "01" + "02000000" + stampHex
                + "05" + "00" + "02000000" + stampHex
                + "01" + "0500" + "746f6b656e" + "03000000" + "616263")
        let organizationBody = ModelOperation.restoreOrganization(
            id: organization, slug: "acme", name: "Acme", created: stamp
        ).encode().body.withUnsafeBytes { Hex.encode(Array($0)) }
        XCTAssertEqual(
            organizationBody,
            "0000000000000003" + "0000000000000004" + "0400" + "61636d65" + "0400" + "41636d65" + "0068e5cf8b010000"
                + "0500" + "616c696365")
    }

    func testEveryTruncationIsAnError() {
        for operation in Self.samples {
            let encoded = operation.encode()
            let bytes = encoded.body.withUnsafeBytes { Array($0) }
            for length in 0..<bytes.count {
                let truncated = Operation(code: encoded.code, bytes: Array(bytes[0..<length]))
                guard case .failure(let error) = ModelOperation.decode(truncated) else {
                    return XCTFail("\(operation.code) truncated to \(length) bytes decoded")
                }
                XCTAssertEqual(error.code, .invalidInput)
            }
            let extended = Operation(code: encoded.code, bytes: bytes + [0])
            XCTAssertThrowsError(try ModelOperation.decode(extended).get(), "\(operation.code) with a trailing byte")
        }
    }

    func testRandomMutationsNeverCrash() {
        let seed: UInt64 = 0xC0FF_EE00_2026
        let random = SplitMix64(seed: seed)
        let samples = Self.samples.map { ($0.code.rawValue, $0.encode().body.withUnsafeBytes { Array($0) }) }
        var decodedCount = 0
        for round in 0..<4000 {
            var (code, bytes) = samples[random.below(samples.count)]
            switch random.below(4) {
            case 0 where !bytes.isEmpty:
                for _ in 0...random.below(3) { bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8)) }
            case 1 where !bytes.isEmpty:
                bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next())
            case 2:
                bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: random.below(bytes.count + 1))
            default:
                code = UInt16(truncatingIfNeeded: random.next() % 0x0800)
            }
            switch ModelOperation.decode(Operation(code: code, bytes: bytes)) {
            case .success(let operation):
                decodedCount += 1
                // Whatever decodes must re-encode to the same bytes (one encoding per value).
                let again = operation.encode().body.withUnsafeBytes { Array($0) }
                XCTAssertEqual(again, bytes, "seed \(seed) round \(round)")
            case .failure(let error):
                XCTAssertTrue([.invalidInput, .unsupportedVersion].contains(error.code), "seed \(seed) round \(round)")
            }
        }
        XCTAssertGreaterThan(decodedCount, 0)
    }

    func testHostileCountsDoNotAllocate() {
        // A field count above the cap, and a value length far past the end of the body.
        var body = CredentialID(high: 1, low: 1).bytes + [2, 1, 0, 0, 0, 1]
        body += [200]
        XCTAssertThrowsError(
            try ModelOperation.decode(Operation(code: OperationCode.setCredentialFields.rawValue, bytes: body)).get())
        var hostile = CredentialID(high: 1, low: 1).bytes + [1, 2, 0, 0, 0, 0]
        hostile += [1, 5, 0] + Array("token".utf8) + [0xFF, 0xFF, 0xFF, 0x7F]
        XCTAssertThrowsError(
            try ModelOperation.decode(Operation(code: OperationCode.setCredentialFields.rawValue, bytes: hostile)).get()
        )
    }

    func testUnknownCodeAndFieldOrder() {
        XCTAssertEqual(ModelOperation.decode(Operation(code: 0x7777, bytes: [])).failureCode, .unsupportedVersion)
        // Field names must be strictly increasing.
        var body = CredentialID(high: 1, low: 1).bytes + [1] + [2, 0, 0, 0] + [0]
        body += [2] + [1, 0, 0x62] + [1, 0, 0, 0, 0x78] + [1, 0, 0x61] + [1, 0, 0, 0, 0x79]
        XCTAssertEqual(
            ModelOperation.decode(Operation(code: OperationCode.setCredentialFields.rawValue, bytes: body)).failureCode,
            .invalidInput)
    }

    func testDescriptionsNeverPrintSecrets() {
        for operation in Self.samples {
            let text = "\(operation)" + String(describing: operation.encode().body)
            XCTAssertFalse(text.contains("p4ss-w0rd"), "\(operation.code)")
            XCTAssertFalse(text.contains("n3w"), "\(operation.code)")
        }
        XCTAssertEqual("\(fields(["token": "sk-live-secret"]))", "fields(token)")
    }

    func testDecodeCredentialFieldsForReveal() throws {
        let samples = Self.samples
        let stored = try ModelOperation.decodeCredentialFields(from: samples[16].encode()).get()
        XCTAssertEqual(stored.version, 2)
        XCTAssertEqual(stored.fields["password"].map(plaintext), "n3w")
        XCTAssertEqual(ModelOperation.decodeCredentialFields(from: samples[0].encode()).failureCode, .invalidInput)
        // After a compaction, values are in restore credential (the current version: that of
        // its latest change) and restore version operations.
        let restores = Self.restoreSamples
        let current = try ModelOperation.decodeCredentialFields(from: restores[3].encode()).get()
        XCTAssertEqual(current.version, 3)
        XCTAssertEqual(current.fields["password"].map(plaintext), "p4ss-w0rd!")
        let older = try ModelOperation.decodeCredentialFields(from: restores[6].encode()).get()
        XCTAssertEqual(older.version, 2)
        XCTAssertEqual(older.fields["password"].map(plaintext), "n3w")
        XCTAssertEqual(
            ModelOperation.decodeCredentialFields(from: restores[5].encode()).failureCode, .invalidInput)
    }

    /// decodeCredentialFields builds only the fields, yet accepts what decode accepts and gives
    /// the same values: for every sample, and every body cut short, every byte changed to
    /// 0xFF, 0x80 (not UTF-8) and 0x00, and one byte too many. Where it accepts a body that
    /// decode refuses, the change was a byte that is not UTF-8 in a string it steps over: the
    /// body with an ASCII byte there instead decodes to the same values. Checking the strings it
    /// steps over too (as the fuzzers do), it agrees with decode on every one, error messages
    /// included.
    func testDecodeCredentialFieldsAgreesWithDecodeButForSkippedStringsUTF8() {
        enum Outcome: Equatable {
            case stored(StoredCredentialFields)
            case failure(CofferError.Code)
        }
        func expected(_ operation: CofferFormat.Operation) -> Outcome {
            switch ModelOperation.decode(operation) {
            case .failure(let error): return .failure(error.code)
            case .success(.createCredential(let new)):
                return .stored(StoredCredentialFields(credential: new.id, version: 1, fields: new.fields))
            case .success(.setCredentialFields(let change)):
                return .stored(
                    StoredCredentialFields(credential: change.id, version: change.version, fields: change.fields))
            case .success(.restoreCredential(let restored)):
                return .stored(
                    StoredCredentialFields(credential: restored.id, version: restored.version, fields: restored.fields))
            case .success(.restoreVersion(let id, let version, let fields)):
                return .stored(StoredCredentialFields(credential: id, version: version, fields: fields))
            case .success: return .failure(.invalidInput)
            }
        }
        func fast(_ operation: CofferFormat.Operation) -> Outcome {
            switch ModelOperation.decodeCredentialFields(from: operation) {
            case .success(let stored): return .stored(stored)
            case .failure(let error): return .failure(error.code)
            }
        }
        /// Checking the skipped strings: decode's outcome and, for an operation that stores
        /// fields, decode's very message.
        func assertStrictAgrees(_ operation: CofferFormat.Operation, _ context: String) {
            let strict = ModelOperation.decodeCredentialFieldsCheckingSkippedStrings(from: operation)
            switch strict {
            case .success(let stored): XCTAssertEqual(.stored(stored), expected(operation), context)
            case .failure(let error): XCTAssertEqual(.failure(error.code), expected(operation), context)
            }
            let storing: [OperationCode] = [
                .createCredential, .setCredentialFields, .restoreCredential, .restoreVersion,
            ]
            if storing.contains(where: { $0.rawValue == operation.code }), case .failure(let got) = strict,
                case .failure(let error) = ModelOperation.decode(operation)
            {
                XCTAssertEqual(got.message, error.message, context)
            }
        }
        var checked = 0
        var acceptedThoughNotUTF8 = 0
        for sample in Self.samples + Self.restoreSamples {
            let code = sample.code.rawValue
            let body = sample.encode().body.withUnsafeBytes { Array($0) }
            let variants = (0..<body.count).map { Array(body[..<$0]) } + [body, body + [0]]
            for variant in variants {
                let operation = CofferFormat.Operation(code: code, bytes: variant)
                XCTAssertEqual(fast(operation), expected(operation), "\(sample.code), \(variant.count) bytes")
                assertStrictAgrees(operation, "\(sample.code), \(variant.count) bytes, skipped strings checked")
                checked += 1
            }
            for index in body.indices {
                for replacement: UInt8 in [0xFF, 0x80, 0x00] where body[index] != replacement {
                    var changed = body
                    changed[index] = replacement
                    let operation = CofferFormat.Operation(code: code, bytes: changed)
                    let context = "\(sample.code), byte \(index) changed to \(replacement)"
                    checked += 1
                    assertStrictAgrees(operation, context + ", skipped strings checked")
                    guard case .stored = fast(operation), case .failure = expected(operation), replacement >= 0x80
                    else {
                        XCTAssertEqual(fast(operation), expected(operation), context)
                        continue
                    }
                    changed[index] = UInt8(ascii: "a")
                    acceptedThoughNotUTF8 += 1
                    XCTAssertEqual(
                        fast(operation), expected(CofferFormat.Operation(code: code, bytes: changed)),
                        "\(context): accepted, and not for a skipped string's UTF-8")
                }
            }
        }
        XCTAssertGreaterThan(checked, 1000)
        XCTAssertGreaterThan(acceptedThoughNotUTF8, 0, "no skipped string was changed")
    }

    /// Field names in increasing byte order that Swift's `String` takes for one key
    /// (canonically equivalent spellings, "e" + U+0301 and "é") are a repeat: malformed, never
    /// one value silently dropped.
    func testCanonicallyEquivalentFieldNamesAreARepeat() throws {
        let sample = try XCTUnwrap(Self.restoreSamples.first { $0.code == .restoreVersion })
        let body = sample.encode().body.withUnsafeBytes { Array($0) }
        var bytes = Array(body.prefix(16 + 4))  // the id, the version
        bytes.append(2)
        // And an ASCII name with a spelling of it beyond ASCII: "K" and KELVIN SIGN (U+212A).
        for pair in [[("e\u{301}", "a"), ("\u{e9}", "b")], [("K", "a"), ("\u{212A}", "b")]] {
            var bytes = bytes
            for (name, value) in pair {
                let utf8 = Array(name.utf8)
                bytes += [UInt8(utf8.count), 0] + utf8 + [1, 0, 0, 0] + Array(value.utf8)
            }
            let operation = CofferFormat.Operation(code: OperationCode.restoreVersion.rawValue, bytes: bytes)
            XCTAssertEqual(ModelOperation.decode(operation).failureCode, .invalidInput, "\(pair.map(\.0))")
            XCTAssertEqual(
                ModelOperation.decodeCredentialFields(from: operation).failureCode, .invalidInput, "\(pair.map(\.0))")
        }
    }

    func testRestoreBodiesRejectNonCanonicalBytes() throws {
        let restores = Self.restoreSamples
        func bytes(_ operation: ModelOperation) -> [UInt8] { operation.encode().body.withUnsafeBytes { Array($0) } }
        func decodes(_ code: OperationCode, _ body: [UInt8]) -> Result<ModelOperation, CofferError> {
            ModelOperation.decode(Operation(code: code.rawValue, bytes: body))
        }
        // The default flag is 0 or 1.
        var credential = bytes(restores[4])
        let flag = 16 + 16 + 5 + 6 + 5 + 4 + 16 + 1
        XCTAssertEqual(credential[flag], 1)
        credential[flag] = 2
        XCTAssertEqual(decodes(.restoreCredential, credential).failureCode, .invalidInput)
        // A change list is never empty, and a hostile count is refused before allocating.
        let history = bytes(restores[5])
        var empty = Array(history[0..<16]) + [0, 0, 0, 0]
        XCTAssertEqual(decodes(.restoreCredentialHistory, empty).failureCode, .invalidInput)
        empty = Array(history[0..<16]) + [0xFF, 0xFF, 0xFF, 0xFF] + Array(history[20...])
        XCTAssertEqual(decodes(.restoreCredentialHistory, empty).failureCode, .invalidInput)
        // An unknown change kind.
        var kind = history
        kind[20] = 10
        XCTAssertEqual(decodes(.restoreCredentialHistory, kind).failureCode, .invalidInput)
        // An active key has no revocation stamp, a revoked one has one.
        let active = bytes(restores[8])
        XCTAssertEqual(active.last, CredentialState.active.rawValue)
        XCTAssertEqual(
            decodes(.restoreAPIKey, Array(active.dropLast()) + [CredentialState.revoked.rawValue]).failureCode,
            .invalidInput)
        XCTAssertEqual(decodes(.restoreAPIKey, active + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).failureCode, .invalidInput)
        XCTAssertEqual(decodes(.restoreAPIKey, Array(active.dropLast()) + [3]).failureCode, .invalidInput)
    }
}

extension Result where Failure == CofferError {
    var failureCode: CofferError.Code? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
