import AuditStore
import AuditConsumer
import AuditEvents
import Foundation
package import KafkaClient

/// The headers of a dead-letter record; its key and value are the source record's.
package struct DeadLetter: Sendable, Hashable {
    /// Where the failure was found.
    package enum Stage: String, Sendable, Hashable {
        /// Not Confluent-framed Avro, or not an AuditEvent.
        case decode
        /// The schema id is unknown to the registry.
        case schema
        /// A value the table cannot hold (e.g. a timestamp out of DateTime64 range).
        case encode
        /// ClickHouse rejected the batch's data.
        case insertRejected = "insert-rejected"
        /// ClickHouse failed transiently for every attempt; re-driven automatically.
        case insertRetriesExhausted = "insert-retries-exhausted"
    }

    package var reason: String
    package var sourceTopic: String
    package var sourcePartition: Int32
    package var sourceOffset: Int64
    package var stage: Stage
    package var attempts: Int
    package var timeMilliseconds: Int64
    /// Re-driven into ClickHouse automatically once it is healthy.
    package var redrive: Bool
    /// The insert token of the failed batch (insert stages): its insert may have been stored
    /// after all, without the key records that the duplicate check reads. The token rides on the
    /// record as ``insertTokenHeader``, which re-drive and replay keep, so the partition writer
    /// records those keys before it checks the record again.
    package var insertToken: String? = nil

    package init(reason: String, source: KafkaMessage, stage: Stage, attempts: Int, timeMilliseconds: Int64, redrive: Bool, insertToken: String? = nil) {
        self.reason = reason
        self.sourceTopic = source.topic
        self.sourcePartition = source.partition
        self.sourceOffset = source.offset
        self.stage = stage
        self.attempts = attempts
        self.timeMilliseconds = timeMilliseconds
        self.redrive = redrive
        self.insertToken = insertToken
    }

    /// The header that carries ``insertToken`` on a dead letter and on the record re-driven or
    /// replayed from it (not `dlq-`: it stays on the re-produced record).
    package static let insertTokenHeader = "auditpipe-insert-token"

    /// The insert tokens that `records` carry (usually none): of failed batches whose records
    /// were dead-lettered and are now back.
    package static func insertTokens(of records: [KafkaMessage]) -> Set<String> {
        var tokens: Set<String> = []
        for record in records {
            for value in record.headerValues(named: insertTokenHeader) {
                tokens.insert(String(decoding: value, as: UTF8.self))
            }
        }
        return tokens
    }

    package static let headerNames = (
        reason: "dlq-reason", topic: "dlq-source-topic", partition: "dlq-source-partition", offset: "dlq-source-offset",
        stage: "dlq-stage", attempts: "dlq-attempts", time: "dlq-time", redrive: "dlq-redrive"
    )

    package var headers: [KafkaHeader] {
        let n = Self.headerNames
        let time = Date(timeIntervalSince1970: Double(timeMilliseconds) / 1000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return [
            (n.reason, reason), (n.topic, sourceTopic), (n.partition, String(sourcePartition)), (n.offset, String(sourceOffset)),
            (n.stage, stage.rawValue), (n.attempts, String(attempts)), (n.time, formatter.string(from: time)),
            (n.redrive, redrive ? "true" : "false"),
        ].map { KafkaHeader(name: $0.0, value: Array($0.1.utf8)) }
            + (insertToken.map { [KafkaHeader(name: Self.insertTokenHeader, value: Array($0.utf8))] } ?? [])
    }

    /// Parses the headers of a dead-letter record; nil when they are not AuditPipe's.
    init?(headers: [KafkaHeader]) {
        func value(_ name: String) -> String? {
            headers.last { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        let n = Self.headerNames
        guard let topic = value(n.topic), let partition = value(n.partition).flatMap(Int32.init),
            let offset = value(n.offset).flatMap(Int64.init), let stage = value(n.stage).flatMap(Stage.init(rawValue:))
        else { return nil }
        self.reason = value(n.reason) ?? ""
        self.sourceTopic = topic
        self.sourcePartition = partition
        self.sourceOffset = offset
        self.stage = stage
        self.attempts = value(n.attempts).flatMap(Int.init) ?? 0
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        self.timeMilliseconds = value(n.time).flatMap { formatter.date(from: $0) }.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        self.redrive = value(n.redrive) == "true"
        self.insertToken = value(Self.insertTokenHeader)
    }

    /// Whether a header is one of the dead-letter headers.
    package static func isOwnHeader(_ name: String) -> Bool { name.hasPrefix("dlq-") }

    /// The dead-letter record for `source`: same key, value and headers, plus ours. An insert
    /// token the source carries from an earlier dead letter stays: that insert may be unkeyed too.
    package func record(topic: String, source: KafkaMessage) -> KafkaOutgoingMessage {
        KafkaOutgoingMessage(
            topic: topic, key: source.key, value: source.value,
            headers: source.headers.filter { !Self.isOwnHeader($0.name) } + headers
        )
    }
}
