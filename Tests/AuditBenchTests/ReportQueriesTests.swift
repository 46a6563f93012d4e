import AuditBench
import AuditPipeProto
import AuditPipeTestSupport
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation
import NIOCore
import Testing

@Suite("bench report: data set and peer SQL")
struct ReportQueriesTests {
    @Test("month starts of the data set")
    func monthStarts() {
        // 2025-03-01T00:00:00Z = 1740787200 s; 2025-04-01 = 1743465600 s.
        #expect(ReportDataSet.monthStartMilliseconds(year: 2025, month: 3) == 1_740_787_200_000)
        #expect(ReportDataSet.monthStartMilliseconds(year: 2025, month: 4) == 1_743_465_600_000)
        // Month 13 is January of the next year.
        #expect(ReportDataSet.monthStartMilliseconds(year: 2025, month: 13) == ReportDataSet.monthStartMilliseconds(year: 2026, month: 1))
        #expect(ReportDataSet.reportRange.from == 1_740_787_200_000)
        #expect(ReportDataSet.reportRange.to == 1_743_465_600_000)
    }

    @Test("chunks cover every row exactly once, one month each, none over the limit", arguments: [
        (50_000_000, 10_000_000), (1_000_000, 10_000_000), (12_000, 1_000), (200_000_001, 10_000_000), (13, 5),
    ])
    func chunks(rows: Int, limit: Int) {
        let chunks = ReportDataSet.chunks(rows: rows, maxChunkRows: limit)
        var next = 0
        for chunk in chunks {
            #expect(chunk.first == next)
            #expect(chunk.count > 0 && chunk.count <= limit)
            #expect((1...12).contains(chunk.month))
            next += chunk.count
        }
        #expect(next == rows)
        #expect(chunks.map(\.month) == chunks.map(\.month).sorted())
        #expect(Set(chunks.map(\.month)).count == min(12, rows))
    }

    @Test("the peer wraps exactly the four pruning columns in identity()")
    func peerSQL() throws {
        let range = ReportDataSet.reportRange
        let query = ComplianceReportQuery(tenantID: "tenant-042", fromMilliseconds: range.from, toMilliseconds: range.to, eventTypes: ["auth"])
        let statement = try ComplianceReportStatement(query: query, table: AuditEventsTable(), cursors: ReportCursorCodec())
        let peer = try ReportPeerSQL.withoutPruning(statement.sql)
        #expect(peer.contains("identity(tenant_id) = {tenant:String}"))
        #expect(peer.contains("identity(timestamp) >= {from:"))
        #expect(peer.contains("identity(timestamp) < {to:"))
        #expect(peer.contains("identity(event_type) IN {event_types:Array(String)}"))
        // Nothing else changed: removing the wrappers gives the original back.
        var unwrapped = peer
        for column in ["tenant_id", "timestamp", "event_type"] {
            unwrapped = unwrapped.replacingOccurrences(of: "identity(\(column))", with: column)
        }
        #expect(unwrapped == statement.sql)
    }

    @Test("a statement without the event-type filter is refused, not silently half-rewritten")
    func peerSQLNeedsEveryCondition() throws {
        let range = ReportDataSet.reportRange
        let query = ComplianceReportQuery(tenantID: "tenant-042", fromMilliseconds: range.from, toMilliseconds: range.to)
        let statement = try ComplianceReportStatement(query: query, table: AuditEventsTable(), cursors: ReportCursorCodec())
        #expect(throws: BenchSetupError.self) { try ReportPeerSQL.withoutPruning(statement.sql) }
    }

    @Test("generated data: 12 monthly partitions of 2025, 100 tenants, same March answer with and without pruning",
          .enabled(if: TestService.available(.clickhouse, .clickhouseUser, .clickhousePassword)))
    func generatedDataSet() async throws {
        let rows = 120_000
        let database = TestEnvironment.uniqueName("bench_report")
        let url = try TestService.clickhouse.value
        let user = try TestService.clickhouseUser.value
        let password = try TestService.clickhousePassword.value
        let admin = try ClickHouseClient(configuration: .init(url: url, user: user, password: password))
        try await admin.execute("CREATE DATABASE `\(database)`")
        let client = try ClickHouseClient(configuration: .init(url: url, user: user, password: password, database: database))
        do {
            try await ClickHouseEventStore(client: client, tables: ClickHouseTables()).migrate()
            let sql = ReportDataSet.insertSQL(database: database, table: "audit_events")
            for chunk in ReportDataSet.chunks(rows: rows, maxChunkRows: 7_000) {
                try await client.execute(sql, parameters: ReportDataSet.parameters(of: chunk).mapValues { .raw($0) })
            }
            let summary = try await text(client, """
                SELECT count(), uniqExact(partition_id_), uniqExact(tenant_id), uniqExact(event_type), uniqExact(event_id),
                       toYear(min(timestamp)), toYear(max(timestamp))
                FROM (SELECT *, toYYYYMM(timestamp) AS partition_id_ FROM audit_events)
                """)
            #expect(summary == "\(rows)\t12\t\(ReportDataSet.tenantCount)\t\(ReportDataSet.eventTypes.count)\t\(rows)\t2025\t2025")
            // Month m holds exactly the rows of its chunk range.
            let march = try await text(client, "SELECT count(), min(kafka_offset), max(kafka_offset) FROM audit_events WHERE toMonth(timestamp) = 3")
            #expect(march == "\(rows / 12)\t\(2 * rows / 12)\t\(3 * rows / 12 - 1)")

            let range = ReportDataSet.reportRange
            let query = ComplianceReportQuery(tenantID: ReportDataSet.reportTenant, fromMilliseconds: range.from, toMilliseconds: range.to, eventTypes: ["auth"])
            let executor = ComplianceReportExecutor(client: client, table: AuditEventsTable(), cursors: ReportCursorCodec())
            let statement = try executor.statement(for: query)
            var ours: [String] = []
            try await executor.run(statement) { ours += try $0.decoded().events.map(\.event.eventID) }
            let response = try await client.query(try ReportPeerSQL.withoutPruning(statement.sql), parameters: statement.parameters, settings: statement.settings)
            var peer: [String] = []
            for try await row in response.body.rows() { peer.append(row["event_id"]?.stringValue ?? "") }
            let expected = try await text(client, """
                SELECT count() FROM audit_events WHERE tenant_id = '\(ReportDataSet.reportTenant)' AND event_type = 'auth' AND toMonth(timestamp) = 3
                """)
            #expect(!ours.isEmpty)
            #expect(String(ours.count) == expected)
            #expect(peer == ours)
        } catch {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
            try? await client.shutdown()
            try? await admin.shutdown()
            throw error
        }
        _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`")
        try? await client.shutdown()
        try? await admin.shutdown()
    }

    private func text(_ client: ClickHouseClient, _ sql: String) async throws -> String {
        let buffer = try await client.queryCollecting(sql + " FORMAT TabSeparated")
        return String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
