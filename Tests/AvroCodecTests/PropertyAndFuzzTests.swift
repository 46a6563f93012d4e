import Testing

@testable import AvroCodec

@Suite("Property and fuzz tests")
struct PropertyAndFuzzTests {
    @Test("random schemas and values round-trip; canonical form is a fixpoint; identity resolution is lossless", arguments: [1, 2, 3, 4] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var generator = RandomSchemaGenerator(seed: seed)
        for _ in 0..<150 {
            let (json, schema) = try generator.schema()
            let reparsed = try AvroSchema(parsing: schema.canonicalForm)
            #expect(reparsed.canonicalForm == schema.canonicalForm, "\(json)")
            let identity = AvroResolution(writer: schema, reader: schema)
            for _ in 0..<5 {
                let value = generator.value(for: schema)
                let bytes = try schema.encode(value)
                let decoded = try schema.decodeExact(bytes)
                #expect(same(decoded, value), "\(json): \(value) -> \(decoded)")
                #expect(try reparsed.encode(decoded) == bytes)
                let resolved = try identity.decodeExact(bytes)
                #expect(same(resolved, value), "identity resolution of \(json)")
                // every strict prefix is an error, never a crash
                if bytes.count > 0 {
                    let cut = Int.random(in: 0..<bytes.count, using: &generator.rng)
                    _ = try? schema.decodeExact(bytes[..<cut])
                }
            }
            #expect(AvroCompatibility.check(reader: schema, writer: schema).isEmpty, "a schema must be compatible with itself: \(json)")
        }
    }

    @Test("random and mutated bytes never crash the decoder or the resolver")
    func fuzz() throws {
        var generator = RandomSchemaGenerator(seed: 0xF022)
        var decodedCount = 0
        var errorCount = 0
        var schemas: [AvroSchema] = [try AvroSchema(parsing: auditEventSchemaJSON)]
        for _ in 0..<60 { schemas.append(try generator.schema().1) }
        for schema in schemas {
            let other = schemas.randomElement(using: &generator.rng)!
            let resolution = AvroResolution(writer: schema, reader: other)
            for round in 0..<100 {
                var bytes: [UInt8]
                if round % 2 == 0 {
                    bytes = generator.randomBytes(Int.random(in: 0...64, using: &generator.rng))
                } else {
                    bytes = try schema.encode(generator.value(for: schema))
                    for _ in 0...Int.random(in: 0...3, using: &generator.rng) where !bytes.isEmpty {
                        let i = Int.random(in: 0..<bytes.count, using: &generator.rng)
                        switch Int.random(in: 0..<4, using: &generator.rng) {
                        case 0: bytes[i] = UInt8.random(in: 0 ... .max, using: &generator.rng)
                        case 1: bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &generator.rng)
                        case 2: bytes.remove(at: i)
                        default: bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: i)
                        }
                    }
                }
                do {
                    let value = try schema.decodeExact(bytes)
                    decodedCount += 1
                    // Whatever decodes must be a valid value of the schema.
                    try schema.validate(value)
                } catch let error as AvroDecodingError {
                    errorCount += 1
                    #expect(error.offset >= 0 && error.offset <= bytes.count)
                }
                _ = try? resolution.decodeExact(bytes)
            }
        }
        #expect(decodedCount + errorCount == schemas.count * 100)
        #expect(errorCount > 0)
        #expect(decodedCount > 0)
    }
}
