import Foundation
package import KafkaClient
package import Logging
import ServiceLifecycle
import Synchronization

/// A consumer loop for sinks that need no per-partition batching: a reader task fills a bounded
/// buffer; a writer takes whatever is there (up to `maxBatch`), hands it to `handle`, and
/// commits the records' offsets once `handle` returns true. Graceful shutdown stops reading,
/// writes and commits the rest, then leaves the group.
package enum BufferedConsumer {
    /// Lag reporting: the group's gauges and how often they are refreshed.
    package struct Lag: Sendable {
        var gauges: ConsumerLagGauges
        var interval: Duration

        package init(gauges: ConsumerLagGauges, interval: Duration) {
            self.gauges = gauges
            self.interval = interval
        }
    }

    package static func run(
        _ consumer: KafkaConsumer, maxBatch: Int, logger: Logger,
        onCommit: (@Sendable ([KafkaTopicPartitionOffset]) -> Void)? = nil,
        lag: Lag? = nil,
        handle: @escaping @Sendable ([KafkaMessage]) async -> Bool
    ) async {
        let buffer = RecordBuffer(capacity: maxBatch * 4)
        let lagState = GroupLagState()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await cancelWhenGracefulShutdown {
                        for try await events in consumer.eventBatches() {
                            var records: [KafkaMessage] = []
                            for event in events {
                                switch event {
                                case .message(let record):
                                    records.append(record)
                                case .revoked(let partitions):
                                    await buffer.append(contentsOf: records, lag: lag == nil ? nil : lagState)
                                    records.removeAll()
                                    buffer.drop(Set(partitions))
                                    lagState.dropped(Set(partitions))
                                    for partition in lagState.revoked(partitions) { lag?.gauges.remove(partition) }
                                case .assigned(let partitions):
                                    lagState.assigned(partitions)
                                }
                            }
                            await buffer.append(contentsOf: records, lag: lag == nil ? nil : lagState)
                        }
                    }
                } catch {
                    logger.error("consumer failed: \(error)")
                }
                buffer.close()
            }
            // The writer hands the offsets of what it wrote to the committer and goes on with the
            // next batch: a commit is a blocking broker round trip (queued behind the lag
            // reporter's watermark queries), which used to hold up the next write.
            let commits = PendingCommits()
            group.addTask {
                while let records = await buffer.take(max: maxBatch) {
                    guard await handle(records) else { break }
                    commits.add(records)
                }
                commits.finish()
            }
            group.addTask {
                while let (offsets, records) = await commits.next() {
                    do {
                        try await consumer.commit(offsets)
                        lagState.committed(records)
                        onCommit?(offsets)
                    } catch { logger.debug("commit failed (harmless after a revoke): \(error)") }
                }
            }
            if let lag {
                group.addTask {
                    await reportLag(consumer, state: lagState, lag: lag, until: buffer)
                }
            }
        }
        if let lag {
            for partition in lagState.revoked(lagState.assignedPartitions) { lag.gauges.remove(partition) }
        }
        await consumer.close()
    }

    /// Refreshes the lag gauges every `lag.interval` until the consumer loop ends.
    private static func reportLag(_ consumer: KafkaConsumer, state: GroupLagState, lag: Lag, until buffer: RecordBuffer) async {
        var last = ContinuousClock.now - lag.interval
        while !buffer.isClosed {
            if ContinuousClock.now - last >= lag.interval {
                last = .now
                let partitions = state.assignedPartitions
                if !partitions.isEmpty {
                    let committed = (try? await consumer.committed(partitions, timeout: .seconds(2))) ?? [:]
                    for partition in partitions {
                        var position: Int64? = nil
                        var high: Int64? = nil
                        if let (low, end) = try? await consumer.watermarks(topic: partition.topic, partition: partition.partition, timeout: .seconds(2)) {
                            // No commit yet: the group starts at the earliest offset of the log.
                            position = max(committed[partition] ?? low, low)
                            high = end
                        }
                        let measured = state.measure(partition, now: Date().timeIntervalSince1970, position: position, high: high)
                        let records = position.flatMap { position in high.map { max(0, $0 - position) } }
                        lag.gauges.record(partition, records: records, seconds: measured.seconds, lastCommittedTimestampMilliseconds: measured.lastCommitted)
                    }
                }
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
    }
}

/// Offsets written and not yet committed, between the writer and the committer of
/// ``BufferedConsumer``: the committer takes everything added since its last commit at once (the
/// newest offset per partition), so commits never fall behind the writes.
package final class PendingCommits: Sendable {
    private struct State {
        var offsets: [KafkaTopicPartition: Int64] = [:]
        var records: [KafkaMessage] = []
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// `records` are written: their offsets are to be committed.
    package func add(_ records: [KafkaMessage]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            for record in records {
                let partition = KafkaTopicPartition(topic: record.topic, partition: record.partition)
                state.offsets[partition] = max(state.offsets[partition] ?? 0, record.offset + 1)
            }
            state.records += records
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Nothing more will be added; ``next()`` returns what is left, then nil.
    package func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The offsets to commit (the next offset to read per partition) and the records they cover;
    /// waits while there are none; nil once finished and empty.
    package func next() async -> (offsets: [KafkaTopicPartitionOffset], records: [KafkaMessage])? {
        while true {
            enum Step { case commit([KafkaTopicPartitionOffset], [KafkaMessage]), finished, wait }
            let step = state.withLock { state -> Step in
                if !state.offsets.isEmpty {
                    let offsets = state.offsets.map { KafkaTopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
                    defer { state.offsets = [:]; state.records = [] }
                    return .commit(offsets, state.records)
                }
                return state.finished ? .finished : .wait
            }
            switch step {
            case .commit(let offsets, let records): return (offsets, records)
            case .finished: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        guard state.offsets.isEmpty, !state.finished else { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}

/// A bounded buffer between the recent-events reader and writer: the reader waits when it is
/// full; the writer takes whatever is there (or waits for something).
package final class RecordBuffer: Sendable {
    private struct State {
        var records: [KafkaMessage] = []
        var closed = false
        var reader: CheckedContinuation<Void, Never>?
        var writer: CheckedContinuation<Void, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    package init(capacity: Int) { self.capacity = capacity }

    /// Appends records in order (waiting while the buffer is full), noting them as read in
    /// `lag` first.
    package func append(contentsOf records: [KafkaMessage], lag: GroupLagState?) async {
        guard !records.isEmpty else { return }
        if let lag { for record in records { lag.read(record) } }
        while true {
            let full = state.withLock { $0.records.count >= capacity && !$0.closed }
            if !full { break }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.records.count >= capacity, !state.closed else { return true }
                    state.reader = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.records.append(contentsOf: records)
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume()
    }

    package func drop(_ partitions: Set<KafkaTopicPartition>) {
        state.withLock { $0.records.removeAll { partitions.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) } }
    }

    /// Closed: the consumer loop is over (what is left is being written).
    package var isClosed: Bool { state.withLock { $0.closed } }

    package func close() {
        let (reader, writer) = state.withLock { state in
            state.closed = true
            defer { state.reader = nil; state.writer = nil }
            return (state.reader, state.writer)
        }
        reader?.resume()
        writer?.resume()
    }

    /// Up to `max` records; nil once closed and empty.
    package func take(max: Int) async -> [KafkaMessage]? {
        while true {
            enum Step { case records([KafkaMessage], CheckedContinuation<Void, Never>?), finished, wait }
            let step = state.withLock { state -> Step in
                if !state.records.isEmpty {
                    let taken = Array(state.records.prefix(max))
                    state.records.removeFirst(taken.count)
                    defer { state.reader = nil }
                    return .records(taken, state.reader)
                }
                return state.closed ? .finished : .wait
            }
            switch step {
            case .records(let records, let reader):
                reader?.resume()
                return records
            case .finished:
                return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        guard state.records.isEmpty, !state.closed else { return true }
                        state.writer = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}
