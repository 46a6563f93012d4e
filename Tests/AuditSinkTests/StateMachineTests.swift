import AuditEvents
import AuditIntegrity
@testable import AuditSink
@testable import AuditStore
@testable import AuditRecent
@testable import AuditConsumer
import AvroCodec
import ClickHouseHTTP
import KafkaClient
import NIOCore
import Testing

private func message(_ offset: Int64, partition: Int32 = 0, timestamp: Int64? = nil) -> KafkaMessage {
    KafkaMessage(topic: "t", partition: partition, offset: offset, key: nil, value: [UInt8(offset & 0xff)], headers: [], timestampMilliseconds: timestamp ?? 1_000 + offset)
}

private func flushes(_ actions: [PartitionBatcher.Action]) -> [Batch] {
    actions.compactMap { if case .flush(let batch) = $0 { batch } else { nil } }
}

@Suite("PartitionBatcher")
struct PartitionBatcherTests {
    let t0 = ContinuousClock.now

    func batcher(maxRows: Int = 3, delay: Duration = .seconds(1)) -> PartitionBatcher {
        PartitionBatcher(topic: "t", partition: 0, limits: .init(maxRows: maxRows, maxDelay: delay))
    }

    @Test func cutsBySizeIntoContiguousRangesFromTheCommittedOffset() {
        var b = batcher()
        #expect(b.start(committed: 10, pending: nil, now: t0).isEmpty)
        #expect(b.received(message(10), now: t0).isEmpty)
        #expect(b.received(message(11), now: t0).isEmpty)
        let cut = flushes(b.received(message(12), now: t0))
        #expect(cut.map(\.range) == [BatchRange(topic: "t", partition: 0, first: 10, last: 12)])
        #expect(cut.first?.records.map(\.offset) == [10, 11, 12])
        #expect(cut.first?.range.token == "t:0:10-12")
        #expect(cut.first?.deduplicationToken == "t:0:10-12:1010")
        #expect(cut.first?.range.nextOffset == 13)
        // One batch in flight: the next full batch waits for the first to complete.
        for offset in Int64(13)...15 { #expect(flushes(b.received(message(offset), now: t0)).isEmpty) }
        let next = flushes(b.flushCompleted(now: t0))
        #expect(next.map(\.range) == [BatchRange(topic: "t", partition: 0, first: 13, last: 15)])
    }

    @Test func aRecreatedTopicsBatchGetsANewDeduplicationToken() {
        // The same offsets cut twice from the same records (a replay), then from a topic created
        // again under the same name (other records at those offsets).
        func firstBatch(timestamps: [Int64]) -> Batch? {
            var b = batcher()
            _ = b.start(committed: 0, pending: nil, now: t0)
            var cut: [Batch] = []
            for (offset, timestamp) in timestamps.enumerated() { cut += flushes(b.received(message(Int64(offset), timestamp: timestamp), now: t0)) }
            return cut.first
        }
        let original = firstBatch(timestamps: [500, 501, 502])
        #expect(original?.deduplicationToken == firstBatch(timestamps: [500, 501, 502])?.deduplicationToken)
        let recreated = firstBatch(timestamps: [9_000, 9_001, 9_002])
        #expect(recreated?.range == original?.range)
        #expect(recreated?.deduplicationToken != original?.deduplicationToken)
    }

    @Test func cutsByTimeAndKeepsGapsInsideTheRange() {
        var b = batcher(maxRows: 100)
        _ = b.start(committed: 5, pending: nil, now: t0)
        _ = b.received(message(7), now: t0)  // 5 and 6 are control records: no data
        #expect(flushes(b.tick(now: t0 + .milliseconds(999))).isEmpty)
        let cut = flushes(b.tick(now: t0 + .seconds(1)))
        #expect(cut.map(\.range) == [BatchRange(topic: "t", partition: 0, first: 5, last: 7)])
    }

    @Test("records that already waited in Kafka are cut at the next tick, in one batch, not one by one")
    func backlogIsCutAtTheNextTick() {
        var b = batcher(maxRows: 1000)
        _ = b.start(committed: 0, pending: nil, now: t0)
        // A backlog: every record was written 5 s ago. Arrival alone never cuts by time.
        for offset in Int64(0)...9 {
            #expect(flushes(b.received(message(offset), now: t0, waited: .seconds(5))).isEmpty)
        }
        let cut = flushes(b.tick(now: t0))
        #expect(cut.map(\.range) == [BatchRange(topic: "t", partition: 0, first: 0, last: 9)])
        // Fresh records wait the whole delay as before.
        _ = b.flushCompleted(now: t0)
        _ = b.received(message(10), now: t0, waited: .milliseconds(3))
        #expect(flushes(b.tick(now: t0 + .milliseconds(990))).isEmpty)
        #expect(flushes(b.tick(now: t0 + .milliseconds(997))).map(\.range) == [BatchRange(topic: "t", partition: 0, first: 10, last: 10)])
    }

    @Test("a backlog streaming in (a tenth of the batch or more per tick) fills the batch, for at most the delay after its first record arrived")
    func streamingBacklogFillsTheBatch() {
        var b = batcher(maxRows: 200)
        _ = b.start(committed: 0, pending: nil, now: t0)
        var offset: Int64 = 0
        func arrive(_ count: Int, at now: ContinuousClock.Instant) -> [Batch] {
            var cut: [Batch] = []
            for _ in 0..<count {
                cut += flushes(b.received(message(offset), now: now, waited: .seconds(5)))
                offset += 1
            }
            return cut
        }
        func range(_ first: Int64, _ last: Int64) -> [BatchRange] { [BatchRange(topic: "t", partition: 0, first: first, last: last)] }
        // 60 records per tick: due by their Kafka age, but still streaming in, so held.
        #expect(arrive(60, at: t0).isEmpty)
        #expect(flushes(b.tick(now: t0)).isEmpty)
        #expect(arrive(60, at: t0 + .milliseconds(100)).isEmpty)
        #expect(flushes(b.tick(now: t0 + .milliseconds(100))).isEmpty)
        // The row limit cuts as before.
        #expect(arrive(80, at: t0 + .milliseconds(200)).map(\.range) == range(0, 199))
        _ = b.tick(now: t0 + .milliseconds(200))
        _ = b.flushCompleted(now: t0 + .milliseconds(250))
        // A slower stream (fewer than a tenth of the batch per tick) is cut at the next tick.
        #expect(arrive(5, at: t0 + .milliseconds(300)).isEmpty)
        #expect(flushes(b.tick(now: t0 + .milliseconds(300))).map(\.range) == range(200, 204))
        _ = b.flushCompleted(now: t0 + .milliseconds(300))
        // A stream that keeps coming is held at most the delay after its first record arrived.
        for tick in 0..<8 {
            let now = t0 + .milliseconds(400 + 100 * tick)
            #expect(arrive(20, at: now).isEmpty)
            #expect(flushes(b.tick(now: now)).isEmpty)
        }
        #expect(arrive(20, at: t0 + .milliseconds(1400)).isEmpty)
        #expect(flushes(b.tick(now: t0 + .milliseconds(1400))).map(\.range) == range(205, 384))
    }

    @Test func replaysExactlyThePendingRangeThatStartsAtTheCommittedOffset() {
        var b = batcher(maxRows: 2, delay: .milliseconds(1))
        let pending = BatchRange(topic: "t", partition: 0, first: 20, last: 24)
        _ = b.start(committed: 20, pending: pending, now: t0)
        // Neither size (2) nor time cuts the batch before the whole range arrived.
        for offset in Int64(20)...23 { #expect(flushes(b.received(message(offset), now: t0 + .seconds(5))).isEmpty) }
        #expect(flushes(b.tick(now: t0 + .seconds(10))).isEmpty)
        let cut = flushes(b.received(message(24), now: t0 + .seconds(10)))
        #expect(cut.map(\.range) == [pending])
        #expect(cut.first?.records.count == 5)
        // Afterwards the normal rules apply again.
        _ = b.received(message(25), now: t0)
        _ = b.received(message(26), now: t0)
        #expect(flushes(b.flushCompleted(now: t0)).map(\.range) == [BatchRange(topic: "t", partition: 0, first: 25, last: 26)])
    }

    @Test func ignoresAPendingRangeThatWasCommittedAlready() {
        var b = batcher(maxRows: 2)
        _ = b.start(committed: 25, pending: BatchRange(topic: "t", partition: 0, first: 20, last: 24), now: t0)
        _ = b.received(message(25), now: t0)
        #expect(flushes(b.received(message(26), now: t0)).map(\.range) == [BatchRange(topic: "t", partition: 0, first: 25, last: 26)])
    }

    @Test func withoutCommittedOffsetReplaysWhenTheFirstRecordStartsThePendingRange() {
        var b = batcher(maxRows: 1)
        _ = b.start(committed: nil, pending: BatchRange(topic: "t", partition: 0, first: 0, last: 2), now: t0)
        #expect(flushes(b.received(message(0), now: t0)).isEmpty)
        #expect(flushes(b.received(message(1), now: t0)).isEmpty)
        #expect(flushes(b.received(message(2), now: t0)).map(\.range) == [BatchRange(topic: "t", partition: 0, first: 0, last: 2)])
    }

    @Test func recordsArrivingWhileLoadingAreKeptAndRedeliveriesDropped() {
        var b = batcher(maxRows: 2)
        _ = b.received(message(3), now: t0)
        _ = b.received(message(4), now: t0)
        _ = b.received(message(5), now: t0)
        let cut = flushes(b.start(committed: 4, pending: nil, now: t0))
        #expect(cut.map(\.range) == [BatchRange(topic: "t", partition: 0, first: 4, last: 5)])
        #expect(flushes(b.received(message(5), now: t0)).isEmpty)  // already batched
    }

    @Test func drainFlushesEverythingThenFinishes() {
        var b = batcher(maxRows: 10)
        _ = b.start(committed: 0, pending: nil, now: t0)
        _ = b.received(message(0), now: t0)
        let actions = b.drain(now: t0)
        #expect(flushes(actions).map(\.range) == [BatchRange(topic: "t", partition: 0, first: 0, last: 0)])
        #expect(b.flushCompleted(now: t0) == [.finished])
    }

    @Test func drainDoesNotCutAnIncompleteReplay() {
        var b = batcher(maxRows: 10)
        _ = b.start(committed: 0, pending: BatchRange(topic: "t", partition: 0, first: 0, last: 5), now: t0)
        _ = b.received(message(0), now: t0)
        #expect(b.drain(now: t0) == [.finished])
    }

    @Test func stopDropsBufferedRecordsAndFinishesAfterTheBatchInFlight() {
        var b = batcher(maxRows: 1)
        _ = b.start(committed: 0, pending: nil, now: t0)
        #expect(flushes(b.received(message(0), now: t0)).count == 1)
        _ = b.received(message(1), now: t0)
        #expect(b.stop().isEmpty)
        #expect(b.buffered.isEmpty)
        #expect(b.flushCompleted(now: t0) == [.finished])
        #expect(b.received(message(2), now: t0).isEmpty)
    }

    @Test func pausesWhenTooMuchWaitsAndResumesAfterCatchingUp() {
        var b = batcher(maxRows: 600)
        _ = b.start(committed: 0, pending: nil, now: t0)
        var paused = false
        var offset: Int64 = 0
        var first: Batch?
        while !paused {
            let actions = b.received(message(offset), now: t0)
            first = first ?? flushes(actions).first
            paused = actions.contains(.pause)
            offset += 1
        }
        #expect(offset == 1800)  // 600 in flight + 1200 (2 x maxRows) buffered
        #expect(first?.records.count == 600)
        var resumed = false
        for _ in 0..<3 where !resumed {
            let actions = b.flushCompleted(now: t0)
            resumed = actions.contains(.resume)
        }
        #expect(resumed)
    }

    @Test func lagTimestampIsTheOldestUncommittedRecord() {
        var b = batcher(maxRows: 1)
        _ = b.start(committed: 0, pending: nil, now: t0)
        _ = b.received(message(0, timestamp: 500), now: t0)
        _ = b.received(message(1, timestamp: 900), now: t0)
        #expect(b.oldestPendingTimestamp == 500)
        _ = b.flushCompleted(now: t0)
        #expect(b.oldestPendingTimestamp == 900)
        _ = b.flushCompleted(now: t0)
        #expect(b.oldestPendingTimestamp == nil)
    }
}

@Suite("Retries and failure classes")
struct RetryTests {
    @Test func transientFailuresBackOffExponentiallyThenDeadLetterForRedrive() {
        var state = BatchRetryState(policy: RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(500)))
        var delays: [Duration] = []
        var final: RetryDecision?
        for _ in 0..<5 {
            switch state.failed(.transient, jitter: 0.999_999) {
            case .retry(let delay): delays.append(delay)
            case let decision: final = decision
            }
        }
        #expect(delays.count == 4)
        #expect(final == .deadLetter(redrive: true))
        // Jitter scales [0.5, 1) of 100, 200, 400, 500 (capped) ms.
        let expected: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500)]
        for (delay, cap) in zip(delays, expected) {
            #expect(delay <= cap && delay > cap * 0.99)
        }
        let low = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1)).backoff(afterAttempt: 1, jitter: 0)
        #expect(low == .milliseconds(50))
    }

    @Test func rejectedDataIsDeadLetteredAtOnceAndOperatorErrorsRetryForever() {
        var state = BatchRetryState(policy: RetryPolicy())
        #expect(state.failed(.rejected, jitter: 0) == .deadLetter(redrive: false))
        var forever = BatchRetryState(policy: RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2)))
        for _ in 0..<10 {
            guard case .retry = forever.failed(.needsOperator, jitter: 0.5) else {
                Issue.record("an operator error must never dead-letter data")
                return
            }
        }
    }

    @Test func clickHouseErrorsAreClassifiedByCategory() {
        #expect(FailureClass(ClickHouseError(kind: .network, message: "refused")) == .transient)
        #expect(FailureClass(ClickHouseError(kind: .server, code: 252, message: "TOO_MANY_PARTS")) == .transient)
        #expect(FailureClass(ClickHouseError(kind: .server, code: 53, message: "TYPE_MISMATCH")) == .rejected)
        #expect(FailureClass(ClickHouseError(kind: .server, code: 60, message: "UNKNOWN_TABLE")) == .needsOperator)
    }
}

@Suite("Deduplication and encodings")
struct DeduplicationTests {
    func row(_ id: String, tenant: String = "t1", offset: Int64) -> DecodedEvent {
        DecodedEvent(
            event: AuditEvent(eventID: id, tenantID: tenant, actorID: "a", eventType: "auth", resource: "r", action: "login", timestampMilliseconds: 1_700_000_000_000),
            schemaID: 1, sourcePartition: 0, sourceOffset: offset
        )
    }

    @Test func keepsTheFirstOfEachEventAndDropsEventsStoredByAnotherBatch() {
        let rows = [row("a", offset: 1), row("b", offset: 2), row("a", offset: 3), row("c", offset: 4), row("a", tenant: "t2", offset: 5)]
        let stored: [EventRow.Key: Set<String>] = [
            EventRow.Key(tenantID: "t1", eventID: "b"): ["t:0:0-0"],  // another batch
            EventRow.Key(tenantID: "t1", eventID: "c"): ["t:0:1-4"],  // an earlier attempt of this batch
        ]
        let (keep, duplicates) = EventRow.select(rows, stored: stored, token: "t:0:1-4")
        #expect(keep.map(\.sourceOffset) == [1, 4, 5])
        #expect(duplicates == 2)
        // The same inputs give the same rows: a replay rebuilds the identical insert.
        #expect(EventRow.select(rows, stored: stored, token: "t:0:1-4").keep == keep)
    }

    /// Keys whose hashes are equal are told apart in full: with every row sharing one hash, and
    /// with hashes of few values, the rows kept are those of a set of keys.
    @Test func rowsWhoseKeysShareAHashAreComparedInFull() {
        var generator = SplitMix64(seed: 11)
        let rows = (0..<400).map { offset in
            row("e\(generator.next() % 60)", tenant: "t\(generator.next() % 3)", offset: Int64(offset))
        }
        let stored: [EventRow.Key: Set<String>] = [EventRow.Key(tenantID: "t1", eventID: "e7"): ["another batch"]]
        var seen = Set<EventRow.Key>()
        let expected = rows.filter { row in
            let key = EventRow.Key(tenantID: row.tenantID, eventID: row.eventID)
            return seen.insert(key).inserted && stored[key] == nil
        }
        for hash in [{ (_: DecodedEvent) in 0 }, { EventRow.keyHash($0) % 5 }, EventRow.keyHash] {
            let (keep, duplicates) = EventRow.select(rows, stored: stored, token: "t:0:0-399", keyHash: hash)
            #expect(keep == expected)
            #expect(duplicates == rows.count - expected.count)
        }
    }

    @Test func deadLetterHeadersRoundTrip() {
        let source = KafkaMessage(topic: "events", partition: 2, offset: 41, key: Array("t1".utf8), value: [9], headers: [KafkaHeader(name: "event_id", value: Array("e1".utf8))], timestampMilliseconds: 5)
        let letter = DeadLetter(reason: "bad magic", source: source, stage: .decode, attempts: 1, timeMilliseconds: 1_700_000_000_123, redrive: false)
        let record = letter.record(topic: "events.dlq", source: source)
        #expect(record.key == source.key && record.value == source.value)
        #expect(record.headers.contains(KafkaHeader(name: "event_id", value: Array("e1".utf8))))
        #expect(DeadLetter(headers: record.headers) == letter)
        let names = Set(record.headers.map(\.name))
        for name in ["dlq-reason", "dlq-source-topic", "dlq-source-partition", "dlq-source-offset", "dlq-stage", "dlq-attempts", "dlq-time"] {
            #expect(names.contains(name))
        }
    }

    /// A record dead-lettered twice after failed inserts names both inserts when it comes back.
    @Test func insertTokensRideOnTheRecordThroughReDrives() {
        let source = KafkaMessage(topic: "events", partition: 0, offset: 7, key: Array("t1".utf8), value: [9], headers: [], timestampMilliseconds: 5)
        let first = DeadLetter(reason: "down", source: source, stage: .insertRetriesExhausted, attempts: 5, timeMilliseconds: 1, redrive: true, insertToken: "events:0:0-9:5")
        let letter = first.record(topic: "events.dlq", source: source)
        #expect(DeadLetter(headers: letter.headers) == first)
        // Re-driven: the dlq-* headers go, the token stays.
        let back = KafkaMessage(
            topic: "events", partition: 0, offset: 20, key: letter.key, value: letter.value,
            headers: letter.headers.filter { !DeadLetter.isOwnHeader($0.name) }, timestampMilliseconds: 6
        )
        #expect(DeadLetter.insertTokens(of: [back]) == ["events:0:0-9:5"])
        let second = DeadLetter(reason: "down", source: back, stage: .insertRetriesExhausted, attempts: 5, timeMilliseconds: 2, redrive: true, insertToken: "events:0:20-29:6")
        let again = second.record(topic: "events.dlq", source: back)
        #expect(DeadLetter(headers: again.headers)?.insertToken == "events:0:20-29:6")
        #expect(DeadLetter.insertTokens(of: [KafkaMessage(topic: "events", partition: 0, offset: 40, key: nil, value: nil, headers: again.headers, timestampMilliseconds: 7), source]) == ["events:0:0-9:5", "events:0:20-29:6"])
    }

    @Test func eventKeysWrittenInPlaceAreTheKeyStrings() {
        for tenant in ["", "a", "123456789", "1234567890", String(repeating: "t", count: 100), "é漢😀"] {
            for id in ["", "0190abcd-0000-7000-8000-000000000001", "é"] {
                var expected = ByteBuffer()
                expected.writeRowBinaryString(EventKey.string(tenantID: tenant, eventID: id))
                var written = ByteBuffer()
                EventKey.write(tenantID: tenant, eventID: id, into: &written)
                #expect(written == expected)
            }
        }
    }

    @Test func recentEventKeysSeparateTenantsAndActorsAndShareAHashTag() {
        let a = RecentEventKeys(prefix: "p:", tenant: "a:b", actor: "c")
        let b = RecentEventKeys(prefix: "p:", tenant: "a", actor: "b:c")
        #expect(a != b)
        #expect(a.ids == "p:{a%3Ab:c}")
        #expect(a.events == "p:{a%3Ab:c}:events")
        #expect(RecentEventKeys(prefix: "p:", tenant: "{x}", actor: "%").ids == "p:{%7Bx%7D:%25}")
    }

    @Test func storedEventEncodingIsDeterministicAndRoundTrips() {
        let event = AuditEvent(eventID: "e", tenantID: "t", actorID: "a", eventType: "x", resource: "r", action: "y", timestampMilliseconds: 7, metadata: ["z": "1", "a": "2", "m": "/"])
        let bytes = StoredEventJSON.encode(event)
        #expect(bytes == StoredEventJSON.encode(event))
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("{\"action\":\"y\",\"actor_id\":\"a\""))
        #expect(StoredEventJSON.decode(bytes) == event)
        // Whatever the text, JSONDecoder reads back the same event.
        let hostile = AuditEvent(
            eventID: "\"quoted\"", tenantID: "back\\slash", actorID: "tab\tnew\nline\r\u{0}\u{1F}", eventType: "é漢😀",
            resource: "\u{7F}\u{2028}", action: "", timestampMilliseconds: -62_135_596_800_000,
            metadata: ["": "", "k\"": "v\\", "\u{8}\u{C}": "/"]
        )
        #expect(StoredEventJSON.decode(StoredEventJSON.encode(hostile)) == hostile)
    }

    @Test func tableRejectsTimestampsOutsideDateTime64AndEmptyEventIDs() {
        #expect(StorableEvent.rejection(timestampMilliseconds: 1_700_000_000_000, eventIDIsEmpty: false) == nil)
        #expect(StorableEvent.rejection(timestampMilliseconds: 10_413_792_000_000, eventIDIsEmpty: false) != nil)
        #expect(StorableEvent.rejection(timestampMilliseconds: -2_208_988_800_001, eventIDIsEmpty: false) != nil)
        #expect(StorableEvent.rejection(timestampMilliseconds: 1_700_000_000_000, eventIDIsEmpty: true) == "event_id is empty")
    }

    @Test func configurationValidation() throws {
        var configuration = AuditSinkConfiguration()
        try configuration.validate()
        configuration.tables.events = "bad-name"
        #expect(throws: AuditSinkError.self) { try configuration.validate() }
        configuration = AuditSinkConfiguration()
        configuration.deadLetterTopic = configuration.topic
        #expect(throws: AuditSinkError.self) { try configuration.validate() }
        configuration = AuditSinkConfiguration()
        configuration.tables.deduplicationWindowBlocks = 0
        #expect(throws: AuditSinkError.self) { try configuration.validate() }
    }
}

@Suite("Event rows in RowBinary")
struct EventRowEncodingTests {
    /// The generic encoding of the same cells: the oracle for `EventRow.write`.
    static func cells(_ event: AuditEvent, _ row: DecodedEvent, ingestedAt: Int64, token: String, link: ChainLink?) -> [ClickHouseValue] {
        var cells: [ClickHouseValue] = [
            .string(event.tenantID), .string(event.eventType), .time(event.timestampMilliseconds), .string(event.eventID),
            .string(event.actorID), .string(event.resource), .string(event.action), .stringMap(event.metadata),
            .time(ingestedAt), .int(Int64(row.schemaID)), .int(Int64(row.sourcePartition)), .int(row.sourceOffset),
            .string(token),
        ]
        if let link { cells += [.uint(link.sequence), .bytes(link.hash.bytes)] }
        return cells
    }

    static let texts = ["", "a", "tenant-7", "é漢😀", "tab\there", String(repeating: "x", count: 300), "\u{0}", "Z", "ü"]

    static func randomEvent(_ index: Int, using random: inout some RandomNumberGenerator) -> AuditEvent {
        var metadata: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...6, using: &random) { metadata[texts.randomElement(using: &random)! + "\(index % 3)"] = texts.randomElement(using: &random)! }
        return AuditEvent(
            eventID: texts.randomElement(using: &random)! + "\(index)", tenantID: texts.randomElement(using: &random)!,
            actorID: texts.randomElement(using: &random)!, eventType: texts.randomElement(using: &random)!,
            resource: texts.randomElement(using: &random)!, action: texts.randomElement(using: &random)!,
            timestampMilliseconds: Int64.random(in: StorableEvent.timestampRange, using: &random), metadata: metadata
        )
    }

    @Test(arguments: [false, true])
    func directRowsAreByteForByteTheGenericEncoding(chained: Bool) throws {
        var random = SystemRandomNumberGenerator()
        var generic = RowBinaryWriter(columns: chained ? EventRow.chainedColumns : EventRow.columns)
        var direct = RowBinaryWriter(columns: chained ? EventRow.chainedColumns : EventRow.columns)
        var events: [AuditEvent] = []
        var rows: [DecodedEvent] = []
        for index in 0..<500 {
            let event = Self.randomEvent(index, using: &random)
            events.append(event)
            rows.append(DecodedEvent(
                event: event, schemaID: Int32.random(in: 1...Int32.max, using: &random), sourcePartition: Int32.random(in: 0...999, using: &random),
                sourceOffset: Int64.random(in: 0...Int64.max, using: &random)
            ))
        }
        // The oracle of the chain: ChainedEvent's own canonical bytes.
        var heads: [String: ChainHead] = [:]
        var expectedLinks: [ChainLink] = []
        for (event, row) in zip(events, rows) {
            let chainedEvent = ChainedEvent(
                tenantID: event.tenantID, eventID: event.eventID, eventType: event.eventType, timestampMilliseconds: event.timestampMilliseconds,
                actorID: event.actorID, resource: event.resource, action: event.action, metadata: event.metadata,
                schemaID: row.schemaID, kafkaPartition: row.sourcePartition, kafkaOffset: row.sourceOffset
            )
            let (sequence, hash) = heads[event.tenantID, default: .genesis(tenantID: event.tenantID)].append(chainedEvent)
            expectedLinks.append(ChainLink(sequence: sequence, hash: hash))
        }
        let planned = ChainPlanner.link(rows, from: Dictionary(uniqueKeysWithValues: Set(events.map(\.tenantID)).map { ($0, ChainHead.genesis(tenantID: $0)) }))
        #expect(planned.links == expectedLinks)
        #expect(planned.heads == heads)
        for (index, (event, row)) in zip(events, rows).enumerated() {
            let ingestedAt = Int64.random(in: 0...4_000_000_000_000, using: &random)
            let token = "topic:\(index):0-\(index)"
            let link = chained ? expectedLinks[index] : nil
            try generic.append(Self.cells(event, row, ingestedAt: ingestedAt, token: token, link: link))
            direct.appendEncodedRow { EventRow.write(row, ingestedAt: ingestedAt, token: token, link: link, into: &$0) }
        }
        #expect(direct.rowCount == generic.rowCount)
        #expect(direct.buffer == generic.buffer)
    }

    /// Transcodes `body` alone.
    static func transcode(_ body: [UInt8]) throws -> EventCells.Transcoded {
        var cells = ByteBuffer()
        var entries: [EventCells.Entry] = []
        return try body.withUnsafeBufferPointer { try EventCells.transcodeSeedRecord($0, into: &cells, entries: &entries) }
    }

    @Test("records of the seed layout transcode into the cells of the event they decode to")
    func transcodedCellsAreTheDecodedEventsCells() throws {
        var random = SystemRandomNumberGenerator()
        var cells = ByteBuffer()
        var entries: [EventCells.Entry] = []
        for index in 0..<500 {
            var event = Self.randomEvent(index, using: &random)
            // Maps as any Avro writer may send them: unsorted, in several blocks, keys repeated.
            var writer = AvroBinaryWriter()
            for field in [event.eventID, event.tenantID, event.actorID, event.eventType, event.resource, event.action] { writer.writeString(field) }
            writer.writeLong(event.timestampMilliseconds)
            var pairs = event.metadata.map { ($0.key, $0.value) }.shuffled(using: &random)
            if let first = pairs.first, Bool.random(using: &random) {
                pairs.insert((first.0, "overwritten"), at: 0)  // the later entry of a repeated key wins
            }
            let split = Int.random(in: 0...pairs.count, using: &random)
            for block in [pairs[..<split], pairs[split...]] where !block.isEmpty {
                writer.writeLong(Int64(block.count))
                for (key, value) in block {
                    writer.writeString(key)
                    writer.writeString(value)
                }
            }
            writer.writeLong(0)
            let decoded = try AuditEventSchema.decodeSeedRecord(writer.bytes)
            #expect(decoded == event)
            event = decoded
            let start = cells.writerIndex
            let transcoded = try writer.bytes.withUnsafeBufferPointer { try EventCells.transcodeSeedRecord($0, into: &cells, entries: &entries) }
            guard case .cells(let summary) = transcoded else {
                Issue.record("rejected: \(transcoded)")
                continue
            }
            #expect(summary.tenantID == event.tenantID && summary.eventID == event.eventID && summary.timestampMilliseconds == event.timestampMilliseconds)
            let expected = DecodedEvent(event: event, schemaID: 1, sourcePartition: 0, sourceOffset: 0).cells
            #expect(cells.getSlice(at: start, length: cells.writerIndex - start) == expected)
        }
    }

    @Test("a record the table cannot hold is rejected, and a broken one fails as decodeSeedRecord fails")
    func rejectionsAndErrorsMatchTheDecoder() throws {
        func body(eventID: String = "e", timestamp: Int64 = 0, tail: [UInt8] = [0]) -> [UInt8] {
            var writer = AvroBinaryWriter()
            for field in [eventID, "t", "a", "x", "r", "y"] { writer.writeString(field) }
            writer.writeLong(timestamp)
            return writer.bytes + tail
        }
        guard case .rejected(let reason) = try Self.transcode(body(eventID: "")) else { Issue.record("an empty event_id was taken"); return }
        #expect(reason == "event_id is empty")
        guard case .rejected = try Self.transcode(body(timestamp: StorableEvent.timestampRange.upperBound + 1)) else { Issue.record("a timestamp out of range was taken"); return }
        for broken in [body(tail: []), body(tail: [0, 0]), body(tail: [2, 2, 0xC3, 0x28, 0, 0]), [0x80]] {
            var decoderError: AvroDecodingError?
            do { _ = try AuditEventSchema.decodeSeedRecord(broken) } catch { decoderError = error }
            var transcoderError: (any Error)?
            do { _ = try Self.transcode(broken) } catch { transcoderError = error }
            #expect(decoderError != nil)
            #expect("\(String(describing: transcoderError))" == "\(String(describing: decoderError))")
        }
    }
}
