import Foundation
import KafkaClient
import Testing

@testable import AuditConsumer

@Suite("Consumer lag: measurement and the `auditpipe lag` report")
struct LagReportTests {
    @Test("a record waiting in memory: now minus its Kafka timestamp")
    func pendingRecord() {
        var tracker = PartitionLagTracker()
        #expect(tracker.seconds(now: 1_000, position: 10, high: 15, oldestPendingTimestampMilliseconds: 988_500) == 11.5)
        // A clock behind the producer's never gives a negative lag.
        #expect(tracker.seconds(now: 1_000, position: 14, high: 15, oldestPendingTimestampMilliseconds: 1_002_000) == 0)
    }

    @Test("stuck with nothing fetched: grows from the first measurement that saw the record, then resets")
    func behindNotFetched() {
        var tracker = PartitionLagTracker()
        #expect(tracker.seconds(now: 100, position: 10, high: 13, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 107, position: 10, high: 13, oldestPendingTimestampMilliseconds: nil) == 7)
        #expect(tracker.seconds(now: 130, position: 10, high: 19, oldestPendingTimestampMilliseconds: nil) == 30)
        // Fetched: measured from the record itself again.
        #expect(tracker.seconds(now: 131, position: 10, high: 19, oldestPendingTimestampMilliseconds: 129_000) == 2)
        // Part processed: the oldest unprocessed record (offset 15) was in the log at 130, not at 100.
        #expect(tracker.seconds(now: 140, position: 15, high: 19, oldestPendingTimestampMilliseconds: nil) == 10)
        // Caught up, then behind again later: counted afresh, not from the first episode.
        #expect(tracker.seconds(now: 150, position: 19, high: 19, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 200, position: 19, high: 20, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 201, position: 19, high: 20, oldestPendingTimestampMilliseconds: nil) == 1)
    }

    /// The sawtooth seen in `Deploy/run` (5, 10, 15, 20 s on a busy partition): a consumer that
    /// keeps up is a few records behind at every measurement, records produced since the one
    /// before and not fetched yet. Each measurement finds new records, not the same ones.
    @Test("busy and keeping up: a few records behind at every measurement, but never the same ones: about 0 s")
    func busyKeepingUp() {
        var tracker = PartitionLagTracker()
        var position: Int64 = 0
        for step in 0..<20 {
            let now = 1_000 + Double(step) * 5
            let high = Int64(step + 1) * 165  // 33 records/s
            // Everything produced before the previous measurement is processed; the last 3 are in flight.
            position = high - 3
            #expect(tracker.seconds(now: now, position: position, high: high, oldestPendingTimestampMilliseconds: nil) == 0, "step \(step)")
        }
        #expect(tracker.samples.count == 1)
    }

    @Test("busy and falling behind: the age of the oldest unprocessed record's first sighting")
    func busyFallingBehind() {
        var tracker = PartitionLagTracker()
        // 100 records/s produced, 50/s processed, measured every 5 s.
        for step in 0..<10 {
            let now = Double(step) * 5
            let high = Int64(step + 1) * 500
            let position = Int64(step) * 250
            let seconds = tracker.seconds(now: now, position: position, high: high, oldestPendingTimestampMilliseconds: nil)
            // Offset `position` was produced at position / 100 s (the log held it from then),
            // first measured at the next multiple of 5 s.
            let firstSeen = ((Double(position) / 100) / 5).rounded(.down) * 5
            #expect(seconds == now - firstSeen, "step \(step)")
        }
        // Stuck for a long time: the history stays bounded, the estimate only grows.
        var last = 0.0
        for step in 0..<500 {
            let seconds = tracker.seconds(now: 100 + Double(step), position: 2_250, high: 10_000 + Int64(step), oldestPendingTimestampMilliseconds: nil)
            #expect(seconds >= last)
            last = seconds
        }
        #expect(tracker.samples.count <= PartitionLagTracker.maxSamples)
    }

    @Test("idle and caught up: 0 seconds however old the last record is; the last committed time is kept")
    func caughtUp() {
        var tracker = PartitionLagTracker()
        #expect(tracker.lastCommittedTimestampMilliseconds == nil)
        tracker.committed(lastRecordTimestampMilliseconds: 50_000)
        tracker.committed(lastRecordTimestampMilliseconds: 40_000)  // never goes back
        tracker.committed(lastRecordTimestampMilliseconds: nil)
        #expect(tracker.lastCommittedTimestampMilliseconds == 50_000)
        #expect(tracker.seconds(now: 10_000, position: 7, high: 7, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 10_005, position: 7, high: 7, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 10_000, position: nil, high: nil, oldestPendingTimestampMilliseconds: nil) == 0)
        // An empty partition.
        var empty = PartitionLagTracker()
        #expect(empty.seconds(now: 10_000, position: 0, high: 0, oldestPendingTimestampMilliseconds: nil) == 0)
    }

    @Test("the recent-events group's bookkeeping: read, commit, revoke")
    func groupState() {
        let state = GroupLagState()
        let p0 = KafkaTopicPartition(topic: "t", partition: 0)
        let p1 = KafkaTopicPartition(topic: "t", partition: 1)
        state.assigned([p0, p1])
        let records = [
            message(p0, offset: 0, timestamp: 10_000), message(p0, offset: 1, timestamp: 12_000), message(p1, offset: 0, timestamp: 11_000),
        ]
        for record in records { state.read(record) }
        #expect(state.measure(p0, now: 20, position: 0, high: 2).seconds == 10)
        #expect(state.measure(p1, now: 20, position: 0, high: 1).seconds == 9)
        state.committed([records[0]])
        let afterOne = state.measure(p0, now: 20, position: 1, high: 2)
        #expect(afterOne.seconds == 8)
        #expect(afterOne.lastCommitted == 10_000)
        state.committed([records[1], records[2]])
        let p0Caught = state.measure(p0, now: 20, position: 2, high: 2)
        #expect(p0Caught.seconds == 0)
        #expect(p0Caught.lastCommitted == 12_000)
        let p1Caught = state.measure(p1, now: 20, position: 1, high: 1)
        #expect(p1Caught.seconds == 0)
        #expect(p1Caught.lastCommitted == 11_000)
        #expect(Set(state.revoked([p1, KafkaTopicPartition(topic: "t", partition: 9)])) == [p1])
        #expect(state.assignedPartitions == [p0])
        // A revoked partition starts afresh if it comes back.
        #expect(state.measure(p1, now: 20, position: 1, high: 1).lastCommitted == nil)
    }

    @Test("the report reads the lag series of every group from /metrics text")
    func parse() {
        let text = """
            # HELP auditpipe_consumer_lag_seconds
            # TYPE auditpipe_consumer_lag_seconds gauge
            auditpipe_consumer_lag_seconds{group="auditpipe-sink",topic="auditpipe.events",partition="1"} 0.0
            auditpipe_consumer_lag_seconds{group="auditpipe-sink",topic="auditpipe.events",partition="0"} 12.5
            auditpipe_consumer_lag_seconds{group="auditpipe-sink-recent",topic="auditpipe.events",partition="0"} 3.25
            # TYPE auditpipe_consumer_lag_records gauge
            auditpipe_consumer_lag_records{group="auditpipe-sink",topic="auditpipe.events",partition="0"} 42.0
            auditpipe_consumer_lag_records{group="auditpipe-sink-recent",topic="auditpipe.events",partition="0"} 7
            auditpipe_consumer_last_committed_timestamp_seconds{group="auditpipe-sink",topic="auditpipe.events",partition="1"} 1700000000.5
            auditpipe_consumer_lag_seconds{group="we\\"ird",topic="a,b",partition="2"} 1e1
            auditpipe_consumer_lag_seconds{group="no-partition",topic="t"} 1
            auditpipe_sink_rows_inserted_total{group="auditpipe-sink"} 10
            """
        let report = ConsumerLagReport(prometheusText: text)
        #expect(report.rows == [
            .init(group: "auditpipe-sink", topic: "auditpipe.events", partition: 0, lagRecords: 42, lagSeconds: 12.5),
            .init(group: "auditpipe-sink", topic: "auditpipe.events", partition: 1, lagSeconds: 0, lastCommittedTimestamp: 1_700_000_000.5),
            .init(group: "auditpipe-sink-recent", topic: "auditpipe.events", partition: 0, lagRecords: 7, lagSeconds: 3.25),
            .init(group: "we\"ird", topic: "a,b", partition: 2, lagSeconds: 10),
        ])
        let table = report.renderTable(now: 1_700_000_065)
        #expect(table == """
            GROUP                  TOPIC             PARTITION  LAG RECORDS  LAG SECONDS  LAST COMMITTED
            auditpipe-sink         auditpipe.events          0           42         12.5               -
            auditpipe-sink         auditpipe.events          1            -          0.0       1m05s ago
            auditpipe-sink-recent  auditpipe.events          0            7          3.2               -
            we"ird                 a,b                       2            -         10.0               -
            """)
        #expect(ConsumerLagReport(prometheusText: "").rows.isEmpty)
        let decoded = try? JSONDecoder().decode(ConsumerLagReport.self, from: Data(report.json().utf8))
        #expect(decoded == report)
    }

    @Test("ages are short and readable")
    func ages() {
        #expect(ConsumerLagReport.age(0.42) == "0.4s")
        #expect(ConsumerLagReport.age(12.4) == "12s")
        #expect(ConsumerLagReport.age(185) == "3m05s")
        #expect(ConsumerLagReport.age(7_800) == "2h10m")
        #expect(ConsumerLagReport.age(-3) == "0.0s")
    }

    private func message(_ partition: KafkaTopicPartition, offset: Int64, timestamp: Int64) -> KafkaMessage {
        KafkaMessage(topic: partition.topic, partition: partition.partition, offset: offset, key: nil, value: [], headers: [], timestampMilliseconds: timestamp)
    }
}
