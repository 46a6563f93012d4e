/// Walks a row-mode report's time range in pieces, each a short query that ClickHouse answers
/// whole before the caller reads any of it (see ``ComplianceReportExecutor``).
///
/// A piece asks for the events of `[from, to)` strictly after `after`, in report order
/// (`timestamp, kafka_partition, kafka_offset`, unique per stored event), at most `limit` of
/// them. Its answer either exhausts its window (fewer rows than the limit came back: every event
/// of the window is sent, and the next piece starts at `to`) or stops early (the limit was
/// reached, or the reader stopped at its byte budget): the next piece then starts strictly after
/// the last event received. Either way each event is returned exactly once and in order.
///
/// The events table's key is `(tenant_id, event_type, timestamp)`: ClickHouse reads every row
/// of the tenant (and event types) in a piece's window and sorts them, so the window decides
/// what a piece reads. The walker sizes each window from the density of the previous piece so
/// that a piece holds about ``Configuration/pieceBytes`` of events: it reads about what it
/// returns, and ClickHouse's `max_execution_time` bounds one piece, never the whole report.
///
/// Pure: the executor does the I/O. Call ``next()`` (again while pieces are in flight, to
/// read ahead), run the pieces, report their answers with ``received(_:)`` in order, until
/// ``next()`` answers ``Action/finished``.
package struct ReportPieceWalker: Sendable, Hashable {
    /// How pieces are sized.
    package struct Configuration: Sendable, Hashable {
        /// The encoded size a piece aims at (its rows are held in memory once read).
        package var pieceBytes: Int
        /// The most rows in one piece.
        package var maxPieceRows: Int
        /// Rows per piece before any row size is known.
        package var initialPieceRows: Int
        /// The first window is the range divided by this.
        package var initialWindowDivisor: Int64
        /// A window grows at most by this factor from one piece to the next.
        package var maxGrowth: Int64

        /// Creates a configuration; the defaults aim at 16 MiB pieces of at most 200,000 rows.
        package init(pieceBytes: Int = 16 << 20, maxPieceRows: Int = 200_000, initialPieceRows: Int = 20_000, initialWindowDivisor: Int64 = 64, maxGrowth: Int64 = 8) {
            self.pieceBytes = max(1, pieceBytes)
            self.maxPieceRows = max(1, maxPieceRows)
            self.initialPieceRows = max(1, min(initialPieceRows, maxPieceRows))
            self.initialWindowDivisor = max(1, initialWindowDivisor)
            self.maxGrowth = max(2, maxGrowth)
        }
    }

    /// One query.
    package struct Piece: Sendable, Hashable {
        /// Timestamps from, inclusive (ms).
        package var from: Int64
        /// Timestamps to, exclusive (ms).
        package var to: Int64
        /// Only events strictly after this position (nil: all of the window).
        package var after: ReportPosition?
        /// At most this many rows.
        package var limit: Int
    }

    /// What a piece returned.
    package struct Outcome: Sendable, Hashable {
        /// Events received.
        package var rows: Int
        /// The position of the last event received (nil when none).
        package var last: ReportPosition?
        /// Encoded bytes received.
        package var bytes: Int
        /// True when the answer ended before the limit: every event of the window after `after`
        /// was received. False when the limit was reached or the reader stopped early.
        package var exhaustedWindow: Bool

        package init(rows: Int, last: ReportPosition?, bytes: Int, exhaustedWindow: Bool) {
            self.rows = rows
            self.last = last
            self.bytes = bytes
            self.exhaustedWindow = exhaustedWindow
        }
    }

    /// What to do next.
    package enum Action: Sendable, Hashable {
        /// Run this piece and report its answer with ``received(_:)``, in the order the pieces
        /// were handed out.
        case fetch(Piece)
        /// No piece can be planned before the oldest piece in flight is received.
        case wait
        /// The report is complete.
        case finished
    }

    /// What ``received(_:)`` says about the pieces handed out after the one received.
    package enum Continuation: Sendable, Hashable {
        /// They stand.
        case keep
        /// They were planned on the assumption that this piece would exhaust its window, and it
        /// did not: drop their answers; the walk goes on after this piece's last event.
        case discardLater
    }

    let configuration: Configuration
    /// The report's end, exclusive.
    let end: Int64
    /// Where the rest of the report starts: timestamps from `lower`, after `after`.
    private(set) var lower: Int64
    private(set) var after: ReportPosition?
    /// Rows still allowed by the query's limit (nil: no limit).
    private(set) var remaining: UInt64?
    /// The next window's length, ms.
    private(set) var window: Int64
    /// The next piece's row limit.
    private(set) var pieceRows: Int
    /// Pieces handed out and not yet received, oldest first.
    private var inFlight: [Piece] = []
    /// Whether a piece with rows was received (its bytes per row size the pieces since).
    private var sized = false

    /// A walker over `[from, to)` resuming after `after` (a cursor's position), returning at
    /// most `limit` rows in all.
    ///
    /// - Parameter estimatedRows: about how many rows ClickHouse would read for the whole rest
    ///   of the range (`EXPLAIN ESTIMATE`: the selected granules' rows). The first window is
    ///   sized from it, assuming an even spread: the whole range when it fits one piece. Without
    ///   it, the first window is the range divided by `initialWindowDivisor`.
    package init(from: Int64, to: Int64, after: ReportPosition?, limit: UInt64?, estimatedRows: Int? = nil, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.end = to
        self.lower = max(from, after?.timestampMilliseconds ?? from)
        self.after = after
        self.remaining = limit
        self.pieceRows = configuration.initialPieceRows
        let span = max(1, to - self.lower)
        if let estimatedRows {
            // The estimate counts whole granules, so it is above the rows a window returns.
            let target = configuration.initialPieceRows
            self.window = estimatedRows <= target ? span : max(1, Int64(Double(span) * Double(target) / Double(estimatedRows)))
        } else {
            self.window = max(1, span / configuration.initialWindowDivisor)
        }
    }

    /// The next piece, or ``Action/wait`` or ``Action/finished``.
    ///
    /// With pieces in flight, the next one starts where the newest ends, on the assumption
    /// that each exhausts its window (the usual case: windows aim at 3/4 of the row limit); a
    /// piece that does not is reported by ``received(_:)`` as ``Continuation/discardLater``.
    /// Until a piece with rows has been received (its row size sizes the pieces), and for a
    /// report with a `limit` (the rows left decide the next piece's limit), pieces are walked
    /// one at a time.
    package mutating func next() -> Action {
        // Read ahead only once a piece has told the row size, and never under a limit.
        if !inFlight.isEmpty, remaining != nil || !sized { return .wait }
        guard lower < end, remaining != 0 else { return inFlight.isEmpty ? .finished : .wait }
        var limit = pieceRows
        if let remaining, remaining < UInt64(limit) { limit = Int(remaining) }
        let to = lower + min(window, end - lower)
        let piece = Piece(from: lower, to: to, after: after, limit: limit)
        inFlight.append(piece)
        // The next piece (if planned before this one is received) assumes it exhausts its window.
        lower = to
        after = nil
        return .fetch(piece)
    }

    /// Records the answer of the oldest piece in flight and sizes the next one.
    @discardableResult
    package mutating func received(_ outcome: Outcome) -> Continuation {
        guard !inFlight.isEmpty else { preconditionFailure("received(_:) without a piece in flight") }
        let piece = inFlight.removeFirst()
        if let remaining { self.remaining = remaining - min(remaining, UInt64(outcome.rows)) }
        if outcome.rows > 0 {
            sized = true
            let bytesPerRow = max(1, outcome.bytes / outcome.rows)
            pieceRows = max(1, min(configuration.maxPieceRows, configuration.pieceBytes / bytesPerRow))
        }
        // Aim a little below the limit, so that a window normally ends the piece (it then read
        // about what it returned) and the limit is only the memory bound.
        let target = max(1, Int64(pieceRows) * 3 / 4)
        let covered: Int64
        var continuation = Continuation.keep
        if outcome.exhaustedWindow {
            // Every event before piece.to was received; `lower` is already at or past it.
            covered = piece.to - piece.from
        } else {
            guard let last = outcome.last else {
                // The executor keeps at least one row of a piece that it stops early.
                preconditionFailure("a piece that did not exhaust its window returned no row")
            }
            covered = max(1, last.timestampMilliseconds - piece.from + 1)
            if !inFlight.isEmpty { continuation = .discardLater }
            inFlight.removeAll()
            lower = last.timestampMilliseconds
            after = last
        }
        if outcome.rows == 0 {
            window = Self.saturatingMultiply(covered, configuration.maxGrowth)
        } else {
            // covered * target / rows, without overflow for spans of centuries.
            let scaled = Double(covered) * Double(target) / Double(outcome.rows)
            let grown = Double(Self.saturatingMultiply(covered, configuration.maxGrowth))
            window = Int64(max(1, min(scaled, grown)))
        }
        return continuation
    }

    private static func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int64.max / 2 : max(1, product)
    }
}
