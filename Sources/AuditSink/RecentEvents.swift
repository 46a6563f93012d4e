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

/// The newest events of each (tenant, actor) in Redis: one sorted set of event ids scored by
/// event time (ms) and one hash from event id to the stored event, updated atomically by a Lua
/// script (add if absent, trim to the newest ``RecentEventsConfiguration/keep``, refresh the
/// idle TTL). Writing the same event twice changes nothing, so replays are idempotent.
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

    /// The newest `limit` (at most ``RecentEventsConfiguration/keep``) events of an actor,
    /// oldest first.
    public func recent(tenant: String, actor: String, limit: Int) async throws -> [AuditEvent] {
        let limit = min(max(limit, 0), configuration.keep)
        guard limit > 0 else { return [] }
        let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: tenant, actor: actor)
        let reply: RedisReply
        do {
            reply = try await redis.send(["EVAL", RedisArgument(Self.readScript), 2, RedisArgument(keys.ids), RedisArgument(keys.events), RedisArgument(limit)]).checked()
        } catch {
            SinkMetrics.redisReadErrors.increment()
            throw error
        }
        return (reply.array ?? []).compactMap { $0.bytes.flatMap(StoredEvent.decode) }
    }

    /// Writes events (in one pipeline). Throws ``RedisError`` when Redis fails.
    func write(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        let ttl = configuration.idleTTL.components.seconds * 1000
        let commands: [[RedisArgument]] = events.map { event in
            let keys = RecentEventKeys(prefix: configuration.keyPrefix, tenant: event.tenantID, actor: event.actorID)
            return [
                "EVAL", RedisArgument(Self.writeScript), 2, RedisArgument(keys.ids), RedisArgument(keys.events),
                RedisArgument(event.timestampMilliseconds), RedisArgument(event.eventID), RedisArgument(bytes: StoredEvent.encode(event)),
                RedisArgument(configuration.keep), RedisArgument(ttl),
            ]
        }
        for reply in try await redis.pipeline(commands) { _ = try reply.checked() }
    }

    static let writeScript = """
        if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 1 then
          redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
        end
        local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
        if excess > 0 then
          local old = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
          redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1)
          redis.call('HDEL', KEYS[2], unpack(old))
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        redis.call('PEXPIRE', KEYS[2], ARGV[5])
        return 1
        """

    static let readScript = """
        local ids = redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
        if #ids == 0 then return {} end
        return redis.call('HMGET', KEYS[2], unpack(ids))
        """
}

/// The two keys of one (tenant, actor). Both carry the same `{...}` hash tag, so they live in
/// one Redis Cluster slot (a script may only touch keys of one slot). `%`, `:`, `{` and `}` in
/// the ids are percent-encoded so distinct pairs never share keys.
struct RecentEventKeys: Hashable {
    var ids: String
    var events: String

    init(prefix: String, tenant: String, actor: String) {
        ids = "\(prefix){\(Self.escape(tenant)):\(Self.escape(actor))}"
        events = ids + ":events"
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

/// The stored form of an event: JSON with sorted keys, so the same event always gives the same
/// bytes.
struct StoredEvent: Codable, Hashable {
    var event_id: String
    var tenant_id: String
    var actor_id: String
    var event_type: String
    var resource: String
    var action: String
    var timestamp_ms: Int64
    var metadata: [String: String]

    /// The JSON object with sorted keys (metadata's too), so the same event always gives the
    /// same bytes. Written by hand: Foundation's JSONEncoder was 3-5% of the server's CPU under
    /// ingest load. ``decode(_:)`` reads it with JSONDecoder.
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

    static func decode(_ bytes: [UInt8]) -> AuditEvent? {
        guard let s = try? JSONDecoder().decode(StoredEvent.self, from: Data(bytes)) else { return nil }
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
                var events: [AuditEvent] = []
                for record in records {
                    if case .event(let decoded) = try await decoder.decode(record) { events.append(decoded.event) }
                }
                try await store.write(events)
                SinkMetrics.recentWritten.increment(by: events.count)
                return true
            } catch {
                SinkMetrics.redisErrors.increment()
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

/// A consumer loop for sinks that need no per-partition batching: a reader task fills a bounded
/// buffer; a writer takes whatever is there (up to `maxBatch`), hands it to `handle`, and
/// commits the records' offsets once `handle` returns true. Graceful shutdown stops reading,
/// writes and commits the rest, then leaves the group.
enum BufferedConsumer {
    /// Lag reporting: the group's gauges and how often they are refreshed.
    struct Lag: Sendable {
        var gauges: ConsumerLagGauges
        var interval: Duration
    }

    static func run(
        _ consumer: KafkaConsumer, maxBatch: Int, logger: Logger,
        onCommit: (@Sendable ([KafkaTopicPartitionOffset]) -> Void)? = nil,
        lag: Lag? = nil,
        handle: @escaping @Sendable ([KafkaMessage]) async -> Bool
    ) async {
        let buffer = RecordBuffer(capacity: maxBatch * 4)
        let lagState = GroupLagState()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await cancelWhenGracefulShutdown {
                        for try await event in consumer.events {
                            switch event {
                            case .message(let record):
                                if lag != nil { lagState.read(record) }
                                await buffer.append(record)
                            case .revoked(let partitions):
                                buffer.drop(Set(partitions))
                                lagState.dropped(Set(partitions))
                                for partition in lagState.revoked(partitions) { lag?.gauges.remove(partition) }
                            case .assigned(let partitions):
                                lagState.assigned(partitions)
                            }
                        }
                    }
                } catch {
                    logger.error("consumer failed: \(error)")
                }
                buffer.close()
            }
            group.addTask {
                while let records = await buffer.take(max: maxBatch) {
                    guard await handle(records) else { return }
                    var next: [KafkaTopicPartition: Int64] = [:]
                    for record in records { next[KafkaTopicPartition(topic: record.topic, partition: record.partition)] = record.offset + 1 }
                    let offsets = next.map { KafkaTopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
                    do {
                        try await consumer.commit(offsets)
                        lagState.committed(records)
                        onCommit?(offsets)
                    } catch { logger.debug("commit failed (harmless after a revoke): \(error)") }
                }
            }
            if let lag {
                group.addTask {
                    await reportLag(consumer, state: lagState, lag: lag, until: buffer)
                }
            }
        }
        if let lag {
            for partition in lagState.revoked(lagState.assignedPartitions) { lag.gauges.remove(partition) }
        }
        await consumer.close()
    }

    /// Refreshes the lag gauges every `lag.interval` until the consumer loop ends.
    private static func reportLag(_ consumer: KafkaConsumer, state: GroupLagState, lag: Lag, until buffer: RecordBuffer) async {
        var last = ContinuousClock.now - lag.interval
        while !buffer.isClosed {
            if ContinuousClock.now - last >= lag.interval {
                last = .now
                let partitions = state.assignedPartitions
                if !partitions.isEmpty {
                    let committed = (try? await consumer.committed(partitions, timeout: .seconds(2))) ?? [:]
                    for partition in partitions {
                        var records: Int64? = nil
                        if let (low, high) = try? await consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: .seconds(2)) {
                            // No commit yet: the group starts at the earliest offset of the log.
                            records = max(0, high - max(committed[partition] ?? low, low))
                        }
                        let measured = state.measure(partition, now: Date().timeIntervalSince1970, records: records)
                        lag.gauges.record(partition, records: records, seconds: measured.seconds, lastCommittedTimestampMilliseconds: measured.lastCommitted)
                    }
                }
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
    }
}

/// A bounded buffer between the recent-events reader and writer: the reader waits when it is
/// full; the writer takes whatever is there (or waits for something).
final class RecordBuffer: Sendable {
    private struct State {
        var records: [KafkaMessage] = []
        var closed = false
        var reader: CheckedContinuation<Void, Never>?
        var writer: CheckedContinuation<Void, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    func append(_ record: KafkaMessage) async {
        while true {
            let full = state.withLock { $0.records.count >= capacity && !$0.closed }
            if !full { break }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.records.count >= capacity, !state.closed else { return true }
                    state.reader = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.records.append(record)
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume()
    }

    func drop(_ partitions: Set<KafkaTopicPartition>) {
        state.withLock { $0.records.removeAll { partitions.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) } }
    }

    /// Closed: the consumer loop is over (what is left is being written).
    var isClosed: Bool { state.withLock { $0.closed } }

    func close() {
        let (reader, writer) = state.withLock { state in
            state.closed = true
            defer { state.reader = nil; state.writer = nil }
            return (state.reader, state.writer)
        }
        reader?.resume()
        writer?.resume()
    }

    /// Up to `max` records; nil once closed and empty.
    func take(max: Int) async -> [KafkaMessage]? {
        while true {
            enum Step { case records([KafkaMessage], CheckedContinuation<Void, Never>?), finished, wait }
            let step = state.withLock { state -> Step in
                if !state.records.isEmpty {
                    let taken = Array(state.records.prefix(max))
                    state.records.removeFirst(taken.count)
                    defer { state.reader = nil }
                    return .records(taken, state.reader)
                }
                return state.closed ? .finished : .wait
            }
            switch step {
            case .records(let records, let reader):
                reader?.resume()
                return records
            case .finished:
                return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        guard state.records.isEmpty, !state.closed else { return true }
                        state.writer = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}
