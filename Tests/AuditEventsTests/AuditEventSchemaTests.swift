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

    /// The seed plus `region` with a default.
    static func versionTwo() throws -> AvroSchema {
        try AvroSchema(parsing: """
            {"type":"record","name":"AuditEvent","namespace":"com.worldtech.audit","fields":[
            {"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},
            {"name":"actor_id","type":"string"},{"name":"event_type","type":"string"},
            {"name":"resource","type":"string"},{"name":"action","type":"string"},
            {"name":"timestamp","type":"long"},
            {"name":"metadata","type":{"type":"map","values":"string"},"default":{}},
            {"name":"region","type":"string","default":"eu"}]}
            """)
    }

    @Test("the direct seed encoder writes byte for byte what the generic encoder writes")
    func directSeedEncoderMatchesTheGenericEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "Z", "0", " ", "é", "ß", "日本", "🔐", "\u{202E}", "-", "_", "\u{7F}", ""]
        func text(_ maxPieces: Int) -> String {
            (0..<Int.random(in: 0...maxPieces, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined()
        }
        var events: [AuditEvent] = [event, AuditEvent(eventID: "", tenantID: "", actorID: "", eventType: "", resource: "", action: "", timestampMilliseconds: 0)]
        for _ in 0..<500 {
            var metadata: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &generator) { metadata[text(4)] = text(8) }
            events.append(AuditEvent(
                eventID: text(40), tenantID: text(8), actorID: text(8), eventType: text(4), resource: text(30), action: text(4),
                timestampMilliseconds: Int64.random(in: Int64.min...Int64.max, using: &generator) >> Int64.random(in: 0...63, using: &generator),
                metadata: metadata
            ))
        }
        // One writer reused for every event, as ingest does.
        var writer = AvroBinaryWriter()
        for event in events {
            let start = writer.bytes.count
            AuditEventSchema.encodeSeedRecord(event, into: &writer)
            let generic = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
            #expect(Array(writer.bytes[start...]) == generic, "event \(event)")
            #expect(try AuditEventSchema.decodeSeedRecord(writer.bytes[start...]) == event)
        }
    }

    @Test func roundTripThroughTheSeedSchema() throws {
        let bytes = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
        let value = try AuditEventSchema.seed.decodeExact(bytes)
        #expect(AuditEventSchema.event(from: value) == event)
    }

    @Test func newerWriterVersionResolvesIntoTheSeedReader() throws {
        // Version 2 adds an optional field with a default: old readers (the sink) still read it.
        let v2 = try Self.versionTwo()
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

/// The sink's direct decoder for seed-layout records must agree with the generic path (resolve
/// into the seed schema, then `event(from:)`) on every input: valid records, and corrupted or
/// truncated ones, which both must refuse.
@Suite("AuditEvent seed-layout decoder")
struct SeedRecordDecoderTests {
    static func text(_ random: inout SystemRandomNumberGenerator) -> String {
        let alphabet: [Character] = ["a", "Z", "0", "-", "é", "漢", "😀", " ", "\"", "\\", "\n"]
        return String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
    }

    static func event(_ random: inout SystemRandomNumberGenerator) -> AuditEvent {
        var metadata: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...5, using: &random) { metadata[text(&random)] = text(&random) }
        return AuditEvent(
            eventID: text(&random), tenantID: text(&random), actorID: text(&random), eventType: text(&random),
            resource: text(&random), action: text(&random), timestampMilliseconds: Int64.random(in: .min ... .max, using: &random),
            metadata: metadata
        )
    }

    /// The generic path's answer, or nil when it refuses the bytes.
    static func generic(_ bytes: [UInt8]) -> AuditEvent? {
        guard let value = try? AuditEventSchema.seed.decodeExact(bytes) else { return nil }
        return AuditEventSchema.event(from: value)
    }

    @Test func theSeedSchemaAndItsCanonicalTwinHaveTheSeedLayout() throws {
        #expect(AuditEventSchema.hasSeedLayout(AuditEventSchema.seed))
        // Docs, defaults and logical types do not change the bytes.
        let twin = try AvroSchema(parsing: """
            {"type":"record","name":"AuditEvent","namespace":"com.worldtech.audit","doc":"v1 again","fields":[
            {"name":"event_id","type":"string"},{"name":"tenant_id","type":"string"},
            {"name":"actor_id","type":"string"},{"name":"event_type","type":"string"},
            {"name":"resource","type":"string"},{"name":"action","type":"string"},
            {"name":"timestamp","type":"long"},
            {"name":"metadata","type":{"type":"map","values":"string"}}]}
            """)
        #expect(AuditEventSchema.hasSeedLayout(twin))
        #expect(!AuditEventSchema.hasSeedLayout(try AuditEventSchemaTests.versionTwo()))
    }

    @Test func agreesWithTheGenericPathOnValidAndDamagedRecords() throws {
        var random = SystemRandomNumberGenerator()
        var refused = 0
        for _ in 0..<2_000 {
            let event = Self.event(&random)
            let bytes = try AuditEventSchema.encode(event, with: AuditEventSchema.seed).get()
            #expect(try AuditEventSchema.decodeSeedRecord(bytes) == event)
            #expect(Self.generic(bytes) == event)
            // Damage: flip a byte, cut the end, or append a byte.
            var damaged = bytes
            switch Int.random(in: 0..<3, using: &random) {
            case 0 where !damaged.isEmpty: damaged[Int.random(in: 0..<damaged.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            case 1 where !damaged.isEmpty: damaged.removeLast(Int.random(in: 1...damaged.count, using: &random))
            default: damaged.append(UInt8.random(in: 0...255, using: &random))
            }
            let direct = try? AuditEventSchema.decodeSeedRecord(damaged)
            #expect(direct == Self.generic(damaged), "bytes \(damaged)")
            if direct == nil { refused += 1 }
        }
        #expect(refused > 500)  // the damage is real, not only harmless flips
    }

    @Test func randomBytesNeverCrashAndAgree() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect((try? AuditEventSchema.decodeSeedRecord(bytes)) == Self.generic(bytes))
        }
    }

    @Test func blockedMapsWithByteSizesAndDuplicateKeysDecodeAsTheGenericPath() throws {
        // metadata as two blocks, the first with a negative count and its byte size, and the
        // key "k" twice: the last value wins on both paths.
        var bytes: [UInt8] = []
        for _ in 0..<6 { bytes += [0x02, 0x61] }  // six strings "a"
        bytes += [0x02]  // timestamp 1
        bytes += [0x01, 0x08, 0x02, 0x6B, 0x02, 0x31]  // count -1, 4 bytes: "k" -> "1"
        bytes += [0x02, 0x02, 0x6B, 0x02, 0x32]  // count 1: "k" -> "2"
        bytes += [0x00]
        let generic = Self.generic(bytes)
        let direct = try AuditEventSchema.decodeSeedRecord(bytes)
        #expect(direct.metadata == ["k": "2"])
        #expect(direct.timestampMilliseconds == 1)
        #expect(direct == generic)
    }
}
