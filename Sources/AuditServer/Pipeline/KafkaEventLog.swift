package import AuditIngest
package import KafkaClient
import Metrics

/// The audit topic behind an idempotent, acks=all `KafkaProducer`.
package struct KafkaEventLog: DurableEventLog {
    package let producer: KafkaProducer
    package let topic: String

    package init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    package func append(_ record: EventRecord) async throws -> RecordPosition {
        let report: KafkaDeliveryReport
        do {
            report = try await producer.send(
                KafkaOutgoingMessage(topic: topic, key: record.key, value: record.value, headers: record.headers)
            )
        } catch {
            Counter(label: "auditpipe_kafka_produce_errors_total", dimensions: [("reason", Self.reason(of: error))]).increment()
            throw error
        }
        return RecordPosition(partition: report.partition, offset: report.offset)
    }

    /// The batch as one `KafkaProducer.enqueueBatch`: its buffer goes to the producer as it is
    /// (the records' ranges are the same), and its results come in parts as partitions are
    /// acknowledged.
    package func enqueue(batch: EventRecordBatch) async -> PendingAppend {
        let outgoing = KafkaOutgoingBatch(
            topic: topic, headerName: "event_id", bytes: batch.bytes,
            records: batch.entries.map { KafkaOutgoingBatch.Record(key: $0.key, value: $0.value, headerValue: $0.eventID) }
        )
        let pending = await producer.enqueueBatch(outgoing)
        return PendingAppend { body in
            await pending.forEachPart { part in await body(Self.positions(of: part)) }
        }
    }

    private static func positions(of part: KafkaBatchPart) -> PendingAppend.Part {
        var errors: [String: Int] = [:]
        let positions = zip(part.indices, part.results).map { index, report -> (index: Int, result: Result<RecordPosition, any Error>) in
            switch report {
            case .success(let report):
                return (index, .success(RecordPosition(partition: report.partition, offset: report.offset)))
            case .failure(let error):
                errors[Self.reason(of: error), default: 0] += 1
                return (index, .failure(error))
            }
        }
        for (reason, count) in errors {
            Counter(label: "auditpipe_kafka_produce_errors_total", dimensions: [("reason", reason)]).increment(by: Int64(count))
        }
        return positions
    }

    /// The `reason` label: librdkafka's error name in lower case without the leading
    /// underscore (`msg_timed_out`, `all_brokers_down`, `not_enough_replicas`, ...), or
    /// `other` for an error that is not a ``KafkaError``.
    package static func reason(of error: any Error) -> String {
        guard let kafka = error as? KafkaError else { return "other" }
        var name = kafka.code.name.lowercased()
        while name.hasPrefix("_") { name.removeFirst() }
        return name.isEmpty ? "code_\(kafka.code.rawValue)" : name
    }
}
