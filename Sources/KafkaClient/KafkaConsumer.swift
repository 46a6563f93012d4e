internal import CRdkafka
import Dispatch
import Foundation
public import Logging
import Synchronization

/// A consumer-group member over librdkafka, with manual commits only.
///
/// Records and rebalances arrive in order through ``events``. A dedicated thread polls
/// librdkafka's consumer queue (`rd_kafka_poll_set_consumer`, events API) and handles rebalances
/// itself: `rd_kafka_incremental_assign`/`unassign` when the group's protocol is COOPERATIVE
/// (`cooperative-sticky`), `rd_kafka_assign` when it is EAGER (`range`, `roundrobin`).
///
/// ## Revocation guarantee
/// librdkafka's revoke takes effect (the partitions are unassigned) on the polling thread, when
/// the rebalance arrives, which can be *before* the reader of ``events`` sees ``KafkaConsumerEvent/revoked(_:)``.
/// What is guaranteed:
/// - events are delivered in order: every record handed out before `.revoked(ps)` was polled
///   while `ps` was assigned;
/// - records of `ps` buffered but not yet handed out are dropped (their new owner reads them);
/// - after the revoke, ``commit(_:)`` for `ps` either fails (e.g. `illegalGeneration`,
///   `rebalanceInProgress`, `unknownMemberID`: harmless, the new owner re-reads from the last
///   committed offset) or succeeds with an offset of records this member did process.
/// So a pipeline that commits only after its idempotent write may see records twice across a
/// rebalance, never loses any: at-least-once plus idempotent inserts gives exactly-once.
///
/// ## Backpressure
/// At most ``KafkaConsumerConfiguration/bufferHighWatermark`` events are buffered; then polling
/// pauses until the reader brings the buffer down to the low watermark. A reader that stalls
/// longer than `max.poll.interval.ms` makes librdkafka leave the group (its partitions move).
///
/// Call ``close()`` when done: it leaves the group gracefully (serving the rebalance that close
/// triggers), then destroys the client; ``events`` then ends.
public final class KafkaConsumer: Sendable {
    private let core: ConsumerCore

    /// Creates the consumer, subscribes to `topics` and starts its polling thread.
    ///
    /// - Throws: ``KafkaError`` with code `invalidArgument` for an invalid configuration or topic list.
    public init(configuration: KafkaConsumerConfiguration, topics: [String], logger: Logger) throws(KafkaError) {
        try configuration.validate()
        guard !topics.isEmpty, !topics.contains(where: \.isEmpty) else {
            throw .invalidConfiguration("KafkaConsumer topics", "must list at least one non-empty topic name")
        }
        self.core = try ConsumerCore(configuration: configuration, subscription: .topics(topics), logger: logger)
    }

    /// Creates a consumer that reads `partitions` from their first retained record, assigned
    /// by hand: it joins no group, so it reads at once (a group join takes a rebalance delay)
    /// and never has its partitions moved. For readers of a whole log (the schema registry's);
    /// ``commit(_:)`` does not apply.
    ///
    /// - Throws: ``KafkaError`` with code `invalidArgument` for an invalid configuration or list.
    public init(configuration: KafkaConsumerConfiguration, readingFromStart partitions: [KafkaTopicPartition], logger: Logger) throws(KafkaError) {
        try configuration.validate()
        guard !partitions.isEmpty, !partitions.contains(where: \.topic.isEmpty) else {
            throw .invalidConfiguration("KafkaConsumer partitions", "must list at least one partition of a named topic")
        }
        self.core = try ConsumerCore(configuration: configuration, subscription: .fromStart(partitions), logger: logger)
    }

    deinit {
        core.closeInBackground()
    }

    /// The records and rebalance events, in order. One reader at a time. Ends (returns `nil`)
    /// after ``close()``; throws if the consumer hits a fatal error.
    public var events: KafkaConsumerEvents { KafkaConsumerEvents(core: core) }

    /// Commits offsets synchronously (on the consumer's dedicated queue). Each offset is the
    /// *next* offset to read: ``KafkaMessage/nextOffset``.
    ///
    /// - Throws: ``KafkaError`` if the commit or any partition's commit failed; after a revoke
    ///   this is expected and harmless (see the type's documentation).
    public func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws(KafkaError) {
        try await core.commit(offsets)
    }

    /// The group's committed offsets (the next offset to read) for `partitions`; a partition
    /// with no committed offset is absent from the result.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        try await core.committed(partitions, timeout: timeout)
    }

    /// The low (oldest retained) and high (next to be written) offsets of a partition, from the
    /// broker.
    public func watermarks(topic: String, partition: Int32, timeout: Duration = .seconds(10)) async throws(KafkaError) -> (low: Int64, high: Int64) {
        try await core.watermarks(topic: topic, partition: partition, timeout: timeout)
    }

    /// Moves the read position of assigned partitions (the next record delivered from each is at
    /// the given offset).
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        try await core.seek(offsets, timeout: timeout)
    }

    /// Stops fetching from assigned partitions until ``resume(_:)``; records already buffered are
    /// still delivered.
    public func pause(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) {
        try await core.pauseOrResume(partitions, pause: true)
    }

    /// The same events as ``events``, handed out as arrays of whatever is buffered (up to `max`
    /// each, in order): for readers that work batch-at-a-time, one hand-off per batch instead of
    /// one per record.
    public func eventBatches(max: Int = 1000) -> KafkaConsumerEventBatches {
        KafkaConsumerEventBatches(core: core, max: Swift.max(1, max))
    }

    /// Resumes fetching from paused partitions.
    public func resume(_ partitions: [KafkaTopicPartition]) async throws(KafkaError) {
        try await core.pauseOrResume(partitions, pause: false)
    }

    /// Leaves the group gracefully and destroys the client. Commit what you processed *before*
    /// calling this. Safe to call more than once.
    public func close() async {
        await core.close()
    }
}

/// The events of a ``KafkaConsumer``, as an `AsyncSequence`.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = KafkaConsumerEvent
    /// The error type.
    public typealias Failure = KafkaError

    let core: ConsumerCore

    /// Creates the iterator (one reader at a time).
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }

    /// Iterates the consumer's events.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ConsumerCore

        /// The next event; `nil` after ``KafkaConsumer/close()`` or when the task is cancelled.
        public mutating func next() async throws(KafkaError) -> KafkaConsumerEvent? {
            try await core.nextEvent()
        }

        /// The next event; `nil` after ``KafkaConsumer/close()`` or when the task is cancelled.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(KafkaError) -> KafkaConsumerEvent? {
            try await core.nextEvent()
        }
    }
}

/// The events of a ``KafkaConsumer`` in arrays (``KafkaConsumer/eventBatches(max:)``): each
/// array holds the events buffered when it was taken, in order, never empty.
public struct KafkaConsumerEventBatches: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = [KafkaConsumerEvent]
    /// The error type.
    public typealias Failure = KafkaError

    let core: ConsumerCore
    let max: Int

    /// Creates the iterator (one reader at a time, and not together with ``KafkaConsumer/events``).
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core, max: max) }

    /// Iterates the consumer's events, batch by batch.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ConsumerCore
        let max: Int

        /// The next events; `nil` after ``KafkaConsumer/close()`` or when the task is cancelled.
        public mutating func next() async throws(KafkaError) -> [KafkaConsumerEvent]? {
            try await core.nextEvents(max: max)
        }

        /// The next events; `nil` after ``KafkaConsumer/close()`` or when the task is cancelled.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(KafkaError) -> [KafkaConsumerEvent]? {
            try await core.nextEvents(max: max)
        }
    }
}

/// The consumer's machinery, kept apart from ``KafkaConsumer`` so that the polling thread does not
/// keep the public object alive.
final class ConsumerCore: Sendable {
    typealias Waiter = UnsafeContinuation<Result<KafkaConsumerEvent?, KafkaError>, Never>
    typealias StateMachine = ConsumerStateMachine<Waiter>

    private let handle: SendablePointer
    private let consumerQueue: SendablePointer
    private let logger: Logger
    private let blockingQueue: DispatchQueue
    private let state: Mutex<StateMachine>
    /// Wakes the polling thread when it is parked (buffer full) and something changed.
    private let pollerWakeup = DispatchSemaphore(value: 0)
    private let destroyed = Atomic<Bool>(false)
    private let closeDone = Mutex<[UnsafeContinuation<Void, Never>]?>([])
    private let closeTimeoutMilliseconds: Int

    /// How the consumer gets its partitions.
    enum Subscription {
        /// A group member: the group assigns partitions of these topics.
        case topics([String])
        /// These partitions, from their first retained record, without a group.
        case fromStart([KafkaTopicPartition])
    }

    init(configuration: KafkaConsumerConfiguration, subscription: Subscription, logger: Logger) throws(KafkaError) {
        var logger = logger
        logger[metadataKey: LogKey.client] = "consumer:\(configuration.groupID)"
        self.logger = logger
        self.state = Mutex(StateMachine(highWatermark: configuration.bufferHighWatermark, lowWatermark: configuration.bufferLowWatermark))
        self.closeTimeoutMilliseconds = configuration.sessionTimeoutMilliseconds + 10_000
        let rk = try makeKafkaHandle(
            type: RD_KAFKA_CONSUMER,
            properties: configuration.properties,
            events: Int32(RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_REBALANCE | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG)
        )
        rd_kafka_set_log_queue(rk, nil)
        rd_kafka_poll_set_consumer(rk)  // main queue (logs, errors) forwarded to the consumer queue
        switch subscription {
        case .topics(let topics):
            let list = makePartitionList(topics.map { ($0, -1, -1001) })  // RD_KAFKA_PARTITION_UA, RD_KAFKA_OFFSET_INVALID
            let err = rd_kafka_subscribe(rk, list)
            rd_kafka_topic_partition_list_destroy(list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                rd_kafka_destroy(rk)
                throw KafkaError(err, doing: "subscribing to \(topics.joined(separator: ","))", hint: "check the topic names")
            }
        case .fromStart(let partitions):
            let list = makePartitionList(partitions.map { ($0.topic, $0.partition, -2) })  // RD_KAFKA_OFFSET_BEGINNING
            let err = rd_kafka_assign(rk, list)
            rd_kafka_topic_partition_list_destroy(list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                rd_kafka_destroy(rk)
                throw KafkaError(err, doing: "assigning \(partitions.map { "\($0.topic)[\($0.partition)]" }.joined(separator: ","))", hint: "check the topic names")
            }
        }
        self.handle = SendablePointer(raw: rk)
        self.consumerQueue = SendablePointer(raw: rd_kafka_queue_get_consumer(rk))
        self.blockingQueue = DispatchQueue(label: "auditpipe.kafka.consumer.blocking")
        _ = DedicatedThread(name: "kafka-consumer-poll") { [self] in pollLoop() }
    }

    // MARK: Polling thread

    /// Records polled back to back are handed to the state machine together, up to this many (a
    /// FETCH event holds one record; one lock per burst instead of one per record).
    private static let burst = 256

    private func pollLoop() {
        var polled: [KafkaMessage] = []
        polled.reserveCapacity(Self.burst)
        var topics = TopicNames()
        func deliverPolled() {
            guard !polled.isEmpty else { return }
            deliver(state.withLock { $0.received(contentsOf: polled) })
            polled.removeAll(keepingCapacity: true)
        }
        while true {
            let (lifecycle, park) = state.withLock { ($0.lifecycle, $0.shouldParkPoller()) }
            if lifecycle != .running { break }
            if park {
                _ = pollerWakeup.wait(timeout: .now() + .milliseconds(100))
                continue
            }
            // While records are coming back to back, poll without waiting; deliver when none is
            // ready, at the burst size, or before any other event (order is kept).
            guard let event = rd_kafka_queue_poll(consumerQueue.raw, polled.isEmpty ? 100 : 0) else {
                deliverPolled()
                continue
            }
            if rd_kafka_event_type(event) == RD_KAFKA_EVENT_FETCH {
                while let message = rd_kafka_event_message_next(event) {
                    if let record = makeMessage(message, topics: &topics) { polled.append(record) }
                }
                rd_kafka_event_destroy(event)
                if polled.count >= Self.burst { deliverPolled() }
                continue
            }
            deliverPolled()
            handle(event: event)
            rd_kafka_event_destroy(event)
            topics = TopicNames()  // a rebalance may have dropped topic handles
        }
        deliverPolled()
        let closedCleanly = leaveGroup()
        blockingQueue.async { [self] in
            rd_kafka_queue_destroy(consumerQueue.raw)
            if closedCleanly {
                rd_kafka_destroy(handle.raw)
            } else {
                rd_kafka_destroy_flags(handle.raw, 0x8)  // RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE
            }
            destroyed.store(true, ordering: .releasing)
            let waiter = state.withLock { $0.finishClose() }
            waiter?.resume(returning: .success(nil))
            let waiters = closeDone.withLock { waiters in
                defer { waiters = nil }
                return waiters ?? []
            }
            for waiter in waiters { waiter.resume() }
            logger.debug("consumer closed")
        }
    }

    /// `rd_kafka_consumer_close_queue` on a queue of its own, served until the consumer is closed
    /// (close triggers a final rebalance that must be handled, or close hangs).
    private func leaveGroup() -> Bool {
        let rk = handle.raw
        guard let closeQueue = rd_kafka_queue_new(rk) else { return false }
        defer { rd_kafka_queue_destroy(closeQueue) }
        if let error = rd_kafka_consumer_close_queue(rk, closeQueue) {
            let kafkaError = KafkaError(consuming: error, doing: "closing the consumer")
            logger.error("\(kafkaError.message)")
            return false
        }
        let deadline = ContinuousClock.now + .milliseconds(closeTimeoutMilliseconds)
        while rd_kafka_consumer_closed(rk) == 0 {
            if ContinuousClock.now > deadline {
                logger.error("consumer close did not finish within \(closeTimeoutMilliseconds) ms; destroying without leaving the group")
                return false
            }
            guard let event = rd_kafka_queue_poll(closeQueue, 100) else { continue }
            handle(event: event)
            rd_kafka_event_destroy(event)
        }
        return true
    }

    private func handle(event: OpaquePointer) {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_FETCH:
            var topics = TopicNames()
            while let message = rd_kafka_event_message_next(event) {
                if let record = makeMessage(message, topics: &topics) { deliver(state.withLock { $0.received(record) }) }
            }
        case RD_KAFKA_EVENT_REBALANCE:
            handleRebalance(event)
        case RD_KAFKA_EVENT_LOG:
            forwardLog(event, to: logger)
        case RD_KAFKA_EVENT_ERROR:
            handleError(event)
        default:
            break
        }
    }

    /// The record of a polled message, or nil (logged) for a per-partition error.
    private func makeMessage(_ message: UnsafePointer<rd_kafka_message_t>, topics: inout TopicNames) -> KafkaMessage? {
        let m = message.pointee
        let topic = topics.name(of: m.rkt)
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = String(cString: rd_kafka_message_errstr(message))
            logger.warning(
                "consumer error on \(topic)[\(m.partition)]: \(text)",
                metadata: [LogKey.errorCode: "\(KafkaError.Code(m.err).name)"]
            )
            return nil
        }
        // One array for the value, the key and the headers (see `KafkaMessage`).
        var storage: [UInt8] = []
        storage.reserveCapacity(m.len + m.key_len + 64)
        if let payload = m.payload { storage.append(contentsOf: UnsafeRawBufferPointer(start: payload, count: m.len)) }
        if let key = m.key { storage.append(contentsOf: UnsafeRawBufferPointer(start: key, count: m.key_len)) }
        var hdrs: OpaquePointer?
        if rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(hdrs, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                KafkaMessage.appendHeader(
                    name: UnsafeRawBufferPointer(start: name, count: name.map { strlen($0) } ?? 0),
                    value: UnsafeRawBufferPointer(start: value, count: value == nil ? 0 : size),
                    to: &storage
                )
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaMessage(
            topic: topic,
            partition: m.partition,
            offset: m.offset,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp,
            storage: storage,
            valueCount: m.payload == nil ? -1 : Int32(m.len),
            keyCount: m.key == nil ? -1 : Int32(m.key_len)
        )
    }

    private func deliver(_ action: StateMachine.DeliverAction) {
        if case .resume(let waiter, let event) = action {
            waiter.resume(returning: .success(event))
        }
    }

    private func handleRebalance(_ event: OpaquePointer) {
        let rk = handle.raw
        let err = rd_kafka_event_error(event)
        let list = rd_kafka_event_topic_partition_list(event)
        let partitions = readPartitionList(list).map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition) }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            var failure: KafkaError?
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, list) {
                    failure = KafkaError(consuming: error, doing: "incremental assign of \(partitions.count) partitions")
                }
            } else {
                let assignErr = rd_kafka_assign(rk, list)
                if assignErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                    failure = KafkaError(assignErr, doing: "assign of \(partitions.count) partitions")
                }
            }
            if let failure {
                // Not assigned: nothing will be fetched, so the reader is not told otherwise.
                logger.error("\(failure.message)", metadata: [LogKey.errorCode: "\(failure.code.name)"])
                return
            }
            logger.info("partitions assigned", metadata: [LogKey.topicPartition: "\(partitions.map(\.description).joined(separator: ","))"])
            deliver(state.withLock { $0.assigned(partitions) })
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, list) {
                    logger.error("\(KafkaError(consuming: error, doing: "incremental unassign").message)")
                }
            } else {
                let assignErr = rd_kafka_assign(rk, nil)
                if assignErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.error("\(KafkaError(assignErr, doing: "unassign").message)")
                }
            }
            logger.info(
                "partitions \(lost ? "lost" : "revoked")",
                metadata: [LogKey.topicPartition: "\(partitions.map(\.description).joined(separator: ","))"]
            )
            deliver(state.withLock { $0.revoked(partitions) })
        default:
            // A rebalance error: drop the assignment, librdkafka rejoins.
            logger.error("rebalance error: \(KafkaError.Code(err).explanation)")
            _ = rd_kafka_assign(rk, nil)
            let previous = state.withLock { Array($0.assignment) }
            if !previous.isEmpty { deliver(state.withLock { $0.revoked(previous) }) }
        }
    }

    private func handleError(_ event: OpaquePointer) {
        guard let error = fatalErrorEvent(event, handle: handle.raw, client: "consumer", remedy: "close it and create a new KafkaConsumer", logger: logger) else { return }
        if let waiter = state.withLock({ $0.fail(error) }) {
            waiter.resume(returning: .failure(error))
        }
    }

    // MARK: Reader

    func nextEvent() async throws(KafkaError) -> KafkaConsumerEvent? {
        if Task.isCancelled { return nil }
        let action = state.withLock { $0.next() }
        switch action {
        case .event(let event, let wake):
            if wake { pollerWakeup.signal() }
            return event
        case .finished(let error):
            if let error { throw error }
            return nil
        case .suspend:
            break
        }
        let result = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: Waiter) in
                switch state.withLock({ $0.suspend(continuation) }) {
                case .suspended:
                    break
                case .resumeNow(.event(let event, let wake)):
                    if wake { pollerWakeup.signal() }
                    continuation.resume(returning: .success(event))
                case .resumeNow(.finished(let error)):
                    continuation.resume(returning: error.map { .failure($0) } ?? .success(nil))
                case .resumeNow(.suspend):
                    preconditionFailure("suspend never asks to suspend again")
                }
            }
        } onCancel: {
            state.withLock { $0.cancelReader() }?.resume(returning: .success(nil))
        }
        return try result.get()
    }

    // MARK: Blocking operations (dedicated queue)

    func nextEvents(max: Int) async throws(KafkaError) -> [KafkaConsumerEvent]? {
        if Task.isCancelled { return nil }
        switch state.withLock({ $0.nextBatch(max: max) }) {
        case .events(let events, let wake):
            if wake { pollerWakeup.signal() }
            return events
        case .finished(let error):
            if let error { throw error }
            return nil
        case .suspend:
            // Nothing buffered: wait for the next event like a single-event reader.
            return try await nextEvent().map { [$0] }
        }
    }

    private func onBlockingQueue<T: Sendable>(
        _ body: @escaping @Sendable (OpaquePointer) -> Result<T, KafkaError>
    ) async throws(KafkaError) -> T {
        try await runBlocking(on: blockingQueue) { [self] () -> Result<T, KafkaError> in
            guard !destroyed.load(ordering: .acquiring) else {
                return .failure(KafkaError(code: .destroyed, message: "the consumer is closed: create a new KafkaConsumer", isRetriable: false))
            }
            return body(handle.raw)
        }
    }

    func commit(_ offsets: [KafkaTopicPartitionOffset]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        if let bad = offsets.first(where: { $0.offset < 0 }) {
            throw KafkaError(code: .invalidArgument, message: "cannot commit negative offset \(bad): commit the next offset to read (last processed + 1)", isRetriable: false)
        }
        try await onBlockingQueue { rk -> Result<Void, KafkaError> in
            let list = makePartitionList(offsets.map { ($0.topic, $0.partition, $0.offset) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_commit(rk, list, 0)
            let failed = readPartitionList(list).filter { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR || !failed.isEmpty {
                let code = err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : failed[0].error
                let which = failed.isEmpty ? offsets.map(\.description) : failed.map { "\($0.topic)[\($0.partition)]@\($0.offset): \(KafkaError.Code($0.error).name)" }
                return .failure(
                    KafkaError(
                        code,
                        doing: "committing \(which.joined(separator: ", "))",
                        hint: "if the partitions were revoked this is harmless (the new owner re-reads from the last committed offset); otherwise retry"
                    )
                )
            }
            return .success(())
        }
    }

    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        let ms = milliseconds(timeout)
        return try await onBlockingQueue { rk -> Result<[KafkaTopicPartition: Int64], KafkaError> in
            let list = makePartitionList(partitions.map { ($0.topic, $0.partition, -1001) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_committed(rk, list, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(err, doing: "reading committed offsets", hint: "check that the group coordinator is reachable"))
            }
            var result: [KafkaTopicPartition: Int64] = [:]
            for entry in readPartitionList(list) {
                if entry.error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return .failure(KafkaError(entry.error, doing: "reading the committed offset of \(entry.topic)[\(entry.partition)]"))
                }
                if entry.offset >= 0 {
                    result[KafkaTopicPartition(topic: entry.topic, partition: entry.partition)] = entry.offset
                }
            }
            return .success(result)
        }
    }

    func watermarks(topic: String, partition: Int32, timeout: Duration) async throws(KafkaError) -> (low: Int64, high: Int64) {
        let ms = milliseconds(timeout)
        let pair = try await onBlockingQueue { rk -> Result<[Int64], KafkaError> in
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(err, doing: "querying the watermarks of \(topic)[\(partition)]"))
            }
            return .success([low, high])
        }
        return (pair[0], pair[1])
    }

    func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let ms = milliseconds(timeout)
        try await onBlockingQueue { rk -> Result<Void, KafkaError> in
            let list = makePartitionList(offsets.map { ($0.topic, $0.partition, $0.offset) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            if let error = rd_kafka_seek_partitions(rk, list, ms) {
                return .failure(KafkaError(consuming: error, doing: "seeking"))
            }
            if let failed = readPartitionList(list).first(where: { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }) {
                return .failure(KafkaError(failed.error, doing: "seeking \(failed.topic)[\(failed.partition)]", hint: "only assigned partitions can be seeked"))
            }
            return .success(())
        }
    }

    func pauseOrResume(_ partitions: [KafkaTopicPartition], pause: Bool) async throws(KafkaError) {
        guard !partitions.isEmpty else { return }
        try await onBlockingQueue { rk -> Result<Void, KafkaError> in
            let list = makePartitionList(partitions.map { ($0.topic, $0.partition, -1001) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = pause ? rd_kafka_pause_partitions(rk, list) : rd_kafka_resume_partitions(rk, list)
            let failed = readPartitionList(list).first { $0.error != RD_KAFKA_RESP_ERR_NO_ERROR }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR || failed != nil {
                return .failure(KafkaError(failed?.error ?? err, doing: pause ? "pausing partitions" : "resuming partitions"))
            }
            return .success(())
        }
    }

    // MARK: Close

    func close() async {
        if beginClose() { pollerWakeup.signal() }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let alreadyDone = closeDone.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(continuation)
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }

    /// Used by `KafkaConsumer.deinit`.
    func closeInBackground() {
        if beginClose() {
            logger.warning("KafkaConsumer released without close(): closing in the background")
            pollerWakeup.signal()
        }
    }

    /// Marks the consumer closing and interrupts a blocking poll. The yield happens under the lock
    /// so the polling thread cannot have seen `closing` (and destroyed the queue) before it.
    private func beginClose() -> Bool {
        state.withLock { state in
            guard state.beginClose() else { return false }
            rd_kafka_queue_yield(consumerQueue.raw)
            return true
        }
    }
}

/// Topic names by librdkafka topic handle, for the polling thread: the name String is made once
/// per topic, not once per record.
private struct TopicNames {
    private var names: [(handle: OpaquePointer, name: String)] = []

    mutating func name(of handle: OpaquePointer?) -> String {
        guard let handle else { return "?" }
        if let known = names.first(where: { $0.handle == handle }) { return known.name }
        let name = String(cString: rd_kafka_topic_name(handle))
        names.append((handle, name))
        return name
    }
}
