import AuditEvents
import AuditIngest
import AvroCodec
import Synchronization
import Testing

/// Logic of the ingest pipeline with in-memory stand-ins for the registry and Kafka; the real
/// services are exercised by the integration tests of AuditServerTests.
@Suite("Ingest pipeline logic")
struct IngestPipelineTests {
    struct FixedSchema: EventSchemaSource {
        var schema: EventSchema?
        func currentSchema() async throws -> EventSchema {
            guard let schema else { throw Unreachable() }
            return schema
        }
    }
    struct Unreachable: Error, CustomStringConvertible { var description: String { "registry unreachable" } }

    final class RecordingLog: DurableEventLog {
        let records = Mutex<[EventRecord]>([])
        let fail: Bool
        init(fail: Bool = false) { self.fail = fail }
        func append(_ record: EventRecord) async throws -> RecordPosition {
            if fail { throw Unreachable() }
            return records.withLock { $0.append(record); return RecordPosition(partition: 0, offset: Int64($0.count - 1)) }
        }
    }

    let event = AuditEvent(
        eventID: "e-1", tenantID: "acme", actorID: "alice", eventType: "auth",
        resource: "session", action: "login", timestampMilliseconds: 1_700_000_000_000
    )

    @Test func durableEventIsFramedAndKeyedByTenant() async throws {
        let log = RecordingLog()
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: .init(id: 7, schema: AuditEventSchema.seed)), log: log)
        let outcome = await pipeline.ingest(event)
        #expect(outcome == .durable(RecordPosition(partition: 0, offset: 0)))
        let record = try #require(log.records.withLock { $0.first })
        #expect(record.key == Array("acme".utf8))
        let (schemaID, body) = try ConfluentWireFormat.decode(record.value)
        #expect(schemaID == 7)
        #expect(AuditEventSchema.event(from: try AuditEventSchema.seed.decodeExact(body)) == event)
    }

    @Test func invalidEventIsNeverAppended() async {
        let log = RecordingLog()
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: .init(id: 7, schema: AuditEventSchema.seed)), log: log)
        var bad = event
        bad.tenantID = ""
        guard case .invalid(let violations) = await pipeline.ingest(bad) else {
            Issue.record("expected invalid")
            return
        }
        #expect(violations.map(\.field) == ["tenant_id"])
        #expect(log.records.withLock { $0.isEmpty })
    }

    @Test func noSchemaFailsClosed() async {
        let log = RecordingLog()
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: nil), log: log)
        guard case .unavailable(let reason) = await pipeline.ingest(event) else {
            Issue.record("expected unavailable")
            return
        }
        #expect(reason.contains("fail closed"))
        #expect(log.records.withLock { $0.isEmpty })
    }

    @Test func kafkaFailureIsUnavailableNotDurable() async {
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: .init(id: 7, schema: AuditEventSchema.seed)), log: RecordingLog(fail: true))
        guard case .unavailable = await pipeline.ingest(event) else {
            Issue.record("expected unavailable")
            return
        }
    }
}
