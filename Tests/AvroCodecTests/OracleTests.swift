import AuditPipeTestSupport
import Testing

@testable import AvroCodec

/// Golden vectors and verdicts produced at test time by the independent Python libraries
/// `fastavro` and Apache `avro` (see avro_oracle.py). Locally they are skipped when
/// AUDITPIPE_PYTHON is unset; in CI they run and fail without it.
@Suite("Python oracle (fastavro + avro)", .enabled(if: TestService.available(.python)))
struct OracleTests {
    @Test("Python-encoded corpus: Swift decodes every case and re-encodes the same bytes")
    func pythonCorpus() throws {
        let document = try Oracle.run(["corpus", "20240611"])
        let cases = document["cases"]!.array
        #expect(cases.count >= 400)
        for entry in cases {
            let name = entry["name"]!.string!
            let schema = try AvroSchema(parsing: entry["schema"]!.string!)
            let expected = try taggedValue(entry["value"]!, node: schema.root, schema: schema)
            let fastavroBytes = hexBytes(entry["fastavro_hex"]!.string!)
            let avroBytes = hexBytes(entry["avro_hex"]!.string!)
            #expect(entry["roundtrip_ok"]?.bool == true, "fastavro did not round-trip its own case \(name)")
            #expect(fastavroBytes == avroBytes, "fastavro and avro disagree on \(name)")

            let decoded = try schema.decodeExact(fastavroBytes)
            #expect(same(decoded, expected), "\(name): decoded \(decoded), expected \(expected)")
            let encoded = try schema.encode(expected)
            #expect(encoded == fastavroBytes, "\(name): Swift encoded \(hexString(encoded)), fastavro \(hexString(fastavroBytes))")
            try schema.validate(expected)
        }
    }

    @Test("Swift-encoded random values: fastavro and avro decode them to the same values")
    func swiftEncodedDecodedByPython() throws {
        var generator = RandomSchemaGenerator(seed: 0xA11CE)
        var requestCases: [String] = []
        var expected: [(String, AvroValue, Int)] = []
        for _ in 0..<200 {
            let (schemaJSON, schema) = try generator.schema()
            for _ in 0..<2 {
                let value = generator.value(for: schema)
                let bytes = try schema.encode(value)
                var object = ""
                object += "{\"schema\":"
                JSONWriter.appendString(schemaJSON, to: &object)
                object += ",\"hex\":\"\(hexString(bytes))\"}"
                requestCases.append(object)
                expected.append((schemaJSON, value, bytes.count))
            }
        }
        let response = try Oracle.run(["decode"], input: "{\"cases\":[" + requestCases.joined(separator: ",") + "]}")
        let results = response["results"]!.array
        #expect(results.count == expected.count)
        for (result, (schemaJSON, value, length)) in zip(results, expected) {
            for library in ["fastavro", "avro"] {
                let entry = result[library]!
                #expect(entry["ok"]?.bool == true, "\(library) failed on \(schemaJSON): \(entry["error"]?.string ?? "")")
                guard entry["ok"]?.bool == true else { continue }
                #expect(entry["used"]?.int == length, "\(library) consumed \(entry["used"]?.int ?? -1) of \(length) bytes for \(schemaJSON)")
                #expect(plainEqual(entry["value"]!, plain(value)), "\(library) decoded \(entry["value"]!) but Swift encoded \(plain(value)) for \(schemaJSON)")
            }
        }
    }

    @Test("Parsing Canonical Form, CRC-64-AVRO and SHA-256 match the Python libraries")
    func canonicalForms() throws {
        let document = try Oracle.run(["canonical", "99"])
        let cases = document["cases"]!.array
        #expect(cases.count >= 100)
        var comparedWithApache = 0
        for entry in cases {
            let text = entry["schema"]!.string!
            let schema = try AvroSchema(parsing: text)
            // fastavro follows the spec's [PRIMITIVES] rule for logical types ({"type":"long",
            // "logicalType":...} becomes "long"); Apache's Python library keeps {"type":"long"}.
            let expected = entry["fastavro_canonical"]!.string!
            #expect(schema.canonicalForm == expected, "canonical form of \(text)")
            #expect(hexString(schema.fingerprintBytes) == entry["fastavro_rabin_hex"]!.string!, "rabin of \(text)")
            #expect(hexString(schema.sha256Fingerprint) == entry["fastavro_sha256_hex"]!.string!, "sha256 of \(text)")
            // Apache's Python library repeats a named type's definition when it is referenced
            // again inside a union (the spec, Java and fastavro write just the name); compare
            // with it wherever it agrees with fastavro.
            if !text.contains("logicalType"), entry["canonical"]!.string! == expected {
                comparedWithApache += 1
                #expect(schema.canonicalForm == entry["canonical"]!.string!, "Apache canonical form of \(text)")
                #expect(hexString(schema.fingerprintBytes) == entry["rabin_hex"]!.string!, "Apache rabin of \(text)")
                #expect(hexString(schema.sha256Fingerprint) == entry["sha256_hex"]!.string!, "Apache sha256 of \(text)")
            }
            // The canonical form is itself a schema with the same canonical form.
            #expect(try AvroSchema(parsing: schema.canonicalForm).canonicalForm == schema.canonicalForm)
        }
        #expect(comparedWithApache >= 80)
    }

    @Test("Schema resolution matches fastavro.schemaless_reader(writer, reader)")
    func resolution() throws {
        let document = try Oracle.run(["resolution"])
        let cases = document["cases"]!.array
        #expect(cases.count >= 35)
        for entry in cases {
            let name = entry["name"]!.string!
            let writer = try AvroSchema(parsing: entry["writer"]!.string!)
            let reader = try AvroSchema(parsing: entry["reader"]!.string!)
            let bytes = hexBytes(entry["hex"]!.string!)
            let resolution = AvroResolution(writer: writer, reader: reader)
            if entry["ok"]?.bool == true {
                let value = try resolution.decodeExact(bytes)
                #expect(plainEqual(plain(value), entry["value"]!), "\(name): Swift \(plain(value)), fastavro \(entry["value"]!)")
                try reader.validate(value)
            } else {
                #expect(throws: AvroDecodingError.self, "\(name): fastavro failed with \(entry["error"]?.string ?? ""), Swift must fail too") {
                    try resolution.decodeExact(bytes)
                }
            }
        }
    }

    @Test("Compatibility verdicts match avro.compatibility.ReaderWriterCompatibilityChecker")
    func compatibility() throws {
        let document = try Oracle.run(["compatibility"])
        let cases = document["cases"]!.array
        #expect(cases.count >= 40)
        var incompatible = 0
        for entry in cases {
            let name = entry["name"]!.string!
            let reader = try AvroSchema(parsing: entry["reader"]!.string!)
            let writer = try AvroSchema(parsing: entry["writer"]!.string!)
            let issues = AvroCompatibility.check(reader: reader, writer: writer)
            let pythonCompatible = entry["compatible"]!.bool!
            #expect(issues.isEmpty == pythonCompatible, "\(name): Python says compatible=\(pythonCompatible) \(entry["messages"]!), Swift issues \(issues)")
            if !pythonCompatible {
                incompatible += 1
                // Same rule kinds as Apache (as a set).
                let pythonKinds = Set(entry["kinds"]!.array.compactMap(\.string).map { $0.uppercased() })
                #expect(Set(issues.map(\.kind.rawValue)) == pythonKinds, "\(name): kinds \(issues.map(\.kind)) vs \(pythonKinds)")
            }
        }
        #expect(incompatible >= 20)
    }
}
