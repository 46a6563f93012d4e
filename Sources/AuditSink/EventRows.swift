import AuditStore
import AuditConsumer
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
    ///
    /// Rows are told apart by a hash of their key, which keeps no String per row (a set of keys
    /// cost a retain and a release of two Strings per row: 7% of the sink's CPU); rows whose
    /// hashes are equal are compared in full.
    /// `keyHash` is for tests (a constant one makes every row share a hash).
    static func select(
        _ rows: [DecodedEvent], stored: [Key: Set<String>], token: String, keyHash: (DecodedEvent) -> Int = keyHash
    ) -> (keep: [DecodedEvent], duplicates: Int) {
        var firstByHash: [Int: Int] = [:]  // a key's hash -> the first row with that hash
        firstByHash.reserveCapacity(rows.count)
        var sharingAHash = Set<Key>()  // the other keys of a hash that two keys share: nearly always empty
        var keep: [DecodedEvent] = []
        keep.reserveCapacity(rows.count)
        for index in rows.indices {
            let hash = keyHash(rows[index])
            if let first = firstByHash[hash] {
                if rows[first].tenantID == rows[index].tenantID, rows[first].eventID == rows[index].eventID { continue }
                guard sharingAHash.insert(Key(tenantID: rows[index].tenantID, eventID: rows[index].eventID)).inserted else { continue }
            } else {
                firstByHash[hash] = index
            }
            if !stored.isEmpty, let tokens = stored[Key(tenantID: rows[index].tenantID, eventID: rows[index].eventID)],
                tokens.contains(where: { $0 != token }) {
                continue
            }
            keep.append(rows[index])
        }
        return (keep, rows.count - keep.count)
    }

    /// The hash of a row's key (tenant, event id).
    static func keyHash(_ row: DecodedEvent) -> Int {
        var hasher = Hasher()
        hasher.combine(row.tenantID)
        hasher.combine(row.eventID)
        return hasher.finalize()
    }
}
