import Foundation
import Testing

@testable import AvroCodec

@Suite("Compatibility levels and resolution details")
struct CompatibilityTests {
    let v1 = try! AvroSchema(parsing: auditEventSchemaJSON)

    func withField(_ field: String) throws -> AvroSchema {
        try AvroSchema(parsing: auditEventSchemaJSON.replacingOccurrences(of: #""default": {} } ]}"#, with: #""default": {} }, \#(field) ]}"#))
    }

    @Test("adding a field without a default: BACKWARD breaks, FORWARD holds (Confluent semantics)")
    func addRequiredField() throws {
        let v2 = try withField(#"{ "name": "region", "type": "string" }"#)
        let backward = AvroCompatibility.check(candidate: v2, previous: [v1], level: .backward)
        #expect(backward.count == 1)
        #expect(backward.first?.kind == .readerFieldMissingDefaultValue)
        #expect(backward.first?.fieldPath == "region")
        #expect(backward.first?.location == "/fields/8")
        #expect(backward.first?.message == "reader field `region` has no default and is missing from the writer")
        #expect(backward.first?.direction == .newReadsPrevious)
        #expect(AvroCompatibility.check(candidate: v2, previous: [v1], level: .forward).isEmpty)
        #expect(!AvroCompatibility.check(candidate: v2, previous: [v1], level: .full).isEmpty)
        #expect(AvroCompatibility.check(candidate: v2, previous: [v1], level: .none).isEmpty)
    }

    @Test("removing a field without a default breaks FORWARD")
    func removeRequiredField() throws {
        let v2 = try AvroSchema(parsing: auditEventSchemaJSON.replacingOccurrences(of: #"{ "name": "actor_id", "type": "string" }, "#, with: ""))
        #expect(AvroCompatibility.check(candidate: v2, previous: [v1], level: .backward).isEmpty)
        let forward = AvroCompatibility.check(candidate: v2, previous: [v1], level: .forward)
        #expect(forward.map(\.kind) == [.readerFieldMissingDefaultValue])
        #expect(forward.first?.fieldPath == "actor_id")
        #expect(forward.first?.direction == .previousReadsNew)
    }

    @Test("transitive levels check every previous version, plain levels only the latest")
    func transitive() throws {
        // v1 -> v2 adds region with a default -> v3 drops the default.
        let v2 = try withField(#"{ "name": "region", "type": "string", "default": "eu" }"#)
        let v3 = try withField(#"{ "name": "region", "type": "string" }"#)
        // v3 reads v2 data (region present) but not v1 data (no region, no default).
        #expect(AvroCompatibility.check(candidate: v3, previous: [v1, v2], level: .backward).isEmpty)
        let transitive = AvroCompatibility.check(candidate: v3, previous: [v1, v2], level: .backwardTransitive)
        #expect(transitive.count == 1)
        #expect(transitive.first?.previousIndex == 0)
        #expect(AvroCompatibility.check(candidate: v3, previous: [v1, v2], level: .forwardTransitive).isEmpty)
        #expect(AvroCompatibility.check(candidate: v3, previous: [v1, v2], level: .full).isEmpty)
        #expect(AvroCompatibility.check(candidate: v3, previous: [v1, v2], level: .fullTransitive).count == 1)
        #expect(AvroCompatibility.check(candidate: v3, previous: [], level: .fullTransitive).isEmpty)
    }

    @Test("issue descriptions are readable and nested field paths are named")
    func explanations() throws {
        let reader = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"address","type":{"type":"record","name":"A","fields":[{"name":"zip","type":"int"}]}},{"name":"tags","type":{"type":"array","items":{"type":"enum","name":"T","symbols":["A"]}}}]}"#)
        let writer = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"address","type":{"type":"record","name":"A","fields":[{"name":"zip","type":"string"}]}},{"name":"tags","type":{"type":"array","items":{"type":"enum","name":"T","symbols":["A","B"]}}}]}"#)
        let issues = AvroCompatibility.check(reader: reader, writer: writer)
        #expect(issues.count == 2)
        #expect(issues[0].description == "field `address.zip`: reader type int cannot read writer type string [TYPE_MISMATCH at /fields/0/type/fields/0/type]")
        #expect(issues[1].kind == .missingEnumSymbols)
        #expect(issues[1].fieldPath == "tags[]")
        #expect(issues[1].message.contains("lacks writer symbols B"))
        #expect(AvroCompatibilityLevel(rawValue: "FULL_TRANSITIVE") == .fullTransitive)
    }

    @Test("resolution: reader defaults fill missing writer fields (what avro-c gets wrong)")
    func readerDefaults() throws {
        let v2 = try withField(#"{ "name": "region", "type": "string", "default": "eu-west-1" }"#)
        let bytes = try v1.encode(validEvent())
        let value = try AvroSchema.decode(bytes, writer: v1, reader: v2)
        #expect(value[field: "region"] == .string("eu-west-1"))
        #expect(value[field: "tenant_id"] == .string("tenant-42"))
        let noDefault = try withField(#"{ "name": "region", "type": "string" }"#)
        let error = #expect(throws: AvroDecodingError.self) { try AvroSchema.decode(bytes, writer: v1, reader: noDefault) }
        #expect(error?.message.contains("reader field `region`") == true)
    }

    @Test("resolution: int and long promoted to float round to float32 (as Java does)")
    func floatPromotion() throws {
        let float = try AvroSchema(parsing: #""float""#)
        let int = try AvroSchema(parsing: #""int""#)
        let bytes = try int.encode(.int(16_777_217))
        #expect(try AvroSchema.decode(bytes, writer: int, reader: float) == .float(16_777_216))
    }

    @Test("resolution: a reader union picks the exact branch before a promotion, names by full name first")
    func unionBranchChoice() throws {
        let reader = try AvroSchema(parsing: #"["null","double","long"]"#)
        let writer = try AvroSchema(parsing: #""long""#)
        #expect(try AvroSchema.decode([0x04], writer: writer, reader: reader) == .union(branch: 2, value: .long(2)))
        let intWriter = try AvroSchema(parsing: #""int""#)
        #expect(try AvroSchema.decode([0x04], writer: intWriter, reader: reader) == .union(branch: 1, value: .double(2)))
        let twoRecords = try AvroSchema(parsing: #"[{"type":"record","name":"a.X","fields":[]},{"type":"record","name":"b.X","fields":[{"name":"n","type":"int","default":1}]}]"#)
        let bWriter = try AvroSchema(parsing: #"{"type":"record","name":"b.X","fields":[]}"#)
        #expect(try AvroSchema.decode([UInt8](), writer: bWriter, reader: twoRecords) == .union(branch: 1, value: .record(["n": .int(1)])))
    }
}
