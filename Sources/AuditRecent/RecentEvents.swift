public import AuditConsumer
public import AuditEvents
import AvroCodec
import CoreMetrics
import Foundation
public import KafkaClient
public import Logging
public import RedisClient
public import ServiceLifecycle
import Synchronization

/// Where recent events live in Redis and how many are kept.
public struct RecentEventsConfiguration: Sendable, Hashable {
    /// The audit topic. Default `auditpipe.events`.
    public var topic: String = "auditpipe.events"
    /// Prefix of every key. Default `auditpipe:recent:`.
    public var keyPrefix: String = "auditpipe:recent:"
    /// Events kept per (tenant, actor): the newest by event time. Default 100.
    public var keep: Int = 100
    /// A (tenant, actor) with no new event for this long is forgotten. Default 30 days.
    public var idleTTL: Duration = .seconds(30 * 86_400)
    /// Most records written in one pipeline. Default 500.
    public var maxBatch: Int = 500
    /// Backoff while Redis fails (retried until it answers).
    public var retry = RetryPolicy(maxAttempts: nil, initialBackoff: .milliseconds(200), maxBackoff: .seconds(5))
    /// How often the group's lag gauges are refreshed. Default 5 s.
    public var lagInterval: Duration = .seconds(5)

    /// Creates the defaults.
    public init() {}

    /// Checks every field.
    public func validate() throws(AuditSinkError) {
        if topic.isEmpty { throw .configuration("RecentEventsConfiguration.topic", "must not be empty") }
        if !(1...10_000).contains(keep) { throw .configuration("RecentEventsConfiguration.keep", "must be in 1...10000 (got \(keep))") }
        if idleTTL < .seconds(1) { throw .configuration("RecentEventsConfiguration.idleTTL", "must be at least 1 s") }
        if !(1...100_000).contains(maxBatch) { throw .configuration("RecentEventsConfiguration.maxBatch", "must be in 1...100000") }
        if lagInterval <= .zero { throw .configuration("RecentEventsConfiguration.lagInterval", "must be positive") }
        try retry.validate()
    }
}

/// The newest events of each (tenant, actor) in Redis: one sorted set per (tenant, actor) whose
/// members are the events' ``StoredEventProtobuf`` bytes (the protobuf `auditpipe.v1.StoredEvent`
/// that RecentEvents answers with), scored by event time in milliseconds.
///
/// A batch is written with plain commands in one pipeline (one round trip): per (tenant, actor),
/// one `ZADD` of all its events, one `ZREMRANGEBYRANK` keeping the newest
/// ``RecentEventsConfiguration/keep``, one `PEXPIRE` refreshing the idle TTL. The same event always
/// gives the same member and score, so a replay changes nothing. A read is one `ZRANGE`: the
/// members are already the response's bytes.
///
/// Keys written before this layout (a sorted set of event ids and a hash of JSON, see
/// ``StoredEventJSON``) are moved into the new set the first time their user is read (read
/// repair), then deleted; until then they expire by their own idle TTL.
public struct RecentEventsStore: Sendable {
    /// The Redis client.
    public let redis: RedisClient
    /// Keys and limits.
    public let configuration: RecentEventsConfiguration

    /// Creates the store.
    public init(redis: RedisClient, configuration: RecentEventsConfiguration) throws(AuditSinkError) {
        try configuration.validate()
        self.redis = redis
        self.configuration = configuration
    }

    /// The newest `limit` (at most ``RecentEventsConfiguration/keep``) events of an actor, oldest
    /// first, each the protobuf encoding of `auditpipe.v1.StoredEvent` (see ``StoredEventProtobuf``).
    /// One round trip, unless the actor still has events in the layout before this one.
    ///
    /// - Throws: ``RedisError`` when Redis fails.
    public func recentStoredEvents(tenant: String, actor: String, limit: Int) async throws -> [[UInt8]] {
        let limit = min(max(limit, 0), configuration.keep)
        guard limit > 0 else { return [] }
        let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: tenant, actor: actor)
        do {
            let replies = try await redis.pipeline([
                ["ZRANGE", RedisArgument(keys.stored), RedisArgument(-limit), -1],
                ["EXISTS", RedisArgument(keys.ids), RedisArgument(keys.events)],
            ])
            var members = try Self.members(try replies[0].checked())
            if try replies[1].checked().int ?? 0 > 0 {
                try await repairLegacyKeys(keys)
                members = try Self.members(try await redis.send(["ZRANGE", RedisArgument(keys.stored), RedisArgument(-limit), -1]).checked())
            }
            return StoredEventProtobuf.withoutRepeatedIDs(members)
        } catch {
            RecentMetrics.redisReadErrors.increment()
            throw error
        }
    }

    /// ``recentStoredEvents(tenant:actor:limit:)`` decoded.
    public func recent(tenant: String, actor: String, limit: Int) async throws -> [AuditEvent] {
        try await recentStoredEvents(tenant: tenant, actor: actor, limit: limit).compactMap(StoredEventProtobuf.decode)
    }

    private static func members(_ reply: RedisReply) throws(RedisError) -> [[UInt8]] {
        guard case .array(let elements) = reply else {
            throw RedisError(kind: .protocol, message: "ZRANGE answered \(reply) instead of an array")
        }
        return elements.compactMap(\.bytes)
    }

    /// Moves an actor's events from the layout before this one (ids in a sorted set, JSON in a
    /// hash) into the sorted set of protobuf members, then deletes the old keys. Idempotent, and
    /// safe next to the sink's writes: both add and trim to the newest ``RecentEventsConfiguration/keep``.
    private func repairLegacyKeys(_ keys: RecentEventKeys) async throws {
        let stored = try await redis.send(["HVALS", RedisArgument(keys.events)]).checked()
        let decoder = JSONDecoder()
        let events = (stored.array ?? []).compactMap { $0.bytes.flatMap { StoredEventJSON.decode($0, decoder: decoder) } }
        var commands = Self.commands(key: keys.stored, events: events, configuration: configuration)
        commands.append(["DEL", RedisArgument(keys.ids), RedisArgument(keys.events)])
        for reply in try await redis.pipeline(commands) { _ = try reply.checked() }
    }

    /// Writes events in one pipeline: per (tenant, actor), `ZADD` of all its events,
    /// `ZREMRANGEBYRANK` to the newest ``RecentEventsConfiguration/keep``, `PEXPIRE`.
    ///
    /// - Throws: ``RedisError`` when Redis fails.
    func write(_ events: [AuditEvent]) async throws {
        let commands = Self.writeCommands(events, configuration: configuration)
        guard !commands.isEmpty else { return }
        for reply in try await redis.pipeline(commands) { _ = try reply.checked() }
    }

    /// The commands ``write(_:)`` sends for `events`, grouped by (tenant, actor) in order of first
    /// appearance.
    package static func writeCommands(_ events: [AuditEvent], configuration: RecentEventsConfiguration) -> [[RedisArgument]] {
        var order: [RecentEventKeys] = []
        var byActor: [RecentEventKeys: [AuditEvent]] = [:]
        for event in events {
            let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: event.tenantID, actor: event.actorID)
            if byActor[keys] == nil { order.append(keys) }
            byActor[keys, default: []].append(event)
        }
        var commands: [[RedisArgument]] = []
        commands.reserveCapacity(order.count * 3)
        for keys in order { commands += Self.commands(key: keys.stored, events: byActor[keys]!, configuration: configuration) }
        return commands
    }

    /// `ZADD`, `ZREMRANGEBYRANK` and `PEXPIRE` of one actor's events; none when there are none.
    /// More than `keep` events are cut to the newest `keep` first (the set keeps no more anyway).
    static func commands(key: String, events: [AuditEvent], configuration: RecentEventsConfiguration) -> [[RedisArgument]] {
        guard !events.isEmpty else { return [] }
        var members = events.map { (score: $0.timestampMilliseconds, member: StoredEventProtobuf.encode($0)) }
        if members.count > configuration.keep {
            // Redis' order: by score, then by member bytes.
            members.sort { $0.score != $1.score ? $0.score < $1.score : $0.member.lexicographicallyPrecedes($1.member) }
            var unique: [(score: Int64, member: [UInt8])] = []
            for entry in members where unique.last.map({ $0.score != entry.score || $0.member != entry.member }) ?? true { unique.append(entry) }
            members = Array(unique.suffix(configuration.keep))
        }
        let key = RedisArgument(key)
        var zadd: [RedisArgument] = ["ZADD", key]
        zadd.reserveCapacity(2 + members.count * 2)
        for entry in members {
            zadd.append(RedisArgument(entry.score))
            zadd.append(RedisArgument(bytes: entry.member))
        }
        let ttl = configuration.idleTTL.components.seconds * 1000
        return [zadd, ["ZREMRANGEBYRANK", key, 0, RedisArgument(-(configuration.keep + 1))], ["PEXPIRE", key, RedisArgument(ttl)]]
    }
}

/// The keys of one (tenant, actor). All carry the same `{...}` hash tag, so they live in one
/// Redis Cluster slot. `%`, `:`, `{` and `}` in the ids are percent-encoded so distinct pairs
/// never share keys.
struct RecentEventKeys: Hashable {
    /// The sorted set of ``StoredEventProtobuf`` members (the current layout).
    var stored: String
    /// The layout before: a sorted set of event ids ...
    var ids: String
    /// ... and a hash from event id to ``StoredEventJSON``.
    var events: String

    init(prefix: String, tenant: String, actor: String) {
        ids = "\(prefix){\(Self.escape(tenant)):\(Self.escape(actor))}"
        events = ids + ":events"
        stored = ids + ":pb"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case ":": out += "%3A"
            case "{": out += "%7B"
            case "}": out += "%7D"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// The stored form of the layout before ``StoredEventProtobuf``: JSON with sorted keys. Only read
/// now, to move an actor's old keys into the current layout.
struct StoredEventJSON: Codable, Hashable {
    var event_id: String
    var tenant_id: String
    var actor_id: String
    var event_type: String
    var resource: String
    var action: String
    var timestamp_ms: Int64
    var metadata: [String: String]

    /// The JSON object with sorted keys (metadata's too), as the layout before wrote it (kept for
    /// tests of the migration).
    static func encode(_ event: AuditEvent) -> [UInt8] {
        var json = "{\"action\":"
        json.reserveCapacity(256)
        JSONWriter.appendString(event.action, to: &json)
        json += ",\"actor_id\":"
        JSONWriter.appendString(event.actorID, to: &json)
        json += ",\"event_id\":"
        JSONWriter.appendString(event.eventID, to: &json)
        json += ",\"event_type\":"
        JSONWriter.appendString(event.eventType, to: &json)
        json += ",\"metadata\":{"
        for (index, key) in event.metadata.keys.sorted().enumerated() {
            if index > 0 { json += "," }
            JSONWriter.appendString(key, to: &json)
            json += ":"
            JSONWriter.appendString(event.metadata[key]!, to: &json)
        }
        json += "},\"resource\":"
        JSONWriter.appendString(event.resource, to: &json)
        json += ",\"tenant_id\":"
        JSONWriter.appendString(event.tenantID, to: &json)
        json += ",\"timestamp_ms\":\(event.timestampMilliseconds)}"
        return Array(json.utf8)
    }

    static func decode(_ bytes: [UInt8], decoder: JSONDecoder = JSONDecoder()) -> AuditEvent? {
        guard let s = try? decoder.decode(StoredEventJSON.self, from: Data(bytes)) else { return nil }
        return AuditEvent(
            eventID: s.event_id, tenantID: s.tenant_id, actorID: s.actor_id, eventType: s.event_type,
            resource: s.resource, action: s.action, timestampMilliseconds: s.timestamp_ms, metadata: s.metadata
        )
    }
}

/// Keeps Redis' recent events up to date from the audit topic, in a consumer group of its own
/// (a Redis outage never stalls the ClickHouse sink, nor the reverse).
///
/// Records are written in pipelines of up to ``RecentEventsConfiguration/maxBatch`` (whatever
/// arrived while the previous pipeline ran) and their offsets committed after Redis answered.
/// While Redis fails, the same records are retried with backoff; reading pauses once the buffer
/// is full. Undecodable records are skipped here (the ClickHouse sink dead-letters them).
public final class RecentEventsSink: Service, Sendable {
    private let store: RecentEventsStore
    private let consumerConfiguration: KafkaConsumerConfiguration
    private let decoder: RecordDecoder
    private let logger: Logger
    private let onCommit: (@Sendable ([KafkaTopicPartitionOffset]) -> Void)?

    /// Creates the sink; `consumer` names its own group (e.g. `auditpipe-recent-events`).
    public convenience init(store: RecentEventsStore, consumer: KafkaConsumerConfiguration, schemas: any WriterSchemaLookup, logger: Logger) throws(AuditSinkError) {
        try self.init(store: store, consumer: consumer, schemas: schemas, logger: logger, onCommit: nil)
    }

    /// For tests: `onCommit` sees every successful commit.
    package init(
        store: RecentEventsStore, consumer: KafkaConsumerConfiguration, schemas: any WriterSchemaLookup, logger: Logger,
        onCommit: (@Sendable ([KafkaTopicPartitionOffset]) -> Void)?
    ) throws(AuditSinkError) {
        do { try consumer.validate() } catch { throw AuditSinkError(message: error.message, isRetriable: false) }
        self.store = store
        self.consumerConfiguration = consumer
        self.decoder = RecordDecoder(schemas: schemas)
        self.logger = logger
        self.onCommit = onCommit
    }

    /// Runs until graceful shutdown: then writes and commits what was read and leaves the group.
    public func run() async throws {
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [store.configuration.topic], logger: logger)
        } catch {
            throw AuditSinkError(message: "cannot start the consumer of \(store.configuration.topic): \(error.message)", isRetriable: error.isRetriable)
        }
        let lag = BufferedConsumer.Lag(gauges: ConsumerLagGauges(group: consumerConfiguration.groupID), interval: store.configuration.lagInterval)
        await BufferedConsumer.run(consumer, maxBatch: store.configuration.maxBatch, logger: logger, onCommit: onCommit, lag: lag) { records in
            await self.write(records)
        }
    }

    /// Writes one batch, retrying while Redis fails; false only when cancelled.
    private func write(_ records: [KafkaMessage]) async -> Bool {
        var retry = BatchRetryState(policy: store.configuration.retry)
        while true {
            do {
                let events = try await decoder.decodeEvents(records)
                try await store.write(events)
                RecentMetrics.written.increment(by: events.count)
                if !events.isEmpty { RecentMetrics.batches.increment() }
                return true
            } catch {
                RecentMetrics.redisErrors.increment()
                guard case .retry(let delay) = retry.failed(.needsOperator, jitter: .random(in: 0..<1)) else { return false }
                // Shutting down while Redis fails: give up instead of retrying for ever. Nothing
                // is committed, so the next start reads these records again (writes are idempotent).
                if Task.isShuttingDownGracefully {
                    logger.warning("shutting down with \(records.count) recent events not written to Redis; they are read again at the next start: \(error)")
                    return false
                }
                logger.warning("writing \(records.count) recent events failed (attempt \(retry.attempts)), retrying in \(delay): \(error)")
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) } } catch { return false }
            }
        }
    }
}
