import CofferCrypto
import CofferTestSupport
import XCTest

@testable import CofferPostgres

final class PostgresLocationTests: XCTestCase {
    func testTCPURLWithPortAndVault() throws {
        let location = try PostgresLocation(
            parsing: "postgres://coffer@db.internal:6543/vaults?vault=team", environmentPassword: nil)
        XCTAssertEqual(location.endpoint, .tcp(host: "db.internal", port: 6543))
        XCTAssertEqual(location.user, "coffer")
        XCTAssertEqual(location.database, "vaults")
        XCTAssertEqual(location.vaultName, "team")
        XCTAssertFalse(location.hasPassword)
        XCTAssertNil(location.socketPath)
        XCTAssertEqual(location.description, "postgres://coffer@db.internal:6543/vaults?vault=team")
    }

    func testPostgresqlSchemeAndDefaultPort() throws {
        let location = try PostgresLocation(parsing: "postgresql://coffer@127.0.0.1/vaults", environmentPassword: nil)
        XCTAssertEqual(location.endpoint, .tcp(host: "127.0.0.1", port: 5432))
        XCTAssertNil(location.vaultName)
    }

    func testUnixSocketFromHostParameter() throws {
        let location = try PostgresLocation(
            parsing: "postgres://postgres@/coffer_test?host=/tmp/pg%20dir&vault=team", environmentPassword: nil)
        XCTAssertEqual(location.endpoint, .unixSocket(directory: "/tmp/pg dir", port: 5432))
        XCTAssertEqual(location.socketPath, "/tmp/pg dir/.s.PGSQL.5432")
        XCTAssertEqual(location.vaultName, "team")
        // The description parses back to the same location.
        XCTAssertEqual(try PostgresLocation(parsing: location.description, environmentPassword: nil), location)
    }

    func testUnixSocketAsPercentEncodedHostWithPortParameter() throws {
        let location = try PostgresLocation(
            parsing: "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db?port=5433", environmentPassword: nil)
        XCTAssertEqual(location.endpoint, .unixSocket(directory: "/var/run/postgresql", port: 5433))
        XCTAssertEqual(location.socketPath, "/var/run/postgresql/.s.PGSQL.5433")
        XCTAssertEqual(try PostgresLocation(parsing: location.description, environmentPassword: nil), location)
    }

    func testIPv6Host() throws {
        let location = try PostgresLocation(parsing: "postgres://u@[::1]:5999/db", environmentPassword: nil)
        XCTAssertEqual(location.endpoint, .tcp(host: "::1", port: 5999))
        XCTAssertEqual(location.description, "postgres://u@[::1]:5999/db")
    }

    func testPercentDecodingOfUserAndDatabase() throws {
        let location = try PostgresLocation(parsing: "postgres://svc%40acme@h/my%2Ddb", environmentPassword: nil)
        XCTAssertEqual(location.user, "svc@acme")
        XCTAssertEqual(location.database, "my-db")
    }

    func testPasswordFromURLWinsOverEnvironment() throws {
        let location = try PostgresLocation(parsing: "postgres://u:hunter2@h/db", environmentPassword: "fromenv")
        XCTAssertTrue(location.hasPassword)
        XCTAssertEqual(location.password, "hunter2")
    }

    func testPasswordFromEnvironmentWhenURLHasNone() throws {
        let location = try PostgresLocation(parsing: "postgres://u@h/db", environmentPassword: "fromenv")
        XCTAssertEqual(location.password, "fromenv")
        XCTAssertEqual(try PostgresLocation(parsing: "postgres://u@h/db", environmentPassword: nil).password, nil)
    }

    func testPasswordNeverInDescriptionsMirrorsOrErrors() throws {
        let secret = "S3cr3t-p4ss%21word"
        let decoded = "S3cr3t-p4ss!word"
        let location = try PostgresLocation(
            parsing: "postgres://u:\(secret)@h:5432/db?vault=v", environmentPassword: nil)
        XCTAssertEqual(location.password, decoded)
        var dumped = ""
        dump(location, to: &dumped)
        for text in [
            location.description, location.debugDescription, String(reflecting: location), "\(location)", dumped,
        ] {
            XCTAssertFalse(text.contains("S3cr3t"), text)
            XCTAssertFalse(text.contains("p4ss"), text)
        }
        XCTAssertTrue(location.debugDescription.contains("password set"))

        let fromEnvironment = try PostgresLocation(parsing: "postgres://u@h/db", environmentPassword: decoded)
        XCTAssertFalse(fromEnvironment.description.contains("S3cr3t"))

        // Malformed URLs that carry a password: the error never quotes it.
        for text in [
            "postgres://u:\(secret)@h:99999/db",
            "postgres://u:\(secret)@h/db?bogus=1",
            "postgres://u:S3cr3t%zz@h/db",
            "postgres://u:\(secret)@h/db?sslmode=verify",
            "postgres://u:\(secret)@/db",
            "mysql://u:\(secret)@h/db",
            // A raw '?', '/' or '#' in the password ends the authority early: the rest would be
            // read as the path or a parameter, and quoted.
            "postgres://u:S3cr3t?p4ss@/db?host=/tmp/pg&vault=v",
            "postgres://u:S3cr3t/p4ss@h/db?vault=v",
            "postgres://u:S3cr3t#p4ss@h/db?vault=v",
            "postgres://u:S3cr3t@p4ss/db@h?vault=v",  // a raw '@' and '/': the host would be `p4ss`
            "postgres://u:S3cr3t@p4ss?wo=rd@h/db",
            "postgres://u@h/db?vault=v&sslmode=S3cr3t",
            "postgres://u@h/db?vault=v&S3cr3t-p4ss=1",
        ] {
            let error = assertThrowsCoffer(.invalidInput) {
                try PostgresLocation(parsing: text, environmentPassword: nil)
            }
            XCTAssertFalse(error?.message.contains("S3cr3t") ?? true, error?.message ?? "")
            XCTAssertFalse(error?.message.contains("p4ss") ?? true, error?.message ?? "")
            XCTAssertFalse(error?.description.contains("S3cr3t") ?? true)
        }
    }

    /// `sslmode` and `sslrootcert` as libpq reads them, `prefer` by default; the description
    /// gives them back.
    func testTLSParameters() throws {
        func parse(_ text: String, environment: [String: String] = [:]) throws -> PostgresLocation {
            try PostgresLocation(parsing: text, environmentPassword: nil, environment: environment)
        }
        XCTAssertEqual(try parse("postgres://u@h/db").tls, .default)
        for mode in PostgresTLS.Mode.allCases where !mode.verifies {
            let location = try parse("postgres://u@h/db?sslmode=\(mode.rawValue)")
            XCTAssertEqual(location.tls, PostgresTLS(mode: mode))
            XCTAssertEqual(try parse(location.description), location)
        }
        let verified = try parse("postgres://u@db.internal/db?sslmode=verify-full&sslrootcert=/etc/ssl/our%20ca.pem")
        XCTAssertEqual(verified.tls, PostgresTLS(mode: .verifyFull, rootCertificates: "/etc/ssl/our ca.pem"))
        XCTAssertEqual(try parse(verified.description), verified)
        // As libpq: require with root certificates is verify-ca; PGSSLMODE and PGSSLROOTCERT
        // stand in for what the URL does not give.
        XCTAssertEqual(
            try parse("postgres://u@h/db?sslmode=require&sslrootcert=/ca.pem").tls,
            PostgresTLS(mode: .verifyCA, rootCertificates: "/ca.pem"))
        XCTAssertEqual(
            try parse("postgres://u@h/db", environment: ["PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/env/ca.pem"])
                .tls, PostgresTLS(mode: .verifyFull, rootCertificates: "/env/ca.pem"))
        XCTAssertEqual(
            try parse("postgres://u@h/db?sslmode=disable", environment: ["PGSSLMODE": "verify-full"]).tls,
            PostgresTLS(mode: .disable))
        XCTAssertThrowsCode(.invalidInput, try parse("postgres://u@h/db", environment: ["PGSSLMODE": "bogus"]))
        // An exported PGSSLROOTCERT does not break the default mode, which uses none.
        XCTAssertEqual(try parse("postgres://u@h/db", environment: ["PGSSLROOTCERT": "/env/ca.pem"]).tls, .default)
        XCTAssertEqual(
            try parse("postgres://u@h/db?sslmode=require", environment: ["PGSSLROOTCERT": "/env/ca.pem"]).tls,
            PostgresTLS(mode: .verifyCA, rootCertificates: "/env/ca.pem"))
        for refused in [
            "postgres://u@h/db?sslmode=allow",  // plaintext first
            "postgres://u@h/db?sslmode=Require",
            "postgres://u@h/db?sslmode=prefer&sslrootcert=/ca.pem",  // checks no certificate
            "postgres://u@h/db?sslmode=verify-ca",  // any public authority's certificate would pass
            "postgres://u@h/db?sslmode=verify-ca&sslrootcert=ca.pem",  // relative
            "postgres://u@10.0.0.1/db?sslmode=verify-full",  // a name is what it checks
            "postgres://u@[::1]/db?sslmode=verify-full",
        ] {
            XCTAssertThrowsCode(.invalidInput, try parse(refused))
        }
    }

    func testMalformedURLsAreInvalidInput() {
        let bad = [
            "",
            "http://u@h/db",
            "postgres://",
            "postgres://u@h",  // no database
            "postgres://u@h/",  // empty database
            "postgres://@h/db",  // empty user
            "postgres://h/db",  // no user
            "postgres://u@h:0/db",
            "postgres://u@h:65536/db",
            "postgres://u@h:12ab/db",
            "postgres://u@h:/db",
            "postgres://u@[::1/db",
            "postgres://u@h/db/extra",
            "postgres://u@h/db?vault",
            "postgres://u@h/db?vault=",
            "postgres://u@h/db?vault=a&vault=b",
            "postgres://u@h/db?host=/tmp",  // host given twice
            "postgres://u@/db?host=relative/dir",
            "postgres://u@h/db?unknown=1",
            "postgres://u@h/db?sslmode=verify",
            "postgres://u@h/d%ZZb",
            "postgres://u@h/d%C3b",  // not UTF-8 once decoded
            "postgres://u@/db?host=/" + String(repeating: "x", count: 120),  // socket path too long
            "postgres://u@h/db?vault=" + String(repeating: "v", count: 256),  // a vault name over 255 bytes
            "postgres://u@h/db?vault=a%00b",  // a NUL in the vault name
            "postgres://u@h/db?vault=team#prod",  // a fragment would be dropped: vault `team`
            "postgres://u@/db?host=/tmp/pg?vault=team",  // a second '?' for '&'
            "postgres://u@h/db?vault=team@prod",  // a '@' in a parameter is written %40
        ]
        for text in bad {
            let error = assertThrowsCoffer(.invalidInput) {
                try PostgresLocation(parsing: text, environmentPassword: nil)
            }
            XCTAssertTrue(
                error?.message.hasPrefix("Invalid PostgreSQL URL") ?? false, "\(text): \(String(describing: error))")
        }
    }

    func testNamingAnotherVault() throws {
        let location = try PostgresLocation(parsing: "postgres://u:pw@h/db?vault=a", environmentPassword: nil)
        let other = try location.naming(vault: "b")
        XCTAssertEqual(other.vaultName, "b")
        XCTAssertEqual(other.password, "pw")
        assertThrowsCoffer(.invalidInput) { try location.naming(vault: "") }
    }

    func testTimeoutsDefaultFromAndBackToTheURL() throws {
        let plain = try PostgresLocation(parsing: "postgres://u@h/db?vault=a", environmentPassword: nil)
        XCTAssertEqual(plain.timeouts, .default)
        XCTAssertEqual(plain.description, "postgres://u@h:5432/db?vault=a")

        let text =
            "postgres://u@h/db?vault=a&connect_timeout=3&statement_timeout=1500&lock_timeout=2s"
            + "&transaction_timeout=1min&idle_in_transaction_session_timeout=250ms&keepalives_idle=20"
            + "&keepalives_interval=4&keepalives_count=5"
        let location = try PostgresLocation(parsing: text, environmentPassword: nil)
        let timeouts = location.timeouts
        XCTAssertEqual(timeouts.connect, .seconds(3))
        XCTAssertEqual(timeouts.statement, .milliseconds(1500))
        XCTAssertEqual(timeouts.lock, .seconds(2))
        XCTAssertEqual(timeouts.transaction, .seconds(60))
        XCTAssertEqual(timeouts.idleInTransaction, .milliseconds(250))
        XCTAssertEqual(timeouts.keepaliveIdle, .seconds(20))
        XCTAssertEqual(timeouts.keepaliveInterval, .seconds(4))
        XCTAssertEqual(timeouts.keepaliveCount, 5)
        // The description keeps what differs from the defaults and parses back to the same.
        XCTAssertTrue(location.description.contains("statement_timeout=1500ms"), location.description)
        XCTAssertFalse(location.description.contains("transaction_timeout"), location.description)
        XCTAssertEqual(try PostgresLocation(parsing: location.description, environmentPassword: nil), location)
        XCTAssertEqual(try location.naming(vault: "b").timeouts, timeouts)
        XCTAssertEqual(plain.with(timeouts: timeouts).timeouts, timeouts)
    }

    func testTimeoutsThatWouldSwitchADeadlineOffAreRefused() {
        let bad = [
            "statement_timeout=0", "lock_timeout=0ms", "connect_timeout=0", "transaction_timeout=-5",
            "statement_timeout=5x", "statement_timeout=", "statement_timeout=1.5s", "connect_timeout=2s",
            "idle_in_transaction_session_timeout=25h", "keepalives_count=0", "keepalives_count=101",
            "keepalives_idle=abc", "statement_timeout=1&statement_timeout=2",
        ]
        for parameter in bad {
            let text = "postgres://u@h/db?" + parameter
            let error = assertThrowsCoffer(.invalidInput) {
                try PostgresLocation(parsing: text, environmentPassword: nil)
            }
            XCTAssertTrue(
                error?.message.hasPrefix("Invalid PostgreSQL URL") ?? false, "\(text): \(String(describing: error))")
        }
        assertThrowsCoffer(.invalidInput) { try PostgresTimeouts(statement: .zero) }
        assertThrowsCoffer(.invalidInput) { try PostgresTimeouts(connect: .milliseconds(500)) }
        assertThrowsCoffer(.invalidInput) { try PostgresTimeouts(keepaliveCount: 0) }
    }
}
