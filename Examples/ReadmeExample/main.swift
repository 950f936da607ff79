// The README's library example, built and run by `make test` (ReadmeExampleTests checks that
// README.md shows this file's example exactly). Run it: swift run coffer-readme-example
import Coffer
import Foundation

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-readme-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let path = directory.appendingPathComponent("team.coffer").path

// README: begin
// A key file's 32 bytes (in a service: Keyslot.Secret.keyFile(contentsOf: "team.key")).
let key = SecureBytes(randomCount: 32)
let vault = try Vault.create(path: path, unlock: .keyFile(key))
defer { vault.close() }

let acme = try vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
let web = try vault.mutate(actor: "alice") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
let token = SecureBytes(copying: Array("exa-0123456789abcdef".utf8))  // from wherever it arrives
try vault.mutate(actor: "alice") { planner in
    try planner.createCredential(
        in: "acme",
        CredentialDraft(appKey: "exa", slug: "work", label: "Exa", type: .apiToken, fields: FieldValues(["token": token])),
        scopes: [.organization, .project("web")])
}  // durable (fdatasync) when it returns

let run = RunContext(organization: acme, project: web)
let credential = try vault.resolve(ResolutionRequest(appKey: "exa", context: run))  // a ResolvedCredential
let fields = try vault.reveal(credential.id)  // FieldValues: [name: SecureBytes], decrypted on demand
let trace = vault.resolution(ResolutionRequest(appKey: "exa", context: run)).trace  // the same answer, with its steps
try vault.compact(CompactionOptions(reencrypt: true))
// README: end

precondition(fields["token"] == token, "the revealed token differs")
precondition(credential.stage == .projectScope, "resolution did not pick the project's instance")
precondition(!trace.isEmpty, "the trace is empty")
print("The README example ran: \(credential.appKey) resolved at stage \(credential.stage).")
