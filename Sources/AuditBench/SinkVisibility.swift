/// The pure part of the visibility benchmark: from the acknowledgements the client received and
/// the per-partition frontiers that polling ClickHouse saw, when did each event become visible?
///
/// The sink writes each partition's records as contiguous offset ranges, one batch at a time and
/// in order, so `max(kafka_offset)` per partition is a frontier: every offset at or below it is
/// stored. An acknowledged event `(partition, offset)` first became visible at the end of the first
/// poll whose frontier for its partition reached `offset` (an upper bound: the row may have been
/// visible up to one poll interval earlier). Its latency is that instant minus the
/// acknowledgement, or 0 when a poll finished before the acknowledgement already saw it.
package enum SinkVisibility {
    /// One acknowledged event: where Kafka put it, and when the client got the ack.
    package struct Acknowledgement: Sendable, Hashable {
        package var partition: Int32
        package var offset: Int64
        /// Nanoseconds since the run's start.
        package var at: UInt64

        package init(partition: Int32, offset: Int64, at: UInt64) {
            self.partition = partition
            self.offset = offset
            self.at = at
        }
    }

    /// One poll of ClickHouse: when it finished and the highest offset stored per partition.
    package struct Poll: Sendable, Hashable {
        /// Nanoseconds since the run's start when the answer was complete.
        package var at: UInt64
        /// `max(kafka_offset)` per partition (partitions with no rows are absent).
        package var frontier: [Int32: Int64]

        package init(at: UInt64, frontier: [Int32: Int64]) {
            self.at = at
            self.frontier = frontier
        }
    }

    /// The visibility latency in nanoseconds of each acknowledgement seen by some poll, and how
    /// many no poll saw. `polls` must be in time order.
    package static func latencies(_ acknowledgements: [Acknowledgement], polls: [Poll]) -> (nanoseconds: [UInt64], unseen: Int) {
        // Per partition: the (time, frontier) steps where the frontier grew.
        var steps: [Int32: [(at: UInt64, frontier: Int64)]] = [:]
        for poll in polls {
            for (partition, frontier) in poll.frontier {
                if let last = steps[partition]?.last, last.frontier >= frontier { continue }
                steps[partition, default: []].append((poll.at, frontier))
            }
        }
        var result: [UInt64] = []
        result.reserveCapacity(acknowledgements.count)
        var unseen = 0
        for ack in acknowledgements {
            guard let partitionSteps = steps[ack.partition], let last = partitionSteps.last, last.frontier >= ack.offset else {
                unseen += 1
                continue
            }
            // The first step whose frontier reaches the offset (frontiers grow with time).
            var low = 0
            var high = partitionSteps.count - 1
            while low < high {
                let middle = (low + high) / 2
                if partitionSteps[middle].frontier >= ack.offset { high = middle } else { low = middle + 1 }
            }
            let visibleAt = partitionSteps[low].at
            result.append(visibleAt > ack.at ? visibleAt - ack.at : 0)
        }
        return (result, unseen)
    }

    /// The sink-throughput window: `rows` stored between the first recorded range and the last
    /// commit, leaving out the rows of the batches recorded at the window's start (they were
    /// read before it).
    package static func throughput(rows: Int, firstBatchRows: Int, windowSeconds: Double) -> Double {
        guard windowSeconds > 0 else { return 0 }
        return Double(max(0, rows - firstBatchRows)) / windowSeconds
    }

    /// The smallest multiple of `partitions × batchRows` that is at least `requested`, so every
    /// partition gets whole batches (cut by size, never by the batch timer).
    package static func roundedEventCount(_ requested: Int, partitions: Int, batchRows: Int) -> Int {
        let unit = partitions * batchRows
        return max(1, (requested + unit - 1) / unit) * unit
    }
}
