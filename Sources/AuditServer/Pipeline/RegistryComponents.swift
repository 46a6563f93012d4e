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

/// Runs the registry AuditPipe serves itself: follows its Kafka log until graceful shutdown and,
/// in the registry role's process, keeps the events subject on the current `AuditEvent` schema
/// (see ``AuditEventSchemaMigration``), so a fresh installation accepts events; later versions go
/// through `auditpipe schema register` and the compatibility rules.
struct EmbeddedRegistryService: Service {
    let registry: SchemaRegistryService
    let eventsTopic: String
    /// Whether this process writes the seed schema (the registry role); others only follow.
    let seedsEventsSubject: Bool
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
                if seedsEventsSubject {
                    try await AuditEventSchemaMigration.apply(registry: registry, subject: "\(eventsTopic)-value", logger: logger)
                }
                health.set("registry", .serving)
            } catch where Task.isShuttingDownGracefully {
                // Asked to stop while still starting: not an error.
            }
        }
    }
}

/// What the built-in registry registers for the events subject at start-up:
/// - an empty subject gets ``AuditEventSchema/seedJSON`` as version 1;
/// - a subject whose latest version is ``AuditEventSchema/legacySeedJSON`` (the timestamp's
///   logical type on the field, where Avro ignores it) gets ``AuditEventSchema/seedJSON`` as its
///   next version: a compatible change (same binary layout), after which Confluent's
///   deserializers return a timestamp; records written with the old version still read;
/// - any other subject is left as it is (its schema is the operator's).
enum AuditEventSchemaMigration {
    static func apply(registry: SchemaRegistryService, subject: String, logger: Logger) async throws {
        let latest: AvroSchema? = try registry.read { state throws(SchemaRegistryError) in
            guard let last = (try? state.versionNumbers(subject: subject))?.last else { return nil }
            return try state.version(subject: subject, .number(last)).schema.schema
        }
        let legacy = try AvroSchema(parsing: AuditEventSchema.legacySeedJSON)
        guard latest == nil || latest == legacy else { return }
        let (id, version) = try await registry.register(subject: subject, schema: AuditEventSchema.seedJSON)
        logger.info(
            latest == nil
                ? "registered the AuditEvent schema"
                : "registered the AuditEvent schema with timestamp's logical type inside its type, as the subject's next version",
            metadata: ["subject": "\(subject)", "id": "\(id)", "version": "\(version)"]
        )
    }
}
