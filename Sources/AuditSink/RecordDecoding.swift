public import AvroCodec
import AuditEvents
import Foundation
import KafkaClient
import Synchronization

/// Where the sink finds the writer schema of a Confluent-framed record by its schema id.
///
/// The server wires its schema registry client here. Throw ``WriterSchemaNotFound`` when the
/// registry answers that the id does not exist (the record is then dead-lettered); any other
/// error is treated as transient (the batch is retried).
public protocol WriterSchemaLookup: Sendable {
    /// The writer schema registered under `id`.
    func schema(id: Int32) async throws -> AvroSchema
}

/// Thrown by a ``WriterSchemaLookup`` when the registry says no schema has this id.
public struct WriterSchemaNotFound: Error, Sendable, Hashable, CustomStringConvertible {
    /// The schema id.
    public var id: Int32
    /// Creates the error.
    public init(id: Int32) { self.id = id }
    /// A message naming the id.
    public var description: String { "the schema registry has no schema with id \(id)" }
}

/// An audit event read from Kafka, with where it came from.
struct DecodedEvent: Sendable, Hashable {
    var event: AuditEvent
    var schemaID: Int32
    /// The record's partition and offset.
    var sourcePartition: Int32
    var sourceOffset: Int64
}

/// Why a record can never be written, and at which stage that was found.
struct PoisonRecord: Sendable, Hashable {
    var record: KafkaMessage
    var stage: DeadLetter.Stage
    var reason: String
}

/// The result of decoding one record.
enum DecodeOutcome: Sendable, Hashable {
    case event(DecodedEvent)
    case poison(PoisonRecord)

    var isEvent: Bool {
        if case .event = self { return true }
        return false
    }
}

/// Decodes Confluent-framed Avro records into events. A writer schema with the seed's binary
/// layout is read directly (``AuditEventSchema/decodeSeedRecord(_:options:)``); any other is
/// resolved into `AuditEventSchema.seed`, once per schema id.
final class RecordDecoder: Sendable {
    private enum Reader: Sendable {
        case seedLayout
        case resolution(AvroResolution)
    }

    private let schemas: any WriterSchemaLookup
    private let readers = Mutex<[Int32: Reader]>([:])

    init(schemas: any WriterSchemaLookup) {
        self.schemas = schemas
    }

    /// Decodes a record of the audit topic. Throws only for transient lookup failures.
    func decode(_ record: KafkaMessage) async throws -> DecodeOutcome {
        func poison(_ stage: DeadLetter.Stage, _ reason: String) -> DecodeOutcome {
            .poison(PoisonRecord(record: record, stage: stage, reason: reason))
        }
        guard let value = record.value else { return poison(.decode, "the record has no value (null)") }
        let framed: (schemaID: Int32, body: ArraySlice<UInt8>)
        do {
            framed = try ConfluentWireFormat.decode(value)
        } catch {
            return poison(.decode, error.message)
        }
        let reader: Reader
        if let cached = readers.withLock({ $0[framed.schemaID] }) {
            reader = cached
        } else {
            let writer: AvroSchema
            do {
                writer = try await schemas.schema(id: framed.schemaID)
            } catch let error as WriterSchemaNotFound {
                return poison(.schema, error.description)
            }
            reader = AuditEventSchema.hasSeedLayout(writer) ? .seedLayout : .resolution(AvroResolution(writer: writer, reader: AuditEventSchema.seed))
            readers.withLock { $0[framed.schemaID] = reader }
        }
        let event: AuditEvent
        do {
            switch reader {
            case .seedLayout:
                event = try AuditEventSchema.decodeSeedRecord(framed.body)
            case .resolution(let resolution):
                guard let resolved = AuditEventSchema.event(from: try resolution.decodeExact(framed.body)) else {
                    return poison(.decode, "the record (schema \(framed.schemaID)) lacks a field of AuditEvent")
                }
                event = resolved
            }
        } catch {
            return poison(.decode, "Avro body does not decode with writer schema \(framed.schemaID): \(error)")
        }
        if let reason = EventRow.rejection(of: event) { return poison(.encode, reason) }
        return .event(
            DecodedEvent(
                event: event, schemaID: framed.schemaID, sourcePartition: record.partition, sourceOffset: record.offset
            )
        )
    }
}

/// The headers of a dead-letter record; its key and value are the source record's.
struct DeadLetter: Sendable, Hashable {
    /// Where the failure was found.
    enum Stage: String, Sendable, Hashable {
        /// Not Confluent-framed Avro, or not an AuditEvent.
        case decode
        /// The schema id is unknown to the registry.
        case schema
        /// A value the table cannot hold (e.g. a timestamp out of DateTime64 range).
        case encode
        /// ClickHouse rejected the batch's data.
        case insertRejected = "insert-rejected"
        /// ClickHouse failed transiently for every attempt; re-driven automatically.
        case insertRetriesExhausted = "insert-retries-exhausted"
    }

    var reason: String
    var sourceTopic: String
    var sourcePartition: Int32
    var sourceOffset: Int64
    var stage: Stage
    var attempts: Int
    var timeMilliseconds: Int64
    /// Re-driven into ClickHouse automatically once it is healthy.
    var redrive: Bool

    init(reason: String, source: KafkaMessage, stage: Stage, attempts: Int, timeMilliseconds: Int64, redrive: Bool) {
        self.reason = reason
        self.sourceTopic = source.topic
        self.sourcePartition = source.partition
        self.sourceOffset = source.offset
        self.stage = stage
        self.attempts = attempts
        self.timeMilliseconds = timeMilliseconds
        self.redrive = redrive
    }

    static let headerNames = (
        reason: "dlq-reason", topic: "dlq-source-topic", partition: "dlq-source-partition", offset: "dlq-source-offset",
        stage: "dlq-stage", attempts: "dlq-attempts", time: "dlq-time", redrive: "dlq-redrive"
    )

    var headers: [KafkaHeader] {
        let n = Self.headerNames
        let time = Date(timeIntervalSince1970: Double(timeMilliseconds) / 1000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return [
            (n.reason, reason), (n.topic, sourceTopic), (n.partition, String(sourcePartition)), (n.offset, String(sourceOffset)),
            (n.stage, stage.rawValue), (n.attempts, String(attempts)), (n.time, formatter.string(from: time)),
            (n.redrive, redrive ? "true" : "false"),
        ].map { KafkaHeader(name: $0.0, value: Array($0.1.utf8)) }
    }

    /// Parses the headers of a dead-letter record; nil when they are not AuditPipe's.
    init?(headers: [KafkaHeader]) {
        func value(_ name: String) -> String? {
            headers.last { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        let n = Self.headerNames
        guard let topic = value(n.topic), let partition = value(n.partition).flatMap(Int32.init),
            let offset = value(n.offset).flatMap(Int64.init), let stage = value(n.stage).flatMap(Stage.init(rawValue:))
        else { return nil }
        self.reason = value(n.reason) ?? ""
        self.sourceTopic = topic
        self.sourcePartition = partition
        self.sourceOffset = offset
        self.stage = stage
        self.attempts = value(n.attempts).flatMap(Int.init) ?? 0
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        self.timeMilliseconds = value(n.time).flatMap { formatter.date(from: $0) }.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        self.redrive = value(n.redrive) == "true"
    }

    /// Whether a header is one of the dead-letter headers.
    static func isOwnHeader(_ name: String) -> Bool { name.hasPrefix("dlq-") }

    /// The dead-letter record for `source`: same key, value and headers, plus ours.
    func record(topic: String, source: KafkaMessage) -> KafkaOutgoingMessage {
        KafkaOutgoingMessage(
            topic: topic, key: source.key, value: source.value,
            headers: source.headers.filter { !Self.isOwnHeader($0.name) } + headers
        )
    }
}
