import AuditEvents
import AuditPipeClient
import AuditPipeTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRPCCore
import Synchronization
import Testing

/// The production layout when one machine is not enough: ingest instances and sink instances
/// as separate `auditpipe serve` processes on the same Kafka and ClickHouse.
@Suite("Roles: ingest and sink in separate processes", .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse)))
struct RolesIntegrationTests {
    @Test("an ingest-only and a sink-only process store every acknowledged event exactly once, across a kill -9 of the sink")
    func ingestAndSinkApart() async throws {
        let brokers = try TestService.kafka.value
        let clickHouse = try TestService.clickhouse.value
        let eventsTopic = try DevKafkaControl.createTopic("events", partitions: 6, replicationFactor: 3)
        let registryTopic = try DevKafkaControl.createTopic("schemas", partitions: 1, replicationFactor: 3)
        let deadLetterTopic = try DevKafkaControl.createTopic("dlq", partitions: 6, replicationFactor: 3)
        let database = TestEnvironment.uniqueName("auditpipe_roles")
        let shared = [
            "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--kafka-brokers", brokers,
            "--events-topic", eventsTopic, "--registry-topic", registryTopic, "--dlq-topic", deadLetterTopic,
        ]
        // The ingest instance knows nothing of ClickHouse; the sink instance serves no API.
        let ingestArguments = ["serve", "--roles", "ingest,registry"] + shared
        let sinkArguments = ["serve", "--roles", "sink"] + shared + [
            "--clickhouse-url", clickHouse, "--clickhouse-database", database, "--sink-group", TestEnvironment.uniqueName("sink"),
            "--clickhouse-user", try TestService.clickhouseUser.value,
        ]
        let sinkEnvironment = ["AUDITPIPE_CLICKHOUSE_PASSWORD": try TestService.clickhousePassword.value]

        try await withDatabaseDropped(database) {
            let ingest = try ServeProcess(arguments: ingestArguments)
            defer { ingest.kill() }
            var sink = try ServeProcess(arguments: sinkArguments, environment: sinkEnvironment)
            defer { sink.kill() }
            let ingestPort = try await ingest.grpcPort()
            #expect(ingest.log.contains("roles=ingest,registry"), "\(ingest.log)")

            // The sink instance refuses events, naming the role that takes them.
            let sinkPort = try await sink.grpcPort()
            let refusal = await #expect(throws: RPCError.self) {
                _ = try await withClient(port: sinkPort) { client in
                    try await client.ingestBatch([AuditEvent.new(tenant: "roles", actor: "a", type: "auth", resource: "session", action: "login")])
                }
            }
            #expect(refusal?.code == .unimplemented, "\(String(describing: refusal))")
            #expect(refusal?.message.contains("served by the ingest role, which this instance does not run (its roles: sink)") == true, "\(String(describing: refusal))")

            var acknowledged = Set<String>()
            for round in 0 ..< 10 {
                if round == 5 {
                    // kill -9 of the sink while events keep coming; its replacement resumes.
                    sink.kill()
                    sink = try ServeProcess(arguments: sinkArguments, environment: sinkEnvironment)
                }
                let events = (0 ..< 200).map { index in
                    AuditEvent.new(tenant: "roles-tenant-\(index % 7)", actor: "user-\(index % 13)", type: "data", resource: "record", action: "update-\(round)")
                }
                let results = try await withClient(port: ingestPort) { client in try await eventually { try await client.ingestBatch(events) } }
                for (event, result) in zip(events, results) {
                    guard case .durable = result else {
                        Issue.record("round \(round): \(result)")
                        continue
                    }
                    acknowledged.insert(event.eventID)
                }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(acknowledged.count == 2_000)

            // Every acknowledged event, once.
            var stored = (rows: 0, distinct: 0, acknowledged: 0)
            let deadline = ContinuousClock.now + .seconds(90)
            repeat {
                try await Task.sleep(for: .milliseconds(500))
                stored = try await countRows(database: database, eventIDs: acknowledged)
            } while stored.rows < acknowledged.count && ContinuousClock.now < deadline
            try await Task.sleep(for: .seconds(1))
            stored = try await countRows(database: database, eventIDs: acknowledged)
            #expect(stored.rows == acknowledged.count, "rows stored: \(stored.rows), acknowledged: \(acknowledged.count)")
            #expect(stored.distinct == stored.rows, "duplicated: \(stored.rows - stored.distinct)")
            #expect(stored.acknowledged == acknowledged.count, "missing: \(acknowledged.count - stored.acknowledged)")

            // Both stop cleanly on SIGTERM.
            for process in [ingest, sink] {
                let status = await process.terminate()
                #expect(status == 0, "\(process.arguments.prefix(3)) exited with \(String(describing: status)):\n\(process.log.suffix(2_000))")
            }
        }
    }
}

/// Rows of the events table, distinct event ids, and how many of `eventIDs` are stored.
private func countRows(database: String, eventIDs: Set<String>) async throws -> (rows: Int, distinct: Int, acknowledged: Int) {
    let list = eventIDs.map { "'\($0)'" }.joined(separator: ",")
    let text = try await clickHouseQuery(
        "SELECT count(), uniqExact(event_id), countIf(event_id IN (\(list))) FROM `\(database)`.audit_events FORMAT TabSeparated"
    )
    let fields = text.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
    guard fields.count == 3 else { return (0, 0, 0) }
    return (fields[0], fields[1], fields[2])
}

/// Runs `query` through ClickHouse's HTTP interface and returns the body ("" while the table
/// does not exist yet).
private func clickHouseQuery(_ query: String) async throws -> String {
    var request = URLRequest(url: URL(string: try TestService.clickhouse.value)!)
    request.httpMethod = "POST"
    request.httpBody = Data(query.utf8)
    request.setValue(try TestService.clickhouseUser.value, forHTTPHeaderField: "X-ClickHouse-User")
    request.setValue(try TestService.clickhousePassword.value, forHTTPHeaderField: "X-ClickHouse-Key")
    let (data, response) = try await URLSession.shared.data(for: request)
    guard (response as? HTTPURLResponse)?.statusCode == 200 else { return "" }
    return String(decoding: data, as: UTF8.self)
}

/// An `auditpipe serve` child process with only the given settings (no `AUDITPIPE_*` variable of
/// the test's environment leaks in) and its log collected.
private final class ServeProcess: Sendable {
    let arguments: [String]
    private let process: Process
    private let output = CollectedText()

    init(arguments: [String], environment: [String: String] = [:]) throws {
        let binary = TestEnvironment.productsDirectory.appendingPathComponent("auditpipe")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build the product first: swift build --build-tests")
        self.arguments = arguments
        process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUDITPIPE_") }.merging(environment) { $1 }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        let output = self.output
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            output.text.withLock { $0 += chunk }
        }
        try process.run()
    }

    var log: String { output.text.withLock { $0 } }

    /// The gRPC port from the "AuditPipe is listening" line.
    func grpcPort() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let log = self.log
            if let line = log.split(separator: "\n").first(where: { $0.contains("AuditPipe is listening") }),
                let match = line.firstMatch(of: /grpc=127\.0\.0\.1:(\d+)/), let port = Int(match.1)
            {
                return port
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServeProcessFailed(log: log)
    }

    /// SIGKILL, as a crash.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM; the exit status, or nil if it did not exit within 30 s (then it is killed).
    func terminate() async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        Foundation.kill(process.processIdentifier, SIGTERM)
        guard await waitForExit(process, timeout: .seconds(30)) else {
            kill()
            return nil
        }
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }
}

private final class CollectedText: Sendable {
    let text = Mutex("")
}

private struct ServeProcessFailed: Error, CustomStringConvertible {
    var log: String
    var description: String { "auditpipe serve did not report its ports:\n\(log.suffix(4_000))" }
}
