public import AvroCodec
import AuditEvents
import Foundation
import KafkaClient
import NIOCore
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

/// An audit event read from Kafka for the events table: its cells, the fields the duplicate
/// check and the chain key on, and where it came from.
struct DecodedEvent: Sendable, Hashable {
    var tenantID: String
    var eventID: String
    var timestampMilliseconds: Int64
    /// The row's event cells (``EventCells``), usually a slice of its batch's buffer.
    var cells: ByteBuffer
    var schemaID: Int32
    /// The record's partition and offset.
    var sourcePartition: Int32
    var sourceOffset: Int64

    /// The row of `event` (a record resolved from another writer schema, or a test's).
    init(event: AuditEvent, schemaID: Int32, sourcePartition: Int32, sourceOffset: Int64) {
        var cells = ByteBuffer()
        EventCells.write(event, into: &cells)
        self.init(
            tenantID: event.tenantID, eventID: event.eventID, timestampMilliseconds: event.timestampMilliseconds, cells: cells,
            schemaID: schemaID, sourcePartition: sourcePartition, sourceOffset: sourceOffset
        )
    }

    init(tenantID: String, eventID: String, timestampMilliseconds: Int64, cells: ByteBuffer, schemaID: Int32, sourcePartition: Int32, sourceOffset: Int64) {
        self.tenantID = tenantID
        self.eventID = eventID
        self.timestampMilliseconds = timestampMilliseconds
        self.cells = cells
        self.schemaID = schemaID
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
    }
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

/// Decodes Confluent-framed Avro records: a batch into rows of the events table (``decode(_:)``),
/// or into events (``decodeEvents(_:)``, for recent events). A writer schema with the
/// seed's binary layout is read directly (``EventCells/transcodeSeedRecord(_:into:entries:options:)``,
/// ``AuditEventSchema/decodeSeedRecord(_:options:)``); any other is resolved into
/// `AuditEventSchema.seed`, once per schema id.
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

    /// A record's writer schema id, Avro body and reader, or why it can never be read.
    private enum Framed {
        case record(schemaID: Int32, body: ArraySlice<UInt8>, reader: Reader)
        case poison(DeadLetter.Stage, String)
    }

    /// Unframes a record and finds the reader of its schema id (from `last` when it is the same
    /// id, from the cache, or from the registry). Throws only for transient lookup failures.
    private func frame(_ record: KafkaMessage, last: inout (id: Int32, reader: Reader)?) async throws -> Framed {
        guard let value = record.valueBytes else { return .poison(.decode, "the record has no value (null)") }
        let framed: (schemaID: Int32, body: ArraySlice<UInt8>)
        do {
            framed = try ConfluentWireFormat.decode(value)
        } catch {
            return .poison(.decode, error.message)
        }
        if let last, last.id == framed.schemaID { return .record(schemaID: framed.schemaID, body: framed.body, reader: last.reader) }
        let reader: Reader
        if let cached = readers.withLock({ $0[framed.schemaID] }) {
            reader = cached
        } else {
            let writer: AvroSchema
            do {
                writer = try await schemas.schema(id: framed.schemaID)
            } catch let error as WriterSchemaNotFound {
                return .poison(.schema, error.description)
            }
            reader = AuditEventSchema.hasSeedLayout(writer) ? .seedLayout : .resolution(AvroResolution(writer: writer, reader: AuditEventSchema.seed))
            readers.withLock { $0[framed.schemaID] = reader }
        }
        last = (framed.schemaID, reader)
        return .record(schemaID: framed.schemaID, body: framed.body, reader: reader)
    }

    private static func undecodable(_ schemaID: Int32, _ error: any Error) -> String {
        "Avro body does not decode with writer schema \(schemaID): \(error)"
    }

    private static func lacksAField(_ schemaID: Int32) -> String {
        "the record (schema \(schemaID)) lacks a field of AuditEvent"
    }

    /// Decodes the records of a batch, in order, into rows whose cells share one buffer. Throws
    /// only for transient lookup failures.
    func decode(_ records: [KafkaMessage]) async throws -> [DecodeOutcome] {
        /// A row transcoded into the batch's buffer, sliced out once the buffer is complete (a
        /// slice taken earlier would make every later write copy the buffer).
        enum Slot {
            case done(DecodeOutcome)
            case transcoded(EventCells.Summary, cells: Range<Int>, schemaID: Int32)
        }
        var slots: [Slot] = []
        slots.reserveCapacity(records.count)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(records.reduce(0) { $0 + ($1.valueBytes?.count ?? 0) } + records.count * 16)
        var entries: [EventCells.Entry] = []
        var last: (id: Int32, reader: Reader)? = nil
        for record in records {
            func poison(_ stage: DeadLetter.Stage, _ reason: String) -> Slot {
                .done(.poison(PoisonRecord(record: record, stage: stage, reason: reason)))
            }
            switch try await frame(record, last: &last) {
            case .poison(let stage, let reason):
                slots.append(poison(stage, reason))
            case .record(let schemaID, let body, .seedLayout):
                let start = buffer.writerIndex
                do {
                    let transcoded = try body.withUnsafeBufferPointer { body in
                        try EventCells.transcodeSeedRecord(body, into: &buffer, entries: &entries)
                    }
                    switch transcoded {
                    case .cells(let summary): slots.append(.transcoded(summary, cells: start..<buffer.writerIndex, schemaID: schemaID))
                    case .rejected(let reason): slots.append(poison(.encode, reason))
                    }
                } catch {
                    slots.append(poison(.decode, Self.undecodable(schemaID, error)))
                }
            case .record(let schemaID, let body, .resolution(let resolution)):
                let event: AuditEvent
                do {
                    guard let resolved = AuditEventSchema.event(from: try resolution.decodeExact(body)) else {
                        slots.append(poison(.decode, Self.lacksAField(schemaID)))
                        continue
                    }
                    event = resolved
                } catch {
                    slots.append(poison(.decode, Self.undecodable(schemaID, error)))
                    continue
                }
                if let reason = EventCells.rejection(timestampMilliseconds: event.timestampMilliseconds, eventIDIsEmpty: event.eventID.isEmpty) {
                    slots.append(poison(.encode, reason))
                } else {
                    slots.append(.done(.event(DecodedEvent(event: event, schemaID: schemaID, sourcePartition: record.partition, sourceOffset: record.offset))))
                }
            }
        }
        return slots.indices.map { index in
            switch slots[index] {
            case .done(let outcome):
                return outcome
            case .transcoded(let summary, let cells, let schemaID):
                return .event(
                    DecodedEvent(
                        tenantID: summary.tenantID, eventID: summary.eventID, timestampMilliseconds: summary.timestampMilliseconds,
                        cells: buffer.getSlice(at: cells.lowerBound, length: cells.count)!, schemaID: schemaID,
                        sourcePartition: records[index].partition, sourceOffset: records[index].offset
                    )
                )
            }
        }
    }

    /// Decodes the records of a batch into events, in order, leaving out those that can never
    /// be read (the ClickHouse sink dead-letters such records). Throws only for transient lookup
    /// failures.
    func decodeEvents(_ records: [KafkaMessage]) async throws -> [AuditEvent] {
        var events: [AuditEvent] = []
        events.reserveCapacity(records.count)
        var last: (id: Int32, reader: Reader)? = nil
        for record in records {
            guard case .record(_, let body, let reader) = try await frame(record, last: &last) else { continue }
            let event: AuditEvent?
            switch reader {
            case .seedLayout:
                event = try? AuditEventSchema.decodeSeedRecord(body)
            case .resolution(let resolution):
                event = (try? resolution.decodeExact(body)).flatMap(AuditEventSchema.event(from:))
            }
            guard let event, EventCells.rejection(timestampMilliseconds: event.timestampMilliseconds, eventIDIsEmpty: event.eventID.isEmpty) == nil else {
                continue
            }
            events.append(event)
        }
        return events
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
    /// The insert token of the failed batch (insert stages): its insert may have been stored
    /// after all, without the key records that the duplicate check reads. The token rides on the
    /// record as ``insertTokenHeader``, which re-drive and replay keep, so the partition writer
    /// records those keys before it checks the record again.
    var insertToken: String? = nil

    init(reason: String, source: KafkaMessage, stage: Stage, attempts: Int, timeMilliseconds: Int64, redrive: Bool, insertToken: String? = nil) {
        self.reason = reason
        self.sourceTopic = source.topic
        self.sourcePartition = source.partition
        self.sourceOffset = source.offset
        self.stage = stage
        self.attempts = attempts
        self.timeMilliseconds = timeMilliseconds
        self.redrive = redrive
        self.insertToken = insertToken
    }

    /// The header that carries ``insertToken`` on a dead letter and on the record re-driven or
    /// replayed from it (not `dlq-`: it stays on the re-produced record).
    static let insertTokenHeader = "auditpipe-insert-token"

    /// The insert tokens that `records` carry (usually none): of failed batches whose records
    /// were dead-lettered and are now back.
    static func insertTokens(of records: [KafkaMessage]) -> Set<String> {
        var tokens: Set<String> = []
        for record in records {
            for value in record.headerValues(named: insertTokenHeader) {
                tokens.insert(String(decoding: value, as: UTF8.self))
            }
        }
        return tokens
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
            + (insertToken.map { [KafkaHeader(name: Self.insertTokenHeader, value: Array($0.utf8))] } ?? [])
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
        self.insertToken = value(Self.insertTokenHeader)
    }

    /// Whether a header is one of the dead-letter headers.
    static func isOwnHeader(_ name: String) -> Bool { name.hasPrefix("dlq-") }

    /// The dead-letter record for `source`: same key, value and headers, plus ours. An insert
    /// token the source carries from an earlier dead letter stays: that insert may be unkeyed too.
    func record(topic: String, source: KafkaMessage) -> KafkaOutgoingMessage {
        KafkaOutgoingMessage(
            topic: topic, key: source.key, value: source.value,
            headers: source.headers.filter { !Self.isOwnHeader($0.name) } + headers
        )
    }
}
