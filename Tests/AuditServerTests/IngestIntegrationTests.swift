import AuditEvents
import AuditPipeClient
import AuditPipeTestSupport
import AuditServer
import Foundation
import Testing

@Suite("Ingest through the real stack", .enabled(if: TestService.available(.kafka, .kafkaControl, .python)))
struct IngestIntegrationTests {
    @Test("valid events become durable in Confluent wire format; invalid neighbours are refused with the field and rule")
    func ingestLandsInConfluentWireFormat() async throws {
        let configuration = try testConfiguration()
        try await withServer(configuration) { server in
            try await withClient(port: server.grpcPort) { client in
                var batch = (0 ..< 30).map { index in
                    AuditEvent.new(
                        tenant: "tenant-\(index % 3)", actor: "user-\(index)", type: "auth",
                        resource: "session", action: "login", metadata: ["ip": "10.0.0.\(index)"]
                    )
                }
                batch[7].tenantID = ""
                batch[12].timestampMilliseconds = 5  // seconds-vs-milliseconds mistake
                let results = try await eventually { try await client.ingestBatch(batch) }
                #expect(results.count == batch.count)
                for (index, result) in results.enumerated() {
                    switch index {
                    case 7: #expect(result == .invalid([FieldViolation(field: "tenant_id", rule: "required", description: "tenant_id is required and must not be empty")]))
                    case 12:
                        guard case .invalid(let violations) = result else { Issue.record("event 12: \(result)"); continue }
                        #expect(violations.map(\.field) == ["timestamp_ms"])
                        #expect(violations.map(\.rule) == ["too_old"])
                    default: #expect(result.isDurable, "event \(index): \(result)")
                    }
                }

                // The stream answers each of many concurrent events.
                let streamed = (0 ..< 200).map { index in
                    AuditEvent.new(tenant: "tenant-s", actor: "user-\(index % 7)", type: "data_change", resource: "doc/\(index)", action: "update")
                }
                let streamResults = try await client.withIngestStream { stream in
                    try await withThrowingTaskGroup(of: IngestResult.self) { group in
                        for event in streamed { group.addTask { await stream.send(event) } }
                        return try await group.reduce(into: [IngestResult]()) { $0.append($1) }
                    }
                }
                #expect(streamResults.count == 200)
                let notDurable = streamResults.filter { !$0.isDurable }
                #expect(notDurable.isEmpty, "\(notDurable.prefix(3))")

                // Confluent's own deserializer reads every accepted event back through our registry.
                let accepted = batch.enumerated().filter { ![7, 12].contains($0.offset) }.map(\.element) + streamed
                let records = try await confluentConsume(
                    brokers: configuration.kafkaBrokers, topic: configuration.eventsTopic,
                    registry: "http://127.0.0.1:\(server.httpPort)", count: accepted.count
                )
                #expect(records.count == accepted.count)
                let byID = Dictionary(uniqueKeysWithValues: accepted.map { ($0.eventID, $0) })
                var partitionsByTenant: [String: Set<Int>] = [:]
                for record in records {
                    #expect(record.magic == 0)
                    #expect(record.schemaID == 1)
                    // The schema's timestamp-millis is read: Confluent hands out a timestamp.
                    #expect(record.timestampType == "datetime")
                    let sent = try #require(byID[record.event.eventID])
                    #expect(record.event == sent)
                    #expect(record.key == sent.tenantID)
                    partitionsByTenant[sent.tenantID, default: []].insert(record.partition)
                }
                // Keyed by tenant: each tenant's events share one partition, in order.
                #expect(partitionsByTenant.values.allSatisfy { $0.count == 1 })

                // Ready, and the outcomes are counted on /metrics.
                let (ready, readyStatus) = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { $0.contains("kafka: ok") }
                #expect(readyStatus == 200, "\(ready)")
                #expect(ready.contains("registry: ok"))
                let (metrics, _) = try await httpGet(port: server.httpPort, path: "/metrics")
                #expect(metrics.contains(#"auditpipe_ingest_events_total{source="grpc",outcome="durable"}"#), "\(metrics.prefix(2000))")
                #expect(metrics.contains(#"auditpipe_ingest_events_total{source="grpc",outcome="invalid_required"}"#))
            }
        }
    }

    @Test("with the registry unreachable and nothing cached, ingest fails closed")
    func registryDownFailsClosed() async throws {
        var configuration = try testConfiguration()
        configuration.schemaRegistryURL = "http://127.0.0.1:1"
        try await withServer(configuration) { server in
            try await withClient(port: server.grpcPort) { client in
                let event = AuditEvent.new(tenant: "acme", actor: "alice", type: "auth", resource: "session", action: "login")
                let results = try await client.ingestBatch([event])
                guard case .unavailable(let reason) = results.first else {
                    Issue.record("expected unavailable, got \(results)")
                    return
                }
                #expect(reason.contains("fail closed"))
                #expect(reason.contains("127.0.0.1:1"))
            }
            // /readyz says which dependency is missing.
            let (body, status) = try await eventuallyHTTP(port: server.httpPort, path: "/readyz") { $0.contains("registry: not ready") }
            #expect(status == 503)
            #expect(body.contains("kafka: ok"))
        }
    }
}

/// Runs an `AuditPipeClient` for the duration of `body`.
func withClient<Result: Sendable>(port: Int, _ body: @Sendable (AuditPipeClient) async throws -> Result) async throws -> Result {
    let client = try AuditPipeClient(configuration: .init(host: "127.0.0.1", port: port))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        defer { client.shutdown() }
        let result = try await body(client)
        client.shutdown()
        try await group.waitForAll()
        return result
    }
}

/// Retries `body` until no result is `.unavailable` (the server is still starting), for 30 s.
func eventually(_ body: () async throws -> [IngestResult]) async throws -> [IngestResult] {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let results = try await body()
        let unavailable = results.contains { if case .unavailable = $0 { return true } else { return false } }
        if !unavailable || ContinuousClock.now > deadline { return results }
        try await Task.sleep(for: .milliseconds(200))
    }
}

struct ConfluentRecord {
    var magic: Int
    var schemaID: Int
    var partition: Int
    var key: String
    /// The Python type Confluent's deserializer gave the timestamp (`datetime` or `int`).
    var timestampType: String
    var event: AuditEvent
}

/// Reads `count` records of `topic` with Confluent's Python consumer and AvroDeserializer.
func confluentConsume(brokers: String, topic: String, registry: String, count: Int) async throws -> [ConfluentRecord] {
    let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/AuditServerTests/confluent_consume.py")
    let output = try await runPython([script.path, brokers, topic, registry, String(count)])
    return try output.split(separator: "\n").map { line in
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let event = try #require(object["event"] as? [String: Any])
        return ConfluentRecord(
            magic: object["magic"] as? Int ?? -1,
            schemaID: object["schema_id"] as? Int ?? -1,
            partition: object["partition"] as? Int ?? -1,
            key: object["key"] as? String ?? "",
            timestampType: object["timestamp_type"] as? String ?? "",
            event: AuditEvent(
                eventID: event["event_id"] as? String ?? "", tenantID: event["tenant_id"] as? String ?? "",
                actorID: event["actor_id"] as? String ?? "", eventType: event["event_type"] as? String ?? "",
                resource: event["resource"] as? String ?? "", action: event["action"] as? String ?? "",
                timestampMilliseconds: (event["timestamp"] as? NSNumber)?.int64Value ?? -1,
                metadata: event["metadata"] as? [String: String] ?? [:]
            )
        )
    }
}

struct ConfluentConsumeFailed: Error, CustomStringConvertible {
    var description: String
}

/// GETs `path` until `done(body)` or 30 s, and returns the last answer.
func eventuallyHTTP(port: Int, path: String, until done: (String) -> Bool) async throws -> (String, Int) {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let (body, status) = try await httpGet(port: port, path: path)
        if done(body) || ContinuousClock.now > deadline { return (body, status) }
        try await Task.sleep(for: .milliseconds(200))
    }
}
