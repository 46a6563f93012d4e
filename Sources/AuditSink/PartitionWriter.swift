import AuditStore
import AuditConsumer
import AuditEvents
import AuditIntegrity
import ClickHouseHTTP
import CoreMetrics
import Foundation
import KafkaClient
import Logging
import Synchronization

/// A point in a batch's life where tests can stop the sink as if the process died there.
package enum SinkCheckpoint: Sendable, Hashable {
    /// The range is recorded; the insert has not started.
    case rangeRecorded
    /// ClickHouse acknowledged the insert; the batch's event keys are not recorded, the offset
    /// is not committed.
    case inserted
    /// The offset `range.last + 1` is committed.
    case committed
}

/// Called at each ``SinkCheckpoint``; throwing stops the sink at once, without committing (a
/// simulated crash).
package typealias SinkHook = @Sendable (SinkCheckpoint, BatchRange) async throws -> Void

/// What every partition writer of one sink shares.
struct SinkContext: Sendable {
    var group: String
    var configuration: AuditSinkConfiguration
    var store: ClickHouseEventStore
    var producer: KafkaProducer
    var consumer: KafkaConsumer
    var decoder: RecordDecoder
    var metrics: SinkMetrics
    var hook: SinkHook?
    var logger: Logger
    /// Where acknowledged chain heads are published for checkpoints.
    var chainHeads = ChainHeadRegistry()
}

/// A simulated crash from a ``SinkHook``: propagates out of the sink without any commit.
struct HookStop: Error {
    var underlying: any Error
}

/// The one writer of one assigned partition: receives its records, cuts batches with a
/// ``PartitionBatcher`` and writes them one at a time (record range and dedup lookup, insert,
/// dead letters, commit).
final class PartitionWriter: Sendable {
    let topicPartition: KafkaTopicPartition
    private let context: SinkContext
    private let state: Mutex<PartitionBatcher>
    private let batches: AsyncStream<Batch>
    private let batchSink: AsyncStream<Batch>.Continuation
    private let predecessor: PartitionWriter?
    private let revoked = Atomic<Bool>(false)
    private let lag = Mutex(PartitionLagTracker())
    private let finishedSignal = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// The chain heads of this partition's tenants after the last acknowledged insert. Emptied
    /// after any failed attempt (its insert may have landed after all), so the next attempt
    /// reloads them from ClickHouse.
    private let chainCache = Mutex<[String: ChainHead]>([:])
    /// The event_id bounds of this partition's tenants as recorded after the last acknowledged
    /// insert; emptied after any failed attempt, like ``chainCache``.
    private let boundCache = Mutex(EventIDBounds())

    init(topicPartition: KafkaTopicPartition, context: SinkContext, predecessor: PartitionWriter?) {
        self.topicPartition = topicPartition
        self.context = context
        self.predecessor = predecessor
        self.state = Mutex(
            PartitionBatcher(
                topic: topicPartition.topic, partition: topicPartition.partition,
                limits: .init(maxRows: context.configuration.maxBatchRows, maxDelay: context.configuration.maxBatchDelay)
            )
        )
        (batches, batchSink) = AsyncStream.makeStream(of: Batch.self)
    }

    // MARK: Inputs (event loop, ticker, shutdown)

    /// Records of this partition, in offset order.
    func receive(_ records: [KafkaMessage]) async {
        let wallClock = UnixTime.nowMilliseconds()
        let now = ContinuousClock.now
        let actions = state.withLock { batcher in
            var actions: [PartitionBatcher.Action] = []
            for record in records {
                let waited = record.timestampMilliseconds.map { Duration.milliseconds(wallClock - $0) } ?? .zero
                actions += batcher.received(record, now: now, waited: waited)
            }
            return actions
        }
        await apply(actions)
    }

    func tick() async {
        await apply(state.withLock { $0.tick(now: .now) })
    }

    /// Graceful shutdown: flush what is buffered, then end.
    func drain() async {
        await apply(state.withLock { $0.drain(now: .now) })
    }

    /// Revoked: drop what is buffered, give up retries, end after the batch in flight.
    func stop() async {
        revoked.store(true, ordering: .relaxed)
        await apply(state.withLock { $0.stop() })
    }

    func waitUntilFinished() async {
        await withCheckedContinuation { continuation in
            let done = finishedSignal.withLock { signal -> Bool in
                if signal.done { return true }
                signal.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Updates the lag gauges: records from the high watermark, seconds as
    /// ``PartitionLagTracker`` measures them (from the oldest record not yet committed).
    func reportLag(committed: Int64?) async {
        var records: Int64? = nil
        var position: Int64? = nil
        var high: Int64? = nil
        if let (_, end) = try? await context.consumer.watermarks(topic: topicPartition.topic, partition: topicPartition.partition, timeout: .seconds(2)) {
            let next = committed ?? state.withLock { $0.position } ?? end
            position = next
            high = end
            records = max(0, end - next)
        }
        let oldest = state.withLock { $0.oldestPendingTimestamp }
        let (seconds, lastCommitted) = lag.withLock { tracker in
            (tracker.seconds(now: Date().timeIntervalSince1970, position: position, high: high, oldestPendingTimestampMilliseconds: oldest), tracker.lastCommittedTimestampMilliseconds)
        }
        // A finished writer has removed its series; do not bring them back.
        guard !revoked.load(ordering: .relaxed), !finishedSignal.withLock({ $0.done }) else { return }
        context.metrics.lag.record(topicPartition, records: records, seconds: seconds, lastCommittedTimestampMilliseconds: lastCommitted)
    }

    private func apply(_ actions: [PartitionBatcher.Action]) async {
        for action in actions {
            switch action {
            case .flush(let batch):
                batchSink.yield(batch)
            case .pause:
                do { try await context.consumer.pause([topicPartition]) } catch {
                    context.logger.warning("cannot pause \(topicPartition): \(error)")
                }
            case .resume:
                do { try await context.consumer.resume([topicPartition]) } catch {
                    context.logger.warning("cannot resume \(topicPartition): \(error)")
                }
            case .finished:
                batchSink.finish()
            }
        }
    }

    // MARK: The writer's task

    /// Loads where to start, then writes batches until drained, revoked or cancelled. Throws only
    /// for a simulated crash (``SinkHook``).
    func run() async throws {
        defer {
            batchSink.finish()
            context.metrics.lag.remove(topicPartition)
            let waiters = finishedSignal.withLock { signal in
                signal.done = true
                defer { signal.waiters = [] }
                return signal.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        await predecessor?.waitUntilFinished()
        guard let (committed, pending) = await loadStart() else { return }
        context.logger.debug(
            "writer started", metadata: ["partition": "\(topicPartition)", "committed": "\(committed.map(String.init) ?? "none")", "pending": "\(pending?.description ?? "none")"]
        )
        await apply(state.withLock { $0.start(committed: committed, pending: pending, now: .now) })
        for await batch in batches {
            try await write(batch)
            await apply(state.withLock { $0.flushCompleted(now: .now) })
        }
    }

    /// The group's committed offset and the last recorded range, retried until known.
    ///
    /// A committed offset past the partition's end belongs to an earlier topic of the same name
    /// (deleted and created again) or to a truncated partition: librdkafka then reads from the
    /// start (`auto.offset.reset`), and the writer must not drop those records as already written.
    /// It starts as a new group would: from the first record it receives, with no range to replay.
    private func loadStart() async -> (Int64?, BatchRange?)? {
        var retry = BatchRetryState(policy: RetryPolicy(maxAttempts: nil, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10)))
        while !revoked.load(ordering: .relaxed), !Task.isCancelled, state.withLock({ $0.phase == .loading }) {
            do {
                let committed = try await context.consumer.committed([topicPartition])[topicPartition]
                if let committed, let end = try await endBelow(committed) {
                    context.logger.error(
                        "the committed offset of \(topicPartition) is past the partition's end: the topic was deleted and created again, or truncated; writing it from its first record",
                        metadata: ["group": "\(context.group)", "committed": "\(committed)", "end": "\(end)"]
                    )
                    return (nil, nil)
                }
                let pending = try await context.store.lastRecordedRange(topic: topicPartition.topic, partition: topicPartition.partition, group: context.group)
                return (committed, pending)
            } catch {
                context.logger.warning("cannot load the start of \(topicPartition), retrying: \(error)")
                guard case .retry(let delay) = retry.failed(.transient, jitter: .random(in: 0..<1)) else { continue }
                try? await Task.sleep(for: delay)
            }
        }
        return nil
    }

    /// The partition's end (high watermark) when `committed` is past it in two queries 2 s apart,
    /// else nil. Only a committed offset from another topic of the same name (or a truncated
    /// partition) is ever past the end; the second look rules out a new leader whose high
    /// watermark had not caught up yet.
    private func endBelow(_ committed: Int64) async throws -> Int64? {
        var end: Int64 = 0
        for look in 0..<2 {
            if look > 0 { try await Task.sleep(for: .seconds(2)) }
            end = try await context.consumer.watermarks(topic: topicPartition.topic, partition: topicPartition.partition, timeout: .seconds(5)).high
            if committed <= end { return nil }
        }
        return end
    }

    /// Writes one batch exactly once, dead-letters what can never be written, then commits.
    private func write(_ batch: Batch) async throws {
        let range = batch.range
        var retry = BatchRetryState(policy: context.configuration.retry)
        var outcomes: [DecodeOutcome]? = nil
        var deadLetters: [(KafkaMessage, DeadLetter)] = []
        // Records back from the dead-letter topic name the failed inserts they left.
        let earlierInserts = DeadLetter.insertTokens(of: batch.records)
        while true {
            do {
                if outcomes == nil { outcomes = try await context.decoder.decode(batch.records) }
                let events = outcomes!.compactMap { if case .event(let e) = $0 { e } else { nil } }
                // Only ids at or below their tenant's bound can be stored already; the bounds of
                // this batch's tenants are raised before its insert, so they stay upper bounds.
                var bounds = try await eventIDBounds(of: events)
                let suspects = EventIDBounds.suspects(in: events, bounds: bounds)
                let raised = bounds.raise(with: events)
                if !earlierInserts.isEmpty {
                    // Such an insert may have been stored with its keys unrecorded: record them
                    // first, so that the duplicate check below finds those rows.
                    try await context.store.recordKeys(storedUnder: earlierInserts, of: events)
                }
                // The lookup only reads, so it runs while the range and the bounds are recorded;
                // the insert waits for all three.
                async let lookup = context.store.storedTokens(of: suspects, window: context.configuration.eventIDWindow)
                async let boundsRecorded: Void = context.store.recordEventIDBounds(raised)
                try await context.store.recordRange(range, group: context.group)
                try await boundsRecorded
                try await checkpoint(.rangeRecorded, range)
                let stored = try await lookup
                context.metrics.eventIDLookups.increment(by: suspects.count)
                let (rows, duplicates) = EventRow.select(events, stored: stored, token: batch.deduplicationToken)
                // Rows dropped as duplicates (or dead-lettered) never go on the chain.
                var chain: (links: [ChainLink], heads: [String: ChainHead])? = nil
                if context.configuration.hashChain, !rows.isEmpty {
                    chain = ChainPlanner.link(rows, from: try await chainHeads(of: rows, batch: batch))
                }
                let started = ContinuousClock.now
                try await context.store.insert(rows, token: batch.deduplicationToken, ingestedAt: UnixTime.nowMilliseconds(), links: chain?.links)
                let inserted = ContinuousClock.now
                try await checkpoint(.inserted, range)
                try await context.store.recordKeys(of: rows, token: batch.deduplicationToken)
                boundCache.withLock { $0 = bounds }
                if let heads = chain?.heads {
                    chainCache.withLock { $0.merge(heads) { $1 } }
                    context.chainHeads.acknowledged(heads.values)
                }
                context.metrics.insertTime.recordNanoseconds((inserted - started).nanoseconds)
                context.metrics.batchRows.record(rows.count)
                context.metrics.rowsInserted.increment(by: rows.count)
                if duplicates > 0 { context.metrics.duplicatesDropped.increment(by: duplicates) }
                break
            } catch let stop as HookStop {
                throw stop
            } catch {
                chainCache.withLock { $0.removeAll() }
                boundCache.withLock { $0 = EventIDBounds() }
                if Task.isCancelled { return }
                context.metrics.clickHouseError(code: Self.code(of: error))
                let decision = retry.failed(FailureClass(error), jitter: .random(in: 0..<1))
                context.logger.warning(
                    "writing \(range.token) failed (attempt \(retry.attempts)): \(error)", metadata: ["decision": "\(decision)"]
                )
                switch decision {
                case .retry(let delay):
                    if revoked.load(ordering: .relaxed) { return }  // the new owner replays it
                    do { try await Task.sleep(for: delay) } catch { return }
                    continue
                case .deadLetter(let redrive):
                    let stage: DeadLetter.Stage = redrive ? .insertRetriesExhausted : .insertRejected
                    let now = UnixTime.nowMilliseconds()
                    deadLetters = batch.records.indices.compactMap { index -> (KafkaMessage, DeadLetter)? in
                        // Poison records get their own letter below.
                        if let outcomes, !outcomes[index].isEvent { return nil }
                        let record = batch.records[index]
                        return (
                            record,
                            DeadLetter(
                                reason: "\(error)", source: record, stage: stage, attempts: retry.attempts, timeMilliseconds: now,
                                redrive: redrive, insertToken: batch.deduplicationToken
                            )
                        )
                    }
                }
                break
            }
        }
        let now = UnixTime.nowMilliseconds()
        for case .poison(let poison) in outcomes ?? [] {
            deadLetters.append((poison.record, DeadLetter(reason: poison.reason, source: poison.record, stage: poison.stage, attempts: 1, timeMilliseconds: now, redrive: false)))
        }
        guard await produce(deadLetters, range: range) else { return }
        do {
            try await context.consumer.commit([KafkaTopicPartitionOffset(topic: range.topic, partition: range.partition, offset: range.nextOffset)])
            let newest = batch.records.compactMap(\.timestampMilliseconds).max()
            lag.withLock { $0.committed(lastRecordTimestampMilliseconds: newest) }
            try await checkpoint(.committed, range)
        } catch let stop as HookStop {
            throw stop
        } catch {
            // After a revoke this is expected: the new owner replays from the last commit.
            context.logger.warning("commit of \(range.token) failed: \(error)")
        }
    }

    /// The recorded event_id bound of every tenant of `events`: from memory after an acknowledged
    /// insert of this writer, else from ClickHouse.
    private func eventIDBounds(of events: [DecodedEvent]) async throws -> EventIDBounds {
        var bounds = boundCache.withLock { $0 }
        let missing = bounds.unknownTenants(of: events)
        if !missing.isEmpty {
            bounds.learn(try await context.store.eventIDBounds(tenants: missing), asked: missing)
        }
        return bounds
    }

    /// The chain head of every tenant of `rows` before this batch: from memory after an
    /// acknowledged insert of this writer, else from ClickHouse (the tenant's row with the greatest
    /// sequence in this partition, leaving out rows of this batch's token, so that an earlier
    /// attempt of this very batch is ignored and a replay starts from the same heads).
    private func chainHeads(of rows: [DecodedEvent], batch: Batch) async throws -> [String: ChainHead] {
        let tenants = Set(rows.map(\.tenantID))
        var heads = chainCache.withLock { cache in cache.filter { tenants.contains($0.key) } }
        let missing = tenants.subtracting(heads.keys)
        if !missing.isEmpty {
            let loaded = try await context.store.chainHeads(tenants: missing, partition: batch.range.partition, excludingToken: batch.deduplicationToken)
            heads.merge(loaded) { $1 }
        }
        return heads
    }

    /// Produces dead letters with acks=all, retrying until each is acknowledged. Returns false
    /// when the writer was revoked or cancelled first (then nothing is committed).
    private func produce(_ letters: [(KafkaMessage, DeadLetter)], range: BatchRange) async -> Bool {
        guard !letters.isEmpty else { return true }
        let producer = context.producer
        var retry = BatchRetryState(policy: RetryPolicy(maxAttempts: nil, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10)))
        while true {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (record, letter) in letters {
                        group.addTask {
                            _ = try await producer.send(letter.record(topic: self.context.configuration.deadLetterTopic, source: record))
                        }
                    }
                    try await group.waitForAll()
                }
                for (_, letter) in letters { SinkMetrics.deadLetter(stage: letter.stage.rawValue) }
                context.logger.warning("dead-lettered \(letters.count) records of \(range.token)", metadata: ["reason": "\(letters[0].1.reason)"])
                return true
            } catch {
                context.logger.error("cannot produce dead letters of \(range.token), retrying: \(error)")
                guard !revoked.load(ordering: .relaxed), case .retry(let delay) = retry.failed(.transient, jitter: .random(in: 0..<1)) else { return false }
                do { try await Task.sleep(for: delay) } catch { return false }
            }
        }
    }

    private func checkpoint(_ point: SinkCheckpoint, _ range: BatchRange) async throws {
        guard let hook = context.hook else { return }
        do { try await hook(point, range) } catch { throw HookStop(underlying: error) }
    }

    static func code(of error: any Error) -> String {
        if let error = error as? ClickHouseError { return error.code.map(String.init) ?? error.kind.description }
        return "other"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
