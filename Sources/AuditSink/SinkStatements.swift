import AuditConsumer
import AuditEvents
import AuditStore
import ClickHouseHTTP
import Foundation
import NIOCore

/// The sink's statements on the event store: the batch-range records, the event_id bounds and
/// the duplicate check, the deduplicated insert.
extension ClickHouseEventStore {
    // MARK: Batch ranges

    /// Records `range` as the batch about to be inserted by `group` (durable before the insert):
    /// it replaces the partition's previous range.
    func recordRange(_ range: BatchRange, group: String) async throws {
        // RowBinary in the table's column order: about a third cheaper for ClickHouse than an
        // INSERT ... SELECT of the same row (2.9 against 4.1 ms per statement on the dev stack).
        var body = ByteBuffer()
        body.writeRowBinaryString(group)
        body.writeRowBinaryString(range.topic)
        body.writeInteger(range.partition, endianness: .little)
        body.writeInteger(range.first, endianness: .little)
        body.writeInteger(range.last, endianness: .little)
        body.writeInteger(Int64(Date().timeIntervalSince1970 * 1_000_000), endianness: .little)  // recorded_at, DateTime64(6)
        try await client.insert(
            table: tables.latestRanges, format: "RowBinary", body: body,
            settings: ["async_insert": "0", "log_comment": SinkQueryComment.rangeRecord], compression: .none
        )
    }

    /// The last range `group` recorded for a partition, or nil.
    func lastRecordedRange(topic: String, partition: Int32, group: String) async throws -> BatchRange? {
        let rows = try await lines(
            """
            SELECT first_offset, last_offset FROM `\(tables.latestRanges)`
            WHERE consumer_group = {g:String} AND topic = {t:String} AND kafka_partition = {p:Int32}
            FORMAT TabSeparated
            """,
            ["g": .string(group), "t": .string(topic), "p": .integer(partition)]
        )
        guard let row = rows.first else { return nil }
        let fields = row.split(separator: "\t")
        guard fields.count == 2, let first = Int64(fields[0]), let last = Int64(fields[1]) else {
            throw AuditSinkError(message: "unexpected row '\(row)' in \(tables.ranges)", isRetriable: false)
        }
        return BatchRange(topic: topic, partition: partition, first: first, last: last)
    }

    // MARK: Events

    /// The insert tokens under which each (tenant, event_id) of `rows` is already stored, among
    /// rows whose event time is within `window` of the batch's event times. One query: the
    /// batch's keys go as an external table, and ClickHouse looks each up in the key table
    /// (RocksDB point reads: one key read per key checked).
    func storedTokens(of rows: [DecodedEvent], window: Duration) async throws -> [EventRow.Key: Set<String>] {
        guard !rows.isEmpty else { return [:] }
        let windowMs = window.components.seconds * 1000 + window.components.attoseconds / 1_000_000_000_000_000
        var low = Int64.max
        var high = Int64.min
        var keys = ClickHouseExternalTable(name: "batch_keys", structure: "key String")
        for row in rows {
            low = min(low, row.timestampMilliseconds)
            high = max(high, row.timestampMilliseconds)
            keys.appendRow([EventKey.string(tenantID: row.tenantID, eventID: row.eventID)])
        }
        low = max(low - windowMs, StorableEvent.timestampRange.lowerBound)
        high = min(high + windowMs, StorableEvent.timestampRange.upperBound)
        let response = try await client.query(
            """
            SELECT tenant_id, event_id, insert_token FROM `\(tables.eventKeys)`
            WHERE key IN batch_keys
              AND timestamp BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
            FORMAT RowBinaryWithNamesAndTypes
            """,
            parameters: ["lo": .integer(low), "hi": .integer(high)],
            settings: ["wait_end_of_query": "1", "log_comment": SinkQueryComment.eventKeyLookup],
            externalTable: keys
        )
        var result: [EventRow.Key: Set<String>] = [:]
        for try await row in response.body.rows() {
            guard let tenant = row["tenant_id"]?.stringValue, let id = row["event_id"]?.stringValue,
                let token = row["insert_token"]?.stringValue
            else { continue }
            result[EventRow.Key(tenantID: tenant, eventID: id), default: []].insert(token)
        }
        return result
    }

    /// The recorded event_id bounds of `tenants` (tenants without one are left out).
    func eventIDBounds(tenants: Set<String>) async throws -> [String: String] {
        guard !tenants.isEmpty else { return [:] }
        var keys = ClickHouseExternalTable(name: "batch_tenants", structure: "tenant_id String")
        for tenant in tenants { keys.appendRow([tenant]) }
        let response = try await client.query(
            "SELECT tenant_id, max_event_id FROM `\(tables.eventIDBounds)` WHERE tenant_id IN batch_tenants FORMAT RowBinaryWithNamesAndTypes",
            settings: ["wait_end_of_query": "1", "log_comment": SinkQueryComment.boundLookup],
            externalTable: keys
        )
        var result: [String: String] = [:]
        for try await row in response.body.rows() {
            guard let tenant = row["tenant_id"]?.stringValue, let bound = row["max_event_id"]?.stringValue else { continue }
            result[tenant] = bound
        }
        return result
    }

    /// Records raised event_id bounds (before the insert of the rows that raised them).
    func recordEventIDBounds(_ bounds: [String: String]) async throws {
        guard !bounds.isEmpty else { return }
        var body = ByteBuffer()
        for (tenant, bound) in bounds {
            body.writeRowBinaryString(tenant)
            body.writeRowBinaryString(bound)
        }
        try await client.insert(
            table: tables.eventIDBounds, format: "RowBinary", body: body,
            settings: ["async_insert": "0", "log_comment": SinkQueryComment.boundRecord], compression: .none
        )
    }

    /// Records the keys of `rows`, just inserted under `token`, for the duplicate check of later
    /// batches. Runs after the insert and before the commit: a crash in between replays the batch,
    /// whose keys are then written again (an overwrite with the same token).
    func recordKeys(of rows: [DecodedEvent], token: String) async throws {
        guard !rows.isEmpty else { return }
        var body = ByteBuffer()
        body.reserveCapacity(rows.count * (96 + token.utf8.count))
        for row in rows {
            EventKey.write(tenantID: row.tenantID, eventID: row.eventID, into: &body)
            body.writeRowBinaryString(row.tenantID)
            body.writeRowBinaryString(row.eventID)
            body.writeInteger(row.timestampMilliseconds, endianness: .little)
            body.writeRowBinaryString(token)
        }
        try await client.insert(
            table: tables.eventKeys, format: "RowBinary", body: body,
            settings: ["async_insert": "0", "log_comment": SinkQueryComment.eventKeyRecord], compression: tables.insertCompression
        )
    }

    /// Records the keys of the rows stored under one of `tokens` among the tenants and event
    /// times of `rows`: inserts of batches that were dead-lettered because their answer (or their
    /// key record) failed, which may have been stored with no keys. Runs before the duplicate check
    /// of records re-driven from those batches; writing a key again is harmless (same value).
    func recordKeys(storedUnder tokens: Set<String>, of rows: [DecodedEvent]) async throws {
        guard !rows.isEmpty, !tokens.isEmpty else { return }
        let tenants = Set(rows.map(\.tenantID))
        var pairs = ClickHouseExternalTable(name: "earlier_inserts", structure: "tenant_id String, insert_token String")
        for tenant in tenants {
            for token in tokens { pairs.appendRow([tenant, token]) }
        }
        let times = rows.map(\.timestampMilliseconds)
        let response = try await client.query(
            """
            INSERT INTO `\(tables.eventKeys)`
            SELECT \(EventKey.rowFromEvents) FROM `\(tables.events)`
            WHERE tenant_id IN (SELECT tenant_id FROM earlier_inserts)
              AND insert_token IN (SELECT insert_token FROM earlier_inserts)
              AND timestamp BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC')
            """,
            parameters: ["lo": .integer(times.min()!), "hi": .integer(times.max()!)],
            settings: ["wait_end_of_query": "1", "log_comment": SinkQueryComment.eventKeyRepair],
            externalTable: pairs
        )
        _ = try await response.body.collect(upTo: 1 << 20)
    }

    /// Inserts rows as one `RowBinaryWithNamesAndTypes` body (``ClickHouseTables/insertCompression``) with the batch's
    /// deduplication token. The block size is pinned above any batch so a retry splits the
    /// rows into the same blocks (one per month) as the first attempt.
    /// With `links` (one per row, in order) the rows are written on the hash chain.
    func insert(_ rows: [DecodedEvent], token: String, ingestedAt: Int64, links: [ChainLink]? = nil) async throws {
        guard !rows.isEmpty else { return }
        var writer = RowBinaryWriter(columns: links == nil ? EventRow.columns : EventRow.chainedColumns)
        // About 170 bytes per row of the simulator's events, 210 with the chain columns.
        writer.reserveCapacity(forAdditionalBytes: rows.count * (links == nil ? 192 : 256))
        precondition(links == nil || links!.count == rows.count, "one chain link per row")
        for (index, row) in rows.enumerated() {
            writer.appendEncodedRow { EventRow.write(row, ingestedAt: ingestedAt, token: token, link: links?[index], into: &$0) }
        }
        try await client.insert(
            table: tables.events,
            body: writer.buffer,
            deduplicationToken: token,
            settings: ["max_insert_block_size": "2000000", "async_insert": "0", "log_comment": SinkQueryComment.insert],
            compression: tables.insertCompression
        )
    }
}

/// The `log_comment` of each statement the sink runs per batch, so that `system.query_log` tells
/// what each costs ClickHouse (`auditpipe-tools bench sink` reads them).
package enum SinkQueryComment {
    package static let rangeRecord = "auditpipe-sink-range-record"
    package static let boundLookup = "auditpipe-sink-event-id-bound-lookup"
    package static let boundRecord = "auditpipe-sink-event-id-bound-record"
    package static let eventKeyLookup = "auditpipe-sink-event-key-lookup"
    package static let insert = "auditpipe-sink-insert"
    package static let eventKeyRecord = "auditpipe-sink-event-key-record"
    /// Only for records re-driven from the dead-letter topic (``ClickHouseEventStore/recordKeys(storedUnder:of:)``).
    package static let eventKeyRepair = "auditpipe-sink-event-key-repair"
    package static let all = [rangeRecord, boundLookup, boundRecord, eventKeyLookup, insert, eventKeyRecord, eventKeyRepair]
}
