// A service on Coffer: an instance that writes, another that only reads and follows it, eight
// tasks resolving and revealing atomically while a ninth rotates the secret, and errors matched
// the documented ways. Exits non-zero if anything is not as the library promises.
import Coffer
import Foundation

struct ServiceFailure: Error, CustomStringConvertible {
    let description: String
}

func check(_ condition: Bool, _ what: String) throws {
    if !condition { throw ServiceFailure(description: what) }
}

func token(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

/// Stands for an HTTP client that takes the bearer token as a String and uses it at once.
func sendRequest(bearer token: String) -> Int { token.utf8.count }

/// The instance that writes, and an instance of the same vault opened read-only beside it.
func runService(directory: String) async throws {
    let path = directory + "/service.coffer"
    let key = SecureBytes(randomCount: 32)
    let writer = try await Vault.create(path: path, unlock: .keyFile(key))
    defer { writer.close() }
    let acme = try await writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme") }
    try await writer.mutate(actor: "setup") { planner in
        try planner.createCredential(
            in: "acme",
            CredentialDraft(
                appKey: "exa", slug: "main", label: "Exa", type: .apiToken,
                fields: FieldValues(["token": token("exa-token-0000")]), isDefault: true))
    }

    // Another instance follows the writer's commits without refreshing by hand.
    let follower = try await Vault.open(path: path, unlock: .keyFile(key), options: .init(readOnly: true))
    defer { follower.close() }
    let changes = follower.changes(pollingEvery: .milliseconds(5))
    let rotations = 20
    let followed = Task { () -> Int in
        var seen = 0
        for try await change in changes where change.actor == "rotator" {
            seen += 1
            if seen == rotations { break }
        }
        return seen
    }

    // Eight tasks resolve and reveal as one step while a ninth rotates the token.
    let request = ResolutionRequest(appKey: "exa", context: RunContext(organization: acme))
    try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<8 {
            group.addTask {
                var reads = 0
                for _ in 0..<200 {
                    let revealed = try await writer.resolveAndReveal(request)
                    // The values are always those of the version resolved, read by type.
                    guard case .apiToken(let value) = try revealed.typed else {
                        throw ServiceFailure(description: "exa/main is not an api_token")
                    }
                    let expected = "exa-token-" + String(format: "%04d", Int(revealed.credential.version) - 1)
                    try check(value == token(expected), "a reveal mixed versions")
                    // A client that takes only a String borrows one for the call (zeroed after).
                    let sent = try value.withString { sendRequest(bearer: $0) }
                    try check(sent == expected.utf8.count, "withString lent other text")
                    reads += 1
                }
                return reads
            }
        }
        group.addTask {
            for number in 1...rotations {
                try await writer.mutate(actor: "rotator") { planner in
                    try planner.rotateCredential(
                        "exa/main", in: "acme", fields: FieldValues(["token": token("exa-token-" + String(format: "%04d", number))]),
                        reveal: { location throws(CofferError) in try writer.readOperation(at: location) })
                }
            }
            return 0
        }
        var reads = 0
        for try await count in group { reads += count }
        try check(reads == 8 * 200, "the readers did not all finish")
    }
    try check(try await followed.value == rotations, "the follower did not see every rotation")

    // Errors match the documented ways, and the caller's own error comes back as thrown.
    do {
        try await writer.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Again") }
        throw ServiceFailure(description: "a taken slug was accepted")
    } catch CofferError.alreadyExists {
    }
    struct QuotaExceeded: Error {}
    do {
        try await writer.mutate(actor: "setup") { _ -> Plan<Void> in throw QuotaExceeded() }
        throw ServiceFailure(description: "the plan's error was lost")
    } catch is QuotaExceeded {
    }
    do {
        _ = try await follower.mutate(actor: "reader") { try $0.createOrganization(slug: "beta", name: "Beta") }
        throw ServiceFailure(description: "a read-only instance wrote")
    } catch let error as CofferError {
        switch error {
        case CofferError.invalidInput: break
        default: throw ServiceFailure(description: "a read-only write failed with \(error.code.word)")
        }
    }
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-service-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
try await runService(directory: directory)
print("The service example ran: atomic reveals under rotation, a follower that saw every commit, errors as documented.")
