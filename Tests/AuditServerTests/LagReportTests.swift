import Foundation
import KafkaClient
import Testing

@testable import AuditSink

@Suite("Consumer lag: measurement and the `auditpipe lag` report")
struct LagReportTests {
    @Test("a record waiting in memory: now minus its Kafka timestamp")
    func pendingRecord() {
        var tracker = PartitionLagTracker()
        #expect(tracker.seconds(now: 1_000, records: 5, oldestPendingTimestampMilliseconds: 988_500) == 11.5)
        // A clock behind the producer's never gives a negative lag.
        #expect(tracker.seconds(now: 1_000, records: 1, oldestPendingTimestampMilliseconds: 1_002_000) == 0)
    }

    @Test("behind with nothing fetched: grows from when it was first seen, then resets")
    func behindNotFetched() {
        var tracker = PartitionLagTracker()
        #expect(tracker.seconds(now: 100, records: 3, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 107, records: 3, oldestPendingTimestampMilliseconds: nil) == 7)
        #expect(tracker.seconds(now: 130, records: 9, oldestPendingTimestampMilliseconds: nil) == 30)
        // Fetched: measured from the record itself again.
        #expect(tracker.seconds(now: 131, records: 9, oldestPendingTimestampMilliseconds: 129_000) == 2)
        // Behind again later: counted afresh, not from the first episode.
        #expect(tracker.seconds(now: 200, records: 1, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 201, records: 1, oldestPendingTimestampMilliseconds: nil) == 1)
    }

    @Test("caught up: 0 seconds however old the last record is; the last committed time is kept")
    func caughtUp() {
        var tracker = PartitionLagTracker()
        #expect(tracker.lastCommittedTimestampMilliseconds == nil)
        tracker.committed(lastRecordTimestampMilliseconds: 50_000)
        tracker.committed(lastRecordTimestampMilliseconds: 40_000)  // never goes back
        tracker.committed(lastRecordTimestampMilliseconds: nil)
        #expect(tracker.lastCommittedTimestampMilliseconds == 50_000)
        #expect(tracker.seconds(now: 10_000, records: 0, oldestPendingTimestampMilliseconds: nil) == 0)
        #expect(tracker.seconds(now: 10_000, records: nil, oldestPendingTimestampMilliseconds: nil) == 0)
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
        #expect(state.measure(p0, now: 20, records: 2).seconds == 10)
        #expect(state.measure(p1, now: 20, records: 1).seconds == 9)
        state.committed([records[0]])
        let afterOne = state.measure(p0, now: 20, records: 1)
        #expect(afterOne.seconds == 8)
        #expect(afterOne.lastCommitted == 10_000)
        state.committed([records[1], records[2]])
        let p0Caught = state.measure(p0, now: 20, records: 0)
        #expect(p0Caught.seconds == 0)
        #expect(p0Caught.lastCommitted == 12_000)
        let p1Caught = state.measure(p1, now: 20, records: 0)
        #expect(p1Caught.seconds == 0)
        #expect(p1Caught.lastCommitted == 11_000)
        #expect(Set(state.revoked([p1, KafkaTopicPartition(topic: "t", partition: 9)])) == [p1])
        #expect(state.assignedPartitions == [p0])
        // A revoked partition starts afresh if it comes back.
        #expect(state.measure(p1, now: 20, records: 0).lastCommitted == nil)
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
