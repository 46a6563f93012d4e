import AuditEvents
import AuditPipeClient
import AuditPipeProto
import AuditPipeTestSupport
import AuditServer
import AuditConsumer
import AuditSink
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `/metrics` on a server running the whole pipeline: consumer lag of the sink and recent-events
/// groups per partition, and the schema registry client's cache.
@Suite("Lag and registry-cache metrics on the real stack", .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse, .redis)))
struct LagAndCacheMetricsTests {
    @Test("both consumer groups report lag per partition; caught up: 0 records, 0 s, and the last committed time")
    func lagOfBothGroups() async throws {
        var configuration = try fullPipelineConfiguration()
        configuration.lagIntervalMilliseconds = 200
        let started = Date().timeIntervalSince1970
        let recentGroup = "\(configuration.sinkGroup)-recent"
        try await withDatabaseDropped(configuration.clickHouseDatabase) { try await withServer(configuration) { server in
            let events = (0 ..< 24).map { index in
                AuditEvent.new(tenant: "lag-tenant-\(index)", actor: "user-\(index)", type: "auth", resource: "session", action: "login")
            }
            let results = try await withClient(port: server.grpcPort) { client in try await eventually { try await client.ingestBatch(events) } }
            #expect(results.allSatisfy { $0.isDurable }, "\(results)")
            let partitions = Set(results.compactMap { result -> Int32? in
                if case .durable(let partition, _) = result { return partition } else { return nil }
            })
            #expect(partitions.count > 1, "the events should spread over several partitions")

            // Wait until both groups have written and committed every event: every partition of
            // the events topic shows 0 records behind, and those that received events a last
            // committed timestamp.
            let deadline = ContinuousClock.now + .seconds(60)
            var report = ConsumerLagReport(rows: [])
            func caughtUp(_ group: String) -> Bool {
                let rows = report.rows.filter { $0.group == group && $0.topic == configuration.eventsTopic }
                return rows.count == 6 && rows.allSatisfy { $0.lagRecords == 0 }
                    && rows.filter { partitions.contains($0.partition) }.allSatisfy { $0.lastCommittedTimestamp != nil }
            }
            repeat {
                try await Task.sleep(for: .milliseconds(250))
                let (text, status) = try await httpGet(port: server.httpPort, path: "/metrics")
                #expect(status == 200)
                report = ConsumerLagReport(prometheusText: text)
            } while !(caughtUp(configuration.sinkGroup) && caughtUp(recentGroup)) && ContinuousClock.now < deadline
            let now = Date().timeIntervalSince1970

            for group in [configuration.sinkGroup, recentGroup] {
                let rows = report.rows.filter { $0.group == group && $0.topic == configuration.eventsTopic }
                #expect(rows.map(\.partition) == Array(0 ..< 6), "group \(group): \(report.renderTable(now: now))")
                for row in rows {
                    #expect(row.lagRecords == 0, "\(group)/\(row.partition)")
                    #expect(row.lagSeconds == 0, "\(group)/\(row.partition)")
                    if partitions.contains(row.partition) {
                        // The Kafka timestamp of a record produced during this test.
                        let committed = try #require(row.lastCommittedTimestamp, "\(group)/\(row.partition)")
                        #expect(committed >= started - 1 && committed <= now + 1, "\(group)/\(row.partition): \(committed)")
                    } else {
                        #expect(row.lastCommittedTimestamp == nil, "\(group)/\(row.partition) received nothing")
                    }
                }
            }
            // The table `auditpipe lag` prints has a line per group and partition.
            let table = report.renderTable(now: now)
            #expect(table.split(separator: "\n").filter { $0.contains(configuration.eventsTopic) }.count == 12, "\(table)")
        } }
    }

    @Test("a stuck recent-events consumer (Redis unreachable) shows records and seconds of lag that grow; the sink's group stays caught up")
    func stuckGroupShowsGrowingLag() async throws {
        var configuration = try fullPipelineConfiguration()
        configuration.redisURL = "redis://127.0.0.1:1"  // nothing listens there
        configuration.lagIntervalMilliseconds = 200
        let recentGroup = "\(configuration.sinkGroup)-recent"
        try await withDatabaseDropped(configuration.clickHouseDatabase) { try await withServer(configuration) { server in
            let event = AuditEvent.new(tenant: "stuck-tenant", actor: "alice", type: "auth", resource: "session", action: "login")
            let beforeIngest = Date().timeIntervalSince1970
            let results = try await withClient(port: server.grpcPort) { client in try await eventually { try await client.ingestBatch([event]) } }
            guard case .durable(let partition, _) = results.first else {
                Issue.record("not durable: \(results)")
                return
            }
            func row(_ group: String) async throws -> ConsumerLagReport.Row? {
                let (text, _) = try await httpGet(port: server.httpPort, path: "/metrics")
                return ConsumerLagReport(prometheusText: text).rows.first {
                    $0.group == group && $0.topic == configuration.eventsTopic && $0.partition == partition
                }
            }
            // The sink writes the event and catches up.
            var sink: ConsumerLagReport.Row?
            let deadline = ContinuousClock.now + .seconds(60)
            repeat {
                try await Task.sleep(for: .milliseconds(250))
                sink = try await row(configuration.sinkGroup)
            } while !(sink?.lagRecords == 0 && sink?.lastCommittedTimestamp != nil) && ContinuousClock.now < deadline
            #expect(sink?.lagRecords == 0)
            #expect(sink?.lagSeconds == 0)

            // The recent-events group cannot write: one record behind, and the seconds grow.
            var first: ConsumerLagReport.Row?
            repeat {
                try await Task.sleep(for: .milliseconds(250))
                first = try await row(recentGroup)
            } while !((first?.lagSeconds ?? 0) > 0) && ContinuousClock.now < deadline
            let stuck = try #require(first, "no lag series for \(recentGroup)")
            #expect(stuck.lagRecords == 1)
            #expect(stuck.lastCommittedTimestamp == nil)
            // It keeps growing while the record waits, and is never more than the time since the
            // event was produced (the gauges refresh every 200 ms, so a sample may be a little old).
            let sampled = ContinuousClock.now
            var later = stuck
            repeat {
                try await Task.sleep(for: .milliseconds(250))
                later = try #require(try await row(recentGroup))
            } while (later.lagSeconds ?? 0) - (stuck.lagSeconds ?? 0) < 2 && ContinuousClock.now < sampled + .seconds(20)
            #expect(later.lagRecords == 1)
            let growth = (later.lagSeconds ?? 0) - (stuck.lagSeconds ?? 0)
            #expect(growth >= 2, "lag went from \(stuck.lagSeconds ?? -1) to \(later.lagSeconds ?? -1) s")
            let sinceProduced = Date().timeIntervalSince1970 - beforeIngest
            #expect((later.lagSeconds ?? .infinity) <= sinceProduced, "lag \(later.lagSeconds ?? -1) s, but the event is only \(sinceProduced) s old")

            // RecentEvents says Redis is unavailable, with UNAVAILABLE (never UNKNOWN).
            try await withGRPCClient(transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: server.grpcPort), transportSecurity: .plaintext)) { client in
                let service = Auditpipe_V1_AuditService.Client(wrapping: client)
                let request = Auditpipe_V1_RecentEventsRequest.with {
                    $0.tenantID = "stuck-tenant"
                    $0.actorID = "alice"
                }
                do {
                    let _: Auditpipe_V1_RecentEventsResponse = try await service.recentEvents(request)
                    Issue.record("RecentEvents answered although Redis is unreachable")
                } catch let error as RPCError {
                    #expect(error.code == .unavailable, "\(error)")
                    #expect(error.message.contains("Redis is unavailable"), "\(error.message)")
                }
            }
        } }
    }

    @Test("the registry client's cache: one miss, then hits, on auditpipe_registry_cache_total")
    func registryCache() async throws {
        // Server A serves the built-in registry; server B ingests through it over HTTP, with the
        // client cache in between.
        let registryConfiguration = try testConfiguration()
        try await withServer(registryConfiguration) { registry in
            let (ready, _) = try await eventuallyHTTP(port: registry.httpPort, path: "/readyz") { $0.contains("registry: ok") }
            try #require(ready.contains("registry: ok"), "\(ready)")
            var configuration = try testConfiguration()
            configuration.eventsTopic = registryConfiguration.eventsTopic
            configuration.schemaRegistryURL = "http://127.0.0.1:\(registry.httpPort)"
            try await withServer(configuration) { server in
                let (before, _) = try await httpGet(port: server.httpPort, path: "/metrics")
                // Every result's series exists from the start.
                for result in ["hit", "miss", "stale"] {
                    #expect(before.contains(#"auditpipe_registry_cache_total{result="\#(result)"}"#), "\(result)")
                }
                try await withClient(port: server.grpcPort) { client in
                    let event = AuditEvent.new(tenant: "cache", actor: "a", type: "auth", resource: "session", action: "login")
                    let first = try await eventually { try await client.ingestBatch([event]) }
                    #expect(first.allSatisfy { $0.isDurable }, "\(first)")
                    for index in 0 ..< 5 {
                        let next = AuditEvent.new(tenant: "cache", actor: "a\(index)", type: "auth", resource: "session", action: "login")
                        let results = try await client.ingestBatch([next])
                        #expect(results.allSatisfy { $0.isDurable }, "\(results)")
                    }
                }
                let (after, _) = try await httpGet(port: server.httpPort, path: "/metrics")
                // The schema was fetched once (by the first lookup: the /readyz probe or the first
                // event), then the events were answered from the cache; the registry never failed.
                #expect(counter(after, "miss") >= 1)
                #expect(counter(after, "hit") - counter(before, "hit") >= 5)
                #expect(counter(after, "stale") == counter(before, "stale"))
            }
        }
    }

    /// The value of `auditpipe_registry_cache_total{result=...}` (0 when absent).
    private func counter(_ text: String, _ result: String) -> Double {
        let prefix = #"auditpipe_registry_cache_total{result="\#(result)"} "#
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return 0 }
        return Double(line.dropFirst(prefix.count).split(separator: " ").first ?? "") ?? 0
    }
}

/// Runs `body`, then drops the test's ClickHouse database, whether `body` threw or not.
func withDatabaseDropped<Result: Sendable>(_ name: String, _ body: () async throws -> Result) async throws -> Result {
    do {
        let result = try await body()
        await dropDatabase(name)
        return result
    } catch {
        await dropDatabase(name)
        throw error
    }
}

/// Drops a ClickHouse database through the HTTP interface (best effort).
func dropDatabase(_ name: String) async {
    guard let url = TestEnvironment.value(of: "AUDITPIPE_CLICKHOUSE_URL"), var components = URLComponents(string: url) else { return }
    components.queryItems = [URLQueryItem(name: "query", value: "DROP DATABASE IF EXISTS `\(name)`")]
    guard let target = components.url else { return }
    var request = URLRequest(url: target)
    request.httpMethod = "POST"
    request.setValue(TestEnvironment.value(of: "AUDITPIPE_CLICKHOUSE_USER") ?? "default", forHTTPHeaderField: "X-ClickHouse-User")
    request.setValue(TestEnvironment.value(of: "AUDITPIPE_CLICKHOUSE_PASSWORD") ?? "", forHTTPHeaderField: "X-ClickHouse-Key")
    _ = try? await URLSession.shared.data(for: request)
}
