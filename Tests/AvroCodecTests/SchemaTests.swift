import Testing

@testable import AvroCodec

let auditEventSchemaJSON = """
    { "type": "record", "name": "AuditEvent", "namespace": "com.worldtech.audit", "fields": [ { "name": "event_id", "type": "string" }, { "name": "tenant_id", "type": "string" }, { "name": "actor_id", "type": "string" }, { "name": "event_type", "type": "string" }, { "name": "resource", "type": "string" }, { "name": "action", "type": "string" }, { "name": "timestamp", "type": "long", "logicalType": "timestamp-millis" }, { "name": "metadata", "type": { "type": "map", "values": "string" }, "default": {} } ]}
    """

@Suite("Schema parsing")
struct SchemaTests {
    @Test("the seed's AuditEvent schema parses; field-level logicalType is just an attribute")
    func auditEvent() throws {
        let schema = try AvroSchema(parsing: auditEventSchemaJSON)
        guard case .record(let record) = schema.rootNode.kind else { Issue.record("not a record"); return }
        #expect(record.fullName == "com.worldtech.audit.AuditEvent")
        #expect(record.fields.map(\.name) == ["event_id", "tenant_id", "actor_id", "event_type", "resource", "action", "timestamp", "metadata"])
        let timestamp = schema.nodes[record.fields[6].type]
        #expect(timestamp.kind == .long)
        #expect(timestamp.logicalType == nil)
        #expect(record.fields[7].defaultValue == .map([:]))
        #expect(schema.canonicalForm == #"{"name":"com.worldtech.audit.AuditEvent","type":"record","fields":[{"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},{"name":"actor_id","type":"string"},{"name":"event_type","type":"string"},{"name":"resource","type":"string"},{"name":"action","type":"string"},{"name":"timestamp","type":"long"},{"name":"metadata","type":{"type":"map","values":"string"}}]}"#)
    }

    @Test("logical types: recognised on the right underlying type, ignored otherwise")
    func logicalTypes() throws {
        func logical(_ json: String) throws -> AvroLogicalType? { try AvroSchema(parsing: json).rootNode.logicalType }
        #expect(try logical(#"{"type":"long","logicalType":"timestamp-millis"}"#) == .timestampMillis)
        #expect(try logical(#"{"type":"long","logicalType":"timestamp-micros"}"#) == .timestampMicros)
        #expect(try logical(#"{"type":"int","logicalType":"date"}"#) == .date)
        #expect(try logical(#"{"type":"int","logicalType":"time-millis"}"#) == .timeMillis)
        #expect(try logical(#"{"type":"long","logicalType":"time-micros"}"#) == .timeMicros)
        #expect(try logical(#"{"type":"string","logicalType":"uuid"}"#) == .uuid)
        #expect(try logical(#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#) == .decimal(precision: 10, scale: 2))
        #expect(try logical(#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18}"#) == .decimal(precision: 18, scale: 0))
        // invalid or unknown: the underlying type is used
        #expect(try logical(#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":19}"#) == nil)
        #expect(try logical(#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":3}"#) == nil)
        #expect(try logical(#"{"type":"int","logicalType":"timestamp-millis"}"#) == nil)
        #expect(try logical(#"{"type":"string","logicalType":"made-up"}"#) == nil)
        #expect(try AvroSchema(parsing: #"{"type":"string","logicalType":"made-up"}"#).rootNode.kind == .string)
    }

    @Test("namespaces, full names, references and recursion")
    func names() throws {
        let schema = try AvroSchema(parsing: """
            {"type":"record","name":"Outer","namespace":"a.b","fields":[
              {"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},
              {"name":"e2","type":"E"},
              {"name":"e3","type":"a.b.E"},
              {"name":"f","type":{"type":"fixed","name":"c.F","size":2}},
              {"name":"f2","type":"c.F"},
              {"name":"g","type":{"type":"record","name":"G","namespace":"","fields":[]}},
              {"name":"self","type":["null","Outer"]}
            ]}
            """)
        #expect(Set(schema.namedTypes.keys) == ["a.b.Outer", "a.b.E", "c.F", "G"])
        guard case .record(let r) = schema.rootNode.kind else { return }
        #expect(r.fields[0].type == r.fields[1].type)
        #expect(r.fields[0].type == r.fields[2].type)
        #expect(r.fields[3].type == r.fields[4].type)
        guard case .union(let branches) = schema.nodes[r.fields[6].type].kind else { Issue.record("not a union"); return }
        #expect(branches[1] == schema.root)
        #expect(schema.canonicalForm.contains(#"{"name":"self","type":["null","a.b.Outer"]}"#))
    }

    @Test("field defaults are validated against the field type", arguments: [
        (#"{"name":"a","type":"int","default":"x"}"#, "$.fields[0].default"),
        (#"{"name":"a","type":"int","default":2147483648}"#, "$.fields[0].default"),
        (#"{"name":"a","type":"int","default":1.5}"#, "$.fields[0].default"),
        (#"{"name":"a","type":"string","default":null}"#, "$.fields[0].default"),
        (#"{"name":"a","type":["null","string"],"default":5}"#, "$.fields[0].default"),
        (#"{"name":"a","type":{"type":"fixed","name":"F","size":2},"default":"abc"}"#, "$.fields[0].default"),
        (#"{"name":"a","type":{"type":"enum","name":"E","symbols":["A"]},"default":"B"}"#, "$.fields[0].default"),
        (#"{"name":"a","type":{"type":"map","values":"int"},"default":{"k":"v"}}"#, "$.fields[0].default.k"),
        (#"{"name":"a","type":{"type":"array","items":"long"},"default":[1,"x"]}"#, "$.fields[0].default[1]"),
    ])
    func invalidDefaults(field: String, path: String) {
        let json = #"{"type":"record","name":"R","fields":["# + field + "]}"
        let error = #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: json) }
        #expect(error?.path == path, "\(error?.description ?? "")")
    }

    @Test("valid defaults of every kind")
    func validDefaults() throws {
        let schema = try AvroSchema(parsing: """
            {"type":"record","name":"R","fields":[
              {"name":"a","type":"int","default":-5},
              {"name":"b","type":"long","default":9223372036854775807},
              {"name":"c","type":"double","default":"NaN"},
              {"name":"d","type":"bytes","default":"\\u00ff\\u0001"},
              {"name":"e","type":["null","string"],"default":null},
              {"name":"f","type":["string","null"],"default":"x"},
              {"name":"g","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int","default":1},{"name":"y","type":"string"}]},"default":{"y":"why"}},
              {"name":"h","type":"float","default":1}
            ]}
            """)
        guard case .record(let r) = schema.rootNode.kind else { return }
        #expect(r.fields[0].defaultValue == .int(-5))
        #expect(r.fields[1].defaultValue == .long(.max))
        if case .double(let d) = r.fields[2].defaultValue { #expect(d.isNaN) } else { Issue.record("c") }
        #expect(r.fields[3].defaultValue == .bytes([0xFF, 0x01]))
        #expect(r.fields[4].defaultValue == .union(branch: 0, value: .null))
        #expect(r.fields[5].defaultValue == .union(branch: 0, value: .string("x")))
        #expect(r.fields[6].defaultValue == .record([.init("x", .int(1)), .init("y", .string("why"))]))
        #expect(r.fields[7].defaultValue == .float(1))
    }

    @Test("rule violations name the JSON path and the rule", arguments: [
        (#"["null",["int"]]"#, "$[1]", "union may not directly contain another union"),
        (#"["string","int","string"]"#, "$[2]", "duplicates unnamed type \"string\""),
        (#"[{"type":"array","items":"int"},{"type":"array","items":"long"}]"#, "$[1]", "duplicates unnamed type \"array\""),
        (#"[{"type":"fixed","name":"F","size":1},"F"]"#, "$[1]", "duplicates named type \"F\""),
        (#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#, "$.fields[0].type", "unknown type \"Nope\""),
        (#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#, "$.fields[1].name", "already has a field named"),
        (#"{"type":"record","name":"1R","fields":[]}"#, "$.name", "not a valid Avro name"),
        (#"{"type":"record","name":"R"}"#, "$", "needs a \"fields\" array"),
        (#"{"type":"enum","name":"E","symbols":["A","A"]}"#, "$.symbols[1]", "repeats the symbol"),
        (#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#, "$.default", "must be one of the symbols"),
        (#"{"type":"fixed","name":"F","size":-1}"#, "$.size", "non-negative integer"),
        (#"{"type":"array"}"#, "$", "needs an \"items\""),
        (#"{"type":"map","values":"strin"}"#, "$.values", "unknown type \"strin\""),
        (#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}"#, "$.fields[0].type.name", "already defined"),
        (#"{"type":"record","name":"int","fields":[]}"#, "$.name", "primitive type name"),
        (#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]}"#, "$.fields[0].order", "\"order\""),
        (#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#, "$.fields[0]", "needs a \"type\""),
        (#"{"type": 5}"#, "$.type", "must be a string"),
        (#"{"type":"record","name":"R","fields":[],}"#, "$", "invalid JSON"),
        (#"42"#, "$", "must be a type name string"),
    ])
    func ruleViolations(json: String, path: String, fragment: String) {
        let error = #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: json) }
        #expect(error?.path == path, "\(error?.description ?? "")")
        #expect(error?.message.contains(fragment) == true, "\(error?.description ?? "")")
    }

    @Test("deeply nested JSON is rejected without crashing")
    func deepJSON() {
        let json = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: json) }
    }

    @Test("Rabin fingerprint of the spec's empty input and of \"int\"")
    func fingerprints() throws {
        #expect(AvroCanonicalForm.rabinFingerprint([]) == 0xC15D_213A_A4D7_A795)
        // Known value from the Avro test suite: "int" -> 0x7275d51a3f395c8f (as Java prints it).
        #expect(try AvroSchema(parsing: #""int""#).fingerprint == 0x7275_D51A_3F39_5C8F)
        // SHA-256 test vector ("abc").
        #expect(hexString(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hexString(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("schemas are Hashable by structure")
    func hashable() throws {
        let a = try AvroSchema(parsing: #"{"type":"array","items":"int"}"#)
        let b = try AvroSchema(parsing: #"{ "items" : "int", "type" : "array" }"#)
        let c = try AvroSchema(parsing: #"{"type":"array","items":"long"}"#)
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }
}
