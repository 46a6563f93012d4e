public import AvroCodec
package import AuditEvents
import Foundation
package import KafkaClient
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

/// Decodes Confluent-framed Avro records into events (``decodeEvents(_:)``, for recent events);
/// the sink transcodes them straight into rows of the events table (its `decode(_:)`). A writer
/// schema with the seed's binary layout is read directly
/// (``AuditEventSchema/decodeSeedRecord(_:options:)``); any other is resolved into
/// `AuditEventSchema.seed`, once per schema id.
package final class RecordDecoder: Sendable {
    package enum Reader: Sendable {
        case seedLayout
        case resolution(AvroResolution)
    }

    private let schemas: any WriterSchemaLookup
    private let readers = Mutex<[Int32: Reader]>([:])

    package init(schemas: any WriterSchemaLookup) {
        self.schemas = schemas
    }

    /// A record's writer schema id, Avro body and reader, or why it can never be read.
    package enum Framed {
        case record(schemaID: Int32, body: ArraySlice<UInt8>, reader: Reader)
        /// Not Confluent-framed Avro.
        case undecodable(String)
        /// The registry has no schema with its id.
        case unknownSchema(String)
    }

    /// Unframes a record and finds the reader of its schema id (from `last` when it is the same
    /// id, from the cache, or from the registry). Throws only for transient lookup failures.
    package func frame(_ record: KafkaMessage, last: inout (id: Int32, reader: Reader)?) async throws -> Framed {
        guard let value = record.valueBytes else { return .undecodable("the record has no value (null)") }
        let framed: (schemaID: Int32, body: ArraySlice<UInt8>)
        do {
            framed = try ConfluentWireFormat.decode(value)
        } catch {
            return .undecodable(error.message)
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
                return .unknownSchema(error.description)
            }
            reader = AuditEventSchema.hasSeedLayout(writer) ? .seedLayout : .resolution(AvroResolution(writer: writer, reader: AuditEventSchema.seed))
            readers.withLock { $0[framed.schemaID] = reader }
        }
        last = (framed.schemaID, reader)
        return .record(schemaID: framed.schemaID, body: framed.body, reader: reader)
    }

    package static func undecodable(_ schemaID: Int32, _ error: any Error) -> String {
        "Avro body does not decode with writer schema \(schemaID): \(error)"
    }

    package static func lacksAField(_ schemaID: Int32) -> String {
        "the record (schema \(schemaID)) lacks a field of AuditEvent"
    }

    /// Decodes the records of a batch into events, in order, leaving out those that can never
    /// be read (the ClickHouse sink dead-letters such records). Throws only for transient lookup
    /// failures.
    package func decodeEvents(_ records: [KafkaMessage]) async throws -> [AuditEvent] {
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
            guard let event, StorableEvent.rejection(timestampMilliseconds: event.timestampMilliseconds, eventIDIsEmpty: event.eventID.isEmpty) == nil else {
                continue
            }
            events.append(event)
        }
        return events
    }
}
