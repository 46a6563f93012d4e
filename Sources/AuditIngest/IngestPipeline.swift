public import AuditEvents
public import AvroCodec
import Foundation
import Metrics

/// The schema events are encoded with: the version registered for the audit topic's subject.
public struct EventSchema: Sendable {
    /// The registry's id of the schema, written into every record (Confluent wire format).
    public var id: Int32
    public var schema: AvroSchema

    public init(id: Int32, schema: AvroSchema) {
        self.id = id
        self.schema = schema
    }
}

/// Where ingest finds the schema. Implementations fail closed: when the registry cannot be
/// reached and nothing is cached, they throw, and the event is refused as unavailable.
public protocol EventSchemaSource: Sendable {
    func currentSchema() async throws -> EventSchema
}

/// Where accepted events are made durable (Kafka, acks=all, idempotent producer).
public protocol DurableEventLog: Sendable {
    /// Returns only once the record is durable; throws when it could not be made durable.
    func append(_ record: EventRecord) async throws -> RecordPosition
}

/// One record for the audit topic.
public struct EventRecord: Sendable {
    /// The partitioning key: the tenant id, so a tenant's events stay in order in one partition.
    public var key: [UInt8]
    /// The Confluent-framed Avro event.
    public var value: [UInt8]
    public var headers: [(String, [UInt8])]
}

/// Where a durable record was written.
public struct RecordPosition: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64

    public init(partition: Int32, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}

/// The outcome of ingesting one event.
public enum IngestOutcome: Sendable, Hashable {
    /// Durable in Kafka at this position.
    case durable(RecordPosition)
    /// Refused: the event breaks these rules. Retrying it unchanged fails the same way.
    case invalid([FieldViolation])
    /// Not stored now (registry or Kafka unavailable, shutting down); retry with the same event_id.
    case unavailable(String)
}

/// Validate → encode with the registered schema → append durably. Nothing is acknowledged before
/// it is durable, and nothing invalid is appended.
public struct IngestPipeline: Sendable {
    private let validator: EventValidator
    private let schemas: any EventSchemaSource
    private let log: any DurableEventLog
    /// The current time in milliseconds since the epoch.
    private let clock: @Sendable () -> Int64

    private let latency = Metrics.Timer(label: "auditpipe_ingest_duration_seconds", preferredDisplayUnit: .seconds)

    public init(
        validator: EventValidator = EventValidator(),
        schemas: any EventSchemaSource,
        log: any DurableEventLog,
        clock: (@Sendable () -> Int64)? = nil
    ) {
        self.validator = validator
        self.schemas = schemas
        self.log = log
        self.clock = clock ?? { Int64(Date().timeIntervalSince1970 * 1000) }
    }

    /// Ingests one event; returns once it is durable or refused.
    public func ingest(_ event: AuditEvent, source: String = "grpc") async -> IngestOutcome {
        let start = ContinuousClock.now
        let outcome = await process(event)
        let reason: String
        switch outcome {
        case .durable: reason = "durable"
        case .invalid(let violations): reason = "invalid_\(violations.first?.rule ?? "unknown")"
        case .unavailable: reason = "unavailable"
        }
        Counter(label: "auditpipe_ingest_events_total", dimensions: [("source", source), ("outcome", reason)]).increment()
        latency.recordInterval(since: start)
        return outcome
    }

    private func process(_ event: AuditEvent) async -> IngestOutcome {
        let violations = validator.violations(of: event, nowMilliseconds: clock())
        guard violations.isEmpty else { return .invalid(violations) }

        let schema: EventSchema
        do {
            schema = try await schemas.currentSchema()
        } catch {
            return .unavailable("no schema for audit events (fail closed): \(error)")
        }
        let body: [UInt8]
        switch AuditEventSchema.encode(event, with: schema.schema) {
        case .success(let bytes): body = bytes
        case .failure(let refused): return .invalid(refused.violations)
        }
        guard body.count <= validator.limits.maxEncodedBytes else {
            return .invalid([
                FieldViolation(field: "event", rule: "max_size", description: "the encoded event is \(body.count) bytes; the limit is \(validator.limits.maxEncodedBytes) bytes (shorten metadata values)")
            ])
        }
        var value: [UInt8] = []
        value.reserveCapacity(ConfluentWireFormat.headerSize + body.count)
        ConfluentWireFormat.appendHeader(schemaID: schema.id, to: &value)
        value.append(contentsOf: body)

        let record = EventRecord(
            key: Array(event.tenantID.utf8),
            value: value,
            headers: [("event_id", Array(event.eventID.utf8))]
        )
        do {
            return .durable(try await log.append(record))
        } catch {
            return .unavailable("the event could not be made durable in Kafka: \(error)")
        }
    }
}

extension Metrics.Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
