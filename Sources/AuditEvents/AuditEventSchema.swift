public import AvroCodec
import Foundation

/// The Avro side of `AuditEvent`: the seed schema, and conversion to and from Avro records of any
/// compatible schema version.
public enum AuditEventSchema {
    /// The `com.worldtech.audit.AuditEvent` schema, registered as version 1 of the audit topic's
    /// subject (`<topic>-value`) when AuditPipe serves its own registry and the subject is empty.
    /// It is also the reader schema the sink resolves every writer version into.
    ///
    /// `timestamp` carries its logical type inside its type, where Avro reads it, so Confluent's
    /// deserializers hand consumers a timestamp. The seed document put it on the field
    /// (``legacySeedJSON``), where Avro ignores it; both have the same binary layout.
    public static let seedJSON = """
        {"type": "record", "name": "AuditEvent", "namespace": "com.worldtech.audit", "fields": [\
        {"name": "event_id", "type": "string"}, \
        {"name": "tenant_id", "type": "string"}, \
        {"name": "actor_id", "type": "string"}, \
        {"name": "event_type", "type": "string"}, \
        {"name": "resource", "type": "string"}, \
        {"name": "action", "type": "string"}, \
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}, \
        {"name": "metadata", "type": {"type": "map", "values": "string"}, "default": {}}]}
        """

    /// The schema as the seed document wrote it, registered by AuditPipe before the logical type
    /// moved into `timestamp`'s type: a subject whose latest version is this one gets
    /// ``seedJSON`` as its next version (see the README's migration note). Records written with
    /// it read unchanged: the binary layout is the same.
    public static let legacySeedJSON = seedJSON.replacingOccurrences(
        of: #"{"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}"#,
        with: #"{"name": "timestamp", "type": "long", "logicalType": "timestamp-millis"}"#
    )

    /// The parsed seed schema.
    public static let seed: AvroSchema = {
        do { return try AvroSchema(parsing: seedJSON) } catch { fatalError("the built-in AuditEvent schema does not parse: \(error)") }
    }()

    /// The Avro record field of each canonical field, with the gRPC/JSON name used in errors.
    static let fields: [(avro: String, api: String)] = [
        ("event_id", "event_id"), ("tenant_id", "tenant_id"), ("actor_id", "actor_id"),
        ("event_type", "event_type"), ("resource", "resource"), ("action", "action"),
        ("timestamp", "timestamp_ms"), ("metadata", "metadata"),
    ]

    /// Encodes `event` as a record of `schema` (the version registered for the topic).
    ///
    /// Fields the schema declares beyond the canonical ones take their schema defaults. A canonical
    /// field the schema does not declare may only be empty; otherwise the event is refused, since
    /// storing it would lose data.
    public static func encode(_ event: AuditEvent, with schema: AvroSchema) -> Result<[UInt8], FieldViolations> {
        guard case .record(let record) = schema.rootNode.kind else {
            return .failure(FieldViolations([.init(field: "event", rule: "schema", description: "the registered schema is not a record; fix the schema registry subject")]))
        }
        let values: [String: AvroValue] = [
            "event_id": .string(event.eventID),
            "tenant_id": .string(event.tenantID),
            "actor_id": .string(event.actorID),
            "event_type": .string(event.eventType),
            "resource": .string(event.resource),
            "action": .string(event.action),
            "timestamp": .long(event.timestampMilliseconds),
            "metadata": .map(event.metadata.mapValues { .string($0) }),
        ]
        var recordFields: [AvroValue.Field] = []
        var violations: [FieldViolation] = []
        for (avroName, apiName) in fields {
            let value = values[avroName]!
            if record.fieldIndex[avroName] != nil {
                recordFields.append(.init(avroName, value))
            } else if !isEmpty(value) {
                violations.append(.init(field: apiName, rule: "schema", description: "the registered schema \(record.fullName) has no field `\(avroName)`, so \(apiName) cannot be stored; leave it empty or register a schema version that has it"))
            }
        }
        guard violations.isEmpty else { return .failure(FieldViolations(violations)) }
        do {
            return .success(try schema.encode(.record(recordFields)))
        } catch {
            let field = fields.first { error.path.hasPrefix($0.avro) }.map { $0.api + error.path.dropFirst($0.avro.count) } ?? error.path
            return .failure(FieldViolations([.init(field: field.isEmpty ? "event" : field, rule: "schema", description: "does not match the registered schema: \(error.message)")]))
        }
    }

    /// Whether a writer schema has the seed's binary layout (the same Parsing Canonical Form), so
    /// its records can be read with ``decodeSeedRecord(_:)`` instead of a resolution.
    public static func hasSeedLayout(_ writer: AvroSchema) -> Bool {
        writer.canonicalForm == seedCanonicalForm
    }

    private static let seedCanonicalForm = seed.canonicalForm

    /// Encodes `event` as the binary body of a record with the seed's layout (see
    /// ``hasSeedLayout(_:)``) straight from its fields into `writer`, without the generic value
    /// tree: byte for byte what ``encode(_:with:)`` writes for such a schema (the metadata's keys
    /// in the same UTF-8 order). Ingest encodes every event with it.
    public static func encodeSeedRecord(_ event: AuditEvent, into writer: inout AvroBinaryWriter) {
        writer.writeString(event.eventID)
        writer.writeString(event.tenantID)
        writer.writeString(event.actorID)
        writer.writeString(event.eventType)
        writer.writeString(event.resource)
        writer.writeString(event.action)
        writer.writeLong(event.timestampMilliseconds)
        writer.writeStringMap(event.metadata)
    }

    /// Where the fields of a record with the seed's layout lie in its body: ranges of UTF-8
    /// (already checked) and the timestamp.
    package struct SeedRecordFields {
        package var eventID: Range<Int>
        package var tenantID: Range<Int>
        package var actorID: Range<Int>
        package var eventType: Range<Int>
        package var resource: Range<Int>
        package var action: Range<Int>
        package var timestampMilliseconds: Int64
    }

    /// Reads the binary body of a record written with the seed's layout (see
    /// ``hasSeedLayout(_:)``) without making a value of it: the fields' places, and each metadata
    /// entry's key and value handed to `entry` in the body's order (keys may repeat). The body
    /// must be used to its last byte. The one reader of that layout: ``decodeSeedRecord(_:options:)``
    /// makes an event of it, the sink copies the bytes into its rows.
    package static func readSeedRecord(
        _ reader: inout AvroByteReader, entry: (_ key: Range<Int>, _ value: Range<Int>) -> Void
    ) throws(AvroDecodingError) -> SeedRecordFields {
        let fields = SeedRecordFields(
            eventID: try reader.readStringRange(), tenantID: try reader.readStringRange(), actorID: try reader.readStringRange(),
            eventType: try reader.readStringRange(), resource: try reader.readStringRange(), action: try reader.readStringRange(),
            timestampMilliseconds: try reader.readLong()
        )
        while true {
            // A key and a value are at least one length byte each.
            let count = try reader.readBlockCount(minimumItemSize: 2)
            if count == 0 { break }
            for _ in 0..<count {
                let key = try reader.readStringRange()
                entry(key, try reader.readStringRange())
            }
        }
        guard reader.remaining == 0 else {
            throw reader.error("\(reader.remaining) trailing bytes after the value")
        }
        return fields
    }

    /// Decodes the binary body of a record written with the seed's layout (see
    /// ``hasSeedLayout(_:)``) straight into an event, without the generic value tree: the same
    /// result as resolving it into ``seed`` and calling ``event(from:)``, at a fraction of the
    /// work. The body must be used to its last byte.
    public static func decodeSeedRecord<Bytes: Collection<UInt8>>(
        _ body: Bytes, options: AvroDecodingOptions = .default
    ) throws(AvroDecodingError) -> AuditEvent {
        try withContiguousBytes(body) { buffer throws(AvroDecodingError) in
            var reader = AvroByteReader(buffer, options: options)
            var metadata: [String: String] = [:]
            let fields = try readSeedRecord(&reader) { key, value in
                metadata[AvroByteReader.string(validUTF8: UnsafeBufferPointer(rebasing: buffer[key]))] =
                    AvroByteReader.string(validUTF8: UnsafeBufferPointer(rebasing: buffer[value]))
            }
            return AuditEvent(
                eventID: reader.string(fields.eventID), tenantID: reader.string(fields.tenantID), actorID: reader.string(fields.actorID),
                eventType: reader.string(fields.eventType), resource: reader.string(fields.resource), action: reader.string(fields.action),
                timestampMilliseconds: fields.timestampMilliseconds, metadata: metadata
            )
        }
    }

    /// Decodes an Avro record (already resolved to the seed schema) into an event.
    public static func event(from value: AvroValue) -> AuditEvent? {
        func string(_ name: String) -> String? {
            if case .string(let s) = value[field: name]?.unwrappedUnion { return s }
            return nil
        }
        guard let eventID = string("event_id"), let tenantID = string("tenant_id"), let actorID = string("actor_id"),
            let eventType = string("event_type"), let resource = string("resource"), let action = string("action"),
            case .long(let timestamp) = value[field: "timestamp"]?.unwrappedUnion
        else { return nil }
        var metadata: [String: String] = [:]
        if case .map(let entries) = value[field: "metadata"]?.unwrappedUnion {
            for (key, entry) in entries {
                if case .string(let s) = entry.unwrappedUnion { metadata[key] = s }
            }
        }
        return AuditEvent(
            eventID: eventID, tenantID: tenantID, actorID: actorID, eventType: eventType,
            resource: resource, action: action, timestampMilliseconds: timestamp, metadata: metadata
        )
    }

    private static func isEmpty(_ value: AvroValue) -> Bool {
        switch value {
        case .string(let s): s.isEmpty
        case .long(let n): n == 0
        case .map(let m): m.isEmpty
        default: false
        }
    }
}

/// The violations that refuse one event.
public struct FieldViolations: Error, Sendable, Hashable {
    public var violations: [FieldViolation]
    public init(_ violations: [FieldViolation]) { self.violations = violations }
}
