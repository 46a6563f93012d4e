public import AuditPipeProto
public import ClickHouseHTTP
import Foundation

/// Runs compliance reports against ClickHouse and streams them as protocol chunks.
///
/// ```swift
/// let executor = ComplianceReportExecutor(client: clickHouse, table: .init(database: "auditpipe"), cursors: codec)
/// let statement = try executor.statement(for: ComplianceReportQuery(request))
/// for try await chunk in executor.run(statement) { try await writer.write(chunk) }
/// ```
///
/// Rows are decoded from `RowBinaryWithNamesAndTypes` as ClickHouse sends them and handed out
/// in chunks of ``chunkSize``: memory stays bounded by one chunk plus the HTTP read buffer,
/// whatever the size of the report, and a slow consumer slows the read from ClickHouse. When
/// the consuming task is cancelled (the gRPC caller cancelled or its deadline passed), the
/// ClickHouse query is killed (`KILL QUERY`) and iteration throws `CancellationError`.
public struct ComplianceReportExecutor: Sendable {
    /// The ClickHouse client.
    public let client: ClickHouseClient
    /// Where the events are.
    public let table: AuditEventsTable
    /// Issues and checks cursors.
    public let cursors: ReportCursorCodec
    /// Size limits of requests.
    public var limits: ReportQueryLimits
    /// ClickHouse's `max_execution_time` for each report.
    public var maxExecutionTime: Duration
    /// Events (or aggregate rows) per chunk.
    public var chunkSize: Int

    /// Creates an executor; reports time out in ClickHouse after `maxExecutionTime` (default 5 minutes).
    public init(
        client: ClickHouseClient,
        table: AuditEventsTable,
        cursors: ReportCursorCodec,
        limits: ReportQueryLimits = ReportQueryLimits(),
        maxExecutionTime: Duration = .seconds(300),
        chunkSize: Int = 500
    ) {
        self.client = client
        self.table = table
        self.cursors = cursors
        self.limits = limits
        self.maxExecutionTime = maxExecutionTime
        self.chunkSize = max(1, chunkSize)
    }

    /// Validates `query` and builds its statement.
    ///
    /// - Throws: ``ReportQueryError`` naming each broken rule (gRPC `INVALID_ARGUMENT`).
    public func statement(for query: ComplianceReportQuery) throws(ReportQueryError) -> ComplianceReportStatement {
        try ComplianceReportStatement(query: query, table: table, cursors: cursors, limits: limits, maxExecutionTime: maxExecutionTime)
    }

    /// The report's chunks, read lazily: the query starts at the first `next()`.
    ///
    /// - Parameter queryID: the ClickHouse `query_id` (generated when nil).
    public func run(_ statement: ComplianceReportStatement, queryID: String? = nil) -> ComplianceReportStream {
        ComplianceReportStream(
            client: client,
            statement: statement,
            cursors: cursors,
            chunkSize: chunkSize,
            queryID: queryID ?? UUID().uuidString.lowercased()
        )
    }
}

/// The chunks of one report; see ``ComplianceReportExecutor/run(_:queryID:)``. Iterate once.
///
/// Iteration throws ``ReportError`` when ClickHouse fails (also part-way through the answer),
/// and `CancellationError` when the task is cancelled (the query is killed first).
public struct ComplianceReportStream: AsyncSequence, Sendable {
    /// One chunk: events (row mode, with `next_cursor`) or aggregates.
    public typealias Element = Auditpipe_V1_ComplianceReportChunk

    let client: ClickHouseClient
    let statement: ComplianceReportStatement
    let cursors: ReportCursorCodec
    let chunkSize: Int
    /// The ClickHouse `query_id` of this report.
    public let queryID: String

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ComplianceReportStream
        var rows: ClickHouseRows.AsyncIterator?
        var checkedColumns = false
        var finished = false

        /// The next chunk; nil at the end.
        public mutating func next() async throws -> Auditpipe_V1_ComplianceReportChunk? {
            guard !finished else { return nil }
            do {
                return try await nextChunk()
            } catch let error as ClickHouseError {
                finished = true
                throw ReportError(error, queryID: stream.queryID)
            } catch {
                finished = true
                throw error
            }
        }

        private mutating func nextChunk() async throws -> Auditpipe_V1_ComplianceReportChunk? {
            if rows == nil {
                let response = try await stream.client.query(
                    stream.statement.sql,
                    parameters: stream.statement.parameters,
                    settings: stream.statement.settings,
                    queryID: stream.queryID
                )
                rows = response.body.rows().makeAsyncIterator()
            }
            var chunk = Auditpipe_V1_ComplianceReportChunk()
            var count = 0
            var last: ReportPosition? = nil
            while count < stream.chunkSize, let row = try await rows!.next() {
                if !checkedColumns {
                    try stream.checkColumns(row.columns)
                    checkedColumns = true
                }
                switch stream.statement.mode {
                case .rows:
                    let event = try stream.storedEvent(row)
                    last = ReportPosition(
                        timestampMilliseconds: event.event.timestampMs,
                        kafkaPartition: event.kafkaPartition,
                        kafkaOffset: event.kafkaOffset
                    )
                    chunk.events.append(event)
                case .aggregate(let dimensions):
                    chunk.aggregates.append(try stream.aggregate(row, dimensions: dimensions))
                }
                count += 1
            }
            if count < stream.chunkSize { finished = true }
            guard count > 0 else { return nil }
            if let last { chunk.nextCursor = stream.cursors.encode(last, for: stream.statement.query) }
            return chunk
        }
    }

    /// Starts reading (the query starts at the first `next()`).
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }

    func unexpected(_ message: String) -> ReportError {
        ReportError(
            kind: .unexpectedResult,
            message: "\(message). The ClickHouse table \(statement.parameters["table"]?.wireValue ?? "?") does not have the columns AuditPipe expects; check its DDL against the sink's migration",
            queryID: queryID
        )
    }

    func checkColumns(_ columns: [ClickHouseColumn]) throws(ReportError) {
        let expected = statement.columns
        func plain(_ type: ClickHouseType) -> ClickHouseType {
            if case .lowCardinality(let inner) = type { return inner }
            return type
        }
        guard columns.count == expected.count else {
            throw unexpected("the answer has \(columns.count) columns, expected \(expected.count)")
        }
        for (got, want) in zip(columns, expected) where got.name != want.name || plain(got.type) != plain(want.type) {
            throw unexpected("column '\(got.name)' \(got.type) where '\(want.name)' \(want.type) was expected")
        }
    }

    func storedEvent(_ row: ClickHouseRow) throws(ReportError) -> Auditpipe_V1_StoredEvent {
        let v = row.values
        func text(_ index: Int) throws(ReportError) -> String {
            guard case .bytes(let bytes) = v[index] else { throw unexpected("column \(index) is not a string") }
            return String(decoding: bytes, as: UTF8.self)
        }
        func time(_ index: Int) throws(ReportError) -> Int64 {
            guard case .time(let value) = v[index] else { throw unexpected("column \(index) is not a DateTime64") }
            return value
        }
        func int(_ index: Int) throws(ReportError) -> Int64 {
            guard case .int(let value) = v[index] else { throw unexpected("column \(index) is not a signed integer") }
            return value
        }
        var event = Auditpipe_V1_AuditEvent()
        event.tenantID = try text(0)
        event.eventType = try text(1)
        event.timestampMs = try time(2)
        event.eventID = try text(3)
        event.actorID = try text(4)
        event.resource = try text(5)
        event.action = try text(6)
        guard case .map(let entries) = v[7] else { throw unexpected("metadata is not a Map") }
        for entry in entries {
            guard case .bytes(let key) = entry.key, case .bytes(let value) = entry.value else {
                throw unexpected("metadata is not a Map(String, String)")
            }
            event.metadata[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
        }
        var stored = Auditpipe_V1_StoredEvent()
        stored.event = event
        stored.ingestedAtMs = try time(8)
        stored.schemaID = Int32(truncatingIfNeeded: try int(9))
        stored.kafkaPartition = Int32(truncatingIfNeeded: try int(10))
        stored.kafkaOffset = try int(11)
        // Defence in depth: the WHERE clause already pins the tenant.
        guard event.tenantID == statement.query.tenantID else {
            throw unexpected("ClickHouse returned an event of another tenant")
        }
        return stored
    }

    func aggregate(_ row: ClickHouseRow, dimensions: [ReportDimension]) throws(ReportError) -> Auditpipe_V1_ReportAggregate {
        var aggregate = Auditpipe_V1_ReportAggregate()
        for (index, dimension) in dimensions.enumerated() {
            guard case .bytes(let bytes) = row.values[index] else { throw unexpected("group column \(dimension) is not a string") }
            let value = String(decoding: bytes, as: UTF8.self)
            switch dimension {
            case .eventType: aggregate.eventType = value
            case .action: aggregate.action = value
            case .actor: aggregate.actorID = value
            case .day: aggregate.day = value
            }
        }
        guard case .uint(let count) = row.values[dimensions.count] else { throw unexpected("count is not a UInt64") }
        aggregate.count = count
        return aggregate
    }
}
