// The README's library example, built and run by `make test` (ReadmeExampleTests checks that
// README.md shows this file's example exactly). Run it: swift run coffer-readme-example
import Coffer
import Foundation

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-readme-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let path = directory.appendingPathComponent("team.coffer").path

// A service's code runs in tasks: there `await` picks the async API, whose blocking work runs
// on the vault's own threads. (Top-level code of a main.swift would pick the synchronous one.)
func readmeExample(path: String) async throws -> (
    fields: FieldValues, token: SecureBytes, credential: ResolvedCredential, trace: [ResolutionStep]
) {
// README: begin
// A key file's 32 bytes (in a service: Keyslot.Secret.keyFile(contentsOf: "team.key")).
let key = SecureBytes(randomCount: 32)
let vault = try await Vault.create(path: path, unlock: .keyFile(key))
defer { vault.close() }

let acme = try await vault.mutate(actor: "alice") { try $0.createOrganization(slug: "acme", name: "Acme") }
let web = try await vault.mutate(actor: "alice") { try $0.createProject(in: "acme", slug: "web", name: "Web") }
let token = SecureBytes(copying: Array("exa-0123456789abcdef".utf8))  // from wherever it arrives
try await vault.mutate(actor: "alice") { [token] planner in
    try planner.createCredential(
        in: "acme",
        CredentialDraft(appKey: "exa", slug: "work", label: "Exa", type: .apiToken, fields: FieldValues(["token": token])),
        scopes: [.organization, .project("web")])
}  // durable (fdatasync, on the vault's own threads) when it returns

let run = RunContext(organization: acme, project: web)
// The version resolution picked and its values, under one read: a rotation meanwhile cannot mix them.
let revealed = try await vault.resolveAndReveal(ResolutionRequest(appKey: "exa", context: run))
let credential = revealed.credential  // a ResolvedCredential: id, version, how it was chosen
let fields = revealed.fields  // FieldValues: [name: SecureBytes], decrypted on demand
let trace = vault.resolution(ResolutionRequest(appKey: "exa", context: run)).trace  // the same answer, with its steps
try await vault.compact(CompactionOptions(reencrypt: true))
// README: end
    return (fields, token, credential, trace)
}

let (fields, token, credential, trace) = try await readmeExample(path: path)

precondition(fields["token"] == token, "the revealed token differs")
precondition(credential.stage == .projectScope, "resolution did not pick the project's instance")
precondition(!trace.isEmpty, "the trace is empty")
print("The README example ran: \(credential.appKey) resolved at stage \(credential.stage).")
