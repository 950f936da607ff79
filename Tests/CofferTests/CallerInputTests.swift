import Coffer
import CofferFormat
import CofferSimulation
import CofferStorage
import CofferTestSupport
import Foundation
import XCTest

/// Input from a caller is never a precondition: a key of the wrong length, an empty
/// passphrase or a read-only create throws `invalidInput` and creates nothing, instead of
/// killing the host process.
final class CallerInputTests: XCTestCase {
    let path = "/vault/team.coffer"
    let key = SecureBytes(copying: (0..<32).map { UInt8($0 * 5) })

    func testAKeyOfTheWrongLengthOrAnEmptyPassphraseThrowsAndCreatesNothing() throws {
        let disk = SimulatedDisk()
        for length in [0, 16, 31, 33, 64] {
            let wrong = SecureBytes(copying: [UInt8](repeating: 7, count: length))
            let error = assertThrowsCoffer(.invalidInput) {
                try Vault.create(path: path, unlock: .keyFile(wrong), options: .init(storage: disk))
            }
            XCTAssertTrue(
                error?.message.contains("exactly 32 bytes, not \(length)") ?? false, "\(String(describing: error))")
            XCTAssertFalse(disk.exists(path), "a failed create left a file (key of \(length) bytes)")
        }
        assertThrowsCoffer(.invalidInput) {
            try Vault.create(path: path, unlock: .passphrase(SecureBytes(copying: [])), options: .init(storage: disk))
        }
        assertThrowsCoffer(.invalidInput) {
            try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk, readOnly: true))
        }
        XCTAssertFalse(disk.exists(path))

        // An existing vault: the same secrets are refused on open, verify and keyslot changes.
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        let short = SecureBytes(copying: [UInt8](repeating: 1, count: 16))
        assertThrowsCoffer(.invalidInput) { try vault.addKeyslot(.keyFile(short)) }
        assertThrowsCoffer(.invalidInput) { try vault.addKeyslot(.passphrase(SecureBytes(copying: []))) }
        assertThrowsCoffer(.invalidInput) { try vault.replaceKeyslot(id: 1, with: .keyFile(short)) }
        vault.close()
        assertThrowsCoffer(.invalidInput) {
            try Vault.open(path: path, unlock: .keyFile(short), options: .init(storage: disk))
        }
        assertThrowsCoffer(.invalidInput) { try Vault.verify(path: path, unlock: .keyFile(short), storage: disk) }
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: .init(storage: disk)).close())
    }

    /// Options that mean nothing are refused by name on create and open, not taken silently.
    func testOptionsThatMeanNothingAreRefused() throws {
        let disk = SimulatedDisk()
        try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk)).close()
        var negativeCache = Vault.Options(storage: disk)
        negativeCache.sealedFrameCacheBytes = -1
        var nanGrowth = Vault.Options(storage: disk)
        nanGrowth.automaticCheckpoint = AutomaticCheckpoint(growthAtLeast: .nan)
        var negativeGrowth = Vault.Options(storage: disk)
        negativeGrowth.automaticCheckpoint = AutomaticCheckpoint(growthAtLeast: -1)
        var nanShare = Vault.Options(storage: disk)
        nanShare.automaticCompaction = AutomaticCompaction(deadShareAtLeast: .nan)
        for options in [negativeCache, nanGrowth, negativeGrowth, nanShare] {
            assertThrowsCoffer(.invalidInput) { try Vault.open(path: path, unlock: .keyFile(key), options: options) }
            assertThrowsCoffer(.invalidInput) {
                try Vault.create(path: "/vault/other.coffer", unlock: .keyFile(key), options: options)
            }
        }
        XCTAssertFalse(disk.exists("/vault/other.coffer"))
        var noCache = Vault.Options(storage: disk)
        noCache.sealedFrameCacheBytes = 0
        XCTAssertNoThrow(try Vault.open(path: path, unlock: .keyFile(key), options: noCache).close())
    }

    func testAKeyslotNeverTrapsOnAKeyOfTheWrongLength() throws {
        let unlockKey = SecureBytes(randomCount: 32)
        let slot = try XCTUnwrap(
            Keyslot.make(
                id: 1, secret: .keyFile(key), cost: nil, unlockKey: unlockKey,
                vaultID: [UInt8](repeating: 2, count: 16),
                createdMilliseconds: 0, signerPublicKey: nil))
        XCTAssertNil(
            slot.unwrap(
                with: .keyFile(SecureBytes(copying: [1, 2, 3])), vaultID: [UInt8](repeating: 2, count: 16),
                signerPublicKey: nil))
        XCTAssertNil(
            Keyslot.make(
                id: 2, secret: .keyFile(SecureBytes(copying: [1])), cost: nil, unlockKey: unlockKey,
                vaultID: [UInt8](repeating: 2, count: 16), createdMilliseconds: 0, signerPublicKey: nil))
    }

    /// The library reads key files exactly as the CLI does.
    func testKeyFileContentsAreReadAsTheCLIReadsThem() throws {
        let raw = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        let hex = raw.map { String(format: "%02x", $0) }.joined()
        let accepted: [[UInt8]] = [
            raw, Array(hex.utf8), Array((hex + "\n").utf8), Array((hex + "\r\n").utf8), Array(hex.uppercased().utf8),
        ]
        for contents in accepted {
            guard case .keyFile(let key) = try Keyslot.Secret.keyFile(contents: SecureBytes(copying: contents)) else {
                return XCTFail("not a key file secret")
            }
            XCTAssertEqual(key, SecureBytes(copying: raw))
        }
        let refused: [[UInt8]] = [
            [], Array(raw.prefix(31)), raw + [0x0A], Array((hex + "\n\n").utf8), Array(hex.dropLast().utf8),
            Array(("zz" + hex.dropFirst(2)).utf8), Array((" " + hex).utf8),
        ]
        for contents in refused {
            assertThrowsCoffer(.invalidInput) { try Keyslot.Secret.keyFile(contents: SecureBytes(copying: contents)) }
        }
        assertThrowsCoffer(.invalidInput) {
            try Keyslot.Secret.passphrase(contents: SecureBytes(copying: Array("\n".utf8)))
        }
        guard
            case .passphrase(let phrase) = try Keyslot.Secret.passphrase(
                contents: SecureBytes(copying: Array("a b\r\n".utf8)))
        else { return XCTFail("not a passphrase") }
        XCTAssertEqual(phrase, SecureBytes(copying: Array("a b".utf8)))
    }

    func testKeyAndPassphraseFilesFromPaths() throws {
        let directory = NSTemporaryDirectory() + "coffer-keyfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyPath = directory + "/team.key"
        let hex = (0..<32).map { String(format: "%02X", $0) }.joined() + "\n"
        try hex.write(toFile: keyPath, atomically: true, encoding: .utf8)
        guard case .keyFile(let key) = try Keyslot.Secret.keyFile(contentsOf: keyPath) else {
            return XCTFail("not a key file secret")
        }
        XCTAssertEqual(key, SecureBytes(copying: (0..<32).map { UInt8($0) }))
        let error = assertThrowsCoffer(.notFound) { try Keyslot.Secret.keyFile(contentsOf: directory + "/missing.key") }
        XCTAssertTrue(error?.message.contains("missing.key") ?? false)
        try "not a key".write(toFile: keyPath, atomically: true, encoding: .utf8)
        assertThrowsCoffer(.invalidInput) { try Keyslot.Secret.keyFile(contentsOf: keyPath) }
        let phrasePath = directory + "/phrase"
        try "\n".write(toFile: phrasePath, atomically: true, encoding: .utf8)
        assertThrowsCoffer(.invalidInput) { try Keyslot.Secret.passphrase(contentsOf: phrasePath) }
    }

    /// A writing call made inside `read(_:)` or inside a plan of the same vault would wait
    /// for that read or that plan to end, forever: it throws instead, and changes nothing.
    /// An actor the model refuses (OPS-TEXT-ACTOR) is said to be the actor's fault, however
    /// long: not "too large for one transaction".
    func testAnActorTheModelRefusesIsNamedAsSuch() throws {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: SimulatedDisk()))
        defer { vault.close() }
        for actor in [String(repeating: "a", count: 201), String(repeating: "a", count: 100_000), "line\nbreak"] {
            let error = assertThrowsCoffer(.invalidInput) {
                try vault.mutate(actor: actor) { try $0.createOrganization(slug: "acme", name: "Acme") }
            }
            XCTAssertTrue(error?.message.hasPrefix("The actor must be") ?? false, "\(String(describing: error))")
        }
        XCTAssertEqual(vault.head.sequence, 1, "nothing written")
    }

    func testAWritingCallInsideAReadOrAPlanThrowsInsteadOfWaitingForever() throws {
        let disk = SimulatedDisk()
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        defer { vault.close() }
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let other = SecureBytes(copying: (0..<32).map { UInt8($0 * 3) })
        let writingCalls: [(String, () throws -> Void)] = [
            ("mutate", { try vault.mutate(actor: "a") { try $0.createOrganization(slug: "beta", name: "Beta") } }),
            ("sync", { try vault.sync() }),
            ("setDurability", { try vault.setDurability(.synchronous) }),
            ("rotateDataKey", { try vault.rotateDataKey() }),
            ("A keyslot change", { try vault.addKeyslot(.keyFile(other)) }),
            ("A keyslot change", { try vault.removeKeyslot(id: 1) }),
            ("A keyslot change", { try vault.replaceKeyslot(id: 1, with: .keyFile(other)) }),
            ("checkpoint", { try vault.checkpoint() }),
            ("compact", { try vault.compact() }),
            ("refresh", { try vault.refresh() }),
            ("refresh", { try vault.refresh(atLeast: 1) }),
        ]
        let second = try Vault.create(path: "/vault/other.coffer", unlock: .keyFile(key), options: .init(storage: disk))
        defer { second.close() }
        let before = vault.head
        for (name, call) in writingCalls {
            let error = vault.read { _ in assertThrowsCoffer(.invalidInput) { try call() } }
            XCTAssertEqual(
                error?.message.hasPrefix("\(name) was called inside read(_:) of the same vault"), true,
                "\(String(describing: error))")
            // Nested in another read of the same vault, and inside a read of another vault
            // that is inside one of this vault, it is still found.
            let nested = vault.read { _ in vault.read { _ in assertThrowsCoffer(.invalidInput) { try call() } } }
            XCTAssertEqual(nested?.code, .invalidInput, name)
            let throughAnother = vault.read { _ in
                second.read { _ in assertThrowsCoffer(.invalidInput) { try call() } }
            }
            XCTAssertEqual(throughAnother?.code, .invalidInput, name)
        }
        XCTAssertEqual(vault.keyslots.map(\.id), [1])

        // Inside a plan, whoever leads the batch runs it.
        let inPlan = assertThrowsCoffer(.invalidInput) {
            try vault.mutate(actor: "outer") { planner in
                try vault.mutate(actor: "inner") { try $0.createOrganization(slug: "beta", name: "Beta") }
                return try planner.createOrganization(slug: "gamma", name: "Gamma")
            }
        }
        XCTAssertEqual(
            inPlan?.message.hasPrefix("mutate was called inside a mutate plan"), true, "\(String(describing: inPlan))")
        for (name, call) in writingCalls {
            let error = try vault.mutate(actor: "outer") { planner in
                Plan(operations: [], value: assertThrowsCoffer(.invalidInput) { try call() })
            }
            XCTAssertEqual(error?.message.hasPrefix("\(name) was called inside a mutate plan"), true, name)
        }
        XCTAssertEqual(vault.head, before, "a refused call changed the vault")

        // Reading inside a plan, and inside a read, is allowed; the marks end with their calls,
        // thrown out of or not, and a vault of its own is never refused.
        let gammaPlanned = try vault.mutate(actor: "outer") { planner in
            Plan(operations: [], value: vault.read { $0.organizations().count })
        }
        XCTAssertEqual(gammaPlanned, 1)
        struct Stop: Error {}
        XCTAssertThrowsError(try vault.read { _ throws(Stop) in throw Stop() })
        _ = try vault.read { _ in
            try second.mutate(actor: "a") { try $0.createOrganization(slug: "beta", name: "Beta") }
        }
        try vault.mutate(actor: "after") { try $0.createOrganization(slug: "beta", name: "Beta") }
        XCTAssertEqual(vault.read { $0.organizations().count }, 2)
    }
}
