package import AuditIngest
package import KafkaClient

/// The audit topic behind an idempotent, acks=all `KafkaProducer`.
package struct KafkaEventLog: DurableEventLog {
    package let producer: KafkaProducer
    package let topic: String

    package init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    package func append(_ record: EventRecord) async throws -> RecordPosition {
        let report = try await producer.send(
            KafkaOutgoingMessage(topic: topic, key: record.key, value: record.value, headers: record.headers)
        )
        return RecordPosition(partition: report.partition, offset: report.offset)
    }
}
