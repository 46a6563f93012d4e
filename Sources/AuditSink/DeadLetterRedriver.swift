public import AuditStore
public import AuditConsumer
import ClickHouseHTTP
public import KafkaClient
public import Logging
public import ServiceLifecycle

/// Re-drives dead letters by itself once ClickHouse is healthy again.
///
/// It reads the dead-letter topic in a consumer group of its own and, for each record dead-lettered
/// after transient ClickHouse failures (`dlq-redrive: true`), waits until ClickHouse answers,
/// then produces the original record (key, value and headers, without the `dlq-*` ones) back to
/// its source topic with acks=all, and only then commits the dead-letter offset. Records the
/// table rejected or that cannot be decoded are left for a human.
///
/// Why this is still exactly once: the re-produced record lands in the same partition (same key)
/// and goes through the one writer of that partition, whose event_id deduplication drops it if
/// the failed batch was written after all (e.g. an insert whose answer was lost, or whose key
/// record failed): the record carries that insert's token (`auditpipe-insert-token`), and the
/// writer records the insert's keys before its duplicate check. A crash
/// between produce and commit re-produces it: dropped the same way. Going through the partition
/// writer, rather than inserting from here, keeps "one writer per partition" true, so the
/// event_id check never races another writer.
public final class DeadLetterRedriver: Service, Sendable {
    private let configuration: AuditSinkConfiguration
    private let consumerConfiguration: KafkaConsumerConfiguration
    private let producer: KafkaProducer
    private let clickhouse: ClickHouseClient
    private let logger: Logger

    /// Creates the re-driver; `consumer` names its own group (e.g. `auditpipe-dlq-redrive`).
    public init(
        configuration: AuditSinkConfiguration, consumer: KafkaConsumerConfiguration, producer: KafkaProducer,
        store: ClickHouseEventStore, logger: Logger
    ) throws(AuditSinkError) {
        try configuration.validate()
        do { try consumer.validate() } catch { throw AuditSinkError(message: error.message, isRetriable: false) }
        self.configuration = configuration
        self.consumerConfiguration = consumer
        self.producer = producer
        self.clickhouse = store.client
        self.logger = logger
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [configuration.deadLetterTopic], logger: logger)
        } catch {
            throw AuditSinkError(message: "cannot start the consumer of \(configuration.deadLetterTopic): \(error.message)", isRetriable: error.isRetriable)
        }
        await BufferedConsumer.run(consumer, maxBatch: 1000, logger: logger) { records in
            await self.redrive(records)
        }
    }

    /// Re-produces the re-drivable records of `records`; false only when cancelled.
    private func redrive(_ records: [KafkaMessage]) async -> Bool {
        let letters = records.compactMap { record in DeadLetter(headers: record.headers).flatMap { $0.redrive ? (record, $0) : nil } }
        guard !letters.isEmpty else { return true }
        var retry = BatchRetryState(policy: RetryPolicy(maxAttempts: nil, initialBackoff: .milliseconds(500), maxBackoff: configuration.retry.maxBackoff))
        while true {
            do {
                try await clickhouse.execute("SELECT 1 FORMAT Null")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (record, letter) in letters {
                        group.addTask {
                            _ = try await self.producer.send(
                                KafkaOutgoingMessage(
                                    topic: letter.sourceTopic, key: record.key, value: record.value,
                                    headers: record.headers.filter { !DeadLetter.isOwnHeader($0.name) }
                                )
                            )
                        }
                    }
                    try await group.waitForAll()
                }
                logger.info("re-drove \(letters.count) dead letters to \(letters[0].1.sourceTopic)")
                return true
            } catch {
                guard case .retry(let delay) = retry.failed(.transient, jitter: .random(in: 0..<1)) else { return false }
                logger.debug("waiting to re-drive \(letters.count) dead letters (attempt \(retry.attempts)): \(error)")
                do { try await Task.sleep(for: delay) } catch { return false }
            }
        }
    }
}
