import CofferSimulation
import CofferStorage
import CofferTestSupport
import Logging
import MetricsTestKit
import XCTest

@testable import Coffer

/// The logger and metrics a service passes in: what a vault reports, and that no secret is
/// ever in it.
final class DiagnosticsTests: XCTestCase {
    /// Every log line, rendered with its metadata.
    final class CapturedLog: Sendable {
        let lines = Locked<[String]>([])
    }

    struct CapturingHandler: LogHandler {
        let captured: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
            function: String, line: UInt
        ) {
            captured.lines.withLock { $0.append("\(level) \(message) \(metadata ?? [:])") }
        }
    }

    func testALoggerAndMetricsSeeTheVaultsWorkAndNoSecret() throws {
        let captured = CapturedLog()
        let logger = Logger(label: "coffer-test") { _ in CapturingHandler(captured: captured) }
        let metrics = TestMetrics()
        let disk = SimulatedDisk()
        let key = SecureBytes(copying: (0..<32).map { UInt8($0 + 40) })
        let path = "/vault/observed.coffer"
        let options = Vault.Options(storage: disk)
        var observed = options
        observed.logger = logger
        observed.metricsFactory = metrics
        let created = try Vault.create(path: path, unlock: .keyFile(key), options: options)
        created.close()
        let vault = try Vault.open(path: path, unlock: .keyFile(key), options: observed)
        defer { vault.close() }
        let secret = "sk-diagnostics-secret-0123456789"
        let acme = try vault.mutate(actor: "ops") { try $0.createOrganization(slug: "acme", name: "Acme") }
        let ids = try vault.mutate(actor: "ops") {
            try $0.createCredential(
                in: "acme",
                CredentialDraft(
                    appKey: "exa", slug: "main", label: "Exa", type: .apiToken,
                    fields: FieldValues(["token": SecureBytes(copying: Array(secret.utf8))]), isDefault: true))
        }
        assertThrowsCoffer(.alreadyExists) {
            try vault.mutate(actor: "ops") { try $0.createOrganization(slug: "acme", name: "Again") }
        }
        let request = ResolutionRequest(appKey: "exa", context: RunContext(organization: acme))
        _ = try vault.resolve(request)
        _ = try vault.resolveAndReveal(request)
        _ = try vault.reveal(ids[0])
        try vault.compact(CompactionOptions(reencrypt: true))

        XCTAssertEqual(try metrics.expectCounter("coffer_commits_total").totalValue, 2)
        XCTAssertEqual(
            try metrics.expectCounter("coffer_commit_failures_total", [("code", "already_exists")]).totalValue, 1)
        XCTAssertEqual(try metrics.expectTimer("coffer_commit_duration").values.count, 2)
        XCTAssertEqual(try metrics.expectCounter("coffer_resolutions_total").totalValue, 2)
        XCTAssertEqual(try metrics.expectCounter("coffer_reveals_total").totalValue, 2)
        XCTAssertGreaterThan(try metrics.expectCounter("coffer_compaction_bytes_written").totalValue, 0)

        let lines = captured.lines.withLock { $0 }
        XCTAssertTrue(lines.contains { $0.contains("Opened vault") && $0.contains(path) }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("Compacted") }, "\(lines)")
        XCTAssertFalse(
            lines.contains { $0.contains(secret) || $0.contains("diagnostics-secret") }, "a secret was logged")
    }
}
