import AuditQuery
import AuditEvents
import AuditIntegrity
import AuditPipeTestSupport
import AuditSink
import AuditStore
import AuditConsumer
import AvroCodec
import ClickHouseHTTP
import Foundation
import KafkaClient
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// Schema id 1 is the seed schema.
struct SeedSchema: WriterSchemaLookup {
    func schema(id: Int32) async throws -> AvroSchema {
        guard id == 1 else { throw WriterSchemaNotFound(id: id) }
        return AuditEventSchema.seed
    }
}

struct ChainTestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

struct SimulatedCrash: Error {}

let chainTestLogger: Logger = {
    var logger = Logger(label: "AuditIntegrityTests")
    logger.logLevel = ProcessInfo.processInfo.environment["CHAIN_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .error
    return logger
}()

/// A unique audit topic (+ dead-letter and checkpoint topics) and ClickHouse database for one test.
final class ChainFixture: Sendable {
    let topic: String
    let checkpointTopic: String
    let database: String
    let admin: ClickHouseClient
    let clickhouse: ClickHouseClient
    let store: ClickHouseEventStore
    let producer: KafkaProducer
    let bootstrap: [String]
    let key = CheckpointSigningKey.generate()
    var trustedKeys: TrustedKeys { TrustedKeys([key.verificationKey]) }
    var auditor: ChainAuditor { ChainAuditor(store: store, trustedKeys: trustedKeys) }

    init(partitions: Int) async throws {
        bootstrap = try DevKafkaControl.bootstrapServers
        topic = try DevKafkaControl.createTopic("chain_events", partitions: partitions, replicationFactor: 3)
        for (name, count) in [(topic + ".dlq", 1)] {
            let reply = try DevKafkaControl.control("create-topic \(name) \(count) 3")
            guard reply.hasPrefix("ok") else { throw ChainTestTimeout(what: "create-topic \(name): \(reply)") }
        }
        checkpointTopic = try DevKafkaControl.createTopic("chain_checkpoints", partitions: 1, replicationFactor: 3)
        database = TestEnvironment.uniqueName("chain")
        let url = try TestService.clickhouse.value
        let user = try TestService.clickhouseUser.value
        let password = try TestService.clickhousePassword.value
        admin = try ClickHouseClient(configuration: ClickHouseConfiguration(url: url, user: user, password: password))
        try await admin.execute("CREATE DATABASE `\(database)`")
        clickhouse = try ClickHouseClient(configuration: ClickHouseConfiguration(url: url, user: user, password: password, database: database))
        store = try ClickHouseEventStore(client: clickhouse, tables: ClickHouseTables())
        try await store.migrate()
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: chainTestLogger)
    }

    static func with<T>(partitions: Int = 1, _ body: (ChainFixture) async throws -> T) async throws -> T {
        let fixture = try await ChainFixture(partitions: partitions)
        do {
            let result = try await body(fixture)
            await fixture.shutdown()
            return result
        } catch {
            await fixture.shutdown()
            throw error
        }
    }

    func shutdown() async {
        if ProcessInfo.processInfo.environment["CHAIN_TEST_KEEP_DB"] == "1" {
            // For trying `auditpipe verify` by hand on what a test left: keep the database and the key.
            let seedFile = "/tmp/\(database).key"
            try? (key.seedHex + "\n").write(toFile: seedFile, atomically: true, encoding: .utf8)
            print("kept database \(database); checkpoint key seed in \(seedFile), public key \(key.verificationKey.publicKeyHex)")
        } else {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
        }
        await producer.shutdown()
        try? await clickhouse.shutdown()
        try? await admin.shutdown()
    }

    func configuration(chain: Bool = true, topic: String? = nil) -> AuditSinkConfiguration {
        var configuration = AuditSinkConfiguration()
        configuration.topic = topic ?? self.topic
        configuration.deadLetterTopic = self.topic + ".dlq"
        configuration.maxBatchRows = 40
        configuration.maxBatchDelay = .milliseconds(200)
        configuration.retry = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        configuration.hashChain = chain
        return configuration
    }

    func sink(group: String, chain: Bool = true, topic: String? = nil, hook: SinkHook? = nil) throws -> ClickHouseSink {
        var consumer = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        consumer.sessionTimeoutMilliseconds = 6000
        consumer.heartbeatIntervalMilliseconds = 500
        return try ClickHouseSink(
            configuration: configuration(chain: chain, topic: topic), consumer: consumer, producer: producer, store: store,
            schemas: SeedSchema(), logger: chainTestLogger, hook: hook
        )
    }

    func checkpointService(heads: ChainHeadRegistry, exportDirectory: String? = nil, everyEvents: UInt64 = 10_000) throws -> ChainCheckpointService {
        var configuration = ChainCheckpointConfiguration()
        configuration.topic = checkpointTopic
        configuration.exportDirectory = exportDirectory
        configuration.everyEvents = everyEvents
        configuration.interval = .seconds(3600)
        configuration.pollInterval = .milliseconds(100)
        return try ChainCheckpointService(configuration: configuration, key: key, heads: heads, store: store, producer: producer, logger: chainTestLogger)
    }

    static func event(_ index: Int, tenants: Int) -> AuditEvent {
        AuditEvent(
            eventID: "evt-\(index)", tenantID: "tenant-\(index % tenants)", actorID: "user-\(index % 7)",
            eventType: index % 2 == 0 ? "auth" : "data", resource: "doc/\(index)", action: "read",
            timestampMilliseconds: 1_770_000_000_000 + Int64(index) * 1000, metadata: ["i": String(index), "ip": "10.0.0.\(index % 200)"]
        )
    }

    /// Produces events in order, one at a time per tenant key (so each partition gets them in index order).
    func produce(_ events: [AuditEvent], to topic: String? = nil) async throws {
        for event in events {
            let body = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
            _ = try await producer.send(
                KafkaOutgoingMessage(topic: topic ?? self.topic, key: Array(event.tenantID.utf8), value: ConfluentWireFormat.encode(schemaID: 1, body: body))
            )
        }
    }

    func count(_ condition: String = "1") async throws -> Int {
        let buffer = try await admin.queryCollecting("SELECT count() FROM `\(database)`.audit_events WHERE \(condition) FORMAT TabSeparated")
        return Int(String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    func waitForRows(_ expected: Int, timeout: Duration = .seconds(40)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await count() >= expected { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ChainTestTimeout(what: "\(expected) rows (have \(try await count()))")
    }

    /// Runs a mutation and waits for it (`mutations_sync = 2`).
    func mutate(_ sql: String) async throws {
        _ = try await clickhouse.execute(sql, settings: ["mutations_sync": "2"])
    }
}

/// Runs services in a `ServiceGroup` around `body` and stops them gracefully afterwards.
func runningServices<T>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: chainTestLogger)
    )
    let task = Task { try await group.run() }
    do {
        let result = try await body()
        await group.triggerGracefulShutdown()
        try await task.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        throw error
    }
}
