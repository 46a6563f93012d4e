import AuditEvents
import AvroCodec
import Testing

@Suite("AuditEvent <-> Avro")
struct AuditEventSchemaTests {
    let event = AuditEvent(
        eventID: "e-1", tenantID: "acme", actorID: "alice", eventType: "auth",
        resource: "session", action: "login", timestampMilliseconds: 1_760_000_000_000,
        metadata: ["ip": "10.0.0.1", "ua": "curl"]
    )

    @Test func roundTripThroughTheSeedSchema() throws {
        let bytes = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
        let value = try AuditEventSchema.seed.decodeExact(bytes)
        #expect(AuditEventSchema.event(from: value) == event)
    }

    @Test func newerWriterVersionResolvesIntoTheSeedReader() throws {
        // Version 2 adds an optional field with a default: old readers (the sink) still read it.
        let v2 = try AvroSchema(parsing: """
            {"type":"record","name":"AuditEvent","namespace":"com.worldtech.audit","fields":[
            {"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},
            {"name":"actor_id","type":"string"},{"name":"event_type","type":"string"},
            {"name":"resource","type":"string"},{"name":"action","type":"string"},
            {"name":"timestamp","type":"long"},
            {"name":"metadata","type":{"type":"map","values":"string"},"default":{}},
            {"name":"region","type":"string","default":"eu"}]}
            """)
        let bytes = try AuditEventSchema.encode(event, with: v2).get()
        let resolved = try AvroResolution(writer: v2, reader: AuditEventSchema.seed).decodeExact(bytes)
        #expect(AuditEventSchema.event(from: resolved) == event)
    }

    @Test func fieldMissingFromTheRegisteredSchemaIsRefusedWhenSet() throws {
        let noMetadata = try AvroSchema(parsing: """
            {"type":"record","name":"AuditEvent","fields":[
            {"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},
            {"name":"actor_id","type":"string"},{"name":"event_type","type":"string"},
            {"name":"resource","type":"string"},{"name":"action","type":"string"},
            {"name":"timestamp","type":"long"}]}
            """)
        let refused = try #require(throws: FieldViolations.self) { try AuditEventSchema.encode(event, with: noMetadata).get() }
        #expect(refused.violations.map(\.field) == ["metadata"])
        #expect(refused.violations.map(\.rule) == ["schema"])
        var plain = event
        plain.metadata = [:]
        #expect(throws: Never.self) { try AuditEventSchema.encode(plain, with: noMetadata).get() }
    }

    @Test func typeMismatchWithTheRegisteredSchemaNamesTheField() throws {
        let intActor = try AvroSchema(parsing: """
            {"type":"record","name":"AuditEvent","fields":[
            {"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},
            {"name":"actor_id","type":"long"},{"name":"event_type","type":"string"},
            {"name":"resource","type":"string"},{"name":"action","type":"string"},
            {"name":"timestamp","type":"long"},{"name":"metadata","type":{"type":"map","values":"string"}}]}
            """)
        let refused = try #require(throws: FieldViolations.self) { try AuditEventSchema.encode(event, with: intActor).get() }
        #expect(refused.violations.first?.field == "actor_id")
        #expect(refused.violations.first?.rule == "schema")
    }
}
