import AuditPipeProto
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation
package import Logging
import NIOCore

/// `auditpipe-tools bench report`: "all auth events for tenant X in March" on a generated data set
/// (default 50 million events over 12 months and 100 tenants, see ``ReportDataSet``), through the
/// real ``ComplianceReportExecutor`` (row mode, streamed to the end), against the same question
/// with `identity()` around the key columns (a full scan, ``ReportPeerSQL``), in the same run.
///
/// Figures: p50 latency over `repeats` runs of each, and rows read (from `system.query_log`)
/// divided by rows returned.
package struct ReportBenchmark: Sendable {
    /// Events in the data set.
    package var rows: Int = 50_000_000
    /// Rows per generating `INSERT … SELECT` (at most).
    package var chunkRows: Int = 10_000_000
    /// Measured runs of each side (after one warm-up run each).
    package var repeats: Int = 5
    package var logger: Logger

    package init(logger: Logger) { self.logger = logger }

    package func run(environment: StoreBenchEnvironment) async throws -> [BenchResult] {
        let database = ReportDataSet.database(rows: rows)
        let client = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword,
            database: database, requestTimeout: .seconds(1800), maxExecutionTime: .seconds(1800)
        ))
        do {
            let results = try await measure(client: client, database: database)
            try? await client.shutdown()
            return results
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Creates the table with the sink's migrations and fills it, unless it already holds the
    /// data set. Returns a note saying which.
    private func prepare(client: ClickHouseClient, database: String) async throws -> String {
        let existing = try await Self.migratedEventsTable(client: client, database: database)
        if existing == rows {
            return "reused the existing \(database).audit_events (\(rows) rows)"
        }
        if existing != 0 {
            logger.notice("\(database).audit_events holds \(existing) rows, not \(rows): regenerating")
            try await client.execute("TRUNCATE TABLE audit_events")
        }
        let started = ContinuousClock.now
        let chunks = ReportDataSet.chunks(rows: rows, maxChunkRows: chunkRows)
        let sql = ReportDataSet.insertSQL(database: database, table: ClickHouseTables().events)
        for (index, chunk) in chunks.enumerated() {
            let parameters = ReportDataSet.parameters(of: chunk).mapValues { ClickHouseParameter.raw($0) }
            try await client.execute(
                sql, parameters: parameters,
                settings: [
                    // One part per insert where memory allows: the whole chunk is one block.
                    "min_insert_block_size_rows": String(chunk.count),
                    "min_insert_block_size_bytes": "0",
                    "max_insert_block_size": String(chunk.count),
                    "max_threads": "2",
                    "insert_deduplicate": "0",
                    "max_execution_time": "1800",
                ]
            )
            logger.notice("generated chunk \(index + 1)/\(chunks.count) (\(chunk.count) rows, month \(chunk.month))")
        }
        let stored = try await SinkThroughputBenchmark.scalar(client, "SELECT count() FROM audit_events")
        guard stored == rows else { throw BenchSetupError("generated \(stored) rows, expected \(rows)") }
        return "generated \(rows) rows in \(BenchFormat.fixed((ContinuousClock.now - started).seconds, decimals: 1)) s (\(chunks.count) INSERT ... SELECT FROM numbers)"
    }

    private func measure(client: ClickHouseClient, database: String) async throws -> [BenchResult] {
        let preparation = try await prepare(client: client, database: database)
        logger.notice("\(preparation)")
        let parts = try await SinkThroughputBenchmark.scalar(
            client, "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'audit_events' AND active AND partition = '202503'"
        )
        let range = ReportDataSet.reportRange
        let query = ComplianceReportQuery(
            tenantID: ReportDataSet.reportTenant, fromMilliseconds: range.from, toMilliseconds: range.to, eventTypes: ["auth"]
        )
        let executor = ComplianceReportExecutor(client: client, table: AuditEventsTable(), cursors: ReportCursorCodec())
        let statement = try executor.statement(for: query)
        let peerSQL = try ReportPeerSQL.withoutPruning(statement.sql)

        var ours: [(seconds: Double, queryID: String, rows: Int)] = []
        var peer: [(seconds: Double, queryID: String, rows: Int)] = []
        // Warm-up (not measured), then alternate so both sides see the same cache conditions.
        _ = try await runOurs(executor, statement)
        _ = try await runPeer(client, peerSQL, statement)
        for _ in 0..<repeats {
            ours.append(try await runOurs(executor, statement))
            peer.append(try await runPeer(client, peerSQL, statement))
        }
        let returned = ours[0].rows
        guard ours.allSatisfy({ $0.rows == returned }), peer.allSatisfy({ $0.rows == returned }) else {
            throw BenchSetupError("the report and its full-scan peer disagree on the rows returned (\(ours.map(\.rows)) vs \(peer.map(\.rows)))")
        }
        guard returned > 0 else { throw BenchSetupError("the March report returned no rows; the data set is wrong") }
        let ourLog = try await queryLog(client, ours.map(\.queryID))
        let peerLog = try await queryLog(client, peer.map(\.queryID))
        let ourRead = ourLog.map(\.readRows).max() ?? 0
        let peerRead = peerLog.map(\.readRows).max() ?? 0
        let ourP50 = Percentiles.nearestRank(ours.map(\.seconds).sorted(), percentile: 50)! * 1000
        let peerP50 = Percentiles.nearestRank(peer.map(\.seconds).sorted(), percentile: 50)! * 1000
        let ourServerP50 = Percentiles.nearestRank(ourLog.map(\.durationMs).sorted(), percentile: 50) ?? 0
        let peerServerP50 = Percentiles.nearestRank(peerLog.map(\.durationMs).sorted(), percentile: 50) ?? 0
        let ourRatio = Double(ourRead) / Double(returned)
        let peerRatio = Double(peerRead) / Double(returned)
        let granules = (ourRead + 8191) / 8192
        let common = "\(preparation); tenant \(ReportDataSet.reportTenant), event_types [auth], [\(ReportDataSet.year)-03-01, \(ReportDataSet.year)-04-01); \(returned) rows returned"
        return [
            BenchResult(
                benchmark: "report", figure: "march_auth_latency_p50", value: ourP50, unit: "ms",
                peer: "full-scan (identity() around tenant_id, event_type, timestamp)", peerValue: peerP50,
                target: "< peer", met: ourP50 < peerP50,
                notes: "\(common); ComplianceReportExecutor row mode streamed to the end, \(repeats) runs after a warm-up (client p50; ClickHouse query_duration_ms p50 \(BenchFormat.value(ourServerP50)) ms vs peer \(BenchFormat.value(peerServerP50)) ms); peer streamed through the same ClickHouseClient and RowBinary decoder"
            ),
            BenchResult(
                benchmark: "report", figure: "march_auth_rows_read_per_returned", value: ourRatio, unit: "x",
                peer: "full-scan (identity() around tenant_id, event_type, timestamp)", peerValue: peerRatio,
                target: "<= 2", met: ourRatio <= 2,
                notes: "\(common); read_rows from system.query_log: ours \(ourRead) (~\(granules) granules of 8192; \(ourLog.map(\.queries).max() ?? 0) queries: EXPLAIN ESTIMATE and the pieces), peer \(peerRead); March partition has \(parts) active part(s)"
            ),
        ]
    }

    private func runOurs(_ executor: ComplianceReportExecutor, _ statement: ComplianceReportStatement) async throws -> (seconds: Double, queryID: String, rows: Int) {
        let queryID = "bench-report-\(UUID().uuidString.lowercased())"
        let start = ContinuousClock.now
        var rows = 0
        try await executor.run(statement, queryID: queryID) { rows += $0.rowCount }
        return ((ContinuousClock.now - start).seconds, queryID, rows)
    }

    private func runPeer(_ client: ClickHouseClient, _ sql: String, _ statement: ComplianceReportStatement) async throws -> (seconds: Double, queryID: String, rows: Int) {
        let queryID = "bench-report-peer-\(UUID().uuidString.lowercased())"
        let start = ContinuousClock.now
        var rows = 0
        let response = try await client.query(sql, parameters: statement.parameters, settings: statement.settings, queryID: queryID)
        for try await _ in response.body.rows() { rows += 1 }
        return ((ContinuousClock.now - start).seconds, queryID, rows)
    }

    private struct LogEntry {
        var readRows: Int
        var resultRows: Int
        var durationMs: Double
        /// The queries of the report (a row-mode report is an estimate and one query per piece).
        var queries: Int
    }

    /// Per report in `queryIDs`, its `QueryFinish` entries in `system.query_log` summed: the query
    /// itself, or the queries `<id>-estimate`, `<id>-0`, `<id>-1`, ... of a report walked in pieces
    /// (flushed first; polled for up to 30 s, the log is written asynchronously).
    private func queryLog(_ client: ClickHouseClient, _ queryIDs: [String]) async throws -> [LogEntry] {
        _ = try? await client.execute("SYSTEM FLUSH LOGS")
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let buffer = try await client.queryCollecting(
                """
                SELECT sum(read_rows), sum(result_rows), sum(query_duration_ms), count() FROM (
                    SELECT arrayFirst(id -> query_id = id OR startsWith(query_id, id || '-'), {ids:Array(String)}) AS report,
                        read_rows, result_rows, query_duration_ms
                    FROM system.query_log
                    WHERE type = 'QueryFinish' AND event_date >= yesterday() AND startsWith(query_id, 'bench-report-')
                ) WHERE report != '' GROUP BY report
                FORMAT TabSeparated
                """,
                parameters: ["ids": .strings(queryIDs)]
            )
            let entries = String(buffer: buffer).split(separator: "\n").compactMap { line -> LogEntry? in
                let fields = line.split(separator: "\t")
                guard fields.count == 4, let read = Int(fields[0]), let result = Int(fields[1]), let duration = Double(fields[2]),
                      let queries = Int(fields[3]) else { return nil }
                return LogEntry(readRows: read, resultRows: result, durationMs: duration, queries: queries)
            }
            if entries.count == queryIDs.count { return entries }
            guard ContinuousClock.now < deadline else {
                throw BenchSetupError("system.query_log has \(entries.count) of \(queryIDs.count) entries after 30 s: is query_log enabled?")
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}

extension ReportBenchmark {
    /// Creates `database` and its events table with the sink's migrations (the client's
    /// configuration names the database) and returns how many rows the table holds: the report
    /// benchmarks reuse a data set of the right size and regenerate any other.
    static func migratedEventsTable(client: ClickHouseClient, database: String) async throws -> Int {
        let admin = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: client.configuration.url, user: client.configuration.user, password: client.configuration.password
        ))
        try await admin.execute("CREATE DATABASE IF NOT EXISTS `\(database)`")
        try? await admin.shutdown()
        try await ClickHouseEventStore(client: client, tables: ClickHouseTables()).migrate()
        return try await SinkThroughputBenchmark.scalar(client, "SELECT count() FROM audit_events")
    }
}
