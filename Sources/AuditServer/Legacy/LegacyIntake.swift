package import AuditEvents
package import AuditIngest
import Crypto
import Foundation
package import KafkaClient
package import LegacyMapping
import Metrics
import Synchronization

/// Legacy JSON in, canonical events out: maps each event of a payload with its source's rules,
/// ingests the mapped ones exactly like the gRPC API does, and writes every refused one to the
/// quarantine topic (acks=all) with its original bytes and reasons. Shared by the HTTP intake and
/// the Kafka bridge.
package final class LegacyIntake: Sendable {
    /// The outcome for one event of a payload.
    package enum ItemOutcome: Sendable, Hashable {
        case durable(eventID: String, partition: Int32, offset: Int64)
        /// Durable in the quarantine topic, with the reasons.
        case quarantined([FieldViolation])
        /// Neither stored nor quarantined now: send it again.
        case unavailable(String)
        /// The caller may not send events for this event's tenant; nothing was stored.
        case permissionDenied(String)
    }

    package enum Refusal: Error, Sendable {
        case unknownSource(String)
        case payload(LegacyPayloadError)
    }

    private let mappers: [String: LegacyMapper]
    private let ingest: IngestPipeline
    private let producer: KafkaProducer
    private let quarantineTopic: String
    private let tally = Mutex(LegacyConformanceTally())
    package let limits = LegacyIntakeLimits()

    package init(rules: LegacyRuleSet, ingest: IngestPipeline, producer: KafkaProducer, quarantineTopic: String) {
        self.mappers = Dictionary(uniqueKeysWithValues: rules.sources.map { ($0.name, LegacyMapper(rules: $0)) })
        self.ingest = ingest
        self.producer = producer
        self.quarantineTopic = quarantineTopic
    }

    /// The configured source names.
    package var sources: [String] { mappers.keys.sorted() }

    /// Accepted and quarantined counts per source since start, with the top failing fields and rules.
    package var conformance: LegacyConformanceTally { tally.withLock { $0 } }

    /// Maps, ingests or quarantines every event of `payload`.
    package func process(
        source: String,
        payload: [UInt8],
        intake: LegacyIntakeKind,
        position: LegacySourcePosition? = nil,
        receivedAtMilliseconds: Int64? = nil,
        allowTenant: @Sendable (String) -> Bool = { _ in true }
    ) async -> Result<[ItemOutcome], Refusal> {
        guard let mapper = mappers[source] else { return .failure(.unknownSource(source)) }
        let now = UnixTime.nowMilliseconds()
        let mapped = mapper.mapPayload(
            payload, limits: limits, position: position,
            receivedAtMilliseconds: receivedAtMilliseconds ?? now, nowMilliseconds: now
        )
        let items: [LegacyItemOutcome]
        switch mapped {
        case .success(let outcomes): items = outcomes
        case .failure(let refusal): return .failure(.payload(refusal))
        }
        // The items are produced concurrently (as IngestBatch does): a payload costs about one
        // broker round trip, not one per item. Answers keep the payload's order.
        var outcomes = [ItemOutcome?](repeating: nil, count: items.count)
        await withTaskGroup(of: (Int, ItemOutcome).self) { group in
            for (index, item) in items.enumerated() {
                if case .success(let event) = item.result, !allowTenant(event.tenantID) {
                    outcomes[index] = .permissionDenied("these credentials may not send events for tenant `\(event.tenantID)`")
                    continue
                }
                group.addTask { (index, await self.process(item, source: source, intake: intake, position: position, now: now)) }
            }
            for await (index, outcome) in group { outcomes[index] = outcome }
        }
        return .success(outcomes.map { $0! })
    }

    /// Quarantines a whole payload that could not even be split (the Kafka bridge's case: a record
    /// must never be dropped).
    package func quarantineWhole(source: String, payload: [UInt8], reason: FieldViolation, position: LegacySourcePosition?) async -> ItemOutcome {
        await quarantine(
            LegacyQuarantineEntry(
                source: source, stage: .parse, reasons: [reason], originalBytes: payload, intake: .kafka,
                origin: position, itemIndex: nil, quarantinedAtMilliseconds: UnixTime.nowMilliseconds()
            )
        )
    }

    private func process(_ item: LegacyItemOutcome, source: String, intake: LegacyIntakeKind, position: LegacySourcePosition?, now: Int64) async -> ItemOutcome {
        let stage: LegacyStage
        let reasons: [FieldViolation]
        switch item.result {
        case .success(let event):
            switch await ingest.ingest(event, source: "legacy:\(source)") {
            case .durable(let position):
                tally.withLock { $0.recordAccepted(source: source) }
                Counter(label: "auditpipe_legacy_events_total", dimensions: [("source", source), ("outcome", "durable")]).increment()
                return .durable(eventID: event.eventID, partition: position.partition, offset: position.offset)
            case .unavailable(let message):
                Counter(label: "auditpipe_legacy_events_total", dimensions: [("source", source), ("outcome", "unavailable")]).increment()
                return .unavailable(message)
            case .invalid(let violations):
                stage = .ingest
                reasons = violations
            }
        case .failure(let rejection):
            stage = rejection.stage
            reasons = rejection.reasons
        }
        return await quarantine(
            LegacyQuarantineEntry(
                source: source, stage: stage, reasons: reasons, originalBytes: item.bytes, intake: intake,
                origin: position, itemIndex: item.index, quarantinedAtMilliseconds: now
            )
        )
    }

    /// The largest original payload kept whole in a quarantine record. Kafka brokers refuse
    /// records over `message.max.bytes` (1 MB by default), so a larger one is kept truncated, with
    /// its full size and SHA-256 in headers: the reason and the evidence survive, the record fits.
    package static let maxQuarantinedBytes = 512 * 1024

    private func quarantine(_ entry: LegacyQuarantineEntry) async -> ItemOutcome {
        var entry = entry
        var extraHeaders: [(String, [UInt8])] = []
        if entry.originalBytes.count > Self.maxQuarantinedBytes {
            extraHeaders = [
                ("auditpipe-original-size", Array(String(entry.originalBytes.count).utf8)),
                ("auditpipe-original-sha256", Array(SHA256.hash(data: entry.originalBytes).map { String(format: "%02x", $0) }.joined().utf8)),
                ("auditpipe-truncated", Array("true".utf8)),
            ]
            entry.originalBytes = Array(entry.originalBytes.prefix(Self.maxQuarantinedBytes))
        }
        let record = entry.record
        do {
            _ = try await producer.send(
                KafkaOutgoingMessage(topic: quarantineTopic, key: record.key, value: record.value, headers: record.headers + extraHeaders)
            )
        } catch {
            Counter(label: "auditpipe_legacy_events_total", dimensions: [("source", entry.source), ("outcome", "unavailable")]).increment()
            return .unavailable("the refused event could not be written to the quarantine topic: \(error)")
        }
        tally.withLock { $0.recordQuarantined(source: entry.source, reasons: entry.reasons) }
        Counter(label: "auditpipe_legacy_events_total", dimensions: [("source", entry.source), ("outcome", "quarantined")]).increment()
        Counter(label: "auditpipe_legacy_quarantined_total", dimensions: [("source", entry.source)]).increment()
        return .quarantined(entry.reasons)
    }
}
