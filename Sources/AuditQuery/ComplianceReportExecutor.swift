public import ClickHouseHTTP
import Foundation
public import NIOCore

/// Runs compliance reports against ClickHouse and hands them out as protocol chunks.
///
/// ```swift
/// let executor = ComplianceReportExecutor(client: clickHouse, table: .init(database: "auditpipe"), cursors: codec)
/// let statement = try executor.statement(for: ComplianceReportQuery(request))
/// try await executor.run(statement) { chunk in try await writer.write(chunk.bytes) }
/// ```
///
/// A row-mode report is walked in pieces (``ReportPieceWalker``): each piece is one short
/// query over a window of the range, sized to about ``pieceBytes`` of events, which is read to
/// its end and encoded before any of it is handed out. A slow or paused reader therefore holds
/// no query open, `max_execution_time` bounds each piece rather than the report, and a report
/// of any length completes. The next pieces (``maxPiecesInFlight``) are read while the current
/// one is handed out. Memory per report: about three pieces. Pieces follow the report order
/// `(timestamp, kafka_partition, kafka_offset)`, unique per event, and each starts strictly
/// after the last event of the one before: every event exactly once, in order.
///
/// An aggregate report is one query; its answer (one row per group) is read whole, then handed
/// out in chunks.
///
/// Cancelling the calling task (the gRPC caller cancelled, or its deadline passed) kills the
/// piece running in ClickHouse (`KILL QUERY`) and `run` throws `CancellationError`.
public struct ComplianceReportExecutor: Sendable {
    /// The ClickHouse client.
    public let client: ClickHouseClient
    /// Where the events are.
    public let table: AuditEventsTable
    /// Issues and checks cursors.
    public let cursors: ReportCursorCodec
    /// Size limits of requests.
    public var limits: ReportQueryLimits
    /// ClickHouse's `max_execution_time` for each query (one piece of a row-mode report).
    public var maxExecutionTime: Duration
    /// The encoded size a piece of a row-mode report aims at.
    public var pieceBytes: Int
    /// The most events in one piece.
    public var maxPieceRows: Int
    /// Pieces read at once (ahead of the one being handed out): ClickHouse works on the next
    /// while the server encodes and sends the current one.
    public var maxPiecesInFlight: Int
    /// A chunk (one gRPC message) is cut after this many encoded bytes of events (it may exceed
    /// it by one event); keep it well under the clients' 4 MiB message limit.
    public var chunkBytes: Int
    /// Aggregate rows per chunk.
    public var aggregatesPerChunk: Int
    /// The largest aggregate answer read, in bytes.
    public var maxAggregateBytes: Int

    /// Creates an executor; each query times out in ClickHouse after `maxExecutionTime`
    /// (default 5 minutes; a piece normally takes milliseconds).
    public init(
        client: ClickHouseClient,
        table: AuditEventsTable,
        cursors: ReportCursorCodec,
        limits: ReportQueryLimits = ReportQueryLimits(),
        maxExecutionTime: Duration = .seconds(300),
        pieceBytes: Int = 16 << 20,
        maxPieceRows: Int = 200_000,
        maxPiecesInFlight: Int = 2,
        chunkBytes: Int = 1 << 20,
        aggregatesPerChunk: Int = 4096,
        maxAggregateBytes: Int = 256 << 20
    ) {
        self.client = client
        self.table = table
        self.cursors = cursors
        self.limits = limits
        self.maxExecutionTime = maxExecutionTime
        self.pieceBytes = max(1, pieceBytes)
        self.maxPieceRows = max(1, maxPieceRows)
        self.maxPiecesInFlight = max(1, maxPiecesInFlight)
        self.chunkBytes = max(1, chunkBytes)
        self.aggregatesPerChunk = max(1, aggregatesPerChunk)
        self.maxAggregateBytes = max(1, maxAggregateBytes)
    }

    /// Validates `query` and builds its statement.
    ///
    /// - Throws: ``ReportQueryError`` naming each broken rule (gRPC `INVALID_ARGUMENT`).
    public func statement(for query: ComplianceReportQuery) throws(ReportQueryError) -> ComplianceReportStatement {
        try ComplianceReportStatement(query: query, table: table, cursors: cursors, limits: limits, maxExecutionTime: maxExecutionTime)
    }

    /// Runs the report and hands each chunk to `body`, in order, waiting for `body` before the
    /// next. Returns when the report is complete.
    ///
    /// - Parameters:
    ///   - queryID: the prefix of the ClickHouse `query_id`s (piece `n` runs as `<queryID>-<n>`);
    ///     generated when nil.
    /// - Throws: ``ReportError`` when ClickHouse fails or answers unexpectedly, what `body`
    ///   throws, or `CancellationError`.
    public func run(
        _ statement: ComplianceReportStatement,
        queryID: String? = nil,
        _ body: (ReportChunk) async throws -> Void
    ) async throws {
        let queryID = queryID ?? UUID().uuidString.lowercased()
        switch statement.mode {
        case .rows:
            try await runRows(statement, queryID: queryID, body)
        case .aggregate(let dimensions):
            try await runAggregate(statement, dimensions: dimensions, queryID: queryID, body)
        }
    }

    // MARK: Row mode

    private struct Fetched: Sendable {
        var chunks: [ReportChunk]
        var outcome: ReportPieceWalker.Outcome
    }

    private func runRows(_ statement: ComplianceReportStatement, queryID: String, _ body: (ReportChunk) async throws -> Void) async throws {
        let query = statement.query
        let estimatedRows = try await estimateRows(statement, queryID: "\(queryID)-estimate")
        var walker = ReportPieceWalker(
            from: query.fromMilliseconds, to: query.toMilliseconds, after: statement.after, limit: query.limit,
            estimatedRows: estimatedRows,
            // Before a row's size is known, assume 256 bytes: rows of twice that still fit the
            // piece's byte budget (2 x pieceBytes).
            configuration: .init(pieceBytes: pieceBytes, maxPieceRows: maxPieceRows, initialPieceRows: max(1, min(maxPieceRows, pieceBytes / 256)))
        )
        let depth = maxPiecesInFlight
        try await withThrowingTaskGroup(of: (Int, Fetched).self) { group in
            // Pieces in flight, oldest first, and answers that arrived out of order.
            var inFlight: [Int] = []
            var arrived: [Int: Fetched] = [:]
            var nextIndex = 0
            func launch() {
                while inFlight.count < depth, case .fetch(let piece) = walker.next() {
                    let index = nextIndex
                    nextIndex += 1
                    inFlight.append(index)
                    group.addTask { (index, try await fetch(piece, statement: statement, queryID: "\(queryID)-\(index)")) }
                }
            }
            launch()
            while let oldest = inFlight.first {
                while arrived[oldest] == nil {
                    guard let (index, fetched) = try await group.next() else { return }
                    // Answers of discarded pieces (no longer in flight) are dropped.
                    if inFlight.contains(index) { arrived[index] = fetched }
                }
                let current = arrived.removeValue(forKey: oldest)!
                inFlight.removeFirst()
                if walker.received(current.outcome) == .discardLater {
                    for index in inFlight { arrived[index] = nil }
                    inFlight.removeAll()
                }
                // The next pieces are read while this one is handed out; leaving early (body
                // threw, or cancellation) cancels them, which kills their queries.
                launch()
                for chunk in current.chunks { try await body(chunk) }
            }
        }
    }

    /// ClickHouse's estimate of the rows the rest of the report reads (from the primary index;
    /// nil when it cannot say, the walker then starts with a small window).
    private func estimateRows(_ statement: ComplianceReportStatement, queryID: String) async throws -> Int? {
        let (sql, parameters) = statement.estimate(from: statement.after?.timestampMilliseconds ?? statement.query.fromMilliseconds)
        do {
            let answer = try await client.queryCollecting(sql, parameters: parameters, settings: statement.settings, queryID: queryID, maxBytes: 1 << 16)
            // database, table, parts, rows, marks: one line per table read.
            var rows = 0
            for line in String(buffer: answer).split(separator: "\n") {
                let fields = line.split(separator: "\t")
                guard fields.count == 5, let count = Int(fields[3]) else { return nil }
                rows += count
            }
            return rows
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // An optimisation only: the pieces themselves report any real failure.
            return nil
        }
    }

    /// Runs one piece and reads its whole answer, encoding events as they arrive.
    private func fetch(_ piece: ReportPieceWalker.Piece, statement: ComplianceReportStatement, queryID: String) async throws -> Fetched {
        let query = statement.query
        let (sql, parameters) = statement.piece(from: piece.from, to: piece.to, after: piece.after, limit: piece.limit)
        let cursors = self.cursors
        var encoder = ReportEventEncoder(
            tenant: query.tenantID, chunkBytes: chunkBytes, budgetBytes: 2 * pieceBytes,
            cursor: { cursors.encode($0, for: query) }
        )
        var stoppedEarly = false
        do {
            let response = try await client.query(sql, parameters: parameters, settings: statement.settings, queryID: queryID)
            var drained = 0
            for try await bytes in response.body {
                if stoppedEarly {
                    // Past the budget (rows larger than the piece was sized for): the rows kept
                    // are a correct prefix of the piece. The rest is read and dropped, so that the
                    // query ends normally, unless there is far more of it; dropping the body then
                    // kills the query.
                    drained += bytes.readableBytes
                    if drained > 4 * pieceBytes { break }
                    continue
                }
                try encoder.feed(bytes)
                stoppedEarly = encoder.isOverBudget
            }
            try encoder.finish(stoppedEarly: stoppedEarly)
        } catch let error as ClickHouseError {
            throw ReportError(error, queryID: queryID)
        } catch let error as ReportEncodingError {
            throw unexpected(error.message, statement: statement, queryID: queryID)
        }
        let chunks = encoder.chunks.map { ReportChunk(bytes: $0.bytes, rowCount: $0.rows) }
        return Fetched(
            chunks: chunks,
            outcome: .init(rows: encoder.rows, last: encoder.last, bytes: encoder.bytes, exhaustedWindow: !stoppedEarly && encoder.rows < piece.limit)
        )
    }

    // MARK: Aggregate mode

    private func runAggregate(
        _ statement: ComplianceReportStatement,
        dimensions: [ReportDimension],
        queryID: String,
        _ body: (ReportChunk) async throws -> Void
    ) async throws {
        var aggregates: [ByteBuffer] = []
        do {
            let response = try await client.query(statement.sql, parameters: statement.parameters, settings: statement.settings, queryID: queryID)
            var reader = RowBinaryReader()
            reader.feed(try await response.body.collect(upTo: maxAggregateBytes))
            var checked = false
            while let values = try reader.nextRow() {
                if !checked, let columns = reader.columns {
                    try checkColumns(columns, statement: statement, queryID: queryID)
                    checked = true
                }
                aggregates.append(try aggregate(values, dimensions: dimensions, statement: statement, queryID: queryID))
            }
            try reader.finish()
        } catch let error as ClickHouseError {
            throw ReportError(error, queryID: queryID)
        }
        var start = 0
        while start < aggregates.count {
            let end = min(aggregates.count, start + aggregatesPerChunk)
            var chunk = ByteBuffer()
            for aggregate in aggregates[start..<end] {
                chunk.writeInteger(UInt8(0x12))  // ComplianceReportChunk.aggregates
                chunk.writeLEB128(UInt64(aggregate.readableBytes))
                chunk.writeImmutableBuffer(aggregate)
            }
            try await body(ReportChunk(bytes: chunk, rowCount: end - start))
            start = end
        }
    }

    private func unexpected(_ message: String, statement: ComplianceReportStatement, queryID: String) -> ReportError {
        ReportError(
            kind: .unexpectedResult,
            message: "\(message). The ClickHouse table \(statement.parameters["table"]?.wireValue ?? "?") does not have the columns AuditPipe expects; check its DDL against the sink's migration",
            queryID: queryID
        )
    }

    private func checkColumns(_ columns: [ClickHouseColumn], statement: ComplianceReportStatement, queryID: String) throws(ReportError) {
        let expected = statement.columns
        func plain(_ type: ClickHouseType) -> ClickHouseType {
            if case .lowCardinality(let inner) = type { return inner }
            return type
        }
        guard columns.count == expected.count else {
            throw unexpected("the answer has \(columns.count) columns, expected \(expected.count)", statement: statement, queryID: queryID)
        }
        for (got, want) in zip(columns, expected) where got.name != want.name || plain(got.type) != plain(want.type) {
            throw unexpected("column '\(got.name)' \(got.type) where '\(want.name)' \(want.type) was expected", statement: statement, queryID: queryID)
        }
    }

    private func aggregate(
        _ values: [ClickHouseValue],
        dimensions: [ReportDimension],
        statement: ComplianceReportStatement,
        queryID: String
    ) throws(ReportError) -> ByteBuffer {
        // ReportAggregate: event_type = 1, action = 2, actor_id = 3, day = 4 (strings), count = 5.
        var fields: [String] = ["", "", "", ""]
        for (index, dimension) in dimensions.enumerated() {
            guard case .bytes(let bytes) = values[index] else {
                throw unexpected("group column \(dimension) is not a string", statement: statement, queryID: queryID)
            }
            let value = String(decoding: bytes, as: UTF8.self)
            switch dimension {
            case .eventType: fields[0] = value
            case .action: fields[1] = value
            case .actor: fields[2] = value
            case .day: fields[3] = value
            }
        }
        guard case .uint(let count) = values[dimensions.count] else {
            throw unexpected("count is not a UInt64", statement: statement, queryID: queryID)
        }
        var aggregate = ByteBuffer()
        for (index, field) in fields.enumerated() { ProtobufWire.appendString(UInt8((index + 1) << 3 | 2), field, to: &aggregate) }
        if count != 0 {
            aggregate.writeInteger(UInt8(5 << 3))
            aggregate.writeLEB128(count)
        }
        return aggregate
    }
}

/// One chunk of a report, ready to send: the encoding of a `ComplianceReportChunk` message
/// (auditpipe.v1), written here without a message type, which the transport sends as it is.
public struct ReportChunk: Sendable {
    /// The encoded message: its events (row mode) or aggregates, and in row mode its
    /// `next_cursor`.
    public var bytes: ByteBuffer
    /// Events (row mode) or aggregates in the chunk.
    public var rowCount: Int
}
