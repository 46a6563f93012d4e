import Foundation
import KafkaClient
package import Logging

/// The registry log on Kafka: a one-partition compacted topic (default `_auditpipe_schemas`).
///
/// Appends go through an idempotent producer with acks=all, to partition 0. Reading uses a
/// consumer of its own that starts at the earliest offset and never commits: it is put in a
/// consumer group unique to this instance (`auditpipe-schema-registry-<uuid>`), so every
/// instance reads the whole topic. (KafkaClient has no plain "assign partition 0 from offset 0"
/// reader yet; with one, no group would be needed. An abandoned group without commits is
/// removed by the broker once it is empty.)
///
/// The topic must exist with exactly one partition; ``open(configuration:logger:)`` checks it.
/// Create it with `cleanup.policy=compact` (infinite retention of the newest record per key),
/// replication factor 3 and `min.insync.replicas=2`, e.g.
/// `kafka-topics --create --topic _auditpipe_schemas --partitions 1 --replication-factor 3
/// --config cleanup.policy=compact --config min.insync.replicas=2`.
/// (The dev cluster, librdkafka's mock, cannot set topic configs; compaction is not exercised
/// there.)
package final class KafkaRegistryLog: RegistryLog {
    /// Where the log lives.
    package struct Configuration: Sendable, Hashable {
        /// Kafka bootstrap servers (`host:port`). Required.
        package var bootstrapServers: [String]
        /// The topic. Default `_auditpipe_schemas`.
        package var topic: String = "_auditpipe_schemas"
        /// Prefix of this instance's private consumer group. Default `auditpipe-schema-registry`.
        package var groupPrefix: String = "auditpipe-schema-registry"
        /// librdkafka properties added to both clients (e.g. security settings).
        package var additionalProperties: [String: String] = [:]

        /// A configuration with the documented defaults.
        package init(bootstrapServers: [String]) {
            self.bootstrapServers = bootstrapServers
        }
    }

    private let configuration: Configuration
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer

    private init(configuration: Configuration, producer: KafkaProducer, consumer: KafkaConsumer) {
        self.configuration = configuration
        self.producer = producer
        self.consumer = consumer
    }

    /// Connects to Kafka and checks that the topic exists with one partition.
    /// - Throws: `KafkaError`, or ``SchemaRegistryError`` when the topic has another partition count.
    package static func open(configuration: Configuration, logger: Logger) async throws -> KafkaRegistryLog {
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: configuration.bootstrapServers)
        producerConfiguration.clientID = "auditpipe-schema-registry"
        producerConfiguration.lingerMilliseconds = 0
        producerConfiguration.compression = .none
        producerConfiguration.additionalProperties = configuration.additionalProperties
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        let partitions: Int
        do {
            partitions = try await producer.partitionCount(topic: configuration.topic)
        } catch {
            await producer.shutdown(timeout: .seconds(1))
            throw error
        }
        guard partitions == 1 else {
            await producer.shutdown(timeout: .seconds(1))
            throw SchemaRegistryError(
                .storeError,
                "the schema registry topic \(configuration.topic) has \(partitions) partitions; it needs exactly 1 (a total order): recreate it with --partitions 1 --config cleanup.policy=compact"
            )
        }
        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: configuration.bootstrapServers,
            groupID: "\(configuration.groupPrefix)-\(UUID().uuidString.lowercased())"
        )
        consumerConfiguration.clientID = "auditpipe-schema-registry"
        consumerConfiguration.autoOffsetReset = .earliest
        consumerConfiguration.sessionTimeoutMilliseconds = 10_000
        consumerConfiguration.additionalProperties = configuration.additionalProperties
        consumerConfiguration.heartbeatIntervalMilliseconds = 1000
        consumerConfiguration.additionalProperties["fetch.wait.max.ms"] = "50"
        let consumer: KafkaConsumer
        do {
            // Assigned by hand, not through a group: reading starts at once (a group join waits
            // out the broker's rebalance delay, seconds at every start of the server).
            consumer = try KafkaConsumer(
                configuration: consumerConfiguration,
                readingFromStart: [KafkaTopicPartition(topic: configuration.topic, partition: 0)],
                logger: logger
            )
        } catch {
            await producer.shutdown(timeout: .seconds(1))
            throw error
        }
        return KafkaRegistryLog(configuration: configuration, producer: producer, consumer: consumer)
    }

    /// Produces the record to partition 0 and returns its offset once acknowledged (acks=all).
    package func append(_ record: RegistryLogRecord) async throws -> Int64 {
        let report = try await producer.send(
            KafkaOutgoingMessage(topic: configuration.topic, key: record.key, value: record.value, headers: [], partition: 0)
        )
        return report.offset
    }

    /// The high watermark of partition 0.
    package func endOffset() async throws -> Int64 {
        try await consumer.watermarks(topic: configuration.topic, partition: 0).high
    }

    /// Every record of partition 0 from the beginning, then new ones.
    package func entries() -> AsyncThrowingStream<RegistryLogEntry, any Error> {
        let consumer = self.consumer
        let topic = configuration.topic
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in consumer.events {
                        guard case .message(let message) = event, message.topic == topic else { continue }
                        continuation.yield(RegistryLogEntry(offset: message.offset, record: RegistryLogRecord(key: message.key ?? [], value: message.value)))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Closes both clients.
    package func close() async {
        await consumer.close()
        await producer.shutdown(timeout: .seconds(10))
    }
}
