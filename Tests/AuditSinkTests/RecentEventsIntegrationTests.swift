import AuditEvents
import AuditPipeTestSupport
@testable import AuditSink
@testable import AuditRecent
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
            #expect(try await redis.send(["ZCARD", RedisArgument(keys.stored)]).int == 100)
            #expect(try await redis.send(["EXISTS", RedisArgument(keys.ids), RedisArgument(keys.events)]).int == 0)
            let ttl = try await redis.send(["PTTL", RedisArgument(keys.stored)]).int ?? -1
            #expect(ttl > 0 && ttl <= 30 * 86_400_000)
            // The members are what RecentEvents answers with.
            let members = try await store.recentStoredEvents(tenant: "tenant-0", actor: "alice", limit: 100)
            #expect(members == alice[50..<150].map(StoredEventProtobuf.encode))

            // A second group replays the whole topic: nothing changes.
            let before = try await redis.send(["ZRANGE", RedisArgument(keys.stored), 0, -1, "WITHSCORES"])
            try await drain(group: TestEnvironment.uniqueName("recent"))
            #expect(try await redis.send(["ZRANGE", RedisArgument(keys.stored), 0, -1, "WITHSCORES"]) == before)
            #expect(try await store.recent(tenant: "tenant-0", actor: "alice", limit: 100) == Array(alice[50..<150]))

            for key in [keys.stored, RecentEventKeys(prefix: configuration.keyPrefix, tenant: "tenant-0", actor: "bob").stored] {
                _ = try await redis.send(["DEL", RedisArgument(key)])
            }
        }
        await redis.close()
    }

    /// Keys of the layout before (ids in a sorted set, JSON in a hash) are read, moved into the
    /// current sorted set next to events written since, and deleted, the first time the user is read.
    @Test func readsAndMovesTheLayoutBefore() async throws {
        let redis = try RedisClient(configuration: RedisConfiguration(url: try TestService.redis.value))
        var configuration = RecentEventsConfiguration()
        configuration.keyPrefix = TestEnvironment.uniqueName("recent-old") + ":"
        configuration.keep = 10
        let store = try RecentEventsStore(redis: redis, configuration: configuration)
        let base: Int64 = 1_770_000_000_000
        let events = (0..<14).map { index in
            AuditEvent(
                eventID: "e\(index)", tenantID: "t:1", actorID: "carol", eventType: "auth", resource: "r/\(index)",
                action: "login", timestampMilliseconds: base + Int64(index), metadata: ["ip": "10.0.0.\(index)"]
            )
        }
        let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: "t:1", actor: "carol")
        // Events 0..<8 written by the layout before; 6..<14 by this one (6 and 7 in both).
        var old: [[RedisArgument]] = []
        for event in events[0..<8] {
            old.append(["ZADD", RedisArgument(keys.ids), RedisArgument(event.timestampMilliseconds), RedisArgument(event.eventID)])
            old.append(["HSET", RedisArgument(keys.events), RedisArgument(event.eventID), RedisArgument(bytes: StoredEventJSON.encode(event))])
        }
        for reply in try await redis.pipeline(old) { _ = try reply.checked() }
        try await store.write(Array(events[6..<14]))

        #expect(try await store.recent(tenant: "t:1", actor: "carol", limit: 100) == Array(events[4..<14]))
        #expect(try await redis.send(["EXISTS", RedisArgument(keys.ids), RedisArgument(keys.events)]).int == 0)
        #expect(try await redis.send(["ZCARD", RedisArgument(keys.stored)]).int == 10)
        #expect(try await redis.send(["PTTL", RedisArgument(keys.stored)]).int ?? -1 > 0)
        #expect(try await store.recent(tenant: "t:1", actor: "carol", limit: 3) == Array(events[11..<14]))
        _ = try await redis.send(["DEL", RedisArgument(keys.stored)])
        await redis.close()
    }

    /// One pipeline per batch: per user one ZADD, one ZREMRANGEBYRANK, one PEXPIRE; a user with
    /// more than `keep` events in one batch gets only the newest `keep`.
    @Test func writesOnePipelineOfThreeCommandsPerUser() async throws {
        let redis = try RedisClient(configuration: RedisConfiguration(url: try TestService.redis.value))
        var configuration = RecentEventsConfiguration()
        configuration.keyPrefix = TestEnvironment.uniqueName("recent-batch") + ":"
        configuration.keep = 5
        let store = try RecentEventsStore(redis: redis, configuration: configuration)
        let base: Int64 = 1_770_000_000_000
        func event(_ index: Int, actor: String, time: Int64) -> AuditEvent {
            AuditEvent(eventID: "\(actor)-\(index)", tenantID: "t", actorID: actor, eventType: "auth", resource: "r", action: "login", timestampMilliseconds: time)
        }
        // dave: 8 events, two with one timestamp, one twice; erin: 1 event.
        var batch = (0..<8).map { event($0, actor: "dave", time: base + Int64($0 / 2 * 2)) }
        batch.insert(event(0, actor: "erin", time: base), at: 3)
        batch.append(batch[7])
        let commands = RecentEventsStore.writeCommands(batch, configuration: configuration)
        #expect(commands.map { $0[0].description } == ["ZADD", "ZREMRANGEBYRANK", "PEXPIRE", "ZADD", "ZREMRANGEBYRANK", "PEXPIRE"])
        #expect(commands[0].count == 2 + 5 * 2)
        try await store.write(batch)
        try await store.write(batch)
        let dave = (0..<8).map { event($0, actor: "dave", time: base + Int64($0 / 2 * 2)) }
        #expect(try await store.recent(tenant: "t", actor: "dave", limit: 100) == Array(dave[3..<8]))
        #expect(try await store.recent(tenant: "t", actor: "erin", limit: 100) == [event(0, actor: "erin", time: base)])
        for actor in ["dave", "erin"] {
            _ = try await redis.send(["DEL", RedisArgument(RecentEventKeys(prefix: configuration.keyPrefix, tenant: "t", actor: actor).stored)])
        }
        await redis.close()
    }
}
