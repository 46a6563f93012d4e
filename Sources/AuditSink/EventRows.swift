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

    /// DateTime64(3) holds 1900-01-01 ... 2299-12-31 23:59:59.999 UTC.
    static let timestampRange: ClosedRange<Int64> = -2_208_988_800_000 ... 10_413_791_999_999

    /// Writes one row of ``columns`` (or of ``chainedColumns`` with a `link`) in RowBinary: the
    /// row's ``EventCells`` as they are, then the sink's own cells; byte for byte what
    /// `RowBinaryWriter.append` gives for the same cells as `ClickHouseValue`s (a test compares them).
    static func write(_ row: DecodedEvent, ingestedAt: Int64, token: String, link: ChainLink?, into buffer: inout ByteBuffer) {
        buffer.writeImmutableBuffer(row.cells)
        buffer.writeInteger(ingestedAt, endianness: .little)
        buffer.writeInteger(row.schemaID, endianness: .little)
        buffer.writeInteger(row.sourcePartition, endianness: .little)
        buffer.writeInteger(row.sourceOffset, endianness: .little)
        buffer.writeRowBinaryString(token)
        if let link {
            buffer.writeInteger(link.sequence, endianness: .little)
            link.hash.withUnsafeBytes { _ = buffer.writeBytes($0) }
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
        var seen = Set<Key>(minimumCapacity: rows.count)
        var keep: [DecodedEvent] = []
        keep.reserveCapacity(rows.count)
        for row in rows {
            let key = Key(tenantID: row.tenantID, eventID: row.eventID)
            guard seen.insert(key).inserted else { continue }
            if let tokens = stored[key], tokens.contains(where: { $0 != token }) { continue }
            keep.append(row)
        }
        return (keep, rows.count - keep.count)
    }
}
