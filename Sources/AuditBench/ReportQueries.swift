import AuditEvents
import Foundation

/// The pure parts of `auditpipe-tools bench report`: where the generated events go, the SQL that
/// generates them inside ClickHouse, the March question, and its full-scan peer.
///
/// The data set is deterministic: row `n` (0-based) gets its columns from `cityHash64(n, k)`, so
/// two runs with the same row count produce the same table, which can then be reused.
package enum ReportDataSet {
    /// Tenants the events are spread over (`tenant-000` … `tenant-099`).
    package static let tenantCount = 100
    /// The event types, equally likely.
    package static let eventTypes = ["auth", "data_change", "permission_change", "admin_action", "api_access"]
    /// The year the twelve months belong to (2025: in the past, so the rows pass every time rule).
    package static let year = 2025
    /// The tenant the March report asks for.
    package static let reportTenant = "tenant-042"
    /// The month the report asks for (March).
    package static let reportMonth = 3

    /// The database holding a data set of `rows` events: one per size, so a quick run
    /// (`--quick`) and a full run keep their own tables and both can be reused.
    package static func database(rows: Int) -> String { "auditpipe_bench_report_\(rows)" }

    /// Milliseconds since the Unix epoch of 00:00 UTC on the first day of `month` (1-12) of `year`.
    package static func monthStartMilliseconds(year: Int, month: Int) -> Int64 {
        CivilDate.days(year: Int64(year), month: Int64(month), day: 1) * 86_400_000
    }

    /// The `[from, to)` range of the report's month.
    package static var reportRange: (from: Int64, to: Int64) {
        (monthStartMilliseconds(year: year, month: reportMonth), monthStartMilliseconds(year: year, month: reportMonth + 1))
    }

    /// One `INSERT … SELECT … FROM numbers(first, count)`: rows `first ..< first + count`, all
    /// with event times in `month`.
    package struct Chunk: Sendable, Hashable {
        /// The first row number.
        package var first: Int
        /// How many rows.
        package var count: Int
        /// 1-12.
        package var month: Int
    }

    /// The inserts that generate `rows` events: month `m` gets rows
    /// `[(m-1)·rows/12, m·rows/12)`, cut into inserts of at most `maxChunkRows` rows. One month
    /// per insert keeps each insert in one partition (one part per block, few merges).
    package static func chunks(rows: Int, maxChunkRows: Int) -> [Chunk] {
        precondition(rows >= 0 && maxChunkRows > 0)
        var result: [Chunk] = []
        for month in 1...12 {
            let low = (month - 1) * rows / 12
            let high = month * rows / 12
            var first = low
            while first < high {
                let count = min(maxChunkRows, high - first)
                result.append(Chunk(first: first, count: count, month: month))
                first += count
            }
        }
        return result
    }

    /// The generating statement of one chunk, into `` `database`.`table` `` (identifiers already
    /// checked by the caller), with `{name:Type}` placeholders; values in ``parameters(of:)``.
    package static func insertSQL(database: String, table: String) -> String {
        let types = eventTypes.map { "'\($0)'" }.joined(separator: ", ")
        return """
            INSERT INTO `\(database)`.`\(table)` (tenant_id, event_type, timestamp, event_id, actor_id, resource, action, \
            metadata, ingested_at, schema_id, kafka_partition, kafka_offset, insert_token)
            SELECT
                concat('tenant-', leftPad(toString(cityHash64(number, 1) % {tenants:UInt64}), 3, '0')),
                [\(types)][cityHash64(number, 2) % \(eventTypes.count) + 1],
                fromUnixTimestamp64Milli(toInt64({month_start:Int64} + cityHash64(number, 3) % {month_ms:UInt64}), 'UTC') AS ts,
                concat(lower(hex(cityHash64(number, 4))), lower(hex(cityHash64(number, 5)))),
                concat('user-', toString(cityHash64(number, 6) % 5000)),
                concat('doc/', toString(cityHash64(number, 7) % 1000000)),
                ['login', 'logout', 'read', 'update', 'delete', 'grant', 'revoke', 'export'][cityHash64(number, 8) % 8 + 1],
                map('ip', IPv4NumToString(toUInt32(cityHash64(number, 9) % 4294967296)), 'source', 'bench-report'),
                ts + toIntervalMillisecond(1500),
                toInt32(1),
                toInt32(cityHash64(number, 10) % 6),
                toInt64(number),
                concat('bench-report:', toString(intDiv(number, 10000)))
            FROM numbers({first:UInt64}, {count:UInt64})
            """
    }

    /// The placeholder values of ``insertSQL(database:table:)`` for `chunk`.
    package static func parameters(of chunk: Chunk) -> [String: String] {
        let start = monthStartMilliseconds(year: year, month: chunk.month)
        let end = monthStartMilliseconds(year: year, month: chunk.month + 1)
        return [
            "tenants": String(tenantCount),
            "month_start": String(start),
            "month_ms": String(end - start),
            "first": String(chunk.first),
            "count": String(chunk.count),
        ]
    }
}

/// Turns the report's SQL into its full-scan peer: the same question, with `identity()` around
/// `tenant_id`, `event_type` and `timestamp` in the WHERE clause, so ClickHouse can use neither
/// the primary key `(tenant_id, event_type, timestamp)` nor the monthly partitions.
package enum ReportPeerSQL {
    /// The conditions rewritten (as ``ComplianceReportStatement`` writes them).
    static let rewrites: [(String, String)] = [
        ("tenant_id = {tenant:", "identity(tenant_id) = {tenant:"),
        ("timestamp >= {from:", "identity(timestamp) >= {from:"),
        ("timestamp < {to:", "identity(timestamp) < {to:"),
        ("event_type IN {event_types:", "identity(event_type) IN {event_types:"),
    ]

    /// The peer SQL.
    ///
    /// - Throws: ``BenchSetupError`` when a condition is missing (the statement builder changed,
    ///   and the peer would no longer be the same question).
    package static func withoutPruning(_ sql: String) throws(BenchSetupError) -> String {
        var result = sql
        for (pattern, replacement) in rewrites {
            let parts = result.components(separatedBy: pattern)
            guard parts.count == 2 else {
                throw BenchSetupError(
                    "the report SQL has \(parts.count - 1) occurrences of '\(pattern)' (expected 1); update ReportPeerSQL to match ComplianceReportStatement"
                )
            }
            result = parts.joined(separator: replacement)
        }
        return result
    }
}

/// A benchmark could not be set up or its measurement is not valid; the message says what to do.
package struct BenchSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and what to do.
    package var message: String
    /// Creates an error.
    package init(_ message: String) { self.message = message }
    /// The message.
    package var description: String { message }
}
