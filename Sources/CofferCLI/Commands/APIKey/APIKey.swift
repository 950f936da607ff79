import ArgumentParser
import Coffer

/// `coffer api-key`: platform API keys of an organization.
struct APIKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Create, list, revoke and check platform API keys.",
        discussion: """
            A key belongs to an organization and acts as the member who created it (--as), with that member's \
            role. Owners and admins see and revoke every key of the organization; a builder only its own. The key \
            is shown once, when created; the vault keeps only its keyed hash and a preview.

            Example:
              coffer api-key create --org acme --as alice --name "Production automation"
            """,
        subcommands: [APIKeyCreate.self, APIKeyList.self, APIKeyRevoke.self, APIKeyCheck.self])
}

/// How API keys are shown: id, name, preview; never the key.
enum APIKeyText {
    static func json(_ key: APIKeyInfo, in index: borrowing VaultIndex) -> JSON {
        [
            "id": .string(key.id.description), "name": .string(key.name), "preview": .string(key.preview),
            "state": .string(key.state.word), "created": .string(Describe.time(key.created.timeMilliseconds)),
            "created_by": .string(Describe.userName(key.creator, in: index)),
            "revoked": key.revoked.map { .string(Describe.time($0.timeMilliseconds)) } ?? .null,
        ]
    }

    static func row(_ key: APIKeyInfo, in index: borrowing VaultIndex) -> [String] {
        [
            key.id.description, key.name, key.preview, key.state.word, Describe.time(key.created.timeMilliseconds),
            Describe.userName(key.creator, in: index),
        ]
    }

    static let headers = ["ID", "NAME", "PREVIEW", "STATE", "CREATED", "CREATED BY"]
}

extension GlobalOptions {
    /// The acting user, which the API-key commands require.
    func requireActingUser() throws {
        guard actingUser != nil else { throw ValidationError("Give the acting user with --as USER.") }
    }
}
