import AuditPipeProto
import AuditPipeTestSupport
import AuditQuery
import ClickHouseHTTP
import Foundation
import GRPCCore
import NIOCore
import SwiftProtobuf
import Testing

/// Reports against the real ClickHouse of `Deploy/dev/up`. Serialized: the memory and
/// `system.processes` checks must not see other tests' queries.
@Suite("ComplianceReport against ClickHouse", .serialized, .enabled(if: TestService.available(.clickhouse, .clickhouseUser, .clickhousePassword)))
struct ComplianceReportIntegrationTests {
    let model = SyntheticEvents(count: 36_000)
    let march = SyntheticEvents.march2025
    /// One codec for the whole suite: cursors issued by one run must resume in the next.
    let cursors = ReportCursorCodec()

    /// Runs a report to its end and returns its chunks as a receiver decodes them. Small pieces
    /// and chunks by default, so that every report here crosses piece and chunk boundaries.
    func run(
        _ fixture: ClickHouseFixture, _ query: ComplianceReportQuery,
        pieceBytes: Int = 32 << 10, chunkBytes: Int = 4 << 10, maxExecutionTime: Duration = .seconds(60), queryID: String? = nil
    ) async throws -> [Auditpipe_V1_ComplianceReportChunk] {
        let executor = ComplianceReportExecutor(
            client: fixture.client, table: fixture.table, cursors: cursors, maxExecutionTime: maxExecutionTime,
            pieceBytes: pieceBytes, chunkBytes: chunkBytes, aggregatesPerChunk: 7
        )
        var chunks: [Auditpipe_V1_ComplianceReportChunk] = []
        try await executor.run(try executor.statement(for: query), queryID: queryID) { chunk in
            let decoded = try chunk.decoded()
            #expect(decoded.events.count + decoded.aggregates.count == chunk.rowCount)
            chunks.append(decoded)
        }
        return chunks
    }

    /// The pieces of report `queryID` in `system.query_log` (`QueryFinish` or exceptions), in order.
    func pieces(_ fixture: ClickHouseFixture, _ queryID: String) async throws -> [(type: String, readRows: Int, resultRows: Int, selectedParts: Int)] {
        try await fixture.client.execute("SYSTEM FLUSH LOGS")
        return try await fixture.rows("""
            SELECT type, read_rows, result_rows, ProfileEvents['SelectedParts'] FROM system.query_log
            WHERE query_id LIKE {prefix:String} AND NOT endsWith(query_id, '-estimate') AND type != 'QueryStart' AND event_date >= yesterday()
            ORDER BY toUInt64(splitByChar('-', query_id)[-1])
            """, ["prefix": .string(queryID + "-%")]).compactMap { row in
                guard !row[0].isEmpty, let read = Int(row[1]), let result = Int(row[2]), let parts = Int(row[3]) else { return nil }
                return (row[0], read, result, parts)
            }
    }

    func ids(_ chunks: [Auditpipe_V1_ComplianceReportChunk]) -> [String] { chunks.flatMap(\.events).map(\.event.eventID) }

    @Test func rowsMatchTheModelInOrderWithEveryField() async throws {
        try await ClickHouseFixture.with("rq_rows") { fixture in
            try await fixture.insert(model)
            let query = ComplianceReportQuery(tenantID: "tenant_1", fromMilliseconds: march.from, toMilliseconds: march.to, eventTypes: ["auth"])
            let chunks = try await run(fixture, query, pieceBytes: 8 << 10, chunkBytes: 2 << 10)
            let expected = model.expected { $0.tenant == "tenant_1" && $0.type == "auth" && $0.timestamp >= march.from && $0.timestamp < march.to }
            #expect(expected.count > 200)
            #expect(ids(chunks) == expected.map(\.id))
            #expect(chunks.count > 10)
            let first = try #require(chunks.first?.events.first)
            let want = expected[0]
            #expect(first.event.tenantID == want.tenant)
            #expect(first.event.eventType == want.type)
            #expect(first.event.timestampMs == want.timestamp)
            #expect(first.event.actorID == want.actor)
            #expect(first.event.resource == want.resource)
            #expect(first.event.action == want.action)
            #expect(first.event.metadata == want.metadata)
            #expect(first.ingestedAtMs == want.timestamp + 1000)
            #expect(first.schemaID == 1)
            #expect(first.kafkaPartition == want.partition)
            #expect(first.kafkaOffset == want.offset)
        }
    }

    @Test func everyFilterCombined() async throws {
        try await ClickHouseFixture.with("rq_filters") { fixture in
            try await fixture.insert(model)
            let query = ComplianceReportQuery(
                tenantID: "tenant_2", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: march.to,
                eventTypes: ["auth", "permission_change"], actorIDs: ["user_1", "user_3"], resources: ["doc/2", "doc/5", "doc/7"],
                actions: ["login", "grant"], metadataEquals: ["ip": "10.0.0.2"]
            )
            let expected = model.expected {
                $0.tenant == "tenant_2" && $0.timestamp < march.to && ["auth", "permission_change"].contains($0.type)
                    && ["user_1", "user_3"].contains($0.actor) && ["doc/2", "doc/5", "doc/7"].contains($0.resource)
                    && ["login", "grant"].contains($0.action) && $0.metadata["ip"] == "10.0.0.2"
            }
            #expect(!expected.isEmpty)
            #expect(ids(try await run(fixture, query)) == expected.map(\.id))
            // A metadata filter with an empty value matches only events that have the key.
            var empty = query
            empty.metadataEquals = ["absent": ""]
            #expect(ids(try await run(fixture, empty)).isEmpty)
        }
    }

    @Test func aggregatesMatchTheModel() async throws {
        try await ClickHouseFixture.with("rq_aggregates") { fixture in
            try await fixture.insert(model)
            let query = ComplianceReportQuery(
                tenantID: "tenant_3", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: march.to,
                groupBy: [.eventType, .day]
            )
            let aggregates = try await run(fixture, query).flatMap(\.aggregates)
            var expected: [String: UInt64] = [:]
            for event in model.expected(where: { $0.tenant == "tenant_3" && $0.timestamp < march.to }) {
                let day = ISO8601DateFormatter.string(from: Date(timeIntervalSince1970: Double(event.timestamp / 1000)), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
                expected["\(event.type)|\(day)", default: 0] += 1
            }
            #expect(aggregates.count == expected.count)
            #expect(Dictionary(uniqueKeysWithValues: aggregates.map { ("\($0.eventType)|\($0.day)", $0.count) }) == expected)
            #expect(aggregates.allSatisfy { $0.actorID.isEmpty && $0.action.isEmpty })
            // Ordered by the grouping keys.
            let keys = aggregates.map { "\($0.eventType)|\($0.day)" }
            #expect(keys == keys.sorted())

            let byActorAction = try await run(fixture, ComplianceReportQuery(
                tenantID: "tenant_3", fromMilliseconds: march.from, toMilliseconds: march.to, groupBy: [.actor, .action]))
            var expectedPairs: [String: UInt64] = [:]
            for event in model.expected(where: { $0.tenant == "tenant_3" && $0.timestamp >= march.from && $0.timestamp < march.to }) {
                expectedPairs["\(event.actor)|\(event.action)", default: 0] += 1
            }
            #expect(Dictionary(uniqueKeysWithValues: byActorAction.flatMap(\.aggregates).map { ("\($0.actorID)|\($0.action)", $0.count) }) == expectedPairs)
        }
    }

    @Test func cursorResumeReturnsExactlyTheRest() async throws {
        try await ClickHouseFixture.with("rq_cursor") { fixture in
            try await fixture.insert(model)
            // Many events share a timestamp bucket boundary only by (partition, offset): add three
            // events with the same timestamp to exercise the tie-break.
            var ties: [SyntheticEvents.Event] = []
            for partition in Int32(0)..<3 {
                var event = model.event(0)
                event.tenant = "tenant_0"
                event.type = "auth"
                event.timestamp = march.from + 5_000
                event.id = "tie\(partition)"
                event.partition = partition
                event.offset = 1_000_000
                ties.append(event)
            }
            try await fixture.insert(ties)
            let base = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: march.from, toMilliseconds: march.to, eventTypes: ["auth"])
            let all = ids(try await run(fixture, base))
            #expect(all.count > 250)
            for cut in [1, 2, 3, 4, 137, all.count - 1] {
                var first = base
                first.limit = UInt64(cut)
                let head = try await run(fixture, first, pieceBytes: 4 << 10, chunkBytes: 1 << 10)
                let cursor = try #require(head.last?.nextCursor)
                var rest = base
                rest.cursor = cursor
                let tail = try await run(fixture, rest, pieceBytes: 16 << 10)
                #expect(ids(head) + ids(tail) == all, "cut at \(cut)")
            }
            // Every chunk's cursor resumes right after that chunk.
            let chunks = try await run(fixture, base, chunkBytes: 1 << 10)
            var seen = 0
            for chunk in chunks.dropLast() {
                seen += chunk.events.count
                var rest = base
                rest.cursor = chunk.nextCursor
                #expect(ids(try await run(fixture, rest)) == Array(all[seen...]))
            }
            // A cursor of tenant_0's report is refused for tenant_1.
            var other = base
            other.tenantID = "tenant_1"
            other.cursor = chunks[0].nextCursor
            await #expect(throws: ReportQueryError.self) { _ = try await run(fixture, other) }
        }
    }

    static let injections = [
        "x' OR 1=1 --", "\\", "\\'", "\0", "'", "\"", "a\tb\nc\r", "{tenant:String}", "') OR tenant_id != ('",
        "tenant_1' OR tenant_id LIKE '%", "%", "`; DROP DATABASE x; --", "\\0", "😀 ünïcödé",
    ]

    @Test func injectionAttemptsInEveryFilterReturnNoOtherTenantsRows() async throws {
        try await ClickHouseFixture.with("rq_injection") { fixture in
            try await fixture.insert(model)
            // One tenant_0 event per injection string, carrying it in every field.
            var planted: [SyntheticEvents.Event] = []
            for (index, value) in Self.injections.enumerated() {
                planted.append(.init(
                    tenant: "tenant_0", type: value, id: "inj\(index)", actor: value, resource: value, action: value,
                    timestamp: march.from + Int64(index), metadata: [value: value], partition: 0, offset: Int64(9_000_000 + index)
                ))
            }
            try await fixture.insert(planted)
            for (index, value) in Self.injections.enumerated() {
                func report(_ edit: (inout ComplianceReportQuery) -> Void) async throws -> [Auditpipe_V1_StoredEvent] {
                    var query = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: march.from, toMilliseconds: march.to)
                    edit(&query)
                    return try await run(fixture, query).flatMap(\.events)
                }
                // Each filter alone finds exactly the planted event: the value arrived byte for byte.
                let filters: [(String, (inout ComplianceReportQuery) -> Void)] = [
                    ("event_types", { $0.eventTypes = [value] }),
                    ("actor_ids", { $0.actorIDs = [value] }),
                    ("resources", { $0.resources = [value] }),
                    ("actions", { $0.actions = [value] }),
                    ("metadata key+value", { $0.metadataEquals = [value: value] }),
                ]
                for (name, edit) in filters {
                    let events = try await report(edit)
                    #expect(events.map(\.event.eventID) == ["inj\(index)"], "\(name) = \(value.debugDescription)")
                }
                // As the tenant, it selects nothing (no tenant has that name), never another tenant's rows.
                let asTenant = try await run(fixture, ComplianceReportQuery(tenantID: value, fromMilliseconds: march.from, toMilliseconds: march.to))
                #expect(asTenant.isEmpty, "tenant_id = \(value.debugDescription)")
                // Injection in tenant plus filters: still nothing.
                let combined = try await run(fixture, ComplianceReportQuery(
                    tenantID: "tenant_9' OR '1'='1", fromMilliseconds: march.from, toMilliseconds: march.to, eventTypes: [value], metadataEquals: [value: value]))
                #expect(combined.isEmpty)
            }
        }
    }

    /// "All auth events for tenant X in March" reads only March's partition and only the
    /// granules of that tenant and event type. Fails if the WHERE clause stops using the key.
    @Test func marchAuthReportIsPrunedByPartitionAndPrimaryKey() async throws {
        try await ClickHouseFixture.with("rq_pruning") { fixture in
            let big = SyntheticEvents(count: 2_400_000, tenants: 8)
            try await fixture.insert(big)
            let query = ComplianceReportQuery(tenantID: "tenant_5", fromMilliseconds: march.from, toMilliseconds: march.to, eventTypes: ["auth"])
            let executor = ComplianceReportExecutor(client: fixture.client, table: fixture.table, cursors: ReportCursorCodec())
            let statement = try executor.statement(for: query)
            let queryID = "rq-pruning-\(UUID().uuidString.lowercased())"
            var returned = 0
            try await executor.run(statement, queryID: queryID) { returned += $0.rowCount }
            let expectedCount = (0..<big.count).lazy.map(big.event).filter {
                $0.tenant == "tenant_5" && $0.type == "auth" && $0.timestamp >= march.from && $0.timestamp < march.to
            }.count
            #expect(returned == expectedCount)

            // The estimate sizes the first window: a report that fits one piece is one query.
            let log = try await pieces(fixture, queryID)
            #expect(log.count == 1, "\(log)")
            let readRows = log.reduce(0) { $0 + $1.readRows }
            let selectedParts = log.map(\.selectedParts).max() ?? 0
            try await fixture.client.execute("SYSTEM FLUSH LOGS")
            let marks = try await fixture.rows("""
                SELECT sum(ProfileEvents['SelectedMarks']) FROM system.query_log
                WHERE query_id LIKE {prefix:String} AND NOT endsWith(query_id, '-estimate') AND type = 'QueryFinish' AND event_date >= yesterday()
                """, ["prefix": .string(queryID + "-%")])
            let selectedMarks = Int(marks.first?.first ?? "") ?? -1
            let parts = try await fixture.rows("""
                SELECT partition, count(), sum(rows) FROM system.parts
                WHERE database = {db:String} AND table = 'audit_events' AND active GROUP BY partition ORDER BY partition
                """, ["db": .string(fixture.database)])
            let totalRows = parts.reduce(0) { $0 + Int($1[2])! }
            let marchParts = try #require(parts.first { $0[0] == "202503" }.map { Int($0[1])! })
            #expect(parts.count == 12)
            #expect(totalRows == big.count)
            let granule = 8192
            // The tenant's March auth rows, rounded up to granules, plus one granule at each end of
            // every March part.
            let bound = ((expectedCount + granule - 1) / granule + 2 * marchParts) * granule
            #expect(selectedParts == marchParts, "partition pruning: read \(selectedParts) parts, March has \(marchParts)")
            #expect(readRows <= bound, "read \(readRows) rows to return \(expectedCount); bound \(bound)")
            #expect(selectedMarks <= bound / granule)
            #expect(readRows * 50 < totalRows)
            print("pruning: returned \(returned), read_rows \(readRows) in \(log.count) piece(s), selected parts \(selectedParts)/\(parts.reduce(0) { $0 + Int($1[1])! }), marks \(selectedMarks), table rows \(totalRows), bound \(bound)")

            // EXPLAIN indexes=1 shows the same selection.
            let explain = try await fixture.client.queryCollecting(
                "EXPLAIN indexes = 1 " + statement.sql.replacingOccurrences(of: "\nFORMAT RowBinaryWithNamesAndTypes", with: "") + " FORMAT TabSeparatedRaw",
                parameters: statement.parameters
            )
            let text = String(buffer: explain)
            print(text)
            #expect(text.contains("Partition"))
            #expect(text.contains("PrimaryKey"))
        }
    }

    @Test func largeReportStreamsWithBoundedMemory() async throws {
        try await ClickHouseFixture.with("rq_stream") { fixture in
            // 200k events of one tenant, each with ~600 bytes of metadata: a ~130 MB answer.
            let big = SyntheticEvents(count: 200_000, tenants: 1, padding: 600)
            try await fixture.insert(big)
            let query = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: SyntheticEvents.year2025 + 366 * 86_400_000)
            // The default piece size.
            let executor = ComplianceReportExecutor(client: fixture.client, table: fixture.table, cursors: ReportCursorCodec())
            let queryID = "rq-stream-\(UUID().uuidString.lowercased())"
            let baseline = ProcessMemory.residentBytes()
            var peak = baseline
            var events = 0
            var bytes = 0
            var chunks = 0
            var openDuringPause = -1
            var previous: (Int64, Int32, Int64) = (0, 0, 0)
            var ordered = true
            try await executor.run(try executor.statement(for: query), queryID: queryID) { chunk in
                chunks += 1
                let serialized = Array(chunk.bytes.readableBytesView)
                bytes += serialized.count
                #expect(serialized.count < 2 << 20, "a chunk of \(serialized.count) bytes")
                let decoded = try Auditpipe_V1_ComplianceReportChunk(serializedBytes: serialized)
                events += decoded.events.count
                for event in decoded.events {
                    let key = (event.event.timestampMs, event.kafkaPartition, event.kafkaOffset)
                    if key <= previous { ordered = false }
                    previous = key
                }
                if chunks == 1 {
                    // A paused reader holds no query open: the piece was read whole, and the next
                    // one (fetched meanwhile) finishes on its own.
                    try await Task.sleep(for: .seconds(2))
                    openDuringPause = Int(try await fixture.rows(
                        "SELECT count() FROM system.processes WHERE query_id LIKE {prefix:String}", ["prefix": .string(queryID + "-%")]
                    ).first?.first ?? "") ?? -1
                }
                if chunks % 20 == 0 { peak = max(peak, ProcessMemory.residentBytes()) }
            }
            peak = max(peak, ProcessMemory.residentBytes())
            #expect(events == 200_000)
            #expect(ordered)
            #expect(openDuringPause == 0, "\(openDuringPause) queries of the report ran while its reader paused")
            #expect(bytes > 120_000_000)
            let log = try await pieces(fixture, queryID)
            #expect(log.count > 4 && log.allSatisfy { $0.type == "QueryFinish" }, "\(log)")
            // Pieces read about what they return (edge granules of each piece's window aside).
            #expect(log.reduce(0) { $0 + $1.readRows } < 2 * 200_000)
            print("streaming: \(events) events in \(chunks) chunks and \(log.count) pieces, \(bytes) bytes, rows read \(log.reduce(0) { $0 + $1.readRows }), RSS baseline \(baseline >> 20) MiB, peak \(peak >> 20) MiB")
            #expect(peak - baseline < 96 << 20, "RSS grew by \((peak - baseline) >> 20) MiB for a \(bytes >> 20) MiB report")
        }
    }

    /// Reports of any length complete: with a 1-second `max_execution_time` and a reader that
    /// takes far longer than that, every event arrives exactly once, in order, and no query of
    /// the report fails.
    @Test func slowReaderUnderATinyTimeLimitGetsEveryEventOnceInOrder() async throws {
        try await ClickHouseFixture.with("rq_slow") { fixture in
            let model = SyntheticEvents(count: 120_000, tenants: 1, padding: 300)
            try await fixture.insert(model)
            // Three events sharing one timestamp across partitions, to cross a piece boundary on a tie.
            var ties: [SyntheticEvents.Event] = []
            for partition in Int32(0)..<3 {
                var event = model.event(60_000)
                event.id = "tie\(partition)"
                event.partition = partition
                event.offset = 5_000_000 + Int64(partition)
                ties.append(event)
            }
            try await fixture.insert(ties)
            let query = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: SyntheticEvents.year2025 + 366 * 86_400_000)
            let queryID = "rq-slow-\(UUID().uuidString.lowercased())"
            let started = ContinuousClock.now
            let executor = ComplianceReportExecutor(
                client: fixture.client, table: fixture.table, cursors: cursors, maxExecutionTime: .seconds(1),
                pieceBytes: 1 << 20, chunkBytes: 64 << 10
            )
            var received: [String] = []
            var positions: [(Int64, Int32, Int64)] = []
            try await executor.run(try executor.statement(for: query), queryID: queryID) { chunk in
                for event in try chunk.decoded().events {
                    received.append(event.event.eventID)
                    positions.append((event.event.timestampMs, event.kafkaPartition, event.kafkaOffset))
                }
                try await Task.sleep(for: .milliseconds(20))  // a slow reader: about 8 s in all
            }
            let elapsed = ContinuousClock.now - started
            let expected = (model.expected { _ in true } + ties).sorted {
                ($0.timestamp, $0.partition, $0.offset) < ($1.timestamp, $1.partition, $1.offset)
            }
            #expect(received.count == expected.count)
            #expect(Set(received).count == received.count, "an event arrived twice")
            #expect(received == expected.map(\.id))
            #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 })
            #expect(elapsed > .seconds(3), "the reader was not slow: \(elapsed)")
            let log = try await pieces(fixture, queryID)
            #expect(log.count > 10 && log.allSatisfy { $0.type == "QueryFinish" }, "\(log.map(\.type))")
            #expect(log.reduce(0) { $0 + $1.resultRows } == expected.count)
            print("slow reader: \(received.count) events in \(elapsed), \(log.count) pieces, rows read \(log.reduce(0) { $0 + $1.readRows })")
        }
    }

    @Test func cancellingTheConsumerKillsTheRunningPiece() async throws {
        try await ClickHouseFixture.with("rq_cancel") { fixture in
            try await fixture.insert(SyntheticEvents(count: 200_000, tenants: 1, padding: 600))
            let query = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: SyntheticEvents.year2025 + 366 * 86_400_000)
            // One piece of the whole report (~130 MB): it is still being read when cancelled.
            let executor = ComplianceReportExecutor(
                client: fixture.client, table: fixture.table, cursors: ReportCursorCodec(), pieceBytes: 1 << 30, maxPieceRows: 1_000_000
            )
            let queryID = "rq-cancel-\(UUID().uuidString.lowercased())"
            let statement = try executor.statement(for: query)
            let consumer = Task {
                var count = 0
                try await executor.run(statement, queryID: queryID) { count += $0.rowCount }
                return count
            }
            func running() async throws -> Int {
                Int(try await fixture.rows(
                    "SELECT count() FROM system.processes WHERE query_id = {piece:String}", ["piece": .string(queryID + "-0")]
                ).first?.first ?? "") ?? -1
            }
            var seen = false
            for _ in 0..<100 {
                if try await running() == 1 { seen = true; break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(seen, "the report's piece never showed in system.processes")
            consumer.cancel()
            await #expect(throws: CancellationError.self) { _ = try await consumer.value }
            var gone = false
            for _ in 0..<50 {
                if try await running() == 0 { gone = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(gone, "a piece of \(queryID) still runs after the consumer was cancelled")
            let log = try await pieces(fixture, queryID)
            #expect(!log.isEmpty && log.allSatisfy { $0.type != "QueryFinish" }, "the piece ran to its end: \(log)")
            print("cancellation: query_log \(log)")
        }
    }

    @Test func aPieceThatFailsIsATypedError() async throws {
        try await ClickHouseFixture.with("rq_midstream") { fixture in
            try await fixture.insert(SyntheticEvents(count: 50_000, tenants: 1, padding: 100))
            let query = ComplianceReportQuery(tenantID: "tenant_0", fromMilliseconds: SyntheticEvents.year2025, toMilliseconds: SyntheticEvents.year2025 + 366 * 86_400_000)
            let executor = ComplianceReportExecutor(client: fixture.client, table: fixture.table, cursors: ReportCursorCodec(), pieceBytes: 64 << 10)
            var received = 0
            do {
                try await executor.run(try executor.statement(for: query)) { chunk in
                    if received == 0 {
                        // The table goes away after the first piece was read.
                        try await fixture.client.execute("DROP TABLE {database:Identifier}.audit_events", parameters: ["database": .string(fixture.database)])
                    }
                    received += chunk.rowCount
                }
                Issue.record("the report finished although its table was dropped; received \(received)")
            } catch let error as ReportError {
                #expect(received > 0 && received < 50_000)
                #expect(error.kind == .clickHouse)
                #expect(error.clickHouseError?.code == 60, "\(error)")  // UNKNOWN_TABLE
                print("mid-report: \(received) events, then \(error)")
            }
        }
    }
}
