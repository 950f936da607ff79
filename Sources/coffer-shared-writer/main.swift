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
// reveals what it resolved. A commit that fails because the server went away or did not
// answer in time is retried after reopening the vault, for up to a minute; one that had
// landed before the connection was lost is found by its slug. Each failure is reported on
// standard error as "failure CODE MILLISECONDS" (the error's code and how long the failed
// call took), so that tests can check that no call outlived its deadline. The key file is
// read from COFFER_TEST_KEY (64 hex characters).
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

func milliseconds(since start: timespec) -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1_000_000
}

func monotonicNow() -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now
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

/// An open vault and the connection it owns.
struct OpenVault {
    let vault: Vault
    let log: PostgresSharedLog

    /// Closes the vault and its connection: a writer that reopens after every failure must
    /// not keep the connections it gave up.
    func close() {
        vault.close()
        log.close()
    }
}

func openVault() throws -> OpenVault {
    let location = try PostgresLocation(parsing: url)
    let log = try PostgresSharedLog(location: location)
    let storage = SharedLogStorage(backend: log, path: location.description)
    do {
        let vault = try Vault.open(
            path: storage.path, unlock: .keyFile(SecureBytes(copying: key)), options: .init(storage: storage))
        return OpenVault(vault: vault, log: log)
    } catch {
        log.close()
        throw error
    }
}

/// How long a writer keeps retrying before it gives up on the server.
let retryMilliseconds = 60_000

/// Tries `body` until it succeeds, reopening the vault after a failure of the server.
func withReconnection<Value>(_ open: inout OpenVault?, _ body: (Vault) throws -> Value) -> Value {
    let start = monotonicNow()
    while milliseconds(since: start) < retryMilliseconds {
        let attempt = monotonicNow()
        do {
            if open == nil { open = try openVault() }
            return try body(open!.vault)
        } catch let error as CofferError
            where error.code == .conflict || error.code == .writerStopped || error.code.isIO
        {
            writeLine(2, "failure \(error.code) \(milliseconds(since: attempt))")
            open?.close()
            open = nil
            pause(milliseconds: 100)
        } catch {
            fail("\(error)")
        }
    }
    fail("the server did not come back within a minute")
}

var vault: OpenVault?
var number = 0
while count == 0 || number < count {
    number += 1
    let slug = "\(name)-\(number)"
    withReconnection(&vault) { vault in
        let exists = vault.read { index in
            index.organization("acme").map {
                !index.credentials(matching: CredentialFilter(organization: $0.id)).filter { $0.slug == slug }.isEmpty
            } ?? false
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
        let resolved = try vault.resolve(
            ResolutionRequest(appKey: "exa", context: RunContext(organization: organization.id)))
        _ = try vault.reveal(resolved.id)
    }
}
vault?.close()
