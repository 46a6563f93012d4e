import AuditEvents
import AuditIngest
import AvroCodec
import Logging
import SchemaRegistry
import ServiceLifecycle

/// Ingest's view of the registry: the schema of the events topic's subject.
struct RegistryEventSchemas: EventSchemaSource {
    let source: any SchemaSource
    let topic: String

    func currentSchema() async throws -> EventSchema {
        let resolved = try await source.schema(forTopic: topic)
        return EventSchema(id: resolved.id, schema: resolved.schema)
    }
}

/// Runs the registry AuditPipe serves itself: follows its Kafka log until graceful shutdown, and
/// registers the seed `AuditEvent` schema as the first version of the events subject when that
/// subject has none yet (so a fresh installation accepts events; later versions go through
/// `auditpipe schema register` and the compatibility rules).
struct EmbeddedRegistryService: Service {
    let registry: SchemaRegistryService
    let log: KafkaRegistryLog
    let eventsTopic: String
    let health: HealthStatusRegistry
    let logger: Logger

    func run() async throws {
        health.set("registry", .notServing(reason: "replaying the registry log"))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await cancelWhenGracefulShutdown {
                    try await registry.run()
                }
            }
            do {
                try await registry.waitUntilReady()
                try await registerSeedSchemaIfEmpty()
                health.set("registry", .serving)
            } catch where Task.isShuttingDownGracefully {
                // Asked to stop while still starting: not an error.
            }
        }
        await log.close()
    }

    private func registerSeedSchemaIfEmpty() async throws {
        let subject = "\(eventsTopic)-value"
        let existing = (try? registry.read { state throws(SchemaRegistryError) in try state.versionNumbers(subject: subject) }) ?? []
        guard existing.isEmpty else { return }
        let (id, version) = try await registry.register(subject: subject, schema: AuditEventSchema.seedJSON)
        logger.info("registered the seed AuditEvent schema", metadata: ["subject": "\(subject)", "id": "\(id)", "version": "\(version)"])
    }
}
