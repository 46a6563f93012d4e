@testable import AuditQuery
import Testing

/// The piece walker against an in-memory model of ClickHouse: each piece is answered exactly as
/// the SQL of ``ComplianceReportStatement/piece(from:to:after:limit:)`` would be.
@Suite("Report piece walker")
struct ReportPieceWalkerTests {
    /// A table of events of one tenant, sorted in report order.
    struct Model {
        var events: [ReportPosition]
        var bytesPerRow: (ReportPosition) -> Int = { _ in 300 }

        /// What ClickHouse returns for a piece; `budget` stops the reader early, like the executor.
        func answer(_ piece: ReportPieceWalker.Piece, budget: Int = .max) -> (rows: [ReportPosition], outcome: ReportPieceWalker.Outcome, read: Int) {
            let window = events.filter { $0.timestampMilliseconds >= piece.from && $0.timestampMilliseconds < piece.to }
            let selected = window.filter { event in piece.after.map { Self.key(event) > Self.key($0) } ?? true }
            var rows: [ReportPosition] = []
            var bytes = 0
            for event in selected.prefix(piece.limit) where bytes < budget {
                rows.append(event)
                bytes += bytesPerRow(event)
            }
            let exhausted = rows.count == selected.count
            return (rows, .init(rows: rows.count, last: rows.last, bytes: bytes, exhaustedWindow: exhausted && rows.count < piece.limit), window.count)
        }

        static func key(_ p: ReportPosition) -> (Int64, Int32, Int64) { (p.timestampMilliseconds, p.kafkaPartition, p.kafkaOffset) }
    }

    /// Runs a walker to the end against `model`; returns the rows in order, the pieces and the rows read.
    func walk(_ walker: ReportPieceWalker, _ model: Model, budget: Int = .max) -> (rows: [ReportPosition], pieces: Int, read: Int) {
        var walker = walker
        var rows: [ReportPosition] = []
        var pieces = 0
        var read = 0
        while case .fetch(let piece) = walker.next() {
            pieces += 1
            #expect(piece.from < piece.to && piece.limit > 0)
            let answer = model.answer(piece, budget: budget)
            rows += answer.rows
            read += answer.read
            walker.received(answer.outcome)
            if pieces > 100_000 { Issue.record("the walker does not finish"); break }
        }
        return (rows, pieces, read)
    }

    /// Runs a walker with up to `depth` pieces in flight, answering them in order, and dropping
    /// the answers of pieces the walker discards, as the executor does.
    func walkAhead(_ walker: ReportPieceWalker, _ model: Model, depth: Int, budget: Int = .max) -> (rows: [ReportPosition], pieces: Int, discarded: Int) {
        var walker = walker
        var rows: [ReportPosition] = []
        var inFlight: [ReportPieceWalker.Piece] = []
        var pieces = 0
        var discarded = 0
        while true {
            while inFlight.count < depth, case .fetch(let piece) = walker.next() {
                inFlight.append(piece)
                pieces += 1
            }
            guard !inFlight.isEmpty else { break }
            let answer = model.answer(inFlight.removeFirst(), budget: budget)
            rows += answer.rows
            if walker.received(answer.outcome) == .discardLater {
                discarded += inFlight.count
                inFlight.removeAll()
            }
            if pieces > 100_000 { Issue.record("the walker does not finish"); break }
        }
        #expect(walker.next() == .finished)
        return (rows, pieces, discarded)
    }

    @Test func readingAheadKeepsEveryEventOnceInOrder() {
        var generator = SystemRandomNumberGenerator()
        var discarded = 0
        for round in 0..<60 {
            let from: Int64 = 1_000_000
            let to = from + Int64.random(in: 1...(90 * 86_400_000), using: &generator)
            var model = Self.randomModel(count: Int.random(in: 0...4_000, using: &generator), from: from, to: to, ties: round % 2 == 0, using: &generator)
            // Some large rows: the byte budget stops pieces early, and pieces read ahead are dropped.
            model.bytesPerRow = { $0.kafkaOffset % 11 == 0 ? 30_000 : 200 }
            let limit: UInt64? = round % 4 == 0 ? UInt64.random(in: 0...3_000, using: &generator) : nil
            let walker = ReportPieceWalker(
                from: from, to: to, after: nil, limit: limit, estimatedRows: round % 3 == 0 ? nil : model.events.count,
                configuration: .init(pieceBytes: Int.random(in: 1_000...60_000, using: &generator), maxPieceRows: Int.random(in: 1...800, using: &generator), initialPieceRows: 200)
            )
            let walked = walkAhead(walker, model, depth: Int.random(in: 1...4, using: &generator), budget: 50_000)
            var expected = model.events
            if let limit { expected = Array(expected.prefix(Int(limit))) }
            #expect(walked.rows == expected, "round \(round)")
            discarded += walked.discarded
        }
        #expect(discarded > 0, "no piece read ahead was ever discarded: the test does not exercise it")
    }

    static func randomModel(count: Int, from: Int64, to: Int64, ties: Bool, using generator: inout some RandomNumberGenerator) -> Model {
        var events: [ReportPosition] = []
        var offsets = [Int64](repeating: 0, count: 6)
        var timestamp = from
        for _ in 0..<count {
            // Bursts and gaps: most events close together, some far apart, some sharing a timestamp.
            let gap: Int64 = switch Int.random(in: 0..<100, using: &generator) {
            case 0..<(ties ? 30 : 0): 0
            case 30..<95: Int64.random(in: 1...2_000, using: &generator)
            default: Int64.random(in: 1...((to - from) / 20), using: &generator)
            }
            timestamp = min(to - 1, timestamp + gap)
            let partition = Int.random(in: 0..<6, using: &generator)
            offsets[partition] += 1
            events.append(ReportPosition(timestampMilliseconds: timestamp, kafkaPartition: Int32(partition), kafkaOffset: offsets[partition]))
        }
        events.sort { Model.key($0) < Model.key($1) }
        return Model(events: events)
    }

    @Test func everyEventOnceInOrderOnRandomData() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            let from: Int64 = 1_767_225_600_000
            let to = from + Int64.random(in: 1...(366 * 86_400_000), using: &generator)
            let model = Self.randomModel(count: Int.random(in: 0...5_000, using: &generator), from: from, to: to, ties: round % 2 == 0, using: &generator)
            let configuration = ReportPieceWalker.Configuration(
                pieceBytes: Int.random(in: 300...200_000, using: &generator), maxPieceRows: Int.random(in: 1...3_000, using: &generator),
                initialPieceRows: Int.random(in: 1...3_000, using: &generator)
            )
            let estimate: Int? = round % 3 == 0 ? nil : model.events.count + Int.random(in: 0...20_000, using: &generator)
            let walked = walk(ReportPieceWalker(from: from, to: to, after: nil, limit: nil, estimatedRows: estimate, configuration: configuration), model)
            #expect(walked.rows == model.events, "round \(round): \(walked.rows.count) of \(model.events.count) events, configuration \(configuration)")
        }
    }

    @Test func limitsCursorsAndAByteBudgetKeepTheOrder() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            let from: Int64 = 1_000_000
            let to = from + 30 * 86_400_000
            var model = Self.randomModel(count: 3_000, from: from, to: to, ties: true, using: &generator)
            // Rows of very different sizes: the byte budget stops some pieces early.
            model.bytesPerRow = { $0.kafkaOffset % 7 == 0 ? 50_000 : 200 }
            let start = Int.random(in: 0..<model.events.count, using: &generator)
            let after = round % 2 == 0 ? model.events[start] : nil
            let limit: UInt64? = round % 3 == 0 ? nil : UInt64.random(in: 0...4_000, using: &generator)
            let walker = ReportPieceWalker(
                from: from, to: to, after: after, limit: limit,
                configuration: .init(pieceBytes: 20_000, maxPieceRows: 500, initialPieceRows: 100)
            )
            var expected = after.map { position in Array(model.events.drop { Model.key($0) <= Model.key(position) }) } ?? model.events
            if let limit { expected = Array(expected.prefix(Int(limit))) }
            #expect(walk(walker, model, budget: 40_000).rows == expected, "round \(round)")
        }
    }

    @Test func manyEventsOnOneMillisecondStillProgress() {
        // More events on one timestamp than a piece holds: pieces advance by (partition, offset).
        let events = (0..<1_000).map { ReportPosition(timestampMilliseconds: 5_000, kafkaPartition: Int32($0 % 3), kafkaOffset: Int64($0)) }
            .sorted { Model.key($0) < Model.key($1) }
        let walker = ReportPieceWalker(from: 0, to: 10_000, after: nil, limit: nil, configuration: .init(pieceBytes: 30_000, maxPieceRows: 64, initialPieceRows: 64))
        let walked = walk(walker, Model(events: events))
        #expect(walked.rows == events)
        #expect(walked.pieces >= 1_000 / 64)
    }

    @Test func evenDataIsWalkedInPiecesThatReadAboutWhatTheyReturn() {
        // 400,000 events spread evenly over a year, 300 bytes each, 3 MB pieces: about 10,000 rows each.
        let from: Int64 = 1_767_225_600_000
        let step: Int64 = 365 * 86_400_000 / 400_000
        let events = (0..<400_000).map { ReportPosition(timestampMilliseconds: from + Int64($0) * step, kafkaPartition: Int32($0 % 6), kafkaOffset: Int64($0)) }
        let model = Model(events: events)
        let configuration = ReportPieceWalker.Configuration(pieceBytes: 3_000_000, maxPieceRows: 200_000, initialPieceRows: 10_000)
        let walked = walk(ReportPieceWalker(from: from, to: from + 365 * 86_400_000, after: nil, limit: nil, estimatedRows: 400_000, configuration: configuration), model)
        #expect(walked.rows == events)
        // Windows, not limits, end the pieces: rows read = rows returned, plus the last row's
        // millisecond again after a piece that did reach its limit.
        #expect(walked.read >= events.count && walked.read <= events.count + walked.pieces / 10, "\(walked.read) rows read")
        // About 400,000 / 7,500 pieces (each aims at 3/4 of its 10,000-row limit).
        #expect((45...70).contains(walked.pieces), "\(walked.pieces) pieces")
    }

    @Test func aSmallReportIsOnePiece() {
        let events = (0..<8_000).map { ReportPosition(timestampMilliseconds: 1_000 + Int64($0) * 300, kafkaPartition: 0, kafkaOffset: Int64($0)) }
        let walker = ReportPieceWalker(from: 0, to: 31 * 86_400_000, after: nil, limit: nil, estimatedRows: 16_384, configuration: .init(initialPieceRows: 65_536))
        let walked = walk(walker, Model(events: events))
        #expect(walked.rows == events)
        #expect(walked.pieces == 1)
    }

    @Test func aLimitOfZeroOrAnEmptyRangeFetchesNothing() {
        var walker = ReportPieceWalker(from: 0, to: 100, after: nil, limit: 0)
        #expect(walker.next() == .finished)
        var resumed = ReportPieceWalker(from: 0, to: 100, after: ReportPosition(timestampMilliseconds: 100, kafkaPartition: 0, kafkaOffset: 0), limit: nil)
        #expect(resumed.next() == .finished)
    }
}
