import AuditPipeTestSupport
import Foundation
import NIOCore
import Testing
@testable import ClickHouseHTTP

/// Against the real ClickHouse of `Deploy/dev/up` (AUDITPIPE_CLICKHOUSE_URL / _USER / _PASSWORD).
@Suite("ClickHouse integration", .enabled(if: TestService.available(.clickhouse, .clickhouseUser, .clickhousePassword)))
struct ClickHouseIntegrationTests {
    static func makeClient(database: String? = nil) throws -> ClickHouseClient {
        try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: try TestService.clickhouse.value,
            user: try TestService.clickhouseUser.value,
            password: try TestService.clickhousePassword.value,
            database: database
        ))
    }

    /// Runs `body` with a client whose default database is a fresh one, dropped afterwards.
    static func withDatabase(_ body: (ClickHouseClient, String) async throws -> Void) async throws {
        let admin = try makeClient()
        let database = TestEnvironment.uniqueName("test_ch")
        try await admin.execute("CREATE DATABASE \(database)")
        let client = try makeClient(database: database)
        do {
            try await body(client, database)
        } catch {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(database) SYNC")
            try? await client.shutdown()
            try? await admin.shutdown()
            throw error
        }
        try await admin.execute("DROP DATABASE IF EXISTS \(database) SYNC")
        try await client.shutdown()
        try await admin.shutdown()
    }

    static let eventColumns: [ClickHouseColumn] = [
        .init("tenant", .lowCardinality(.string)),
        .init("user_id", .string),
        .init("event_id", .fixedString(16)),
        .init("ts", .dateTime64(precision: 3, timezone: "UTC")),
        .init("kind", .uint8),
        .init("seq", .uint64),
        .init("delta", .int64),
        .init("code", .int32),
        .init("attrs", .map(.string, .string)),
        .init("tags", .array(.string)),
        .init("note", .nullable(.string)),
    ]

    static let createTable = """
        CREATE TABLE events (
            tenant LowCardinality(String), user_id String, event_id FixedString(16),
            ts DateTime64(3, 'UTC'), kind UInt8, seq UInt64, delta Int64, code Int32,
            attrs Map(String, String), tags Array(String), note Nullable(String)
        ) ENGINE = MergeTree ORDER BY (tenant, user_id, ts)
        SETTINGS non_replicated_deduplication_window = 100
        """

    static func row(_ index: Int, user: String) -> [ClickHouseValue] {
        var eventID = Array("evt-\(index)".utf8)
        eventID += Array(repeating: UInt8(ascii: "_"), count: 16 - eventID.count)
        return [
            .string("acme"), .string(user), .bytes(eventID), .time(1_767_225_600_000 + Int64(index)),
            .uint(UInt64(index % 256)), .uint(UInt64.max - UInt64(index)), .int(-Int64(index) * 1_000_000_007),
            .int(Int64(Int32.min) + Int64(index)), .stringMap(["ip": "10.0.0.\(index % 256)", "agent": "t\\e\tst\n"]),
            .strings(["a", "b'c", "\(index)"]), index % 3 == 0 ? .null : .string("n\(index)"),
        ]
    }

    @Test func dedupedGzipInsertAndStreamingSelectWithParameters() async throws {
        try await Self.withDatabase { client, _ in
            try await client.execute(Self.createTable)
            let hostile = "x' OR 1=1 --"
            var writer = RowBinaryWriter(columns: Self.eventColumns)
            var expected: [[ClickHouseValue]] = []
            for index in 0..<1000 {
                let row = Self.row(index, user: index % 10 == 0 ? hostile : "user-\(index % 7)")
                try writer.append(row)
                expected.append(row)
            }
            let token = "audit-events:0:0-999"
            let first = try await client.insert(table: "events", body: writer.buffer, deduplicationToken: token)
            let second = try await client.insert(table: "events", body: writer.buffer, deduplicationToken: token)
            #expect(first.writtenRows == 1000)
            #expect(first.queryID != second.queryID)
            let count = try await client.queryCollecting("SELECT count() FROM events FORMAT TabSeparated")
            #expect(String(buffer: count) == "1000\n")

            // Hostile value as a parameter: matches exactly the 100 rows that hold it, nothing more.
            let response = try await client.query(
                "SELECT * FROM events WHERE user_id = {user:String} AND tenant = {tenant:String} ORDER BY ts FORMAT RowBinaryWithNamesAndTypes",
                parameters: ["user": .string(hostile), "tenant": "acme"]
            )
            var rows: [ClickHouseRow] = []
            for try await row in response.body.rows() { rows.append(row) }
            let expectedHostile = expected.filter { $0[1] == .string(hostile) }
            #expect(rows.count == 100)
            #expect(rows.map(\.values) == expectedHostile)
            #expect(rows.first?.columns == Self.eventColumns)
            #expect(rows.first?["user_id"]?.stringValue == hostile)

            let none = try await client.queryCollecting(
                "SELECT count() FROM events WHERE user_id = {user:String} FORMAT TabSeparated",
                parameters: ["user": "nobody' OR '1'='1"])
            #expect(String(buffer: none) == "0\n")

            // The same hostile value (and a tab, a newline, a backslash) in an external table.
            var keys = ClickHouseExternalTable(name: "keys", structure: "tenant String, user_id String")
            for pair in [("acme", hostile), ("acme", "nobody' OR '1'='1"), ("other", hostile), ("acme", "a\tb\nc\\")] { keys.appendRow([pair.0, pair.1]) }
            let pairs = try await client.query(
                "SELECT count() FROM events WHERE (tenant, user_id) IN keys FORMAT TabSeparated", externalTable: keys)
            #expect(String(buffer: try await pairs.body.collect(upTo: 1024)) == "100\n")
            let echoed = try await client.query("SELECT hex(user_id) FROM keys ORDER BY tenant, user_id FORMAT TabSeparated", externalTable: keys)
            let hex = { (text: String) in text.utf8.map { String(format: "%02X", $0) }.joined() }
            let expectedHex = ["a\tb\nc\\", "nobody' OR '1'='1", hostile, hostile].map(hex).joined(separator: "\n") + "\n"
            #expect(String(buffer: try await echoed.body.collect(upTo: 1024)) == expectedHex)
        }
    }

    @Test func writerMatchesTheServersOwnRowBinary() async throws {
        let client = try Self.makeClient()
        let body = try await client.queryCollecting("""
            SELECT toLowCardinality('acme') AS tenant, 'u1' AS user_id, toFixedString('evt-1___________', 16) AS event_id,
                   toDateTime64('2026-01-01 00:00:00.123', 3, 'UTC') AS ts, toUInt8(200) AS kind, toUInt64(18446744073709551615) AS seq,
                   toInt64(-42) AS delta, toInt32(-2147483648) AS code, map('ip', '10.0.0.1') AS attrs, ['a', 'b'] AS tags,
                   CAST(NULL, 'Nullable(String)') AS note
            FORMAT RowBinaryWithNamesAndTypes
            """)
        var writer = RowBinaryWriter(columns: Self.eventColumns)
        try writer.append([
            .string("acme"), .string("u1"), .string("evt-1___________"), .time(1_767_225_600_123), .uint(200), .uint(UInt64.max),
            .int(-42), .int(Int64(Int32.min)), .stringMap(["ip": "10.0.0.1"]), .strings(["a", "b"]), .null,
        ])
        #expect(Array(body.readableBytesView) == Array(writer.buffer.readableBytesView))
        try await client.shutdown()
    }

    @Test func errorAfterManyRowsNeverLooksLikeACompleteAnswer() async throws {
        let client = try Self.makeClient()
        for format in ["TabSeparated", "JSONEachRow"] {
            let response = try await client.query(
                "SELECT number, throwIf(number = 300000, 'boom') AS t FROM numbers(1000000) FORMAT \(format)",
                settings: ["max_block_size": "1000"])
            var lines = 0
            do {
                for try await line in response.body.lines {
                    // No exception text is ever handed out as data.
                    #expect(!line.contains("__exception__") && !line.contains("DB::Exception"), "\(line)")
                    lines += 1
                }
                Issue.record("the \(format) stream ended normally despite the server's exception")
            } catch let error as ClickHouseError {
                #expect(error.queryID == response.queryID)
                // Either the exception arrived (then it is exact) or AsyncHTTPClient dropped the
                // tail and the cut is a retriable network error; see ClickHouseResponseBody.
                switch error.kind {
                case .server:
                    #expect(error.code == 395)
                    #expect(error.name == "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO")
                    #expect(error.message.contains("boom"))
                case .network:
                    #expect(error.isRetriable)
                    #expect(error.message.contains("wait_end_of_query"))
                default:
                    Issue.record("unexpected error \(error)")
                }
            }
            #expect(lines > 0 && lines <= 300000, "\(lines) lines before the error")
        }
        try await client.shutdown()
    }

    @Test func waitEndOfQueryGivesTheExactCode() async throws {
        let client = try Self.makeClient()
        for _ in 0..<3 {
            do {
                let response = try await client.query(
                    "SELECT number, throwIf(number = 300000, 'boom') AS t FROM numbers(1000000) FORMAT TabSeparated",
                    settings: ["max_block_size": "1000", "wait_end_of_query": "1"])
                for try await _ in response.body {}
                Issue.record("the stream ended normally despite the server's exception")
            } catch let error as ClickHouseError {
                #expect(error.kind == .server)
                #expect(error.code == 395)
                #expect(error.category == .rejectedData)
                #expect(error.message.contains("boom"))
            }
        }
        try await client.shutdown()
    }

    @Test func serverErrorsCarryCodeAndCategory() async throws {
        try await Self.withDatabase { client, _ in
            do {
                try await client.execute("SELECT * FROM no_such_table")
                Issue.record("query on a missing table succeeded")
            } catch let error as ClickHouseError {
                #expect(error.code == 60)
                #expect(error.name == "UNKNOWN_TABLE")
                #expect(error.category == .operatorAction)
                #expect(!error.isRetriable)
                #expect(error.httpStatus == 404)
            }
        }
        let client = try Self.makeClient()
        do {
            _ = try await client.query("SELEC 1")
            Issue.record("a syntax error succeeded")
        } catch let error as ClickHouseError {
            #expect(error.code == 62)
            #expect(error.category == .invalidRequest)
        }
        do {
            _ = try await client.queryCollecting("SELECT sleepEachRow(0.5) FROM numbers(10) SETTINGS max_block_size = 1", settings: ["max_execution_time": "1"])
            Issue.record("max_execution_time was not enforced")
        } catch let error as ClickHouseError {
            #expect(error.code == 159)
            #expect(error.isRetriable)
        }
        try await client.shutdown()
    }

    @Test func insertWithWrongColumnTypeIsRejectedWithACode() async throws {
        try await Self.withDatabase { client, _ in
            try await client.execute("CREATE TABLE t (id UInt64, name String) ENGINE = MergeTree ORDER BY id")
            var writer = RowBinaryWriter(columns: [.init("id", .string), .init("name", .string)])
            try writer.append([.string("not a number"), .string("x")])
            do {
                try await client.insert(table: "t", body: writer.buffer)
                Issue.record("the server accepted a String for a UInt64 column")
            } catch let error as ClickHouseError {
                #expect(error.kind == .server)
                #expect(error.code != nil)
                #expect(!error.isRetriable, "\(error)")
            }
            do {
                try await client.insert(table: "missing", body: writer.buffer)
                Issue.record("insert into a missing table succeeded")
            } catch let error as ClickHouseError {
                #expect(error.code == 60)
            }
        }
    }

    static func isRunning(_ queryID: String, on client: ClickHouseClient) async throws -> Bool {
        let body = try await client.queryCollecting(
            "SELECT count() FROM system.processes WHERE query_id = {id:String} FORMAT TabSeparated",
            parameters: ["id": .string(queryID)])
        return String(buffer: body) != "0\n"
    }

    static func waitUntil(_ running: Bool, _ queryID: String, on client: ClickHouseClient) async throws -> Bool {
        for _ in 0..<100 {
            if try await isRunning(queryID, on: client) == running { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func cancellingTheConsumerKillsAStreamingQuery() async throws {
        let client = try Self.makeClient()
        let observer = try Self.makeClient()
        let queryID = TestEnvironment.uniqueName("cancel_stream")
        let consumer = Task {
            let response = try await client.query(
                "SELECT number, sleepEachRow(0.05) FROM numbers(100000) FORMAT TabSeparated",
                settings: ["max_block_size": "1", "max_execution_time": "600"], queryID: queryID)
            var lines = 0
            for try await _ in response.body.lines { lines += 1 }
            return lines
        }
        #expect(try await Self.waitUntil(true, queryID, on: observer))
        try await Task.sleep(for: .milliseconds(300))
        consumer.cancel()
        let result = await consumer.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(try await Self.waitUntil(false, queryID, on: observer), "the query still runs after cancellation")
        try await client.shutdown()
        try await observer.shutdown()
    }

    @Test func cancellingBeforeTheFirstByteKillsTheQuery() async throws {
        let client = try Self.makeClient()
        let observer = try Self.makeClient()
        let queryID = TestEnvironment.uniqueName("cancel_headers")
        let consumer = Task {
            // An aggregate: no byte of output until it ends (minutes from now).
            _ = try await client.query(
                "SELECT sum(sleepEachRow(0.01)) FROM numbers(100000) FORMAT TabSeparated",
                settings: ["max_block_size": "10", "max_execution_time": "600"], queryID: queryID)
        }
        #expect(try await Self.waitUntil(true, queryID, on: observer))
        consumer.cancel()
        let result = await consumer.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(try await Self.waitUntil(false, queryID, on: observer), "the query still runs after cancellation")
        try await client.shutdown()
        try await observer.shutdown()
    }

    @Test func abandoningTheBodyKillsTheQuery() async throws {
        let client = try Self.makeClient()
        let observer = try Self.makeClient()
        let queryID = TestEnvironment.uniqueName("abandon")
        do {
            let response = try await client.query(
                "SELECT number, sleepEachRow(0.05) FROM numbers(100000) FORMAT TabSeparated",
                settings: ["max_block_size": "1", "max_execution_time": "600"], queryID: queryID)
            for try await line in response.body.lines where line.hasPrefix("3\t") { break }
        }
        #expect(try await Self.waitUntil(false, queryID, on: observer), "the abandoned query still runs")
        try await client.shutdown()
        try await observer.shutdown()
    }
}
