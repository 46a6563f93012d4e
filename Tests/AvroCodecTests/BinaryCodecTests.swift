import Testing

@testable import AvroCodec

@Suite("Binary encoding")
struct BinaryCodecTests {
    func schema(_ json: String) throws -> AvroSchema { try AvroSchema(parsing: json) }

    @Test("zig-zag varints from the specification")
    func varints() throws {
        let long = try schema(#""long""#)
        let cases: [(Int64, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (2, [0x04]), (-64, [0x7F]), (64, [0x80, 0x01]),
            (.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in cases {
            #expect(try long.encode(.long(value)) == bytes)
            #expect(try long.decodeExact(bytes) == .long(value))
        }
        // Overlong / overflowing varints are rejected.
        #expect(throws: AvroDecodingError.self) { try long.decodeExact([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]) }
        #expect(throws: AvroDecodingError.self) { try long.decodeExact([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]) }
        #expect(throws: AvroDecodingError.self) { try long.decodeExact([0x80]) }
        // An int outside 32 bits is rejected for type int.
        #expect(throws: AvroDecodingError.self) { try schema(#""int""#).decodeExact([0x80, 0x80, 0x80, 0x80, 0x10]) }
    }

    @Test("the specification's record example and string example")
    func specExamples() throws {
        let s = try schema(#""string""#)
        #expect(try s.encode(.string("foo")) == [0x06, 0x66, 0x6F, 0x6F])
        let test = try schema(#"{"type":"record","name":"test","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#)
        let bytes: [UInt8] = [0x36, 0x06, 0x66, 0x6F, 0x6F]
        #expect(try test.encode(.record(["a": .long(27), "b": .string("foo")])) == bytes)
        #expect(try test.decodeExact(bytes) == .record(["a": .long(27), "b": .string("foo")]))
        let array = try schema(#"{"type":"array","items":"long"}"#)
        #expect(try array.encode(.array([.long(3), .long(27)])) == [0x04, 0x06, 0x36, 0x00])
        let union = try schema(#"["null","string"]"#)
        #expect(try union.encode(.union(branch: 1, value: .string("a"))) == [0x02, 0x02, 0x61])
        #expect(try union.encode(.null) == [0x00])
        #expect(try union.encode(.string("a")) == [0x02, 0x02, 0x61])
    }

    @Test("blocks with negative counts and byte sizes decode, also when skipped")
    func negativeBlocks() throws {
        let array = try schema(#"{"type":"array","items":"long"}"#)
        // -2 items, 2 bytes, [3, 27], then 1 item [1], end
        let bytes: [UInt8] = [0x03, 0x04, 0x06, 0x36, 0x02, 0x02, 0x00]
        #expect(try array.decodeExact(bytes) == .array([.long(3), .long(27), .long(1)]))
        let map = try schema(#"{"type":"map","values":"int"}"#)
        #expect(try map.decodeExact([0x01, 0x06, 0x02, 0x6B, 0x54, 0x00]) == .map(["k": .int(42)]))
        // A writer field dropped by the reader is skipped using the block size.
        let writer = try schema(#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"long"}},{"name":"b","type":"boolean"}]}"#)
        let reader = try schema(#"{"type":"record","name":"R","fields":[{"name":"b","type":"boolean"}]}"#)
        #expect(try AvroResolution(writer: writer, reader: reader).decodeExact(bytes + [0x01]) == .record(["b": .boolean(true)]))
    }

    @Test("hostile lengths and counts fail without allocating")
    func hostileLengths() throws {
        let bytesSchema = try schema(#""bytes""#)
        // length 2^62
        #expect(throws: AvroDecodingError.self) { try bytesSchema.decodeExact([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]) }
        #expect(throws: AvroDecodingError.self) { try bytesSchema.decodeExact([0x01]) }  // negative length
        let longs = try schema(#"{"type":"array","items":"long"}"#)
        #expect(throws: AvroDecodingError.self) { try longs.decodeExact([0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) }
        let nulls = try schema(#"{"type":"array","items":"null"}"#)
        // 2^40 nulls encode in a few bytes: the zero-size budget stops them.
        let error = #expect(throws: AvroDecodingError.self) { try nulls.decodeExact([0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00]) }
        #expect(error?.message.contains("zero-size") == true)
        // Many blocks of zero-size items share one budget.
        var manyBlocks: [UInt8] = []
        for _ in 0..<200 { manyBlocks += [0x80, 0xDE, 0x01] }  // 14208 nulls each
        manyBlocks.append(0)
        #expect(throws: AvroDecodingError.self) { try nulls.decodeExact(manyBlocks) }
        // A small, legal array of nulls is fine.
        #expect(try nulls.decodeExact([0x06, 0x00]) == .array([.null, .null, .null]))
    }

    @Test("recursion depth is limited")
    func depthLimit() throws {
        let list = try schema(#"{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}"#)
        let deep = [UInt8](repeating: 0x02, count: 10_000) + [0x00]
        let error = #expect(throws: AvroDecodingError.self) { try list.decodeExact(deep) }
        #expect(error?.message.contains("nesting deeper") == true)
        let shallow = [UInt8](repeating: 0x02, count: 10) + [0x00]
        #expect(throws: Never.self) { try list.decodeExact(shallow) }
        #expect(throws: AvroDecodingError.self) { try list.decodeExact(shallow, options: AvroDecodingOptions(maxDepth: 5)) }
    }

    @Test("invalid UTF-8, bad booleans, enum and union indexes, trailing bytes")
    func invalidData() throws {
        let string = try schema(#""string""#)
        let e1 = #expect(throws: AvroDecodingError.self) { try string.decodeExact([0x04, 0xC3, 0x28]) }
        #expect(e1?.message.contains("UTF-8") == true)
        #expect(throws: AvroDecodingError.self) { try string.decodeExact([0x02, 0xFF]) }
        #expect(throws: AvroDecodingError.self) { try string.decodeExact([0x06, 0xED, 0xA0, 0x80]) }  // surrogate
        #expect(throws: AvroDecodingError.self) { try schema(#""boolean""#).decodeExact([0x02]) }
        #expect(throws: AvroDecodingError.self) { try schema(#"{"type":"enum","name":"E","symbols":["A"]}"#).decodeExact([0x02]) }
        #expect(throws: AvroDecodingError.self) { try schema(#"["null","int"]"#).decodeExact([0x04]) }
        #expect(throws: AvroDecodingError.self) { try schema(#"["null","int"]"#).decodeExact([0x01]) }
        let trailing = #expect(throws: AvroDecodingError.self) { try string.decodeExact([0x02, 0x61, 0x00]) }
        #expect(trailing?.message.contains("1 trailing bytes") == true)
        #expect(try string.decode([0x02, 0x61, 0x00]) == .string("a"))
        let prefix = try string.decodePrefix([0x02, 0x61, 0x00])
        #expect(prefix.bytesRead == 2)
        #expect(throws: AvroDecodingError.self) { try schema(#""double""#).decodeExact([0, 0, 0]) }
        #expect(throws: AvroDecodingError.self) { try schema(#"{"type":"fixed","name":"F","size":4}"#).decodeExact([1, 2]) }
    }

    @Test("decoding errors name the field")
    func decodingErrorPath() throws {
        let s = try AvroSchema(parsing: auditEventSchemaJSON)
        var w = AvroBinaryWriter()
        for _ in 0..<6 { w.writeString("x") }
        w.writeLong(5)
        w.bytes += [0x02, 0x02, 0x6B, 0x02, 0xFF, 0x00]  // metadata {"k": <invalid utf-8>}
        let error = #expect(throws: AvroDecodingError.self) { try s.decodeExact(w.bytes) }
        #expect(error?.path == #"metadata["k"]"#)
    }

    @Test("validation errors name the field and the rule")
    func validation() throws {
        let s = try AvroSchema(parsing: auditEventSchemaJSON)
        var event = validEvent()
        try s.validate(event)
        event = replacing(event, "tenant_id", with: .null)
        let e1 = #expect(throws: AvroValueError.self) { try s.validate(event) }
        #expect(e1?.description == "field tenant_id: expected string, got null")

        let badMap = replacing(validEvent(), "metadata", with: .map(["ip": .long(1)]))
        let e2 = #expect(throws: AvroValueError.self) { try s.validate(badMap) }
        #expect(e2?.description == #"field metadata["ip"]: expected string, got long"#)

        let missing = AvroValue.record(validEventFields().filter { $0.name != "actor_id" })
        let e3 = #expect(throws: AvroValueError.self) { try s.validate(missing) }
        #expect(e3?.path == "actor_id")
        #expect(e3?.message.contains("missing required field") == true)

        let extra = AvroValue.record(validEventFields() + [.init("region", .string("eu"))])
        let e4 = #expect(throws: AvroValueError.self) { try s.validate(extra) }
        #expect(e4?.description == #"field region: record com.worldtech.audit.AuditEvent has no field named "region""#)

        // metadata has a default, so it may be omitted.
        let noMetadata = AvroValue.record(validEventFields().filter { $0.name != "metadata" })
        #expect(try s.encode(noMetadata) == s.encode(replacing(validEvent(), "metadata", with: .map([:]))))

        let nested = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"n","type":"int"}]}}}]}"#)
        let e5 = #expect(throws: AvroValueError.self) {
            try nested.validate(.record(["items": .array([.record(["n": .int(1)]), .record(["n": .string("x")])])]))
        }
        #expect(e5?.description == "field items[1].n: expected int, got string")
        #expect(throws: AvroValueError.self) { try AvroSchema(parsing: #"{"type":"enum","name":"E","symbols":["A"]}"#).validate(.enumeration("B")) }
        #expect(throws: AvroValueError.self) { try AvroSchema(parsing: #"{"type":"fixed","name":"F","size":2}"#).validate(.fixed([1])) }
        #expect(throws: AvroValueError.self) { try AvroSchema(parsing: #"["null","int"]"#).validate(.union(branch: 2, value: .null)) }
        let e6 = #expect(throws: AvroValueError.self) { try AvroSchema(parsing: #"["null","int"]"#).validate(.string("x")) }
        #expect(e6?.message == "expected one of [null, int], got string")
    }

    @Test("AuditEvent end to end: generic encode, fast-path writer, decode, Confluent framing")
    func auditEventEndToEnd() throws {
        let schema = try AvroSchema(parsing: auditEventSchemaJSON)
        let event = validEvent()
        let generic = try schema.encode(event)

        var fast = AvroBinaryWriter(appendingTo: [])
        ConfluentWireFormat.appendHeader(schemaID: 42, to: &fast.bytes)
        for field in ["0190b6e6-6f3c-7c4e-9a57-2b5f0c1d9e8a", "tenant-42", "user-7", "document.read", "doc/123", "read"] {
            fast.writeString(field)
        }
        fast.writeLong(1_719_835_200_123)
        fast.writeStringMap(["ip": "10.0.0.1", "user_agent": "curl/8.0", "a": "é"])
        #expect(Array(fast.bytes.dropFirst(5)) == generic)

        let framed = ConfluentWireFormat.encode(schemaID: 42, body: generic)
        #expect(framed == fast.bytes)
        #expect(Array(framed.prefix(5)) == [0, 0, 0, 0, 42])
        let (id, body) = try ConfluentWireFormat.decode(framed)
        #expect(id == 42)
        let decoded = try schema.decodeExact(body)
        #expect(decoded == event)
        #expect(decoded[field: "timestamp"] == .long(1_719_835_200_123))
    }

    @Test("map encoding is deterministic (keys sorted by UTF-8 bytes)")
    func deterministicMaps() throws {
        let s = try AvroSchema(parsing: #"{"type":"map","values":"string"}"#)
        let map: [String: AvroValue] = Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", .string("\($0)")) })
        let first = try s.encode(.map(map))
        let second = try s.encode(.map(Dictionary(uniqueKeysWithValues: map.reversed())))
        #expect(first == second)
    }

    @Test("Confluent wire format errors")
    func wireFormat() throws {
        let e1 = #expect(throws: ConfluentWireFormatError.self) { try ConfluentWireFormat.decode([0, 0, 0]) }
        #expect(e1?.message.contains("fewer than the 5-byte") == true)
        let e2 = #expect(throws: ConfluentWireFormatError.self) { try ConfluentWireFormat.decode([1, 0, 0, 0, 1, 2]) }
        #expect(e2?.message.contains("not the Confluent magic byte") == true)
        let (id, body) = try ConfluentWireFormat.decode([0, 0x7F, 0xFF, 0xFF, 0xFF])
        #expect(id == .max)
        #expect(body.isEmpty)
        let (negative, _) = try ConfluentWireFormat.decode(ConfluentWireFormat.encode(schemaID: -2, body: [1]))
        #expect(negative == -2)
    }

    @Test("writer helpers match the generic encoder for every primitive")
    func writerPrimitives() throws {
        var w = AvroBinaryWriter()
        w.writeBoolean(true)
        w.writeInt(-3)
        w.writeFloat(1.5)
        w.writeDouble(-2.25)
        w.writeBytes([1, 2])
        w.writeFixed([9])
        let s = try AvroSchema(parsing: #"{"type":"record","name":"P","fields":[{"name":"a","type":"boolean"},{"name":"b","type":"int"},{"name":"c","type":"float"},{"name":"d","type":"double"},{"name":"e","type":"bytes"},{"name":"f","type":{"type":"fixed","name":"One","size":1}}]}"#)
        let v = AvroValue.record(["a": .boolean(true), "b": .int(-3), "c": .float(1.5), "d": .double(-2.25), "e": .bytes([1, 2]), "f": .fixed([9])])
        #expect(try s.encode(v) == w.bytes)
        #expect(try s.decodeExact(w.bytes) == v)
    }
}

func validEventFields() -> [AvroValue.Field] {
    [
        .init("event_id", .string("0190b6e6-6f3c-7c4e-9a57-2b5f0c1d9e8a")),
        .init("tenant_id", .string("tenant-42")),
        .init("actor_id", .string("user-7")),
        .init("event_type", .string("document.read")),
        .init("resource", .string("doc/123")),
        .init("action", .string("read")),
        .init("timestamp", .long(1_719_835_200_123)),
        .init("metadata", .map(["ip": .string("10.0.0.1"), "user_agent": .string("curl/8.0"), "a": .string("é")])),
    ]
}

func validEvent() -> AvroValue { .record(validEventFields()) }

func replacing(_ record: AvroValue, _ name: String, with value: AvroValue) -> AvroValue {
    guard case .record(let fields) = record else { return record }
    return .record(fields.map { $0.name == name ? .init(name, value) : $0 })
}
