import AuditStore
import AuditConsumer
import Foundation
public import KafkaClient
public import Logging

/// One dead letter as a person reviewing the dead-letter topic sees it.
public struct DeadLetterEntry: Sendable, Hashable {
    /// Where the dead letter itself is, in the dead-letter topic.
    public var partition: Int32
    public var offset: Int64
    /// Where the record came from, and why it could not be written.
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    /// `decode`, `schema`, `encode`, `insert-rejected` or `insert-retries-exhausted`.
    public var stage: String
    public var reason: String
    public var attempts: Int
    /// When it was dead-lettered (Unix milliseconds; 0 when unknown).
    public var timeMilliseconds: Int64
    /// Whether the server re-drives it by itself once ClickHouse is healthy.
    public var redrivenAutomatically: Bool
}

/// Which dead letters `auditpipe dlq list|replay` picks. Every set criterion must hold.
public struct DeadLetterFilter: Sendable, Hashable {
    /// Stages to pick (empty: every stage).
    public var stages: Set<String> = []
    /// A text the reason must contain (case-insensitive).
    public var reasonContains: String?
    /// Only records from this partition of the source topic.
    public var sourcePartition: Int32?
    /// Only dead letters written at or after this time (Unix milliseconds).
    public var since: Int64?

    public init() {}

    /// The stages a dead letter can have, for validating `--stage`.
    public static let knownStages: [String] = ["decode", "schema", "encode", "insert-rejected", "insert-retries-exhausted"]

    /// Whether `entry` is picked.
    public func matches(_ entry: DeadLetterEntry) -> Bool {
        if !stages.isEmpty, !stages.contains(entry.stage) { return false }
        if let reasonContains, !entry.reason.localizedCaseInsensitiveContains(reasonContains) { return false }
        if let sourcePartition, entry.sourcePartition != sourcePartition { return false }
        if let since, entry.timeMilliseconds < since { return false }
        return true
    }
}

/// Reads a dead-letter topic up to its current end and, for the picked records, hands each to a
/// closure; ``replay(_:to:)`` produces one back to its source topic the way the automatic
/// re-driver does (same key, value and headers without the `dlq-*` ones, acks=all), so it goes
/// through the one writer of its partition and event_id deduplication absorbs a record that was
/// stored after all. Replaying twice is therefore harmless within the deduplication window.
public enum DeadLetterReplay {
    /// A failure to read the dead-letter topic.
    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads every record of `topic` present when the read starts (a consumer in a throwaway
    /// group: nothing is committed), calling `body` for each AuditPipe dead letter. Records
    /// without AuditPipe's headers are counted in the returned value and skipped. Throws
    /// ``ReadError`` when the end is not reached in time, else what the consumer or `body` threw.
    @discardableResult
    public static func read(
        topic: String, bootstrapServers: [String], logger: Logger, timeout: Duration = .seconds(30),
        _ body: (DeadLetterEntry, KafkaMessage) async throws -> Void
    ) async throws -> (read: Int, foreign: Int) {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupID: "auditpipe-dlq-read-\(UUID().uuidString.lowercased())")
        configuration.autoOffsetReset = .earliest
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
        } catch {
            throw ReadError(description: "cannot read \(topic): \(error.message)")
        }
        var ends: [Int32: Int64] = [:]  // partition -> offset of its last record when the read started
        var done: Set<Int32> = []
        var assigned = false
        var read = 0
        var foreign = 0
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        do {
            // The reader stops at the end even when the topic is silent: a watchdog closes it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Task.sleep(until: deadline, clock: clock)
                    await consumer.close()
                }
                defer { group.cancelAll() }
                eventLoop: for try await event in consumer.events {
                    switch event {
                    case .assigned(let partitions):
                        assigned = true
                        for partition in partitions where partition.topic == topic {
                            let (low, high) = try await consumer.watermarks(topic: topic, partition: partition.partition)
                            ends[partition.partition] = high - 1
                            if high <= low { done.insert(partition.partition) }
                        }
                    case .revoked:
                        break
                    case .message(let message):
                        if let end = ends[message.partition], message.offset > end { continue }
                        read += 1
                        if let letter = DeadLetter(headers: message.headers) {
                            try await body(DeadLetterEntry(letter, at: message), message)
                        } else {
                            foreign += 1
                        }
                        if let end = ends[message.partition], message.offset >= end { done.insert(message.partition) }
                    }
                    if assigned, done.count == ends.count { break eventLoop }
                }
                if !(assigned && done.count == ends.count) {
                    throw ReadError(description: "did not reach the end of \(topic) within \(timeout): is Kafka reachable and does the topic exist?")
                }
            }
        } catch let error as ReadError {
            await consumer.close()
            throw error
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
        return (read, foreign)
    }

    /// Produces the dead letter `message` back to its source topic (acks=all) and returns where
    /// it landed.
    public static func replay(_ message: KafkaMessage, entry: DeadLetterEntry, to producer: KafkaProducer) async throws(KafkaError) -> KafkaDeliveryReport {
        try await producer.send(
            KafkaOutgoingMessage(
                topic: entry.sourceTopic, key: message.key, value: message.value,
                headers: message.headers.filter { !DeadLetter.isOwnHeader($0.name) }
            )
        )
    }
}

extension DeadLetterEntry {
    init(_ letter: DeadLetter, at message: KafkaMessage) {
        self.init(
            partition: message.partition, offset: message.offset,
            sourceTopic: letter.sourceTopic, sourcePartition: letter.sourcePartition, sourceOffset: letter.sourceOffset,
            stage: letter.stage.rawValue, reason: letter.reason, attempts: letter.attempts,
            timeMilliseconds: letter.timeMilliseconds, redrivenAutomatically: letter.redrive
        )
    }
}
