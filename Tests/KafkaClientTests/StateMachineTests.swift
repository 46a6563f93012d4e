@testable import KafkaClient
import Testing

@Suite("Producer pending-delivery table")
struct ProducerStateMachineTests {
    typealias Machine = ProducerStateMachine<String, Int, String, String>

    static let report = KafkaDeliveryReport(topic: "t", partition: 1, offset: 42, timestampMilliseconds: nil)

    static func report(offset: Int64) -> KafkaDeliveryReport {
        KafkaDeliveryReport(topic: "t", partition: 0, offset: offset, timestampMilliseconds: nil)
    }

    @Test("a batch's opaque carries its id and index, distinct from single records' ids")
    func batchOpaque() {
        let opaque = BatchOpaque(batch: 12_345, index: 9_999)
        #expect(BatchOpaque(raw: opaque.raw) == opaque)
        #expect(BatchOpaque(raw: 1) == nil)
        #expect(BatchOpaque(raw: BatchOpaque(batch: 1, index: BatchOpaque.maxRecords - 1).raw)?.index == BatchOpaque.maxRecords - 1)
    }

    @Test("a batch's one waiter is resumed with every result, in order, when the last report arrives")
    func batchCompletesOnItsLastReport() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 3) else { Issue.record("expected produce"); return }
        #expect(machine.activeProduceCalls == 1)
        machine.batchProduced(batch: batch, rejected: [(index: 1, error: KafkaError(code: .invalidArgument, message: "too large"))])
        #expect(machine.activeProduceCalls == 0)
        // A report before the sender waits is kept.
        guard case .none = machine.batchDelivered(batch: batch, index: 2, result: .success(Self.report(offset: 7))) else { Issue.record("expected none"); return }
        #expect(machine.attachBatch(batch: batch, waiter: "sender") == nil)
        #expect(machine.unresolvedCount == 1)
        guard case .resume(let waiter, let results) = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 6))) else {
            Issue.record("expected resume"); return
        }
        #expect(waiter == "sender")
        #expect(results.count == 3)
        #expect(try results[0].get().offset == 6)
        #expect((try? results[1].get()) == nil)
        #expect(try results[2].get().offset == 7)
        #expect(machine.unresolvedCount == 0 && machine.unresolvedBatchCount == 0)
        // A late duplicate is flagged, not applied.
        guard case .unknown = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 6))) else { Issue.record("expected unknown"); return }
    }

    @Test("a batch whose reports all came before the sender waits completes at once")
    func batchDoneBeforeAttach() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 2) else { Issue.record("expected produce"); return }
        _ = machine.batchDelivered(batch: batch, index: 1, result: .success(Self.report(offset: 2)))
        _ = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 1)))
        machine.batchProduced(batch: batch, rejected: [])
        let attached = machine.attachBatch(batch: batch, waiter: "sender")
        let results = try #require(attached)
        #expect(try results.map { try $0.get().offset } == [1, 2])
        #expect(machine.unresolvedBatchCount == 0)
    }

    @Test("records a batch never produced (queue full, then shut down) fail, and the rest still complete it")
    func batchAbandonedAfterQueueFull() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 4) else { Issue.record("expected produce"); return }
        machine.batchProduced(batch: batch, rejected: [])  // stopped at index 2: queue full
        _ = machine.beginShutdown()
        guard case .fail(let error) = machine.resumeBatch(batch: batch) else { Issue.record("expected fail"); return }
        #expect(machine.activeProduceCalls == 0)
        machine.batchAbandoned(batch: batch, range: 2..<4, error: error)
        #expect(machine.attachBatch(batch: batch, waiter: "sender") == nil)
        _ = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 1)))
        guard case .resume(_, let results) = machine.batchDelivered(batch: batch, index: 1, result: .success(Self.report(offset: 2))) else {
            Issue.record("expected resume"); return
        }
        #expect(results.map { (try? $0.get()) != nil } == [true, true, false, false])
    }

    @Test("at shutdown a waiting batch gets a retriable failure for every record without a report")
    func batchAtShutdown() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 2) else { Issue.record("expected produce"); return }
        machine.batchProduced(batch: batch, rejected: [])
        _ = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 1)))
        #expect(machine.attachBatch(batch: batch, waiter: "sender") == nil)
        _ = machine.beginShutdown()
        let resumed = machine.finishShutdown()
        #expect(resumed.records.isEmpty)
        #expect(resumed.batches.count == 1)
        let (waiter, results) = try #require(resumed.batches.first)
        #expect(waiter == "sender")
        #expect(try results[0].get().offset == 1)
        guard case .failure(let error) = results[1] else { Issue.record("expected failure"); return }
        #expect(error.isRetriable)
        guard case .fail = machine.beginBatch(count: 1) else { Issue.record("a shut-down producer takes no batch"); return }
    }

    @Test("a batch taken in parts: each part holds the records resolved since the last, one hand-over per delivery event")
    func batchInParts() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 5) else { Issue.record("expected produce"); return }
        machine.batchProduced(batch: batch, rejected: [(index: 4, error: KafkaError(code: .invalidArgument, message: "too large"))])
        _ = machine.batchDelivered(batch: batch, index: 1, result: .success(Self.report(offset: 1)))
        // What was resolved before the sender asked is its first part.
        guard case .part(let first) = machine.attachPart(batch: batch, waiter: "sender") else { Issue.record("expected a part"); return }
        #expect(first.indices == [1, 4] && (try? first.results[0].get().offset) == 1 && (try? first.results[1].get()) == nil)
        guard case .wait = machine.attachPart(batch: batch, waiter: "sender") else { Issue.record("expected wait"); return }
        // One delivery event for two records of one partition: one hand-over, after both.
        guard case .partWaiting(batch) = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 5))) else {
            Issue.record("expected a part waiting"); return
        }
        guard case .none = machine.batchDelivered(batch: batch, index: 3, result: .success(Self.report(offset: 6))) else { Issue.record("expected none"); return }
        let taken = machine.takePart(batch: batch)
        let (waiter, second) = try #require(taken)
        #expect(waiter == "sender" && second.indices == [0, 3])
        let again = machine.takePart(batch: batch)
        #expect(again == nil)
        // The last record: its part ends the batch.
        _ = machine.batchDelivered(batch: batch, index: 2, result: .success(Self.report(offset: 9)))
        guard case .part(let last) = machine.attachPart(batch: batch, waiter: "sender") else { Issue.record("expected a part"); return }
        #expect(last.indices == [2])
        #expect(machine.unresolvedBatchCount == 0)
        guard case .done = machine.attachPart(batch: batch, waiter: "sender") else { Issue.record("expected done"); return }
    }

    @Test("at shutdown a sender waiting for a part gets the rest of the batch as retriable failures")
    func batchInPartsAtShutdown() throws {
        var machine = Machine()
        guard case .produce(let batch, _) = machine.beginBatch(count: 3) else { Issue.record("expected produce"); return }
        machine.batchProduced(batch: batch, rejected: [])
        _ = machine.batchDelivered(batch: batch, index: 0, result: .success(Self.report(offset: 1)))
        guard case .part = machine.attachPart(batch: batch, waiter: "sender"), case .wait = machine.attachPart(batch: batch, waiter: "sender") else {
            Issue.record("expected a part, then wait"); return
        }
        _ = machine.beginShutdown()
        let resumed = machine.finishShutdown()
        let (waiter, part) = try #require(resumed.parts.first)
        #expect(waiter == "sender" && part.indices == [1, 2])
        #expect(part.results.allSatisfy { if case .failure(let error) = $0 { error.isRetriable } else { false } })
        #expect(machine.unresolvedBatchCount == 0)
    }

    @Test func theLastProduceCallToEndDuringShutdownSaysSo() {
        var machine = Machine()
        guard case .produce(let a, _) = machine.beginProduce(), case .produce(let b, _) = machine.beginProduce(),
            case .produce(let batch, _) = machine.beginBatch(count: 2)
        else { Issue.record("expected produce"); return }
        let beforeShutdown = machine.produceAccepted(id: a)
        #expect(!beforeShutdown, "not shutting down")
        let shutdown = machine.beginShutdown()
        #expect(shutdown.start)
        let oneLeft = machine.produceRejected(id: b)
        #expect(!oneLeft, "the batch's call is still active")
        let last = machine.batchProduced(batch: batch, rejected: [])
        #expect(last, "the last call ended during shutdown")
        #expect(machine.activeProduceCalls == 0)
    }

    @Test func reportAfterAttachResumesTheWaiter() throws {
        var machine = Machine()
        guard case .produce(let id, _) = machine.beginProduce() else { Issue.record("expected produce"); return }
        machine.produceAccepted(id: id)
        guard case .wait = machine.attach(id: id, waiter: "sender") else { Issue.record("expected wait"); return }
        guard case .resume(let waiter, let result) = machine.delivered(id: id, result: .success(Self.report)) else {
            Issue.record("expected resume"); return
        }
        #expect(waiter == "sender")
        #expect(try result.get() == Self.report)
        #expect(machine.unresolvedCount == 0)
    }

    @Test func reportBeforeAttachIsKeptForTheSender() throws {
        var machine = Machine()
        guard case .produce(let id, _) = machine.beginProduce() else { Issue.record("expected produce"); return }
        guard case .none = machine.delivered(id: id, result: .success(Self.report)) else { Issue.record("expected none"); return }
        machine.produceAccepted(id: id)
        guard case .resume(let result) = machine.attach(id: id, waiter: "late") else { Issue.record("expected resume"); return }
        #expect(try result.get() == Self.report)
        #expect(machine.unresolvedCount == 0)
    }

    @Test func idsAreDistinctAndUnknownReportsAreFlagged() {
        var machine = Machine()
        var ids: Set<UInt64> = []
        for _ in 0..<100 {
            guard case .produce(let id, _) = machine.beginProduce() else { Issue.record("expected produce"); return }
            #expect(id != 0)
            ids.insert(id)
        }
        #expect(ids.count == 100)
        guard case .unknown = machine.delivered(id: 999_999, result: .success(Self.report)) else { Issue.record("expected unknown"); return }
    }

    @Test func rejectedProduceLeavesNoEntry() {
        var machine = Machine()
        guard case .produce(let id, _) = machine.beginProduce() else { Issue.record("expected produce"); return }
        #expect(machine.activeProduceCalls == 1)
        machine.produceRejected(id: id)
        #expect(machine.activeProduceCalls == 0)
        #expect(machine.unresolvedCount == 0)
    }

    @Test func queueFullWaitersWakeOnDeliveryAndMissedWakeupsAreDetected() {
        var machine = Machine()
        guard case .produce(let id, let generation) = machine.beginProduce() else { Issue.record("expected produce"); return }
        machine.produceRejected(id: id)  // queue full
        let ok1 = machine.waitForCapacity(after: generation, waiter: 1) == .wait(waiterID: 1)
        #expect(ok1)
        let ok2 = machine.waitForCapacity(after: generation, waiter: 2) == .wait(waiterID: 2)
        #expect(ok2)
        let ok3 = machine.cancelCapacityWait(waiterID: 2) == 2
        #expect(ok3)
        let ok4 = machine.capacityFreed() == [1]
        #expect(ok4)
        // A sender that failed before the reports arrived must not sleep: its generation is stale.
        let ok5 = machine.waitForCapacity(after: generation, waiter: 3) == .retryNow
        #expect(ok5)
    }

    @Test func shutdownFailsEverythingPendingAndRejectsNewSends() {
        var machine = Machine()
        guard case .produce(let a, _) = machine.beginProduce(), case .produce(let b, let generation) = machine.beginProduce() else {
            Issue.record("expected produce"); return
        }
        machine.produceAccepted(id: a)
        machine.produceAccepted(id: b)
        _ = machine.attach(id: a, waiter: "a")
        let ok6 = machine.waitForCapacity(after: generation, waiter: 7) == .wait(waiterID: 1)
        #expect(ok6)
        let (start, wake) = machine.beginShutdown()
        #expect(start && wake == [7])
        let ok7 = machine.beginShutdown().start == false
        #expect(ok7)
        guard case .fail(let error) = machine.beginProduce() else { Issue.record("expected fail"); return }
        #expect(error.code == .destroyed)
        let resumed = machine.finishShutdown().records
        #expect(resumed.map(\.0) == ["a"])
        #expect(throws: KafkaError.self) { try resumed[0].1.get() }
        // b had no waiter yet: attaching now resumes at once with the failure.
        guard case .resume(let late) = machine.attach(id: b, waiter: "b") else { Issue.record("expected resume"); return }
        #expect(throws: KafkaError.self) { try late.get() }
        #expect(machine.unresolvedCount == 0)
    }

    @Test func fatalErrorFailsNewSends() {
        var machine = Machine()
        let fatal = KafkaError(code: .fatal, message: "fenced", isFatal: true)
        _ = machine.fatal(fatal)
        guard case .fail(let error) = machine.beginProduce() else { Issue.record("expected fail"); return }
        #expect(error == fatal)
    }
}

@Suite("Consumer buffer and assignment")
struct ConsumerStateMachineTests {
    typealias Machine = ConsumerStateMachine<String>

    static func message(_ partition: Int32, _ offset: Int64, topic: String = "t") -> KafkaMessage {
        KafkaMessage(topic: topic, partition: partition, offset: offset, key: nil, value: [1], headers: [], timestampMilliseconds: nil)
    }

    static func tp(_ partition: Int32) -> KafkaTopicPartition { KafkaTopicPartition(topic: "t", partition: partition) }

    @Test func eventsComeOutInOrder() {
        var machine = Machine(highWatermark: 10, lowWatermark: 5)
        _ = machine.assigned([Self.tp(0)])
        _ = machine.received(Self.message(0, 0))
        _ = machine.received(Self.message(0, 1))
        var out: [KafkaConsumerEvent] = []
        while case .event(let event, _) = machine.next() { out.append(event) }
        #expect(out == [.assigned([Self.tp(0)]), .message(Self.message(0, 0)), .message(Self.message(0, 1))])
    }

    @Test("a burst of records is buffered in order; a batch reader takes up to its maximum, then waits")
    func burstsAndBatchesKeepOrder() {
        var machine = Machine(highWatermark: 10, lowWatermark: 2)
        guard case .suspend = machine.nextBatch(max: 4) else { Issue.record("expected suspend"); return }
        guard case .suspended = machine.suspend("reader") else { Issue.record("expected suspended"); return }
        // The waiting reader gets the burst's first record directly; the rest are buffered.
        guard case .resume(let waiter, let event) = machine.received(contentsOf: (0..<12).map { Self.message(0, Int64($0)) }) else {
            Issue.record("expected resume")
            return
        }
        #expect(waiter == "reader" && event == .message(Self.message(0, 0)))
        #expect(machine.bufferedCount == 11)
        let parks = machine.shouldParkPoller()
        #expect(parks)
        guard case .events(let first, let wakeEarly) = machine.nextBatch(max: 4) else { Issue.record("expected events"); return }
        #expect(first == (1...4).map { .message(Self.message(0, Int64($0))) } && !wakeEarly)
        guard case .events(let second, _) = machine.nextBatch(max: 4) else { Issue.record("expected events"); return }
        #expect(second == (5...8).map { .message(Self.message(0, Int64($0))) })
        guard case .events(let third, let wake) = machine.nextBatch(max: 4) else { Issue.record("expected events"); return }
        #expect(third == (9...11).map { .message(Self.message(0, Int64($0))) } && wake)
        guard case .suspend = machine.nextBatch(max: 4) else { Issue.record("expected suspend"); return }
        // While closing, polled records are no longer buffered.
        _ = machine.beginClose()
        guard case .none = machine.received(contentsOf: [Self.message(0, 12)]) else { Issue.record("expected none"); return }
        #expect(machine.bufferedCount == 0)
    }

    @Test func waitingReaderGetsTheEventDirectly() {
        var machine = Machine(highWatermark: 10, lowWatermark: 5)
        guard case .suspend = machine.next() else { Issue.record("expected suspend"); return }
        guard case .suspended = machine.suspend("reader") else { Issue.record("expected suspended"); return }
        guard case .resume(let waiter, let event) = machine.assigned([Self.tp(3)]) else { Issue.record("expected resume"); return }
        #expect(waiter == "reader")
        #expect(event == .assigned([Self.tp(3)]))
        #expect(machine.bufferedCount == 0)
    }

    @Test func pollerParksAtHighWatermarkAndWakesAtLowWatermark() {
        var machine = Machine(highWatermark: 4, lowWatermark: 1)
        for offset in 0..<4 {
            let ok8 = !machine.shouldParkPoller()
            #expect(ok8)
            _ = machine.received(Self.message(0, Int64(offset)))
        }
        let ok9 = machine.shouldParkPoller()
        #expect(ok9)
        var wakes: [Bool] = []
        while case .event(_, let wake) = machine.next() { wakes.append(wake) }
        // 4 buffered: after reading 3 the buffer holds 1 (= low watermark): wake exactly then.
        #expect(wakes == [false, false, true, false])
        let ok10 = !machine.shouldParkPoller()
        #expect(ok10)
    }

    @Test func revokeDropsUnreadRecordsOfRevokedPartitionsOnly() {
        var machine = Machine(highWatermark: 100, lowWatermark: 10)
        _ = machine.assigned([Self.tp(0), Self.tp(1)])
        _ = machine.received(Self.message(0, 0))
        _ = machine.received(Self.message(1, 0))
        _ = machine.received(Self.message(0, 1))
        _ = machine.revoked([Self.tp(0)])
        #expect(machine.assignment == [Self.tp(1)])
        #expect(Array(machine.bufferedEvents) == [.assigned([Self.tp(0), Self.tp(1)]), .message(Self.message(1, 0)), .revoked([Self.tp(0)])])
    }

    @Test func eagerRevokeAllThenAssignTracksAssignment() {
        var machine = Machine(highWatermark: 100, lowWatermark: 10)
        _ = machine.assigned([Self.tp(0), Self.tp(1), Self.tp(2)])
        _ = machine.revoked([Self.tp(0), Self.tp(1), Self.tp(2)])
        #expect(machine.assignment.isEmpty)
        _ = machine.assigned([Self.tp(1)])
        #expect(machine.assignment == [Self.tp(1)])
    }

    @Test func closeDropsUnreadRecordsAndEndsTheSequence() {
        var machine = Machine(highWatermark: 2, lowWatermark: 0)
        _ = machine.assigned([Self.tp(0)])
        _ = machine.received(Self.message(0, 0))
        _ = machine.received(Self.message(0, 1))
        let ok11 = machine.shouldParkPoller()
        #expect(ok11)
        let ok12 = machine.beginClose()
        #expect(ok12)
        let ok13 = !machine.beginClose()
        #expect(ok13)
        let ok14 = !machine.shouldParkPoller() // closing must never park: close needs the poller
        #expect(ok14)
        guard case .none = machine.received(Self.message(0, 2)) else { Issue.record("expected none"); return }
        _ = machine.revoked([Self.tp(0)])
        let ok15 = machine.finishClose() == nil
        #expect(ok15)
        var out: [KafkaConsumerEvent] = []
        while case .event(let event, _) = machine.next() { out.append(event) }
        #expect(out == [.assigned([Self.tp(0)]), .revoked([Self.tp(0)])])
        guard case .finished(nil) = machine.next() else { Issue.record("expected end"); return }
    }

    @Test func closeResumesAWaitingReader() {
        var machine = Machine(highWatermark: 2, lowWatermark: 0)
        guard case .suspend = machine.next(), case .suspended = machine.suspend("reader") else { Issue.record("expected suspended"); return }
        _ = machine.beginClose()
        let ok16 = machine.finishClose() == "reader"
        #expect(ok16)
    }

    @Test func fatalErrorIsThrownAfterTheBuffer() {
        var machine = Machine(highWatermark: 10, lowWatermark: 1)
        _ = machine.received(Self.message(0, 0))
        let fatal = KafkaError(code: .fatal, message: "boom", isFatal: true)
        let ok17 = machine.fail(fatal) == nil
        #expect(ok17)
        guard case .event = machine.next() else { Issue.record("expected event"); return }
        guard case .finished(let error) = machine.next() else { Issue.record("expected finished"); return }
        #expect(error == fatal)
    }

    @Test func cancellationBeforeSuspendEndsIteration() {
        var machine = Machine(highWatermark: 10, lowWatermark: 1)
        let ok18 = machine.cancelReader() == nil
        #expect(ok18)
        guard case .resumeNow(.finished(nil)) = machine.suspend("reader") else { Issue.record("expected end"); return }
        guard case .suspended = machine.suspend("reader2") else { Issue.record("expected suspended"); return }
        let ok19 = machine.cancelReader() == "reader2"
        #expect(ok19)
    }
}
