import AuditIntegrity
import AuditPipeTestSupport
import AuditServer
import AuditSimulator
import Dispatch
import Foundation
import Prometheus
import Testing

/// A gRPC client nobody here wrote (Python grpcio, stubs generated from Protos/ at test time)
/// calls Ingest, IngestBatch, RecentEvents, ComplianceReport and Verify on a server running the
/// whole pipeline (Kafka, ClickHouse sink with the hash chain and signed checkpoints, Redis recent
/// events).
@Suite("gRPC interop with Python grpcio", .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse, .redis, .python)))
struct GRPCInteropTests {
    @Test func pythonClientIngestsAndReadsBack() async throws {
        var configuration = try fullPipelineConfiguration()
        // A checkpoint key, so that the server answers Verify.
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("checkpoint-key"))
        try CheckpointSigningKey.generate().seedHex.write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        configuration.checkpointKeyFile = keyFile.path
        let stubs = try await generatePythonStubs()
        defer { try? FileManager.default.removeItem(at: stubs) }
        let tenant = TestEnvironment.uniqueName("py")
        let client = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/AuditServerTests/grpcio_client.py").path
        let (output, afterTampering) = try await withServer(configuration) { server in
            let (ready, status) = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { !$0.contains("not ready") }
            try #require(status == 200, "\(ready)")
            let output = try await runPython([client, stubs.path, "127.0.0.1:\(server.grpcPort)", tenant])
            // Change one stored row behind the sink's back: Verify must name it.
            _ = try await clickHouseRows(
                "ALTER TABLE `\(configuration.clickHouseDatabase)`.audit_events UPDATE action = 'forged' WHERE tenant_id = '\(tenant)' AND chain_seq = 3",
                configuration: configuration, settings: ["mutations_sync": "2"]
            )
            let afterTampering = try await runPython([client, stubs.path, "127.0.0.1:\(server.grpcPort)", tenant, "verify"])
            return (output, afterTampering)
        }
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        #expect(summary["stream_results"] as? Int == 5)
        #expect(summary["sequences"] as? [Int] == [1, 2, 3, 4, 5])
        #expect(summary["durable"] as? Int == 8)
        #expect(summary["recent"] as? Int == 8)
        #expect(summary["recent_oldest_first"] as? Bool == true)
        #expect(summary["report_count"] as? Int == 8)
        #expect(summary["report_rows"] as? Int == 8)
        #expect(summary["report_distinct"] as? Int == 8)
        #expect(summary["verify_intact"] as? Bool == true)
        #expect(summary["verify_rows"] as? Int == 8)
        #expect(summary["verify_problem"] as? String == "CHAIN_PROBLEM_KIND_NONE")
        let tampered = try #require(try JSONSerialization.jsonObject(with: Data(afterTampering.utf8)) as? [String: Any], "\(afterTampering)")
        #expect(tampered["verify_intact"] as? Bool == false)
        #expect(tampered["verify_problem"] as? String == "CHAIN_PROBLEM_KIND_MODIFIED_ROW")
        #expect(tampered["verify_problem_sequence"] as? Int == 3)
        // The checkpoint signed at shutdown was stored and counted.
        var exposition: [UInt8] = []
        sharedMetrics.emit(into: &exposition)
        let stored = PrometheusText.samples(named: "auditpipe_chain_checkpoints_stored_total", in: String(decoding: exposition, as: UTF8.self))
        #expect(stored.reduce(0, +) >= 1)
    }
}

/// A test configuration with ClickHouse (a fresh database) and Redis too, and its own consumer
/// groups.
func fullPipelineConfiguration() throws -> AuditPipeConfiguration {
    var configuration = try testConfiguration()
    configuration.clickHouseURL = try TestService.clickhouse.value
    configuration.clickHouseUser = try TestService.clickhouseUser.value
    configuration.clickHousePassword = try TestService.clickhousePassword.value
    configuration.clickHouseDatabase = TestEnvironment.uniqueName("auditpipe_test")
    configuration.redisURL = try TestService.redis.value
    configuration.sinkGroup = TestEnvironment.uniqueName("sink")
    configuration.deadLetterTopic = try DevKafkaControl.createTopic("dlq", partitions: 6, replicationFactor: 3)
    return configuration
}

/// Runs the dev virtualenv's Python with `arguments`; returns stdout, throws with stderr on
/// failure. The wait happens on a Dispatch thread, never on Swift's cooperative pool: the server
/// under test runs on that pool in this same process, and a blocked pool would starve it.
func runPython(_ arguments: [String]) async throws -> String {
    let python = try TestService.python.value
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = arguments
                let output = Pipe()
                let errors = Pipe()
                process.standardOutput = output
                process.standardError = errors
                try process.run()
                // Drain stderr on its own thread so a chatty child never blocks on a full pipe.
                let errorData = ErrorCollector()
                let drain = Thread { errorData.data = errors.fileHandleForReading.readDataToEndOfFile() }
                drain.start()
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                while !drain.isFinished { usleep(1000) }
                guard process.terminationStatus == 0 else {
                    let errorText = String(decoding: errorData.data, as: UTF8.self)
                    throw ConfluentConsumeFailed(description: "python \(arguments.first ?? "") exited \(process.terminationStatus): \(errorText.suffix(3000))")
                }
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

private final class ErrorCollector: @unchecked Sendable {
    // Written by the drain thread before it finishes, read after `isFinished`.
    var data = Data()
}
