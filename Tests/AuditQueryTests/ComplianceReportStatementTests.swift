import AuditQuery
import ClickHouseHTTP
import Foundation
import Testing

@Suite("ComplianceReportStatement: SQL and parameters")
struct ComplianceReportStatementTests {
    let table = AuditEventsTable(database: "auditpipe", table: "audit_events")
    let codec = ReportCursorCodec()
    // 2026-03-01T00:00:00Z and 2026-04-01T00:00:00Z
    let march = (from: Int64(1_772_323_200_000), to: Int64(1_775_001_600_000))

    @Test func rowModeWithEveryFilter() throws {
        let query = ComplianceReportQuery(
            tenantID: "acme",
            fromMilliseconds: march.from,
            toMilliseconds: march.to,
            eventTypes: ["auth", "data_change", "auth"],
            actorIDs: ["alice"],
            resources: ["doc/1", "doc/2"],
            actions: ["login"],
            metadataEquals: ["ip": "10.0.0.1", "device": "phone"],
            limit: 1000
        )
        let statement = try ComplianceReportStatement(query: query, table: table, cursors: codec, maxExecutionTime: .seconds(30))
        #expect(statement.sql == """
            SELECT tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, ingested_at, schema_id, kafka_partition, kafka_offset
            FROM {database:Identifier}.{table:Identifier}
            WHERE tenant_id = {tenant:String}
              AND timestamp >= {from:DateTime64(3, 'UTC')}
              AND timestamp < {to:DateTime64(3, 'UTC')}
              AND event_type IN {event_types:Array(String)}
              AND actor_id IN {actor_ids:Array(String)}
              AND resource IN {resources:Array(String)}
              AND action IN {actions:Array(String)}
              AND mapContains(metadata, {k0:String}) AND metadata[{k0:String}] = {v0:String}
              AND mapContains(metadata, {k1:String}) AND metadata[{k1:String}] = {v1:String}
            ORDER BY timestamp, kafka_partition, kafka_offset
            LIMIT {limit:UInt64}
            FORMAT RowBinaryWithNamesAndTypes
            """)
        let wire = statement.parameters.mapValues(\.wireValue)
        #expect(wire == [
            "database": "auditpipe",
            "table": "audit_events",
            "tenant": "acme",
            "from": "2026-03-01 00:00:00.000",
            "to": "2026-04-01 00:00:00.000",
            "event_types": "['auth','data_change']",
            "actor_ids": "['alice']",
            "resources": "['doc/1','doc/2']",
            "actions": "['login']",
            "k0": "device", "v0": "phone",
            "k1": "ip", "v1": "10.0.0.1",
            "limit": "1000",
        ])
        #expect(statement.settings == ["max_execution_time": "30", "readonly": "2"])
        #expect(statement.mode == .rows)
    }

    @Test func minimalRowModeHasOnlyThePruningKey() throws {
        let query = ComplianceReportQuery(tenantID: "acme", fromMilliseconds: march.from, toMilliseconds: march.to)
        let statement = try ComplianceReportStatement(query: query, table: table, cursors: codec)
        #expect(statement.sql.contains("WHERE tenant_id = {tenant:String}\n  AND timestamp >= {from:DateTime64(3, 'UTC')}\n  AND timestamp < {to:DateTime64(3, 'UTC')}\nORDER BY"))
        #expect(!statement.sql.contains("LIMIT"))
        #expect(Set(statement.parameters.keys) == ["database", "table", "tenant", "from", "to"])
    }

    @Test func aggregateMode() throws {
        let query = ComplianceReportQuery(
            tenantID: "acme", fromMilliseconds: march.from, toMilliseconds: march.to,
            eventTypes: ["auth"], groupBy: [.eventType, .day, .actor, .action]
        )
        let statement = try ComplianceReportStatement(query: query, table: table, cursors: codec)
        #expect(statement.sql == """
            SELECT event_type, toString(toDate(timestamp)) AS day, actor_id, action, count() AS count
            FROM {database:Identifier}.{table:Identifier}
            WHERE tenant_id = {tenant:String}
              AND timestamp >= {from:DateTime64(3, 'UTC')}
              AND timestamp < {to:DateTime64(3, 'UTC')}
              AND event_type IN {event_types:Array(String)}
            GROUP BY event_type, day, actor_id, action
            ORDER BY event_type, day, actor_id, action
            FORMAT RowBinaryWithNamesAndTypes
            """)
        #expect(statement.columns.map(\.name) == ["event_type", "day", "actor_id", "action", "count"])
    }

    @Test func cursorAddsKeysetCondition() throws {
        var query = ComplianceReportQuery(tenantID: "acme", fromMilliseconds: march.from, toMilliseconds: march.to)
        let position = ReportPosition(timestampMilliseconds: march.from + 1234, kafkaPartition: 2, kafkaOffset: 99)
        query.cursor = codec.encode(position, for: query)
        let statement = try ComplianceReportStatement(query: query, table: table, cursors: codec)
        #expect(statement.after == position)
        #expect(statement.sql.contains("""
              AND timestamp >= {after_timestamp:DateTime64(3, 'UTC')}
              AND (timestamp, kafka_partition, kafka_offset) > ({after_timestamp:DateTime64(3, 'UTC')}, {after_partition:Int32}, {after_offset:Int64})
            """))
        #expect(statement.parameters["after_timestamp"]?.wireValue == "2026-03-01 00:00:01.234")
        #expect(statement.parameters["after_partition"]?.wireValue == "2")
        #expect(statement.parameters["after_offset"]?.wireValue == "99")
    }

    @Test(arguments: [
        "x' OR 1=1 --", "\\", "\0", "'", "a\tb\nc", "{tenant:String}", "') OR tenant_id != ('", "`; DROP TABLE audit_events; --",
    ])
    func valuesNeverReachTheSQLText(_ value: String) throws {
        let query = ComplianceReportQuery(
            tenantID: value, fromMilliseconds: march.from, toMilliseconds: march.to,
            eventTypes: [value], actorIDs: [value], resources: [value], actions: [value], metadataEquals: [value: value]
        )
        let statement = try ComplianceReportStatement(query: query, table: table, cursors: codec)
        let plain = ComplianceReportQuery(
            tenantID: "t", fromMilliseconds: march.from, toMilliseconds: march.to,
            eventTypes: ["e"], actorIDs: ["a"], resources: ["r"], actions: ["x"], metadataEquals: ["k": "v"]
        )
        // The SQL text does not depend on the values at all.
        #expect(statement.sql == (try ComplianceReportStatement(query: plain, table: table, cursors: codec)).sql)
        #expect(statement.parameters["tenant"] == .string(value))
        #expect(statement.parameters["v0"] == .string(value))
        #expect(statement.parameters["event_types"] == .strings([value]))
    }

    @Test func tableNamesMustBeIdentifiers() {
        for bad in ["", "a.b", "x`y", "1abc", "a b", "db;--"] {
            #expect(throws: ReportQueryError.self) {
                try ComplianceReportStatement(
                    query: ComplianceReportQuery(tenantID: "t", fromMilliseconds: 1, toMilliseconds: 2),
                    table: AuditEventsTable(database: bad), cursors: codec)
            }
        }
    }
}

@Suite("ComplianceReportQuery validation")
struct ComplianceReportQueryValidationTests {
    func violations(_ query: ComplianceReportQuery, limits: ReportQueryLimits = ReportQueryLimits()) -> [String: String] {
        do {
            try query.validate(limits: limits)
            return [:]
        } catch {
            return Dictionary(error.violations.map { ($0.field, $0.rule) }, uniquingKeysWith: { a, b in a + "," + b })
        }
    }

    @Test func validQueryPasses() {
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 1, toMilliseconds: 2)).isEmpty)
    }

    @Test func requiredFields() {
        #expect(violations(ComplianceReportQuery(tenantID: "", fromMilliseconds: 0, toMilliseconds: 0)) == [
            "tenant_id": "required", "from_ms": "required", "to_ms": "required",
        ])
    }

    @Test func rangeMustBeOrdered() {
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 5, toMilliseconds: 5)) == ["to_ms": "after_from"])
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 9, toMilliseconds: 5)) == ["to_ms": "after_from"])
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 1, toMilliseconds: 10_413_792_000_000)) == ["to_ms": "range"])
    }

    @Test func listAndValueLimits() {
        let limits = ReportQueryLimits(maxListCount: 3, maxValueBytes: 8, maxMetadataFilters: 1, maxMetadataKeyBytes: 4)
        let query = ComplianceReportQuery(
            tenantID: "t", fromMilliseconds: 1, toMilliseconds: 2,
            eventTypes: ["a", "b", "c", "d"],
            actorIDs: ["ok", "123456789"],
            resources: [""],
            metadataEquals: ["longkey": "v", "k": "123456789"]
        )
        #expect(violations(query, limits: limits) == [
            "event_types": "max_items",
            "actor_ids[1]": "max_length",
            "resources[0]": "required",
            "metadata_equals": "max_items",
            "metadata_equals[\"longkey\"] key": "max_length",
            "metadata_equals[\"k\"]": "max_length",
        ])
    }

    @Test func groupByRules() {
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 1, toMilliseconds: 2, groupBy: [.day, .day])) == ["group_by[1]": "unique"])
        #expect(violations(ComplianceReportQuery(tenantID: "t", fromMilliseconds: 1, toMilliseconds: 2, groupBy: [.day], cursor: "abc", limit: 3)) == [
            "cursor": "row_mode_only", "limit": "row_mode_only",
        ])
    }

    @Test func messageNamesTheFieldAndTheFix() {
        #expect(throws: ReportQueryError.self) { try ComplianceReportQuery(tenantID: "t", fromMilliseconds: 9, toMilliseconds: 5).validate() }
        do {
            try ComplianceReportQuery(tenantID: "t", fromMilliseconds: 9, toMilliseconds: 5).validate()
        } catch {
            #expect(error.description == "invalid compliance report request: to_ms: to_ms (5) must be after from_ms (9): the range is [from, to)")
        }
    }
}
