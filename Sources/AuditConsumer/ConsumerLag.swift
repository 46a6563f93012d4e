import AuditEvents
import CoreMetrics
import Foundation
package import KafkaClient
import Synchronization

/// How far one consumer group is behind on one partition, in records and in seconds.
///
/// Seconds are measured on Kafka record timestamps (the time AuditPipe produced the record, not
/// the event's own `timestamp_ms`, which a backfill may set years in the past), as the age of the
/// oldest record not yet processed (the record at the committed position):
/// - it is in memory (buffered or being written): now minus its timestamp, exact;
/// - it has not been fetched yet: now minus the first measurement at which the log already held
///   it (the high watermark was past the committed position), a lower bound that grows one second
///   per second while the consumer is stuck, and that never counts records processed in between;
/// - caught up (the committed position is at the high watermark): 0. The age of the newest
///   processed data is a separate value, ``lastCommittedTimestampMilliseconds``
///   (`time() - auditpipe_consumer_last_committed_timestamp_seconds`), so that an idle partition
///   does not look like a lagging one.
package struct PartitionLagTracker: Sendable, Hashable {
    /// One measurement of the log's end: at `time` (Unix seconds) the high watermark was `high`.
    package struct Sample: Sendable, Hashable {
        var time: Double
        var high: Int64
    }

    /// The Kafka timestamp of the last record whose offset this process committed.
    package private(set) var lastCommittedTimestampMilliseconds: Int64?
    /// Measurements whose high watermark is past the committed position, oldest first, each with
    /// a higher watermark than the one before; at most ``maxSamples``.
    private(set) var samples: [Sample] = []

    package static let maxSamples = 64

    /// A tracker with nothing committed yet.
    package init() {}

    /// The group committed up to and including a record with this timestamp.
    package mutating func committed(lastRecordTimestampMilliseconds: Int64?) {
        guard let timestamp = lastRecordTimestampMilliseconds else { return }
        lastCommittedTimestampMilliseconds = max(lastCommittedTimestampMilliseconds ?? timestamp, timestamp)
    }

    /// The lag in seconds now (Unix seconds), given the committed position (the next offset to
    /// process) and the high watermark (either nil when unknown), and the Kafka timestamp of the
    /// oldest unprocessed record in memory (nil when none).
    package mutating func seconds(now: Double, position: Int64?, high: Int64?, oldestPendingTimestampMilliseconds: Int64?) -> Double {
        if let position, let high {
            // Records below the position are processed: their samples say nothing any more.
            samples.removeAll { $0.high <= position }
            if high > position, samples.last.map({ high > $0.high }) ?? true {
                samples.append(Sample(time: now, high: high))
                // Dropping a middle sample only makes the estimate later, never earlier.
                if samples.count > Self.maxSamples { samples.remove(at: 1) }
            }
        }
        if let oldest = oldestPendingTimestampMilliseconds {
            return max(0, now - Double(oldest) / 1000)
        }
        guard let position, let high, high > position, let first = samples.first else { return 0 }
        return max(0, now - first.time)
    }
}

/// The lag gauges of one consumer group (`group` label), per topic and partition:
/// `auditpipe_consumer_lag_records`, `auditpipe_consumer_lag_seconds` and
/// `auditpipe_consumer_last_committed_timestamp_seconds`. A partition's series are removed when
/// the partition is revoked or the consumer stops, so a partition that moved to another
/// instance does not keep reporting a frozen value from this one.
package struct ConsumerLagGauges: Sendable {
    /// The consumer group.
    package let group: String

    package static let recordsLabel = "auditpipe_consumer_lag_records"
    package static let secondsLabel = "auditpipe_consumer_lag_seconds"
    package static let lastCommittedLabel = "auditpipe_consumer_last_committed_timestamp_seconds"

    /// Gauges for `group`.
    package init(group: String) {
        self.group = group
    }

    private func dimensions(_ partition: KafkaTopicPartition) -> [(String, String)] {
        [("group", group), ("topic", partition.topic), ("partition", String(partition.partition))]
    }

    /// Sets the partition's gauges (records only when known).
    package func record(_ partition: KafkaTopicPartition, records: Int64?, seconds: Double, lastCommittedTimestampMilliseconds: Int64?) {
        let dimensions = dimensions(partition)
        if let records { Gauge(label: Self.recordsLabel, dimensions: dimensions).record(Double(records)) }
        Gauge(label: Self.secondsLabel, dimensions: dimensions).record(seconds)
        if let lastCommittedTimestampMilliseconds {
            Gauge(label: Self.lastCommittedLabel, dimensions: dimensions).record(Double(lastCommittedTimestampMilliseconds) / 1000)
        }
    }

    /// Removes the partition's series.
    package func remove(_ partition: KafkaTopicPartition) {
        let dimensions = dimensions(partition)
        for label in [Self.recordsLabel, Self.secondsLabel, Self.lastCommittedLabel] {
            Gauge(label: label, dimensions: dimensions).destroy()
        }
    }
}

/// Lag bookkeeping for a consumer without per-partition writers (the recent-events sink): the
/// assigned partitions, the timestamps of records read but not yet committed, and each
/// partition's ``PartitionLagTracker``.
package final class GroupLagState: Sendable {
    private struct State {
        var assigned: Set<KafkaTopicPartition> = []
        /// Timestamps of records read and not yet committed, oldest first, per partition.
        var pending: [KafkaTopicPartition: [Int64]] = [:]
        var trackers: [KafkaTopicPartition: PartitionLagTracker] = [:]
    }

    private let state = Mutex(State())

    package func assigned(_ partitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for partition in partitions { state.assigned.insert(partition) }
        }
    }

    /// Forgets revoked partitions; returns those that were assigned (to remove their gauges).
    package func revoked(_ partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition] {
        state.withLock { state in
            partitions.filter { partition in
                state.pending[partition] = nil
                state.trackers[partition] = nil
                return state.assigned.remove(partition) != nil
            }
        }
    }

    package func read(_ record: KafkaMessage) {
        let partition = KafkaTopicPartition(topic: record.topic, partition: record.partition)
        state.withLock { state in
            state.pending[partition, default: []].append(record.timestampMilliseconds ?? UnixTime.nowMilliseconds())
        }
    }

    /// `records` were written and their offsets committed.
    package func committed(_ records: [KafkaMessage]) {
        var count: [KafkaTopicPartition: Int] = [:]
        var last: [KafkaTopicPartition: Int64] = [:]
        for record in records {
            let partition = KafkaTopicPartition(topic: record.topic, partition: record.partition)
            count[partition, default: 0] += 1
            if let timestamp = record.timestampMilliseconds { last[partition] = max(last[partition] ?? timestamp, timestamp) }
        }
        state.withLock { state in
            for (partition, n) in count {
                if var pending = state.pending[partition] {
                    pending.removeFirst(min(n, pending.count))
                    state.pending[partition] = pending
                }
                state.trackers[partition, default: PartitionLagTracker()].committed(lastRecordTimestampMilliseconds: last[partition])
            }
        }
    }

    /// Drops read-but-uncommitted timestamps of partitions (their records were dropped).
    package func dropped(_ partitions: Set<KafkaTopicPartition>) {
        state.withLock { state in
            for partition in partitions { state.pending[partition] = nil }
        }
    }

    package var assignedPartitions: [KafkaTopicPartition] {
        state.withLock { Array($0.assigned) }
    }

    /// Measures one partition: updates its tracker and returns (seconds, last committed timestamp).
    package func measure(_ partition: KafkaTopicPartition, now: Double, position: Int64?, high: Int64?) -> (seconds: Double, lastCommitted: Int64?) {
        state.withLock { state in
            var tracker = state.trackers[partition] ?? PartitionLagTracker()
            let seconds = tracker.seconds(now: now, position: position, high: high, oldestPendingTimestampMilliseconds: state.pending[partition]?.first)
            state.trackers[partition] = tracker
            return (seconds, tracker.lastCommittedTimestampMilliseconds)
        }
    }
}
