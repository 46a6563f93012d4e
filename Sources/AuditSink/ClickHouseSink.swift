public import AuditStore
public import AuditConsumer
public import KafkaClient
public import Logging
public import ServiceLifecycle
import Synchronization

/// Consumes the audit topic into ClickHouse exactly once.
///
/// One writer per assigned partition; each batch is a contiguous offset range of that partition,
/// cut by size or time. The range is recorded in ClickHouse before the insert, the insert carries
/// `insert_deduplication_token = topic:partition:first-last:<first record timestamp>`, and the offset `last + 1` is
/// committed only after ClickHouse acknowledged and every dead letter of the batch was
/// acknowledged by Kafka (acks=all). On assignment a writer first replays the recorded range if
/// it starts at the committed offset, so a crash between insert and commit rebuilds the
/// identical batch, which ClickHouse drops. Events already stored by another batch with the same
/// (tenant, event_id) within ``AuditSinkConfiguration/eventIDWindow`` are not inserted again.
///
/// `run()` returns after a graceful shutdown: it stops reading, flushes and commits what was
/// read, and leaves the group.
public final class ClickHouseSink: Service, Sendable {
    private let configuration: AuditSinkConfiguration
    private let consumerConfiguration: KafkaConsumerConfiguration
    private let producer: KafkaProducer
    private let store: ClickHouseEventStore
    private let decoder: RecordDecoder
    private let logger: Logger
    private let hook: SinkHook?
    /// The hash-chain heads ClickHouse acknowledged, by tenant: what a
    /// ``ChainCheckpointService`` signs. Empty when ``AuditSinkConfiguration/hashChain`` is off.
    public let chainHeads = ChainHeadRegistry()

    /// A sink of the audit topic (``AuditSinkConfiguration/topic``).
    ///
    /// - Parameters:
    ///   - configuration: topics, batching, deduplication, retries.
    ///   - consumer: the consumer group (e.g. group id `auditpipe-clickhouse`).
    ///   - producer: an idempotent acks=all producer for dead letters.
    ///   - store: the ClickHouse tables (call ``ClickHouseEventStore/migrate()`` first).
    ///   - schemas: the writer schemas by id.
    public convenience init(
        configuration: AuditSinkConfiguration,
        consumer: KafkaConsumerConfiguration,
        producer: KafkaProducer,
        store: ClickHouseEventStore,
        schemas: any WriterSchemaLookup,
        logger: Logger
    ) throws(AuditSinkError) {
        try self.init(configuration: configuration, consumer: consumer, producer: producer, store: store, schemas: schemas, logger: logger, hook: nil)
    }

    /// For tests: a sink whose ``SinkHook`` can stop it at a checkpoint as if it crashed there.
    package init(
        configuration: AuditSinkConfiguration,
        consumer: KafkaConsumerConfiguration,
        producer: KafkaProducer,
        store: ClickHouseEventStore,
        schemas: any WriterSchemaLookup,
        logger: Logger,
        hook: SinkHook?
    ) throws(AuditSinkError) {
        try configuration.validate()
        do { try consumer.validate() } catch { throw AuditSinkError(message: error.message, isRetriable: false) }
        self.configuration = configuration
        self.consumerConfiguration = consumer
        self.producer = producer
        self.store = store
        self.decoder = RecordDecoder(schemas: schemas)
        var logger = logger
        logger[metadataKey: "sink.group"] = "\(consumer.groupID)"
        self.logger = logger
        self.hook = hook
    }

    private var topic: String { configuration.topic }

    /// Runs until graceful shutdown (or cancellation): consume, write, commit; then leave the group.
    public func run() async throws {
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [topic], logger: logger)
        } catch {
            throw AuditSinkError(message: "cannot start the consumer of \(topic): \(error.message)", isRetriable: error.isRetriable)
        }
        let context = SinkContext(
            group: consumerConfiguration.groupID, configuration: configuration, store: store, producer: producer,
            consumer: consumer, decoder: decoder, metrics: SinkMetrics(group: consumerConfiguration.groupID), hook: hook, logger: logger,
            chainHeads: chainHeads
        )
        let writers = WriterRegistry()
        let (newWriters, newWriterSink) = AsyncStream.makeStream(of: PartitionWriter.self)
        logger.info("sink starting", metadata: ["topic": "\(topic)"])
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { pool in
                        for await writer in newWriters {
                            pool.addTask {
                                do {
                                    try await writer.run()
                                } catch {
                                    newWriterSink.finish()  // ends this loop, so the pool can rethrow
                                    throw error
                                }
                            }
                        }
                    }
                }
                group.addTask {
                    await Self.tick(writers: writers, context: context)
                }
                group.addTask {
                    try await cancelWhenGracefulShutdown {
                        try await Self.consume(context: context, writers: writers, newWriters: newWriterSink)
                    }
                    // Graceful shutdown: flush and commit what was read, then let the tasks end.
                    guard !Task.isCancelled else { return }
                    for writer in writers.closeAndTakeAll() { await writer.drain() }
                    newWriterSink.finish()
                }
                do {
                    while try await group.next() != nil {}
                } catch {
                    group.cancelAll()
                    throw error
                }
            }
        } catch let stop as HookStop {
            logger.warning("sink stopped by a test hook (simulated crash): \(stop.underlying)")
            _ = writers.closeAndTakeAll()
            newWriterSink.finish()
            await consumer.close()
            throw stop.underlying
        } catch {
            _ = writers.closeAndTakeAll()
            newWriterSink.finish()
            await consumer.close()
            throw error
        }
        await consumer.close()
        logger.info("sink stopped", metadata: ["topic": "\(topic)"])
    }

    /// Takes the consumer's events a buffer at a time and hands each partition's consecutive
    /// records to its writer in one call.
    private static func consume(context: SinkContext, writers: WriterRegistry, newWriters: AsyncStream<PartitionWriter>.Continuation) async throws {
        for try await events in context.consumer.eventBatches() {
            var index = events.startIndex
            while index < events.endIndex {
                switch events[index] {
                case .assigned(let partitions):
                    for partition in partitions {
                        guard let writer = writers.add(partition, context: context) else { continue }
                        newWriters.yield(writer)
                    }
                    index += 1
                case .revoked(let partitions):
                    for partition in partitions {
                        await writers.remove(partition)?.stop()
                    }
                    index += 1
                case .message(let first):
                    var records = [first]
                    index += 1
                    while index < events.endIndex, case .message(let next) = events[index], next.partition == first.partition, next.topic == first.topic {
                        records.append(next)
                        index += 1
                    }
                    await writers.writer(for: KafkaTopicPartition(topic: first.topic, partition: first.partition))?.receive(records)
                }
            }
        }
    }

    /// Cuts batches on time (every 100 ms) and refreshes the lag gauges.
    private static func tick(writers: WriterRegistry, context: SinkContext) async {
        var lastLag = ContinuousClock.now
        while !writers.isClosed {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
            let current = writers.all()
            for writer in current { await writer.tick() }
            if ContinuousClock.now - lastLag >= context.configuration.lagInterval {
                lastLag = .now
                let partitions = current.map(\.topicPartition)
                let committed = (try? await context.consumer.committed(partitions, timeout: .seconds(2))) ?? [:]
                for writer in current { await writer.reportLag(committed: committed[writer.topicPartition]) }
            }
        }
    }
}

/// The writers of the assigned partitions, and those of revoked partitions still finishing
/// (a re-assigned partition's new writer waits for its old one).
final class WriterRegistry: Sendable {
    private struct State {
        var active: [KafkaTopicPartition: PartitionWriter] = [:]
        var retiring: [KafkaTopicPartition: PartitionWriter] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    var isClosed: Bool { state.withLock { $0.closed } }

    func add(_ partition: KafkaTopicPartition, context: SinkContext) -> PartitionWriter? {
        state.withLock { state in
            guard !state.closed, state.active[partition] == nil else { return nil }
            let writer = PartitionWriter(topicPartition: partition, context: context, predecessor: state.retiring.removeValue(forKey: partition))
            state.active[partition] = writer
            return writer
        }
    }

    func remove(_ partition: KafkaTopicPartition) -> PartitionWriter? {
        state.withLock { state in
            guard let writer = state.active.removeValue(forKey: partition) else { return nil }
            state.retiring[partition] = writer
            return writer
        }
    }

    func writer(for partition: KafkaTopicPartition) -> PartitionWriter? {
        state.withLock { $0.active[partition] }
    }

    func all() -> [PartitionWriter] {
        state.withLock { Array($0.active.values) }
    }

    func closeAndTakeAll() -> [PartitionWriter] {
        state.withLock { state in
            state.closed = true
            defer { state.active = [:] }
            return Array(state.active.values)
        }
    }
}
