import CofferCrypto
import CofferStorage
import CofferTestSupport
import Glibc
import PostgresNIO
import XCTest

@testable import Coffer
@testable import CofferPostgres

/// TLS to PostgreSQL (`sslmode`, `sslrootcert`) against a server of the test's own that
/// speaks it on 127.0.0.1, its certificate signed by an authority made for it.
final class PostgresTLSTests: XCTestCase {
    nonisolated(unsafe) private static var server: PrivateTestServer?

    override class func tearDown() {
        server?.destroy()
        server = nil
    }

    /// The server, started once for the class.
    private func server() throws -> PrivateTestServer {
        if let server = Self.server { return server }
        // A port no one listens on: the kernel's pick, given back.
        let probe = try SilentListener(tcpLoopback: ())
        let port = probe.port
        probe.close()
        let server = try PrivateTestServer(tlsPort: port)
        Self.server = server
        return server
    }

    /// A URL to the server over TCP with `parameters`.
    private func url(host: String = "localhost", _ parameters: String) throws -> String {
        "postgres://postgres@\(host):\(try server().tlsPort!)/coffer_test?\(parameters)"
    }

    /// The authority that signed the server's certificate.
    private var authority: String { get throws { try server().directory + "/ca.crt" } }

    /// Whether the connection `location` opens speaks TLS, as the server sees it.
    private func usesTLS(_ location: PostgresLocation) throws -> Bool {
        let connection = try RawConnection(location)
        return try connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first!.decode(
            Bool.self)
    }

    func testEveryModeConnectsAsLibpqDoes() throws {
        let cases: [(String, Bool)] = [
            ("sslmode=disable", false),
            ("", true),  // prefer, libpq's default: the server offers TLS
            ("sslmode=prefer", true),
            ("sslmode=require", true),
            ("sslmode=verify-ca&sslrootcert=\(try authority)", true),
            ("sslmode=verify-full&sslrootcert=\(try authority)", true),
        ]
        for (parameters, encrypted) in cases {
            let location = try PostgresLocation(parsing: try url(parameters), environmentPassword: nil)
            XCTAssertEqual(try usesTLS(location), encrypted, parameters)
        }
        // verify-ca checks the authority, not the name: a host given by its address connects.
        let byAddress = try PostgresLocation(
            parsing: try url(host: "127.0.0.1", "sslmode=verify-ca&sslrootcert=\(try authority)"),
            environmentPassword: nil)
        XCTAssertTrue(try usesTLS(byAddress))
    }

    /// A vault made and opened through a verified connection works as through any other.
    func testAVaultOverVerifiedTLS() throws {
        let location = try PostgresLocation(
            parsing: try url("sslmode=verify-full&sslrootcert=\(try authority)&vault=\(uniqueVaultName())"),
            environmentPassword: nil)
        let key = SecureBytes(copying: (0..<32).map { UInt8(7 &* $0) })
        func options() throws -> Vault.Options {
            Vault.Options(
                storage: SharedLogStorage(
                    backend: try PostgresSharedLog(location: location), path: location.description))
        }
        let vault = try Vault.create(
            path: location.description, unlock: .keyFile(key), cost: .interactive, options: options())
        try vault.mutate(actor: "test") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let head = vault.head
        vault.close()
        let reopened = try Vault.open(path: location.description, unlock: .keyFile(key), options: options())
        XCTAssertEqual(reopened.head, head)
        reopened.close()
    }

    /// A certificate no trusted authority signed is refused before anything is sent: the
    /// system's authorities do not know the test's, and a file that holds no certificate is
    /// refused as such.
    func testAnUntrustedServerIsRefused() throws {
        for parameters in ["sslmode=verify-full"] {
            let location = try PostgresLocation(parsing: try url(parameters), environmentPassword: nil)
            let error = assertThrowsCoffer(.io(errno: EPROTO)) { try RawConnection(location) }
            XCTAssertTrue(error?.message.contains("CERTIFICATE_VERIFY_FAILED") ?? false, error?.message ?? "")
        }
        let notPEM = try PostgresLocation(
            parsing: try url("sslmode=verify-ca&sslrootcert=\(try server().directory)/server.ext"),
            environmentPassword: nil)
        XCTAssertThrowsCode(.invalidInput, try RawConnection(notPEM))
    }

    /// A server that answers the TLS request with "no": `require` fails before anything is
    /// sent, saying so (libpq's `prefer` would go on without TLS, as it does).
    func testRequireRefusesAServerWithoutTLS() throws {
        let listener = try SilentListener(tcpLoopback: ())
        defer { listener.close() }
        let descriptor = listener.descriptor
        let server = TestThread { () -> [UInt8] in
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return [] }
            defer { Glibc.close(connection) }
            var request = [UInt8](repeating: 0, count: 8)
            _ = request.withUnsafeMutableBytes { recv(connection, $0.baseAddress, 8, Int32(MSG_WAITALL)) }
            _ = [UInt8(ascii: "N")].withUnsafeBytes { send(connection, $0.baseAddress, 1, 0) }
            return request
        }
        let location = try PostgresLocation(
            parsing: "postgres://postgres@localhost:\(listener.port)/coffer_test?sslmode=require&connect_timeout=5",
            environmentPassword: nil, environment: [:])
        let error = assertThrowsCoffer(.io(errno: EPROTO)) { try RawConnection(location) }
        XCTAssertTrue(error?.message.contains("does not accept TLS") ?? false, error?.message ?? "")
        // The SSLRequest (length 8, code 80877103), and nothing else: no password went out.
        XCTAssertEqual(try server.join(), [0, 0, 0, 8, 4, 210, 22, 47])
    }
}
