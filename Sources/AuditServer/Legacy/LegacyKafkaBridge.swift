import AuditEvents
import KafkaClient
import LegacyMapping
import Logging
import ServiceLifecycle

/// Reads legacy services' own Kafka topics, maps and validates each record like the HTTP intake,
/// produces canonical events to the audit topic (or the record's events to quarantine), and only
/// then commits the source offset. A crash re-reads the record; its events carry ids derived from
/// their source position or their own id, so the sink's event_id deduplication absorbs the
/// repeat.
struct LegacyKafkaBridge: Service {
    let intake: LegacyIntake
    /// Source name by topic.
    let sourcesByTopic: [String: String]
    let consumerConfiguration: KafkaConsumerConfiguration
    let logger: Logger

    func run() async throws {
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: Array(sourcesByTopic.keys), logger: logger)
        do {
            try await cancelWhenGracefulShutdown {
                for try await event in consumer.events {
                    guard case .message(let message) = event, let source = sourcesByTopic[message.topic] else { continue }
                    try await bridge(message, source: source)
                    do {
                        try await consumer.commit([KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: message.offset + 1)])
                    } catch {
                        // As in the sinks: after a revoke this is expected, and the partition's new
                        // owner reads the record again (its events' ids make the repeat a no-op
                        // downstream). Not a reason to stop the server.
                        logger.warning("commit of \(message.topic)[\(message.partition)]@\(message.offset) failed: \(error)")
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: the record in progress was not committed and is read again.
        }
        await consumer.close()
    }

    /// Processes one record until every event in it is durable or quarantined.
    private func bridge(_ message: KafkaMessage, source: String) async throws {
        let position = LegacySourcePosition(topic: message.topic, partition: message.partition, offset: message.offset)
        let payload = message.value ?? []
        var backoff = Duration.milliseconds(100)
        while true {
            let outcomes: [LegacyIntake.ItemOutcome]
            switch await intake.process(source: source, payload: payload, intake: .kafka, position: position, receivedAtMilliseconds: message.timestampMilliseconds) {
            case .success(let items):
                outcomes = items
            case .failure(.payload(let refusal)):
                outcomes = [await intake.quarantineWhole(source: source, payload: payload, reason: refusal.reason, position: position)]
            case .failure(.unknownSource(let name)):
                // Start-up validation refuses bridges for unknown sources; keep the record anyway.
                let reason = FieldViolation(field: "source", rule: "unknown_source", description: "no mapping rules for source `\(name)`")
                outcomes = [await intake.quarantineWhole(source: source, payload: payload, reason: reason, position: position)]
            }
            let unavailable = outcomes.compactMap { outcome -> String? in
                switch outcome {
                case .unavailable(let reason): reason
                case .permissionDenied(let reason): reason  // not produced by the bridge (it is trusted); kept for exhaustiveness
                default: nil
                }
            }
            guard let reason = unavailable.first else { return }
            logger.warning("legacy record not stored yet; retrying", metadata: ["topic": "\(message.topic)", "offset": "\(message.offset)", "reason": "\(reason)"])
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(10))
        }
    }
}
