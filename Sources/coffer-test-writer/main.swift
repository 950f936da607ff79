// A writer process for tests that need a second process: lock contention and SIGKILL
// recovery. Not installed, not part of the library.
//
//   coffer-test-writer hold PATH      open PATH as the writer, print "ready", wait to be killed
//   coffer-test-writer stream PATH    create or open PATH, append "txn-N" for N = 1, 2, ...
//                                     printing "N" after each acknowledged commit
//
// The key file is read from the environment variable COFFER_TEST_KEY (64 hex characters).
import CofferCrypto
import CofferFormat
import CofferStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a line straight to a descriptor: unbuffered, so a reported commit is visible to
/// the test even when the process is killed right after.
func writeLine(_ descriptor: Int32, _ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
}

func fail(_ message: String) -> Never {
    writeLine(2, "coffer-test-writer: \(message)")
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: coffer-test-writer hold|stream PATH") }
guard let hex = getenv("COFFER_TEST_KEY").map({ String(cString: $0) }), let key = Hex.decode(hex), key.count == 32
else { fail("COFFER_TEST_KEY must hold 64 hex characters") }
let secret = Keyslot.Secret.keyFile(SecureBytes(copying: key))
let path = arguments[2]

do {
    switch arguments[1] {
    case "hold":
        let store = try VaultStore.open(path: path, secret: secret)
        writeLine(1, "ready")
        while true { pause() }
        _ = store
    case "stream":
        let store: VaultStore
        do {
            store = try VaultStore.open(path: path, secret: secret)
        } catch  where error.code == .notFound {
            store = try VaultStore.create(path: path, secret: secret)
        }
        var count = 0
        while true {
            count += 1
            _ = try store.append([SecureBytes(copying: Array("txn-\(count)".utf8))])
            writeLine(1, String(count))
        }
    default:
        fail("unknown mode \(arguments[1])")
    }
} catch {
    fail("\(error)")
}
