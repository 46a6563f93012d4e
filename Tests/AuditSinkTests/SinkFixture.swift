import AuditEvents
import AuditPipeTestSupport
@testable import AuditSink
@testable import AuditStore
@testable import AuditConsumer
import AvroCodec
import ClickHouseHTTP
import Foundation
import KafkaClient
import NIOCore
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Schema id 1 is the seed schema; every other id is unknown to this "registry".
struct SeedSchemaOnly: WriterSchemaLookup {
    func schema(id: Int32) async throws -> AvroSchema {
        guard id == 1 else { throw WriterSchemaNotFound(id: id) }
        return AuditEventSchema.seed
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

let testLogger: Logger = {
    var logger = Logger(label: "AuditSinkTests")
    logger.logLevel = ProcessInfo.processInfo.environment["SINK_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .error
    return logger
}()

/// A unique audit topic (+ dead-letter topic) and ClickHouse database for one test.
final class SinkFixture: Sendable {
    let topic: String
    let deadLetterTopic: String
    let database: String
    let admin: ClickHouseClient
    let clickhouse: ClickHouseClient
    let store: ClickHouseEventStore
    let producer: KafkaProducer
    let bootstrap: [String]
    /// The next offset of each partition of ``topic`` after everything produced so far.
    let ends = Mutex<[Int32: Int64]>([:])

    init(partitions: Int = 3, clickhouseURL: String? = nil) async throws {
        bootstrap = try DevKafkaControl.bootstrapServers
        topic = try DevKafkaControl.createTopic("sink_events", partitions: partitions, replicationFactor: 3)
        deadLetterTopic = topic + ".dlq"
        let reply = try DevKafkaControl.control("create-topic \(deadLetterTopic) 2 3")
        guard reply.hasPrefix("ok") else { throw TimedOut(what: "create-topic \(deadLetterTopic): \(reply)") }
        database = TestEnvironment.uniqueName("sink")
        let url = try TestService.clickhouse.value
        let user = try TestService.clickhouseUser.value
        let password = try TestService.clickhousePassword.value
        admin = try ClickHouseClient(configuration: ClickHouseConfiguration(url: url, user: user, password: password))
        try await admin.execute("CREATE DATABASE `\(database)`")
        clickhouse = try ClickHouseClient(
            configuration: ClickHouseConfiguration(
                url: clickhouseURL ?? url, user: user, password: password, database: database,
                connectTimeout: .seconds(1), requestTimeout: .seconds(10)
            )
        )
        store = try ClickHouseEventStore(client: clickhouse, tables: ClickHouseTables())
        try await store.migrate()
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: testLogger)
    }

    func shutdown() async {
        _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
        await producer.shutdown()
        try? await clickhouse.shutdown()
        try? await admin.shutdown()
    }

    var configuration: AuditSinkConfiguration {
        var configuration = AuditSinkConfiguration()
        configuration.topic = topic
        configuration.deadLetterTopic = deadLetterTopic
        configuration.maxBatchRows = 50
        configuration.maxBatchDelay = .milliseconds(200)
        configuration.retry = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        configuration.lagInterval = .milliseconds(500)
        return configuration
    }

    func consumer(group: String) -> KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        configuration.sessionTimeoutMilliseconds = 6000
        configuration.heartbeatIntervalMilliseconds = 500
        return configuration
    }

    func sink(group: String, configuration: AuditSinkConfiguration? = nil, commits: CommitTracker? = nil, hook: SinkHook? = nil) throws -> ClickHouseSink {
        try ClickHouseSink(
            configuration: configuration ?? self.configuration, consumer: consumer(group: group),
            producer: producer, store: store, schemas: SeedSchemaOnly(), logger: testLogger,
            hook: { point, range in
                try await hook?(point, range)
                if point == .committed { commits?.record(partition: range.partition, next: range.nextOffset) }
            }
        )
    }

    func redriver(group: String, configuration: AuditSinkConfiguration? = nil) throws -> DeadLetterRedriver {
        try DeadLetterRedriver(configuration: configuration ?? self.configuration, consumer: consumer(group: group), producer: producer, store: store, logger: testLogger)
    }

    // MARK: Producing

    static func event(_ index: Int, tenants: Int = 5, actor: String? = nil, time: Int64? = nil) -> AuditEvent {
        AuditEvent(
            eventID: "evt-\(index)", tenantID: "tenant-\(index % tenants)", actorID: actor ?? "user-\(index % 7)",
            eventType: index % 2 == 0 ? "auth" : "data", resource: "doc/\(index)", action: "read",
            timestampMilliseconds: time ?? (1_770_000_000_000 + Int64(index) * 1000), metadata: ["i": String(index)]
        )
    }

    static func framed(_ event: AuditEvent, schemaID: Int32 = 1) throws -> [UInt8] {
        let body = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
        return ConfluentWireFormat.encode(schemaID: schemaID, body: body)
    }

    @discardableResult
    func produce(_ event: AuditEvent) async throws -> KafkaDeliveryReport {
        track(try await producer.send(
            KafkaOutgoingMessage(topic: topic, key: Array(event.tenantID.utf8), value: try Self.framed(event), headers: [KafkaHeader(name: "event_id", value: Array(event.eventID.utf8))])
        ))
    }

    @discardableResult
    func produceRaw(key: String, value: [UInt8]?) async throws -> KafkaDeliveryReport {
        track(try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array(key.utf8), value: value)))
    }

    private func track(_ report: KafkaDeliveryReport) -> KafkaDeliveryReport {
        ends.withLock { $0[report.partition] = max($0[report.partition] ?? 0, report.offset + 1) }
        return report
    }

    /// Whether `commits` reached the end of every partition written to.
    func committedToEnd(_ commits: CommitTracker) -> Bool {
        let ends = ends.withLock { $0 }
        let committed = commits.offsets
        return ends.allSatisfy { committed[$0.key] == $0.value }
    }

    func produce(_ events: [AuditEvent]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for event in events { group.addTask { try await self.produce(event) } }
            try await group.waitForAll()
        }
    }

    // MARK: Checking

    /// (rows, distinct (tenant, event_id)) in the events table.
    func tally() async throws -> (rows: Int, distinct: Int) {
        // Through the admin client: it bypasses the proxy of the outage tests.
        let buffer = try await admin.queryCollecting("SELECT count(), uniqExact(tenant_id, event_id) FROM `\(database)`.audit_events FORMAT TabSeparated")
        let fields = String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\t").compactMap { Int($0) }
        return (fields[0], fields[1])
    }

    func waitForRows(_ expected: Int, timeout: Duration = .seconds(30)) async throws -> (rows: Int, distinct: Int) {
        let deadline = ContinuousClock.now + timeout
        var last = (rows: 0, distinct: 0)
        while ContinuousClock.now < deadline {
            last = try await tally()
            if last.rows >= expected { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    /// Reads `count` records from the dead-letter topic (or fails after the timeout).
    func deadLetters(count: Int, timeout: Duration = .seconds(20)) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(configuration: consumer(group: TestEnvironment.uniqueName("dlq_reader")), topics: [deadLetterTopic], logger: testLogger)
        let collected = Mutex<[KafkaMessage]>([])
        let reader = Task {
            for try await event in consumer.events {
                if case .message(let message) = event {
                    if collected.withLock({ $0.append(message); return $0.count }) >= count { return }
                }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while collected.withLock({ $0.count }) < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        reader.cancel()
        await consumer.close()
        let result = collected.withLock { $0 }
        guard result.count >= count else { throw TimedOut(what: "\(count) dead letters (got \(result.count))") }
        return result
    }
}

/// The offsets a sink committed, per partition (from its test hook).
final class CommitTracker: Sendable {
    private let state = Mutex<[Int32: Int64]>([:])
    var offsets: [Int32: Int64] { state.withLock { $0 } }
    func record(partition: Int32, next: Int64) {
        state.withLock { $0[partition] = max($0[partition] ?? 0, next) }
    }
}

/// Runs services in a `ServiceGroup` in the background, stoppable gracefully.
final class RunningServices: Sendable {
    private let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ services: [any Service]) {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }, logger: testLogger)
        )
        self.group = group
        self.task = Task { try await group.run() }
    }

    /// Triggers graceful shutdown and waits for the services to return (cancels them after 30 s).
    func stop() async throws {
        await group.triggerGracefulShutdown()
        let task = self.task
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            task.cancel()
        }
        defer { watchdog.cancel() }
        try await task.value
    }
}

extension SinkFixture {
    /// Creates a fixture, runs `body`, and always drops the database and stops the clients.
    static func with<T>(partitions: Int = 3, clickhouseURL: String? = nil, _ body: (SinkFixture) async throws -> T) async throws -> T {
        let fixture = try await SinkFixture(partitions: partitions, clickhouseURL: clickhouseURL)
        do {
            let result = try await body(fixture)
            await fixture.shutdown()
            return result
        } catch {
            testLogger.error("test failed: \(error); cleaning up")
            await fixture.shutdown()
            throw error
        }
    }
}

/// Runs services around `body` and always stops them (gracefully) afterwards.
func running<T>(_ services: [any Service], _ body: (RunningServices) async throws -> T) async throws -> T {
    let running = RunningServices(services)
    do {
        let result = try await body(running)
        try await running.stop()
        return result
    } catch {
        testLogger.error("test body failed: \(error); stopping its services")
        try? await running.stop()
        throw error
    }
}

/// Waits until `condition` holds, polling.
func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TimedOut(what: what)
}
