import AuditEvents
import Foundation
import Testing

import AuditBench

@Suite("Legacy benchmark (pure parts)")
struct LegacyBenchTests {
    /// The repository's Deploy/legacy-rules.yaml (the file the server runs with in Deploy/run).
    static let rulesPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Deploy/legacy-rules.yaml").path

    @Test("generated records are deterministic JSON objects with unique ids; bodies are NDJSON or an array")
    func records() throws {
        let a = LegacyAuthGatewayGenerator.records(first: 10, count: 3, runID: "r", nowMilliseconds: 1_764_182_160_000)
        let b = LegacyAuthGatewayGenerator.records(first: 10, count: 3, runID: "r", nowMilliseconds: 1_764_182_160_000)
        #expect(a == b)
        let objects = try a.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0["event_id"] as? String } == ["r-10", "r-11", "r-12"])
        let ndjson = String(decoding: LegacyAuthGatewayGenerator.body(a, ndjson: true), as: UTF8.self)
        #expect(ndjson.split(separator: "\n").count == 3)
        let array = LegacyAuthGatewayGenerator.body(a, ndjson: false)
        #expect((try JSONSerialization.jsonObject(with: Data(array)) as? [Any])?.count == 3)
    }

    @Test("every generated payload maps with the repository's rules to valid canonical events", arguments: [true, false])
    func payloadsMap(ndjson: Bool) throws {
        var configuration = LegacyBenchmarkConfiguration()
        configuration.rulesPath = Self.rulesPath
        configuration.batchSize = 50
        configuration.payloadPool = 3
        configuration.ndjson = ndjson
        let pool = try LegacyBenchmark.payloads(configuration, runID: "bench-test")
        #expect(pool.count == 3)
        let validator = EventValidator()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var ids = Set<String>()
        for payload in pool {
            #expect(payload.canonical.count == 50)
            for event in payload.canonical {
                #expect(validator.violations(of: event, nowMilliseconds: now).isEmpty)
                #expect(event.eventType == "auth")
                #expect(event.resource == "session")
                #expect(event.metadata["legacy_source"] == "auth-gateway")
                ids.insert(event.eventID)
            }
        }
        #expect(ids.count == 150)
    }

    @Test("a missing rules file or source is a clear error")
    func missingRules() {
        var configuration = LegacyBenchmarkConfiguration()
        configuration.rulesPath = "/nonexistent/rules.yaml"
        #expect(throws: BenchError.self) { try LegacyBenchmark.payloads(configuration, runID: "x") }
        configuration.source = "billing-svc"
        #expect(throws: BenchError.self) { try configuration.validate() }
    }

    @Test("figures: mapped throughput against the canonical ceiling")
    func results() throws {
        let legacy = LoadMeasurement(label: "legacy-http", sent: 10_000, succeeded: 9_000, failed: 1_000, elapsedSeconds: 10,
                                     latency: LatencySummary(samples: [1_000_000, 2_000_000, 30_000_000]), firstError: "quarantined")
        let ceiling = LoadMeasurement(label: "ingest-canonical", sent: 30_000, succeeded: 30_000, failed: 0, elapsedSeconds: 10,
                                      latency: LatencySummary(samples: [500_000, 1_000_000]))
        let results = LegacyBenchmark.results(legacy: legacy, ceiling: ceiling, configuration: LegacyBenchmarkConfiguration())
        #expect(results.map(\.figure) == ["mapped_throughput", "request_latency_p50", "request_latency_p99"])
        #expect(results[0].value == 900 && results[0].peerValue == 3000 && results[0].ratio == 0.3)
        #expect(results[0].notes.contains("1000 not accepted"))
        #expect(results[1].value == 2 && results[1].peerValue == 0.5)
        #expect(results[2].value == 30 && results[2].peerValue == 1)
    }
}
