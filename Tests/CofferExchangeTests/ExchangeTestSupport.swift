import Coffer
import CofferSimulation
import XCTest

@testable import CofferExchange

/// Vaults on a simulated disk, filled with every kind of thing an export carries.
enum Fixture {
    static let key = SecureBytes(copying: (0..<32).map { UInt8($0) })

    static func secret(_ text: String) -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    static func reader(_ vault: Vault) -> OperationReader {
        { location throws(CofferError) in try vault.readOperation(at: location) }
    }

    static func emptyVault(on disk: SimulatedDisk, path: String = "/vault/target.coffer") throws -> Vault {
        try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
    }

    static func token(_ app: String, _ slug: String, _ value: String, label: String? = nil, isDefault: Bool = false)
        -> CredentialDraft
    {
        CredentialDraft(
            appKey: app, slug: slug, label: label ?? "\(app) \(slug)", type: .apiToken,
            category: .llmProvider, fields: FieldValues(["token": secret(value)]), isDefault: isDefault)
    }

    /// A vault holding two organizations with projects, users and memberships; credentials
    /// of every type at every scope, with rotations past the retention, relabels, defaults
    /// set and cleared, a revoked credential that keeps an assignment, an ambiguous group;
    /// assignments; an active and a revoked API key.
    static func populatedVault(on disk: SimulatedDisk, path: String = "/vault/source.coffer") throws -> Vault {
        let vault = try Vault.create(path: path, unlock: .keyFile(key), options: .init(storage: disk))
        try vault.mutate(actor: "setup") { try $0.setVersionRetention(4) }
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "acme", name: "Acme Corp.") }
        try vault.mutate(actor: "setup") { try $0.createOrganization(slug: "globex", name: "Globex «Ω»") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "web", name: "Web app") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "acme", slug: "data", name: "Data") }
        try vault.mutate(actor: "setup") { try $0.createProject(in: "globex", slug: "ops", name: "Ops") }
        for (handle, name) in [
            ("alice", "Alice Martin"), ("bob", "Bob"), ("carol", "Carol \"C\" Núñez"), ("dave", "Dave"),
        ] {
            try vault.mutate(actor: "setup") { try $0.createUser(handle: handle, displayName: name) }
        }
        try vault.mutate(actor: "setup") { try $0.addMember("alice", to: "acme", role: .admin) }
        try vault.mutate(actor: "setup") { try $0.addMember("bob", to: "acme", role: .builder) }
        try vault.mutate(actor: "setup") { try $0.addMember("carol", to: "globex", role: .owner) }
        try vault.mutate(actor: "setup") { try $0.addMember("alice", to: "globex", role: .builder) }

        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("exa", "work", "exa-work-v1-0000", isDefault: true))
        }
        for version in 2...6 {
            try vault.mutate(actor: version % 2 == 0 ? "alice" : "bob") {
                try $0.rotateCredential(
                    "exa/work", in: "acme",
                    fields: FieldValues([
                        "token": secret("exa-work-v\(version)-\(version)\(version)\(version)\(version)")
                    ]),
                    reveal: reader(vault))
            }
        }
        try vault.mutate(actor: "bob") {
            try $0.createCredential(in: "acme", token("exa", "personal", "exa-personal-9999"))
        }
        let linear = try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme", token("linear", "main", "lin_api_0123456789abcdef"),
                scopes: [.organization, .project("web")])
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "smtp", slug: "main", label: "Outbound mail", type: .smtp, category: .communication,
                    fields: FieldValues([
                        "host": secret("smtp.example.com"), "port": secret("587"),
                        "username": secret("bot@example.com"),
                        "password": secret("pa\"ss\\word\twith\u{1}controls"), "encryption": secret("starttls"),
                    ])))
        }
        try vault.mutate(actor: "alice") {
            try $0.updateCredential(
                "smtp/main", in: "acme",
                CredentialUpdate(label: "Outbound mail (prod)", fields: FieldValues(["port": secret("465")])),
                reveal: reader(vault))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "github", slug: "alice", label: "GitHub (Alice)", type: .usernamePassword,
                    fields: FieldValues(["username": secret("alice"), "password": secret("correct horse ✓ battery")])),
                scopes: [.user("alice")])
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "gcp", slug: "main", label: "GCP service account", kind: .keystroke, type: .custom,
                    category: .runtime,
                    fields: FieldValues([
                        "json": secret(
                            "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n\", \"project\": \"ünïcode\"}"
                        )
                    ])))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "ssh", slug: "deploy", label: "Deploy key", type: .sshKey, category: .runtime,
                    fields: FieldValues([
                        "private_key": secret(
                            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
                        ),
                        "public_key": secret("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA deploy@example"),
                    ])),
                scopes: [.project("data")])
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "google", slug: "main", label: "Google", kind: .oauthManaged, type: .oauth2,
                    category: .mcpService,
                    fields: FieldValues([
                        "client_id": secret("client-123.apps"), "client_secret": secret("GOCSPX-secret"),
                        "access_token": secret("ya29.access"), "refresh_token": secret("1//refresh"),
                        "expires_at": secret("1900000000"), "scopes": secret("openid email"),
                    ])))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "aws", slug: "main", label: "AWS", type: .apiKeyPair,
                    fields: FieldValues([
                        "api_key": secret("AKIAEXAMPLE"), "api_secret": secret("wJalrXUtnFEMI/K7MDENG"),
                    ])))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("old", "main", "old-token-abcdefgh", isDefault: true))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("slack", "a", "xoxb-aaaaaaaaaaaa"))
        }
        try vault.mutate(actor: "alice") {
            try $0.createCredential(in: "acme", token("slack", "b", "xoxb-bbbbbbbbbbbb"))
        }
        try vault.mutate(actor: "alice") {
            try $0.updateCredential(
                "exa/personal", in: "acme", CredentialUpdate(label: "Bob's Exa"), reveal: reader(vault))
        }
        // A default set, then moved: history holds default_set and default_cleared.
        try vault.mutate(actor: "alice") {
            try $0.updateCredential(
                "exa/personal", in: "acme", CredentialUpdate(isDefault: true), reveal: reader(vault))
        }
        try vault.mutate(actor: "alice") {
            try $0.updateCredential("exa/work", in: "acme", CredentialUpdate(isDefault: true), reveal: reader(vault))
        }

        try vault.mutate(actor: "alice") {
            try $0.assign(
                linear[0].description, to: AssignmentTarget(kind: .workflow, slug: "triage", consumer: "fetch-issues"),
                in: "acme")
        }
        try vault.mutate(actor: "alice") {
            try $0.assign("exa/personal", to: AssignmentTarget(kind: .poll, slug: "inbox"), in: "acme")
        }
        try vault.mutate(actor: "alice") {
            try $0.assign("old/main", to: AssignmentTarget(kind: .agent, slug: "bot", consumer: "x:1"), in: "acme")
        }
        try vault.mutate(actor: "alice") { try $0.revokeCredential("old/main", in: "acme") }
        try vault.mutate(actor: "alice") {
            try $0.updateCredential(
                "old/main", in: "acme", CredentialUpdate(label: "Old (revoked)"), reveal: reader(vault))
        }

        try vault.mutate(actor: "carol") {
            try $0.createCredential(in: "globex", token("exa", "main", "globex-exa-token-1"))
        }
        try vault.mutate(actor: "carol") {
            try $0.createCredential(
                in: "globex", token("exa", "main", "globex-exa-ops-token"), scopes: [.project("ops")])
        }

        _ = try vault.createAPIKey(in: "acme", creator: "alice", name: "Production automation")
        let revoked = try vault.createAPIKey(in: "acme", creator: "bob", name: "Old script")
        try vault.mutate(actor: "bob") { try $0.revokeAPIKey(revoked.id, in: "acme", actingUser: "bob") }
        return vault
    }

    /// The canonical bytes of an export of `vault`.
    static func export(_ vault: Vault, revealing: Bool = true) throws -> [UInt8] {
        let buffer = SecretBuffer()
        try ExportDocument.make(from: vault, revealing: revealing).write(to: buffer)
        return buffer.withUnsafeBytes { Array($0) }
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func decode(_ bytes: [UInt8]) throws -> ExportDocument {
        try bytes.withUnsafeBytes { try ExportDocument.decode($0) }
    }

    /// Every resolution worth asking of a vault's organizations, described without record
    /// locations (which differ between two vaults holding the same state).
    static func resolutions(_ vault: Vault) -> [String] {
        vault.read { index in
            var answers: [String] = []
            for organization in index.organizations() {
                let credentials = index.credentials(matching: CredentialFilter(organization: organization.id))
                let apps = Set(credentials.map(\.appKey)).sorted() + ["nothing"]
                let projects: [ProjectID?] = [nil] + index.projects(in: organization.id).map(\.id)
                let users: [UserID?] = [nil] + index.memberships(in: organization.id).map(\.user)
                let targets: [AssignmentTarget?] =
                    [nil]
                    + index.assignments(organization: organization.id).map(\.target)
                    + [AssignmentTarget(kind: .workflow, slug: "triage", consumer: "other")]
                for app in apps {
                    for project in projects {
                        for user in users {
                            for pin in [nil] + CredentialScope.allCases.map(Optional.some) {
                                for target in targets {
                                    let request = ResolutionRequest(
                                        appKey: app,
                                        context: RunContext(
                                            organization: organization.id, project: project, user: user),
                                        pinnedScope: pin, consumer: target)
                                    answers.append(describe(index.resolve(request)))
                                }
                            }
                        }
                    }
                    for credential in credentials {
                        let request = ResolutionRequest(
                            appKey: app, context: RunContext(organization: organization.id), selection: credential.id)
                        answers.append(describe(index.resolve(request)))
                    }
                }
            }
            return answers
        }
    }

    private static func describe(_ resolution: Resolution) -> String {
        let trace = resolution.trace.map(\.description).joined(separator: " | ")
        switch resolution {
        case .resolved(let credential, _):
            return "resolved \(credential.id) v\(credential.version) \(credential.stage.word): \(trace)"
        case .failed(let error, _):
            return "failed \(error.code) \(error.message) [\(error.candidates.joined(separator: ", "))]: \(trace)"
        }
    }
}
