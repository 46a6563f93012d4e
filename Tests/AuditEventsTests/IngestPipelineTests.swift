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

    @Test("a batch: one outcome per event in order, invalid ones never appended, records framed and keyed as one by one")
    func batchKeepsOrderAndFraming() async throws {
        let log = RecordingLog()
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: .init(id: 7, schema: AuditEventSchema.seed)), log: log)
        var second = event
        second.eventID = "e-2"
        second.tenantID = ""
        var third = event
        third.eventID = "e-3"
        third.tenantID = "globex"
        third.metadata = ["b": "2", "a": "1", "ü": "3"]
        // Submitted: the valid events are in the log before the outcomes are awaited.
        let pending = await pipeline.submit(batch: [event, second, third])
        let outcomes = await pending.outcomes()
        #expect(outcomes.count == 3)
        guard case .durable = outcomes[0], case .invalid(let violations) = outcomes[1], case .durable = outcomes[2] else {
            Issue.record("expected durable, invalid, durable: \(outcomes)")
            return
        }
        #expect(violations.map(\.field) == ["tenant_id"])
        let records = log.records.withLock { $0 }.sorted { $0.headers[0].1.lexicographicallyPrecedes($1.headers[0].1) }
        #expect(records.count == 2)
        for (record, expected) in zip(records, [event, third]) {
            #expect(record.key == Array(expected.tenantID.utf8))
            #expect(record.headers.map(\.0) == ["event_id"] && record.headers[0].1 == Array(expected.eventID.utf8))
            let (schemaID, body) = try ConfluentWireFormat.decode(record.value)
            #expect(schemaID == 7)
            #expect(Array(body) == (try AuditEventSchema.encode(expected, with: AuditEventSchema.seed).get()))
        }
    }

    @Test("a schema without the seed's layout encodes through the generic encoder")
    func batchWithAnotherSchemaVersion() async throws {
        let versionTwo = try AuditEventSchemaTests.versionTwo()
        let log = RecordingLog()
        let pipeline = IngestPipeline(schemas: FixedSchema(schema: .init(id: 9, schema: versionTwo)), log: log)
        let outcomes = await pipeline.ingest(batch: [event, event])
        #expect(outcomes.allSatisfy { if case .durable = $0 { true } else { false } })
        for record in log.records.withLock({ $0 }) {
            let (_, body) = try ConfluentWireFormat.decode(record.value)
            #expect(Array(body) == (try AuditEventSchema.encode(event, with: versionTwo).get()))
        }
    }

    @Test("an event over the size limit is refused inside a batch without disturbing the others")
    func oversizedEventInABatch() async throws {
        var limits = EventValidator.Limits()
        limits.maxEncodedBytes = 200
        let log = RecordingLog()
        let pipeline = IngestPipeline(validator: EventValidator(limits: limits), schemas: FixedSchema(schema: .init(id: 7, schema: AuditEventSchema.seed)), log: log)
        var big = event
        big.eventID = "e-big"
        big.metadata = ["note": String(repeating: "x", count: 300)]
        var after = event
        after.eventID = "e-after"
        let outcomes = await pipeline.ingest(batch: [big, after])
        guard case .invalid(let violations) = outcomes[0], case .durable = outcomes[1] else {
            Issue.record("expected invalid, durable: \(outcomes)")
            return
        }
        #expect(violations.map(\.rule) == ["max_size"])
        let record = try #require(log.records.withLock { $0.first })
        #expect(record.headers[0].1 == Array("e-after".utf8))
        #expect(record.key == Array(after.tenantID.utf8))
        let (_, body) = try ConfluentWireFormat.decode(record.value)
        #expect(try AuditEventSchema.decodeSeedRecord(body) == after)
    }

    @Test("a batch with no valid event, a batch without schema and an empty batch answer without the log")
    func noAppendPaths() async {
        var bad = event
        bad.tenantID = ""
        for (schema, events) in [(EventSchema?.none, [event]), (EventSchema(id: 7, schema: AuditEventSchema.seed), [bad]), (nil, [])] {
            let log = RecordingLog()
            let pipeline = IngestPipeline(schemas: FixedSchema(schema: schema), log: log)
            let outcomes = await pipeline.ingest(batch: events)
            #expect(outcomes.count == events.count)
            #expect(!outcomes.contains { if case .durable = $0 { true } else { false } })
            #expect(log.records.withLock { $0.isEmpty })
        }
    }
}
