// A writer process on a vault shared through PostgreSQL, for the multi-process tests. Not
// installed, not part of the library.
//
//   coffer-shared-writer URL NAME COUNT   open the shared vault at URL and commit COUNT times
//                                         (0: until killed), printing "N" after each
//                                         acknowledged commit N
//
// Commit N creates the api_token credential NAME-N for app `exa` at organization scope of
// `acme`, as the organization's default for the app: every commit contends for the one
// default, so conflicts are certain. After each commit the process resolves `exa` and
// reveals what it resolved. A commit that fails because the server went away is retried
// after reopening the vault; one that had landed before the connection was lost is found
// by its slug. The key file is read from COFFER_TEST_KEY (64 hex characters).
import Coffer
import CofferCrypto
import CofferFormat
import CofferModel
import CofferPostgres
import CofferStorage

#if canImport(Glibc)
import Glibc
#endif

func writeLine(_ descriptor: Int32, _ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
}

func fail(_ message: String) -> Never {
    writeLine(2, "coffer-shared-writer: \(message)")
    exit(2)
}

func pause(milliseconds: Int) {
    var interval = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    _ = nanosleep(&interval, nil)
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else { fail("usage: coffer-shared-writer URL NAME COUNT") }
guard let hex = getenv("COFFER_TEST_KEY").map({ String(cString: $0) }), let key = Hex.decode(hex), key.count == 32
else { fail("COFFER_TEST_KEY must hold 64 hex characters") }
let url = arguments[1]
let name = arguments[2]

func openVault() throws -> Vault {
    let location = try PostgresLocation(parsing: url)
    let storage = SharedLogStorage(backend: try PostgresSharedLog(location: location), path: location.description)
    return try Vault.open(path: storage.path, unlock: .keyFile(SecureBytes(copying: key)), options: .init(storage: storage))
}

/// Tries `body` until it succeeds, reopening the vault after a failure of the server.
func withReconnection<Value>(_ vault: inout Vault?, _ body: (Vault) throws -> Value) -> Value {
    for attempt in 0..<600 {
        do {
            if vault == nil { vault = try openVault() }
            return try body(vault!)
        } catch let error as CofferError where error.code == .conflict || error.code == .writerStopped || error.code.isIO {
            vault?.close()
            vault = nil
            if attempt % 50 == 49 { writeLine(2, "coffer-shared-writer: still retrying: \(error)") }
            pause(milliseconds: 100)
        } catch {
            fail("\(error)")
        }
    }
    fail("the server did not come back within a minute")
}

extension CofferError.Code {
    var isIO: Bool {
        if case .io = self { return true }
        return false
    }
}

var vault: Vault?
var number = 0
while count == 0 || number < count {
    number += 1
    let slug = "\(name)-\(number)"
    withReconnection(&vault) { vault in
        let exists = vault.read { index in
            index.organization("acme").map { !index.credentials(matching: CredentialFilter(organization: $0.id)).filter { $0.slug == slug }.isEmpty } ?? false
        }
        guard !exists else { return }
        let draft = CredentialDraft(
            appKey: "exa", slug: slug, label: slug, type: .apiToken,
            fields: FieldValues(["token": SecureBytes(copying: Array("token-\(slug)".utf8))]), isDefault: true)
        do {
            try vault.mutate(actor: name) { try $0.createCredential(in: "acme", draft, scopes: [.organization]) }
        } catch let error as CofferError where error.code == .alreadyExists {
            // The commit landed before the connection was lost; the index learned it since.
        }
    }
    writeLine(1, String(number))
    withReconnection(&vault) { vault in
        guard let organization = vault.read({ $0.organization("acme") }) else { fail("no organization acme") }
        let resolved = try vault.resolve(ResolutionRequest(appKey: "exa", context: RunContext(organization: organization.id)))
        _ = try vault.reveal(resolved.id)
    }
}
vault?.close()
