import AuditStore
import AuditConsumer
package import AuditEvents
import AvroCodec
package import KafkaClient
package import NIOCore

/// An audit event read from Kafka for the events table: its cells, the fields the duplicate
/// check and the chain key on, and where it came from.
package struct DecodedEvent: Sendable, Hashable {
    package var tenantID: String
    package var eventID: String
    package var timestampMilliseconds: Int64
    /// The row's event cells (``EventCells``), usually a slice of its batch's buffer.
    package var cells: ByteBuffer
    package var schemaID: Int32
    /// The record's partition and offset.
    package var sourcePartition: Int32
    package var sourceOffset: Int64

    /// The row of `event` (a record resolved from another writer schema, or a test's).
    package init(event: AuditEvent, schemaID: Int32, sourcePartition: Int32, sourceOffset: Int64) {
        var cells = ByteBuffer()
        EventCells.write(event, into: &cells)
        self.init(
            tenantID: event.tenantID, eventID: event.eventID, timestampMilliseconds: event.timestampMilliseconds, cells: cells,
            schemaID: schemaID, sourcePartition: sourcePartition, sourceOffset: sourceOffset
        )
    }

    package init(tenantID: String, eventID: String, timestampMilliseconds: Int64, cells: ByteBuffer, schemaID: Int32, sourcePartition: Int32, sourceOffset: Int64) {
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
package struct PoisonRecord: Sendable, Hashable {
    package var record: KafkaMessage
    package var stage: DeadLetter.Stage
    package var reason: String
}

/// The result of decoding one record.
package enum DecodeOutcome: Sendable, Hashable {
    case event(DecodedEvent)
    case poison(PoisonRecord)

    package var isEvent: Bool {
        if case .event = self { return true }
        return false
    }
}

extension RecordDecoder {
    /// Decodes the records of a batch, in order, into rows whose cells share one buffer. Throws
    /// only for transient lookup failures.
    package func decode(_ records: [KafkaMessage]) async throws -> [DecodeOutcome] {
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
        var last: (id: Int32, reader: RecordDecoder.Reader)? = nil
        for record in records {
            func poison(_ stage: DeadLetter.Stage, _ reason: String) -> Slot {
                .done(.poison(PoisonRecord(record: record, stage: stage, reason: reason)))
            }
            switch try await frame(record, last: &last) {
            case .undecodable(let reason):
                slots.append(poison(.decode, reason))
            case .unknownSchema(let reason):
                slots.append(poison(.schema, reason))
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
                if let reason = StorableEvent.rejection(timestampMilliseconds: event.timestampMilliseconds, eventIDIsEmpty: event.eventID.isEmpty) {
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
}
