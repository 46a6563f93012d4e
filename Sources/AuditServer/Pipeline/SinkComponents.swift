import AuditEvents
import AuditPipeProto
import AuditConsumer
import AuditSink
import AuditStore
import AvroCodec
import ClickHouseHTTP
import Logging
import SchemaRegistry
import ServiceLifecycle
import SwiftProtobuf

/// The sink's view of the registry: writer schemas by id, with "no such id" told apart from
/// "registry unreachable" (the first dead-letters the record, the second retries it).
struct RegistryWriterSchemas: WriterSchemaLookup {
    let source: any SchemaSource

    func schema(id: Int32) async throws -> AvroSchema {
        do {
            return try await source.schema(id: id)
        } catch where error.kind == .schemaNotFound {
            throw WriterSchemaNotFound(id: id)
        }
    }
}

/// Prepares ClickHouse (database and migrations), retrying with backoff while it is
/// unreachable, then runs the services that write to it. Ingest does not wait for this: events
/// stay durable in Kafka and are written once ClickHouse is back.
struct ClickHouseWriters: Service {
    let bootstrap: ClickHouseClient
    let database: String
    let store: ClickHouseEventStore
    let writers: [any Service]
    let health: HealthStatusRegistry
    let logger: Logger

    func run() async throws {
        var backoff = Duration.milliseconds(200)
        while true {
            do {
                try await bootstrap.execute("CREATE DATABASE IF NOT EXISTS {database:Identifier}", parameters: ["database": .string(database)])
                let applied = try await store.migrate()
                if !applied.isEmpty { logger.info("ClickHouse migrations applied", metadata: ["versions": "\(applied)"]) }
                break
            } catch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
                logger.warning("ClickHouse not ready for the sink; retrying", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(10))
            }
        }
        try await withThrowingDiscardingTaskGroup { group in
            for writer in writers {
                group.addTask { try await writer.run() }
            }
        }
    }
}
