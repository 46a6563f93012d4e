import AuditEvents
import AuditPipeTestSupport
@testable import AuditSink
import Foundation
import KafkaClient
import RedisClient
import Testing

@Suite("Recent events in Redis on the dev stack", .serialized, .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse, .redis)))
struct RecentEventsIntegrationTests {
    @Test func keepsTheNewest100PerActorAndReplaysAreIdempotent() async throws {
        let redis = try RedisClient(configuration: RedisConfiguration(url: try TestService.redis.value))
        var configuration = RecentEventsConfiguration()
        configuration.keyPrefix = TestEnvironment.uniqueName("recent") + ":"
        try await SinkFixture.with(partitions: 3) { fixture in
            configuration.topic = fixture.topic
            let store = try RecentEventsStore(redis: redis, configuration: configuration)
            // 150 events of one actor, produced newest-first half of the time (arrival order must
            // not matter), 30 of another, client retries of 20, and a poison record.
            let base: Int64 = 1_770_000_000_000
            let alice = (0..<150).map { SinkFixture.event($0, tenants: 1, actor: "alice", time: base + Int64($0) * 10) }
            let bob = (150..<180).map { SinkFixture.event($0, tenants: 1, actor: "bob", time: base + Int64($0) * 10) }
            try await fixture.produce(Array(alice.reversed()) + bob)
            try await fixture.produce(Array(alice[130..<150]))
            try await fixture.produceRaw(key: "tenant-0", value: [9, 9, 9])

            func drain(group: String) async throws {
                let commits = CommitTracker()
                let sink = try RecentEventsSink(
                    store: store, consumer: fixture.consumer(group: group), schemas: SeedSchemaOnly(), logger: testLogger,
                    onCommit: { offsets in for offset in offsets { commits.record(partition: offset.partition, next: offset.offset) } }
                )
                try await running([sink]) { _ in
                    try await eventually("the recent-events group to reach the end") { fixture.committedToEnd(commits) }
                }
            }
            try await drain(group: TestEnvironment.uniqueName("recent"))
            let newest = try await store.recent(tenant: "tenant-0", actor: "alice", limit: 100)
            #expect(newest == Array(alice[50..<150]))  // the newest 100, oldest first
            #expect(try await store.recent(tenant: "tenant-0", actor: "alice", limit: 5) == Array(alice[145..<150]))
            #expect(try await store.recent(tenant: "tenant-0", actor: "alice", limit: 1000).count == 100)
            #expect(try await store.recent(tenant: "tenant-0", actor: "bob", limit: 100) == bob)
            #expect(try await store.recent(tenant: "tenant-0", actor: "nobody", limit: 100) == [])
            let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: "tenant-0", actor: "alice")
            #expect(try await redis.send(["ZCARD", RedisArgument(keys.ids)]).int == 100)
            #expect(try await redis.send(["HLEN", RedisArgument(keys.events)]).int == 100)
            let ttl = try await redis.send(["PTTL", RedisArgument(keys.ids)]).int ?? -1
            #expect(ttl > 0 && ttl <= 30 * 86_400_000)

            // A second group replays the whole topic: nothing changes.
            let before = try await redis.send(["HGETALL", RedisArgument(keys.events)])
            try await drain(group: TestEnvironment.uniqueName("recent"))
            #expect(try await redis.send(["HGETALL", RedisArgument(keys.events)]) == before)
            #expect(try await store.recent(tenant: "tenant-0", actor: "alice", limit: 100) == Array(alice[50..<150]))

            for key in [keys.ids, keys.events] + [RecentEventKeys(prefix: configuration.keyPrefix, tenant: "tenant-0", actor: "bob")].flatMap({ [$0.ids, $0.events] }) {
                _ = try await redis.send(["DEL", RedisArgument(key)])
            }
        }
        await redis.close()
    }
}
