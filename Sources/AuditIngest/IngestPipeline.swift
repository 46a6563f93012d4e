public import AuditEvents
public import AvroCodec
import Foundation
import Metrics
import Synchronization

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

    /// Hands every record of `batch` to the log as one unit of work and returns as soon as they
    /// are on their way (e.g. queued in the Kafka client); the answer's
    /// ``PendingAppend/forEachPart(_:)`` tells as each is durable or failed.
    func enqueue(batch: EventRecordBatch) async -> PendingAppend
}

/// Records handed to a ``DurableEventLog`` whose durability is still to come.
public struct PendingAppend: Sendable {
    /// Records that became durable (or failed) together: their indices in the batch, with their
    /// results.
    public typealias Part = [(index: Int, result: Result<RecordPosition, any Error>)]

    private let parts: @Sendable (_ body: (Part) async -> Void) async -> Void

    /// `parts` calls its body with each part as it comes (every record in exactly one part) and
    /// returns after the last; it is called once.
    public init(parts: @escaping @Sendable (_ body: (Part) async -> Void) async -> Void) {
        self.parts = parts
    }

    /// Hands over the records' results as they come, in parts (e.g. one per Kafka partition
    /// acknowledged); returns after the last. Call it exactly once.
    public func forEachPart(_ body: (Part) async -> Void) async {
        await parts(body)
    }
}

extension DurableEventLog {
    /// One ``append(_:)`` per record, concurrently, answered as one part when waited for (for
    /// logs without a batch path, e.g. tests).
    public func enqueue(batch: EventRecordBatch) async -> PendingAppend {
        PendingAppend { body in
            let results = await self.appendOneByOne(batch)
            await body(results.enumerated().map { (index: $0.offset, result: $0.element) })
        }
    }

    private func appendOneByOne(_ batch: EventRecordBatch) async -> [Result<RecordPosition, any Error>] {
        await withTaskGroup(of: (Int, Result<RecordPosition, any Error>).self) { group in
            for index in 0..<batch.count {
                let record = batch.record(at: index)
                group.addTask {
                    do { return (index, .success(try await self.append(record))) } catch { return (index, .failure(error)) }
                }
            }
            var results = [Result<RecordPosition, any Error>?](repeating: nil, count: batch.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }
}

/// Records for the audit topic appended as one unit: every record's key (the tenant id), value
/// (the Confluent-framed Avro event) and `event_id` header value lie back to back in one buffer.
public struct EventRecordBatch: Sendable {
    /// One record: ranges of ``EventRecordBatch/bytes``.
    public struct Entry: Sendable, Hashable {
        public var key: Range<Int>
        public var value: Range<Int>
        public var eventID: Range<Int>
    }

    /// Every record's bytes.
    public var bytes: [UInt8]
    /// The records, in order.
    public var entries: [Entry]

    public init(reservingCapacity bytes: Int = 0, records: Int = 0) {
        self.bytes = []
        self.bytes.reserveCapacity(bytes)
        self.entries = []
        self.entries.reserveCapacity(records)
    }

    /// The number of records.
    public var count: Int { entries.count }

    /// Record `index` as a stand-alone ``EventRecord`` (copies its bytes).
    public func record(at index: Int) -> EventRecord {
        let entry = entries[index]
        return EventRecord(
            key: Array(bytes[entry.key]),
            value: Array(bytes[entry.value]),
            headers: [("event_id", Array(bytes[entry.eventID]))]
        )
    }
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
    private let counters = OutcomeCounters()
    private let layouts = SeedLayoutCache()

    public init(
        validator: EventValidator = EventValidator(),
        schemas: any EventSchemaSource,
        log: any DurableEventLog,
        clock: (@Sendable () -> Int64)? = nil
    ) {
        self.validator = validator
        self.schemas = schemas
        self.log = log
        self.clock = clock ?? { UnixTime.nowMilliseconds() }
    }

    /// Ingests one event; returns once it is durable or refused.
    public func ingest(_ event: AuditEvent, source: String = "grpc") async -> IngestOutcome {
        await ingest(batch: [event], source: source)[0]
    }

    /// Ingests `events` as one unit of work: each is validated, the valid ones are encoded with
    /// one look-up of the schema into one buffer and appended to the log as one batch; returns
    /// once every event is durable or refused, one outcome per event in order.
    public func ingest(batch events: [AuditEvent], source: String = "grpc") async -> [IngestOutcome] {
        await submit(batch: events, source: source).outcomes()
    }

    /// The first half of ``ingest(batch:source:)``: validates, encodes and hands the valid events
    /// to the log, and returns as soon as they are on their way, so that a caller making units of
    /// work can start its next one; ``PendingIngest/outcomes()`` waits for durability.
    public func submit(batch events: [AuditEvent], source: String = "grpc") async -> PendingIngest {
        let start = ContinuousClock.now
        var outcomes = [IngestOutcome?](repeating: nil, count: events.count)
        var appended: (append: PendingAppend, indices: [Int])?
        if !events.isEmpty {
            appended = await process(events, into: &outcomes)
        }
        return PendingIngest(pipeline: self, source: source, start: start, outcomes: outcomes, appended: appended)
    }

    /// Counts outcomes of a unit and records the time they took once per event.
    fileprivate func record(_ outcomes: [(index: Int, outcome: IngestOutcome)], source: String, since start: ContinuousClock.Instant) {
        counters.count(outcomes, source: source)
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        for _ in 0..<outcomes.count { latency.recordNanoseconds(nanoseconds) }
    }

    /// Fills the outcomes of refused events and returns the batch handed to the log with the
    /// events' indices, or nil when no event went to the log.
    private func process(
        _ events: [AuditEvent], into outcomes: inout [IngestOutcome?]
    ) async -> (append: PendingAppend, indices: [Int])? {
        let now = clock()
        var valid: [Int] = []
        valid.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            let violations = validator.violations(of: event, nowMilliseconds: now)
            if violations.isEmpty {
                valid.append(index)
            } else {
                outcomes[index] = .invalid(violations)
            }
        }
        guard !valid.isEmpty else { return nil }

        let schema: EventSchema
        do {
            schema = try await schemas.currentSchema()
        } catch {
            let outcome = IngestOutcome.unavailable("no schema for audit events (fail closed): \(error)")
            for index in valid { outcomes[index] = outcome }
            return nil
        }
        let seedLayout = layouts.hasSeedLayout(schema)
        let maxBytes = validator.limits.maxEncodedBytes
        // Each record straight into the batch's buffer: key, Confluent header and Avro body,
        // event id. A record that turns out too large (or does not fit the schema) is cut off again.
        var writer = AvroBinaryWriter(reservingCapacity: valid.count * 256)
        var entries: [EventRecordBatch.Entry] = []
        entries.reserveCapacity(valid.count)
        var batchIndices: [Int] = []
        batchIndices.reserveCapacity(valid.count)
        for index in valid {
            let event = events[index]
            let recordStart = writer.bytes.count
            appendUTF8(event.tenantID, to: &writer.bytes)
            let keyEnd = writer.bytes.count
            ConfluentWireFormat.appendHeader(schemaID: schema.id, to: &writer.bytes)
            let bodyStart = writer.bytes.count
            if seedLayout {
                AuditEventSchema.encodeSeedRecord(event, into: &writer)
            } else {
                switch AuditEventSchema.encode(event, with: schema.schema) {
                case .success(let body): writer.bytes.append(contentsOf: body)
                case .failure(let refused):
                    writer.bytes.removeSubrange(recordStart...)
                    outcomes[index] = .invalid(refused.violations)
                    continue
                }
            }
            let valueEnd = writer.bytes.count
            let bodyCount = valueEnd - bodyStart
            guard bodyCount <= maxBytes else {
                writer.bytes.removeSubrange(recordStart...)
                outcomes[index] = .invalid([
                    FieldViolation(field: "event", rule: "max_size", description: "the encoded event is \(bodyCount) bytes; the limit is \(maxBytes) bytes (shorten metadata values)")
                ])
                continue
            }
            appendUTF8(event.eventID, to: &writer.bytes)
            entries.append(.init(key: recordStart..<keyEnd, value: keyEnd..<valueEnd, eventID: valueEnd..<writer.bytes.count))
            batchIndices.append(index)
        }
        guard !entries.isEmpty else { return nil }
        var batch = EventRecordBatch()
        batch.bytes = writer.bytes
        batch.entries = entries

        return (await log.enqueue(batch: batch), batchIndices)
    }
}

/// A unit of events submitted by ``IngestPipeline/submit(batch:source:)``: the refused ones have
/// their outcome, the others are on their way to the log.
public struct PendingIngest: Sendable {
    fileprivate let pipeline: IngestPipeline
    fileprivate let source: String
    fileprivate let start: ContinuousClock.Instant
    fileprivate var outcomes: [IngestOutcome?]
    fileprivate let appended: (append: PendingAppend, indices: [Int])?

    /// Waits until every event is durable or refused; one outcome per event, in order. Call it
    /// (or ``forEachPart(_:)``) exactly once.
    public func outcomes() async -> [IngestOutcome] {
        var outcomes = self.outcomes
        await forEachPart { part in
            for (index, outcome) in part { outcomes[index] = outcome }
        }
        return outcomes.map { $0! }
    }

    /// Hands over the outcomes as they are known, in parts: the refused events first, then the
    /// others as Kafka acknowledges them (a part per partition's acknowledgement), so that a
    /// caller can answer each event without waiting for the unit's slowest partition. Every
    /// event is in exactly one part. Call it (or ``outcomes()``) exactly once.
    public func forEachPart(_ body: ([(index: Int, outcome: IngestOutcome)]) async -> Void) async {
        var decided: [(index: Int, outcome: IngestOutcome)] = []
        for (index, outcome) in outcomes.enumerated() {
            if let outcome { decided.append((index, outcome)) }
        }
        if !decided.isEmpty {
            pipeline.record(decided, source: source, since: start)
            await body(decided)
        }
        guard let appended else { return }
        await appended.append.forEachPart { part in
            let outcomes = part.map { record -> (index: Int, outcome: IngestOutcome) in
                switch record.result {
                case .success(let position): (appended.indices[record.index], .durable(position))
                case .failure(let error): (appended.indices[record.index], .unavailable("the event could not be made durable in Kafka: \(error)"))
                }
            }
            pipeline.record(outcomes, source: source, since: start)
            await body(outcomes)
        }
    }
}

private func appendUTF8(_ string: String, to bytes: inout [UInt8]) {
    var string = string
    string.withUTF8 { bytes.append(contentsOf: $0) }
}

/// The ingest counters (`auditpipe_ingest_events_total` by source and outcome), each looked up once
/// and kept: a batch adds its count of each outcome to the cached counter.
final class OutcomeCounters: Sendable {
    private let cache = Mutex<[OutcomeKey: Counter]>([:])

    private struct OutcomeKey: Hashable {
        var source: String
        var outcome: String
    }

    func count(_ outcomes: [(index: Int, outcome: IngestOutcome)], source: String) {
        var durable = 0
        var unavailable = 0
        var invalid: [String: Int] = [:]
        for (_, outcome) in outcomes {
            switch outcome {
            case .durable: durable += 1
            case .unavailable: unavailable += 1
            case .invalid(let violations): invalid["invalid_\(violations.first?.rule ?? "unknown")", default: 0] += 1
            }
        }
        if durable > 0 { counter(source, "durable").increment(by: Int64(durable)) }
        if unavailable > 0 { counter(source, "unavailable").increment(by: Int64(unavailable)) }
        for (outcome, count) in invalid { counter(source, outcome).increment(by: Int64(count)) }
    }

    private func counter(_ source: String, _ outcome: String) -> Counter {
        let key = OutcomeKey(source: source, outcome: outcome)
        if let counter = cache.withLock({ $0[key] }) { return counter }
        let counter = Counter(label: "auditpipe_ingest_events_total", dimensions: [("source", source), ("outcome", outcome)])
        cache.withLock { $0[key] = counter }
        return counter
    }
}

/// Whether a registered schema (by id) has the seed's binary layout, computed once per id.
final class SeedLayoutCache: Sendable {
    private let known = Mutex<(id: Int32, seedLayout: Bool)?>(nil)

    func hasSeedLayout(_ schema: EventSchema) -> Bool {
        if let known = known.withLock({ $0 }), known.id == schema.id { return known.seedLayout }
        let seedLayout = AuditEventSchema.hasSeedLayout(schema.schema)
        known.withLock { $0 = (schema.id, seedLayout) }
        return seedLayout
    }
}
