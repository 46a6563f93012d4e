import AuditEvents
import AvroCodec
import Foundation
import Testing

import AuditBench

@Suite("Ingest benchmark (pure parts)")
struct IngestBenchTests {
    @Test("the corpus is deterministic, valid, and encodes to Confluent wire format that decodes back")
    func corpus() throws {
        let a = BenchEventCorpus(count: 64, seed: 7, nowMilliseconds: 1_800_000_000_000)
        let b = BenchEventCorpus(count: 64, seed: 7, nowMilliseconds: 1_800_000_000_000)
        #expect(a.templates.map(\.tenantID) == b.templates.map(\.tenantID))
        #expect(a.templates.map(\.metadata) == b.templates.map(\.metadata))
        #expect(Set(a.templates.map(\.eventID)).count == 64)
        let validator = EventValidator()
        for event in a.templates {
            #expect(validator.violations(of: event, nowMilliseconds: 1_800_000_000_000).isEmpty)
        }
        #expect(a.event(65, eventID: "x").tenantID == a.templates[1].tenantID)
        #expect(a.event(65, eventID: "x").eventID == "x")

        let fresh = BenchEventCorpus(count: 8)
        let schema = RegisteredSchema(subject: "t-value", id: 42, version: 1, schemaJSON: AuditEventSchema.seedJSON, schema: AuditEventSchema.seed)
        let records = try fresh.wireRecords(schema: schema)
        #expect(records.count == 8)
        for (record, event) in zip(records, fresh.templates) {
            #expect(record.key == Array(event.tenantID.utf8))
            #expect(Array(record.value.prefix(5)) == [0, 0, 0, 0, 42])
            let value = try AuditEventSchema.seed.decodeExact(Array(record.value.dropFirst(5)))
            #expect(AuditEventSchema.event(from: value) == event)
        }
    }

    @Test("the peer's templates JSON carries the same events")
    func templatesJSON() throws {
        let corpus = BenchEventCorpus(count: 5)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(corpus.templatesJSON().utf8)) as? [[String: Any]])
        #expect(parsed.count == 5)
        for (object, event) in zip(parsed, corpus.templates) {
            #expect(object["event_id"] as? String == event.eventID)
            #expect(object["tenant_id"] as? String == event.tenantID)
            #expect(object["actor_id"] as? String == event.actorID)
            #expect(object["resource"] as? String == event.resource)
            #expect((object["timestamp"] as? NSNumber)?.int64Value == event.timestampMilliseconds)
            #expect(object["metadata"] as? [String: String] == event.metadata)
        }
    }

    @Test("the peer's result line becomes a measurement")
    func peerParse() throws {
        let line = #"{"label": "confluent-python", "mode": "rate", "sent": 100, "succeeded": 98, "failed": 2, "invalid": 0, "elapsed_s": 0.5, "max_lag_ns": 1200, "latency_ns": {"count": 98, "min": 1000, "p50": 2000, "p90": 3000, "p99": 4000, "p999": 5000, "max": 6000, "mean": 2500.5}, "first_error": "x", "schema_id": 1}"#
        let m = try ConfluentPeer.parse(line)
        #expect(m.sent == 100 && m.succeeded == 98 && m.failed == 2)
        #expect(m.throughput == 196)
        #expect(m.latency?.p99Nanoseconds == 4000)
        #expect(m.maxScheduleLagNanoseconds == 1200)
        #expect(m.firstError == "x")
        let noLatency = try ConfluentPeer.parse(#"{"label": "p", "sent": 1, "succeeded": 1, "failed": 0, "elapsed_s": 1, "max_lag_ns": 0, "latency_ns": null, "first_error": null}"#)
        #expect(noLatency.latency == nil)
        #expect(throws: BenchError.self) { try ConfluentPeer.parse("Traceback (most recent call last)") }
    }

    private func measurement(_ label: String, succeeded: Int, failed: Int = 0, seconds: Double, p50: Double = 1, p99: Double = 2) -> LoadMeasurement {
        LoadMeasurement(
            label: label, sent: succeeded + failed, succeeded: succeeded, failed: failed, elapsedSeconds: seconds,
            latency: LatencySummary(count: UInt64(succeeded), minNanoseconds: 1, p50Nanoseconds: UInt64(p50 * 1e6), p90Nanoseconds: UInt64(p50 * 1e6),
                                    p99Nanoseconds: UInt64(p99 * 1e6), p999Nanoseconds: UInt64(p99 * 1e6), maxNanoseconds: UInt64(p99 * 1e6), meanNanoseconds: p50 * 1e6)
        )
    }

    @Test("figures and verdicts: p99 at most 3x raw librdkafka's (1.5x without sinks), 2x and 4x the peer's throughput")
    func results() throws {
        var configuration = IngestBenchmarkConfiguration()
        configuration.rate = 5000
        let m = IngestMeasurements(
            oursAtRate: measurement("ours", succeeded: 100_000, seconds: 20, p50: 1.5, p99: 8),
            peerAtRate: measurement("peer", succeeded: 100_000, seconds: 20, p50: 3, p99: 12),
            ceilingAtRate: measurement("ceiling", succeeded: 100_000, seconds: 20, p50: 1, p99: 4),
            oursStreamMax: measurement("ours", succeeded: 400_000, seconds: 20),
            oursBatchMax: measurement("ours", succeeded: 300_000, seconds: 20),
            peerMax: measurement("peer", succeeded: 180_000, seconds: 20),
            ceilingMax: measurement("ceiling", succeeded: 1_000_000, seconds: 20)
        )
        let results = IngestBenchmark.results(m, configuration: configuration)
        #expect(results.count == 8)
        let p99 = try #require(results.first { $0.figure == "ack_latency_p99_at_5000_per_s" && $0.peer == "librdkafka-raw" })
        #expect(p99.value == 8 && p99.peerValue == 4 && p99.met == true && p99.target == "<= 3x ceiling")
        let p99VsPeer = try #require(results.first { $0.figure == "ack_latency_p99_at_5000_per_s" && $0.peer == "confluent-python" })
        #expect(p99VsPeer.target == nil && p99VsPeer.met == nil)
        let p50 = try #require(results.first { $0.figure == "ack_latency_p50_at_5000_per_s" && $0.peer == "librdkafka-raw" })
        #expect(p50.value == 1.5 && p50.peerValue == 1 && p50.met == nil && p50.target == nil)
        let streamVsPeer = try #require(results.first { $0.figure == "throughput_stream" && $0.peer == "confluent-python" })
        #expect(streamVsPeer.value == 20_000 && streamVsPeer.peerValue == 9_000 && streamVsPeer.met == true && streamVsPeer.target == ">= 2x peer")
        let streamVsCeiling = try #require(results.first { $0.figure == "throughput_stream" && $0.peer == "librdkafka-raw" })
        #expect(streamVsCeiling.ratio == 0.4 && streamVsCeiling.met == nil)
        let batchVsPeer = try #require(results.first { $0.figure == "throughput_batch" && $0.peer == "confluent-python" })
        #expect(batchVsPeer.value == 15_000 && batchVsPeer.met == false && batchVsPeer.target == ">= 4x peer")

        // A latency run that dropped or failed events does not meet the target, whatever its p99.
        var failing = m
        failing.oursAtRate = measurement("ours", succeeded: 99_000, failed: 1000, seconds: 20, p50: 1, p99: 2)
        let failed = IngestBenchmark.results(failing, configuration: configuration).first { $0.figure == "ack_latency_p99_at_5000_per_s" && $0.peer == "librdkafka-raw" }
        #expect(failed?.met == false)

        // Without peer and ceiling our figures still come out, compared with nothing.
        let alone = IngestMeasurements(oursAtRate: m.oursAtRate, peerAtRate: nil, ceilingAtRate: nil, oursStreamMax: m.oursStreamMax, oursBatchMax: m.oursBatchMax, peerMax: nil, ceilingMax: nil)
        let aloneResults = IngestBenchmark.results(alone, configuration: configuration)
        #expect(aloneResults.map(\.figure) == ["ack_latency_p50_at_5000_per_s", "ack_latency_p99_at_5000_per_s", "throughput_stream", "throughput_batch"])
        #expect(aloneResults.allSatisfy { $0.peer == nil && $0.ratio == nil && $0.met == nil })

        // A server without sinks: the stricter latency target, no throughput target.
        var ingestOnly = configuration
        ingestOnly.figureSuffix = "_ingest_only"
        ingestOnly.serverRunsSinks = false
        let onlyResults = IngestBenchmark.results(m, configuration: ingestOnly)
        #expect(onlyResults.map(\.figure) == results.map { $0.figure + "_ingest_only" })
        let onlyP99 = try #require(onlyResults.first { $0.figure == "ack_latency_p99_at_5000_per_s_ingest_only" && $0.peer == "librdkafka-raw" })
        #expect(onlyP99.target == "<= 1.5x ceiling" && onlyP99.met == false)  // 2x
        #expect(onlyResults.filter { $0.figure.hasPrefix("throughput") }.allSatisfy { $0.met == nil && $0.target == nil })
    }

    @Test("CPU figures: the server's per acknowledged event next to the ceiling's, named by whether the server runs its sinks")
    func cpuFigures() throws {
        var m = IngestMeasurements(
            oursAtRate: measurement("ours", succeeded: 100, seconds: 1), peerAtRate: nil, ceilingAtRate: nil,
            oursStreamMax: measurement("ours", succeeded: 100, seconds: 1), oursBatchMax: measurement("ours", succeeded: 100, seconds: 1),
            peerMax: nil, ceilingMax: nil
        )
        m.oursCPU.add(label: "stream at rate", server: 0.002, local: 0.001, events: 100)
        m.oursCPU.add(label: "batch max", server: 0.004, local: 0.001, events: 200)
        m.ceilingCPU.add(label: "ceiling max", server: nil, local: 0.003, events: 300)
        var configuration = IngestBenchmarkConfiguration()
        configuration.serverPID = 42
        configuration.serverRunsSinks = false
        configuration.figureSuffix = "_ingest_only"
        let alone = IngestBenchmark.cpuResults(m, configuration: configuration)
        let server = try #require(alone.first { $0.figure == "server_cpu_us_per_event" })
        #expect(abs(server.value - 20) < 1e-9 && abs((server.peerValue ?? 0) - 10) < 1e-9)
        #expect(server.peer == "librdkafka-raw" && server.target == "<= 2x ceiling" && server.met == true)
        let client = try #require(alone.first { $0.figure == "client_cpu_us_per_event_ingest_only" })
        #expect(abs(client.value - 2e-3 * 1e6 / 300) < 1e-9)

        configuration.serverRunsSinks = true
        configuration.figureSuffix = ""
        let withSinks = try #require(IngestBenchmark.cpuResults(m, configuration: configuration).first { $0.figure == "server_cpu_us_per_event_with_sinks" })
        #expect(withSinks.target == nil && withSinks.met == nil)

        // Without the server's pid there is no server figure.
        configuration.serverPID = nil
        m.oursCPU = PhaseCPU()
        m.oursCPU.add(label: "stream", server: nil, local: 0.001, events: 10)
        #expect(IngestBenchmark.cpuResults(m, configuration: configuration).map(\.figure) == ["client_cpu_us_per_event"])
    }

    @Test("configuration checks name the flag")
    func validation() {
        var configuration = IngestBenchmarkConfiguration()
        #expect(throws: BenchError.self) { try configuration.validate() }
        configuration.kafkaBrokers = ["127.0.0.1:9092"]
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.batchSize = 20_000
        #expect(throws: BenchError.self) { try configuration.validate() }
    }
}
