import AuditBench
import Testing

@Suite("bench sink: visibility and throughput arithmetic")
struct SinkVisibilityTests {
    typealias Ack = SinkVisibility.Acknowledgement
    typealias Poll = SinkVisibility.Poll

    @Test("each ack is visible at the end of the first poll whose frontier reaches its offset")
    func firstPollReachingTheOffset() {
        let acks = [
            Ack(partition: 0, offset: 0, at: 100), Ack(partition: 0, offset: 5, at: 150),
            Ack(partition: 1, offset: 3, at: 120), Ack(partition: 1, offset: 4, at: 400),
        ]
        let polls = [
            Poll(at: 200, frontier: [0: 0]),
            Poll(at: 300, frontier: [0: 4, 1: 3]),
            Poll(at: 500, frontier: [0: 9, 1: 4]),
        ]
        let (latencies, unseen) = SinkVisibility.latencies(acks, polls: polls)
        #expect(unseen == 0)
        #expect(latencies == [100, 350, 180, 100])
    }

    @Test("a row seen before its ack arrived counts as 0, not negative")
    func visibleBeforeAck() {
        let (latencies, unseen) = SinkVisibility.latencies([Ack(partition: 2, offset: 7, at: 1_000)], polls: [Poll(at: 900, frontier: [2: 7])])
        #expect(unseen == 0)
        #expect(latencies == [0])
    }

    @Test("acks no poll saw are counted as unseen, not as latencies")
    func unseenAcks() {
        let acks = [Ack(partition: 0, offset: 10, at: 1), Ack(partition: 3, offset: 0, at: 1), Ack(partition: 0, offset: 2, at: 1)]
        let (latencies, unseen) = SinkVisibility.latencies(acks, polls: [Poll(at: 50, frontier: [0: 5])])
        #expect(unseen == 2)
        #expect(latencies == [49])
    }

    @Test("a frontier that goes back (a failed or stale poll) does not move visibility earlier or later")
    func nonMonotonicFrontier() {
        let polls = [Poll(at: 10, frontier: [0: 3]), Poll(at: 20, frontier: [0: 1]), Poll(at: 30, frontier: [0: 6])]
        let (latencies, _) = SinkVisibility.latencies([Ack(partition: 0, offset: 2, at: 0), Ack(partition: 0, offset: 5, at: 0)], polls: polls)
        #expect(latencies == [10, 30])
    }

    @Test("throughput leaves out the rows read before the window")
    func throughput() {
        #expect(SinkVisibility.throughput(rows: 300_000, firstBatchRows: 10_000, windowSeconds: 5) == 58_000)
        #expect(SinkVisibility.throughput(rows: 10, firstBatchRows: 10, windowSeconds: 1) == 0)
        #expect(SinkVisibility.throughput(rows: 10, firstBatchRows: 0, windowSeconds: 0) == 0)
    }

    @Test("event counts round up to whole batches per partition")
    func rounding() {
        #expect(SinkVisibility.roundedEventCount(300_000, partitions: 6, batchRows: 10_000) == 300_000)
        #expect(SinkVisibility.roundedEventCount(300_001, partitions: 6, batchRows: 10_000) == 360_000)
        #expect(SinkVisibility.roundedEventCount(1, partitions: 6, batchRows: 10_000) == 60_000)
    }
}
