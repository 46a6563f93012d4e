import AuditEvents
import AuditIntegrity
import AuditPipeTestSupport
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation
import KafkaClient
import NIOCore
import Synchronization
import Testing

/// The chain under the sink's exactly-once machinery: crashes and restarts never fork it.
@Suite("Hash chain across sink crashes", .serialized, .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse)))
struct ChainReplayIntegrationTests {
    @Test(arguments: [SinkCheckpoint.rangeRecorded, .inserted, .committed])
    func chainSurvivesACrashAndRestart(crashPoint: SinkCheckpoint) async throws {
        try await ChainFixture.with(partitions: 3) { fixture in
            let group = TestEnvironment.uniqueName("chain")
            try await fixture.produce((0..<200).map { ChainFixture.event($0, tenants: 7) })
            // The first instance dies at `crashPoint` of its third batch.
            let batches = Mutex(0)
            let crashed = Mutex<BatchRange?>(nil)
            let first = try fixture.sink(group: group) { point, range in
                guard point == crashPoint else { return }
                let crash = batches.withLock { count -> Bool in
                    count += 1
                    return count == 3
                }
                if crash {
                    crashed.withLock { $0 = range }
                    throw SimulatedCrash()
                }
            }
            await #expect(throws: SimulatedCrash.self) { try await first.run() }
            #expect(crashed.withLock { $0 } != nil)
            // A fresh sink over the same group finishes the topic, then more events arrive; a
            // checkpoint service signs the heads it acknowledged.
            let exportDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("checkpoints")).path
            defer { try? FileManager.default.removeItem(atPath: exportDirectory) }
            let second = try fixture.sink(group: group)
            let service = try fixture.checkpointService(heads: second.chainHeads, exportDirectory: exportDirectory, everyEvents: 10)
            try await runningServices([service, second]) {
                try await fixture.waitForRows(200)
                try await fixture.produce((200..<300).map { ChainFixture.event($0, tenants: 7) })
                try await fixture.waitForRows(300)
                try await Task.sleep(for: .milliseconds(500))
            }
            // Each event once, every tenant's chain 1...n without a fork.
            #expect(try await fixture.count() == 300)
            let perTenant = String(buffer: try await fixture.admin.queryCollecting(
                "SELECT tenant_id, count(), uniqExact(chain_seq), min(chain_seq), max(chain_seq) FROM `\(fixture.database)`.audit_events GROUP BY tenant_id ORDER BY tenant_id FORMAT TabSeparated"
            ))
            for line in perTenant.split(separator: "\n") {
                let f = line.split(separator: "\t")
                #expect(f[1] == f[2] && f[3] == "1" && f[4] == f[1], "chain of \(f[0]): \(line)")
            }
            // Every chain verifies against the checkpoints (stored, exported and published).
            let stored = try await fixture.store.checkpoints(tenantID: "tenant-3", sequences: 1...1000)
            #expect(!stored.isEmpty)
            for tenant in 0..<7 {
                let report = try await fixture.auditor.verify(tenantID: "tenant-\(tenant)", range: .all)
                #expect(report.problem == nil, "tenant-\(tenant): \(report.problem?.description ?? "")")
                #expect(report.verifiedCheckpoints >= 1)
            }
            let exported = try ChainCheckpointExport.read(from: exportDirectory)
            #expect(exported.count >= 7)
            #expect(exported.allSatisfy { fixture.trustedKeys.rejection(of: $0) == nil })
            // The final checkpoint of each tenant (graceful shutdown) covers its whole chain.
            for tenant in 0..<7 {
                let last = exported.filter { $0.checkpoint.tenantID == "tenant-\(tenant)" }.map(\.checkpoint.sequence).max()
                #expect(last == UInt64(try await fixture.count("tenant_id = 'tenant-\(tenant)'")))
            }
            let published = try await readCheckpoints(fixture, count: exported.count)
            #expect(Set(published.map(\.json)) == Set(exported.map(\.json)))
        }
    }

    @Test func chainsContinueOnATopicCreatedAgain() async throws {
        try await ChainFixture.with(partitions: 2) { fixture in
            try await runningServices([try fixture.sink(group: TestEnvironment.uniqueName("chain"))]) {
                try await fixture.produce((0..<60).map { ChainFixture.event($0, tenants: 3) })
                try await fixture.waitForRows(60)
            }
            // What a topic deleted and created again looks like to the chain: the same partitions,
            // offsets from 0 again, the same table (a new name here: this cluster cannot delete).
            let again = try DevKafkaControl.createTopic("chain_events", partitions: 2, replicationFactor: 3)
            try await runningServices([try fixture.sink(group: TestEnvironment.uniqueName("chain"), topic: again)]) {
                try await fixture.produce((60..<120).map { ChainFixture.event($0, tenants: 3) }, to: again)
                try await fixture.waitForRows(120)
            }
            let perTenant = String(buffer: try await fixture.admin.queryCollecting(
                "SELECT tenant_id, count(), uniqExact(chain_seq), min(chain_seq), max(chain_seq) FROM `\(fixture.database)`.audit_events GROUP BY tenant_id ORDER BY tenant_id FORMAT TabSeparated"
            ))
            #expect(perTenant.split(separator: "\n").count == 3)
            for line in perTenant.split(separator: "\n") {
                let f = line.split(separator: "\t")
                #expect(f[1] == "40" && f[2] == "40" && f[3] == "1" && f[4] == "40", "chain of \(f[0]): \(line)")
            }
            for tenant in 0..<3 {
                let report = try await fixture.auditor.verify(tenantID: "tenant-\(tenant)", range: .all)
                #expect(report.problem == nil, "tenant-\(tenant): \(report.problem?.description ?? "")")
                #expect(report.verifiedRows == 40)
            }
        }
    }

    @Test func chainCanBeSwitchedOff() async throws {
        try await ChainFixture.with(partitions: 1) { fixture in
            let sink = try fixture.sink(group: TestEnvironment.uniqueName("chain"), chain: false)
            try await runningServices([sink]) {
                try await fixture.produce((0..<30).map { ChainFixture.event($0, tenants: 3) })
                try await fixture.waitForRows(30)
            }
            #expect(try await fixture.count("chain_seq = 0") == 30)
            #expect(sink.chainHeads.entries.isEmpty)
            let report = try await fixture.auditor.verify(tenantID: "tenant-0", range: .all)
            #expect(report.problem?.kind == "inserted_row")
        }
    }

    func readCheckpoints(_ fixture: ChainFixture, count: Int) async throws -> [SignedCheckpoint] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(bootstrapServers: fixture.bootstrap, groupID: TestEnvironment.uniqueName("witness")),
            topics: [fixture.checkpointTopic], logger: chainTestLogger
        )
        let collected = Mutex<[SignedCheckpoint]>([])
        let reader = Task {
            for try await event in consumer.events {
                if case .message(let message) = event, let value = message.value {
                    let checkpoint = try SignedCheckpoint(json: value)
                    if collected.withLock({ $0.append(checkpoint); return $0.count }) >= count { return }
                }
            }
        }
        try await eventually("\(count) published checkpoints", timeout: .seconds(20)) { collected.withLock { $0.count } >= count }
        reader.cancel()
        await consumer.close()
        return collected.withLock { $0 }
    }
}
