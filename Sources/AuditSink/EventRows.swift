import AuditEvents
import AuditIntegrity
import ClickHouseHTTP
import NIOCore

/// One row of the events table and the rules that decide which rows of a batch are inserted.
enum EventRow {
    /// The columns written by the sink, in order (the table's other columns take defaults).
    static let columns: [ClickHouseColumn] = [
        ClickHouseColumn("tenant_id", .lowCardinality(.string)),
        ClickHouseColumn("event_type", .lowCardinality(.string)),
        ClickHouseColumn("timestamp", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("event_id", .string),
        ClickHouseColumn("actor_id", .string),
        ClickHouseColumn("resource", .string),
        ClickHouseColumn("action", .lowCardinality(.string)),
        ClickHouseColumn("metadata", .map(.string, .string)),
        ClickHouseColumn("ingested_at", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("schema_id", .int32),
        ClickHouseColumn("kafka_partition", .int32),
        ClickHouseColumn("kafka_offset", .int64),
        ClickHouseColumn("insert_token", .string),
    ]

    /// ``columns`` plus the hash-chain columns (migration 3), written when the chain is on.
    static let chainedColumns: [ClickHouseColumn] = columns + [
        ClickHouseColumn("chain_seq", .uint64),
        ClickHouseColumn("chain_hash", .fixedString(32)),
    ]

    /// The event as the hash chain covers it (see `ChainedEvent.canonicalBytes`).
    static func chained(_ row: DecodedEvent) -> ChainedEvent {
        let event = row.event
        return ChainedEvent(
            tenantID: event.tenantID, eventID: event.eventID, eventType: event.eventType, timestampMilliseconds: event.timestampMilliseconds,
            actorID: event.actorID, resource: event.resource, action: event.action, metadata: event.metadata,
            schemaID: row.schemaID, kafkaPartition: row.sourcePartition, kafkaOffset: row.sourceOffset
        )
    }

    /// DateTime64(3) holds 1900-01-01 ... 2299-12-31 23:59:59.999 UTC.
    static let timestampRange: ClosedRange<Int64> = -2_208_988_800_000 ... 10_413_791_999_999

    /// Why the table cannot hold this event, or nil.
    static func rejection(of event: AuditEvent) -> String? {
        if !timestampRange.contains(event.timestampMilliseconds) {
            return "timestamp \(event.timestampMilliseconds) ms is outside DateTime64(3)'s range (years 1900...2299)"
        }
        if event.eventID.isEmpty { return "event_id is empty" }
        return nil
    }

    /// Writes one row of ``columns`` (or of ``chainedColumns`` with a `link`) in RowBinary,
    /// byte for byte what `RowBinaryWriter.append` gives for the same cells as
    /// `ClickHouseValue`s (a test compares them), without a `ClickHouseValue` and a byte array
    /// per cell: that path was about a tenth of the sink's CPU (perf, `bench sink`).
    static func write(_ row: DecodedEvent, ingestedAt: Int64, token: String, link: ChainLink?, into buffer: inout ByteBuffer) {
        let event = row.event
        buffer.writeRowBinaryString(event.tenantID)
        buffer.writeRowBinaryString(event.eventType)
        buffer.writeInteger(event.timestampMilliseconds, endianness: .little)
        buffer.writeRowBinaryString(event.eventID)
        buffer.writeRowBinaryString(event.actorID)
        buffer.writeRowBinaryString(event.resource)
        buffer.writeRowBinaryString(event.action)
        buffer.writeLEB128(UInt64(event.metadata.count))
        for (key, value) in event.metadata.sorted(by: { $0.key < $1.key }) {
            buffer.writeRowBinaryString(key)
            buffer.writeRowBinaryString(value)
        }
        buffer.writeInteger(ingestedAt, endianness: .little)
        buffer.writeInteger(row.schemaID, endianness: .little)
        buffer.writeInteger(row.sourcePartition, endianness: .little)
        buffer.writeInteger(row.sourceOffset, endianness: .little)
        buffer.writeRowBinaryString(token)
        if let link {
            buffer.writeInteger(link.sequence, endianness: .little)
            buffer.writeBytes(link.hash.bytes)
        }
    }

    /// The key events are deduplicated on.
    struct Key: Sendable, Hashable {
        var tenantID: String
        var eventID: String
    }

    /// The rows of a batch to insert, in order: the first row of each (tenant, event_id) in the
    /// batch, unless that key is already stored by *another* batch (a stored token different
    /// from `token`). Rows stored by an earlier attempt of this same batch (same token) are kept,
    /// so a replay rebuilds the identical insert and ClickHouse drops it by its token.
    static func select(_ rows: [DecodedEvent], stored: [Key: Set<String>], token: String) -> (keep: [DecodedEvent], duplicates: Int) {
        var seen = Set<Key>()
        var keep: [DecodedEvent] = []
        keep.reserveCapacity(rows.count)
        for row in rows {
            let key = Key(tenantID: row.event.tenantID, eventID: row.event.eventID)
            guard seen.insert(key).inserted else { continue }
            if let tokens = stored[key], tokens.contains(where: { $0 != token }) { continue }
            keep.append(row)
        }
        return (keep, rows.count - keep.count)
    }
}
