/// A record of the registry log together with its position.
package struct RegistryLogEntry: Sendable, Hashable {
    /// The record's offset (increasing; gaps are allowed, e.g. after compaction).
    package var offset: Int64
    /// The record.
    package var record: RegistryLogRecord

    /// Creates an entry.
    package init(offset: Int64, record: RegistryLogRecord) {
        self.offset = offset
        self.record = record
    }
}

/// The totally ordered, durable log a served registry keeps its state in.
///
/// In production this is a one-partition compacted Kafka topic (``KafkaRegistryLog``); unit
/// tests use `InMemoryRegistryLog` (AuditPipeTestSupport). Several registry instances may share one log.
package protocol RegistryLog: Sendable {
    /// Appends a record durably and returns its offset once it is acknowledged.
    func append(_ record: RegistryLogRecord) async throws -> Int64

    /// The offset the next appended record will get (the end of the log right now).
    func endOffset() async throws -> Int64

    /// Every record from the beginning of the log, in order, then new ones as they are appended,
    /// until the calling task is cancelled or the log fails. One call per registry instance.
    func entries() -> AsyncThrowingStream<RegistryLogEntry, any Error>
}
