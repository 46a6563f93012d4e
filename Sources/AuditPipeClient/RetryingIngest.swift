public import AuditEvents
import Foundation

extension AuditEvent {
    /// A new event with a fresh UUIDv7 `eventID` (keep the event to retry it with the same id)
    /// and the current time, unless given.
    public static func new(
        tenant: String,
        actor: String,
        type: String,
        resource: String,
        action: String,
        at timestampMilliseconds: Int64? = nil,
        metadata: [String: String] = [:]
    ) -> AuditEvent {
        AuditEvent(
            eventID: UUIDv7.make(), tenantID: tenant, actorID: actor, eventType: type,
            resource: resource, action: action,
            timestampMilliseconds: timestampMilliseconds ?? UnixTime.nowMilliseconds(),
            metadata: metadata
        )
    }
}

/// How `AuditPipeClient.ingest(_:retry:)` retries events that were not acknowledged.
public struct RetryPolicy: Sendable {
    /// The first wait; each retry doubles it, up to `maxBackoff`, with full jitter.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maxBackoff: Duration = .seconds(5)
    /// Give up (leaving the last `.unavailable` result) once this much time has passed.
    public var deadline: Duration = .seconds(60)

    public init(initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5), deadline: Duration = .seconds(60)) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.deadline = deadline
    }

    public static let `default` = RetryPolicy()
}

extension AuditPipeClient {
    /// Sends events until each one is durable or refused, resending the unacknowledged ones with
    /// the same `eventID` (so AuditPipe stores each at most once) with backoff, within the
    /// policy's deadline. Events that break the field rules are refused here, before any call.
    ///
    /// - Returns: one result per event, in order; `.unavailable` only for events still not
    ///   acknowledged at the deadline.
    public func ingest(_ events: [AuditEvent], retry policy: RetryPolicy = .default) async throws -> [IngestResult] {
        let validator = EventValidator()
        let now = UnixTime.nowMilliseconds()
        var results = [IngestResult?](repeating: nil, count: events.count)
        var pending: [Int] = []
        for (index, event) in events.enumerated() {
            let violations = validator.violations(of: event, nowMilliseconds: now)
            if violations.isEmpty { pending.append(index) } else { results[index] = .invalid(violations) }
        }

        let clock = ContinuousClock()
        let deadline = clock.now + policy.deadline
        var backoff = policy.initialBackoff
        while !pending.isEmpty {
            var answers: [IngestResult]
            do {
                answers = try await ingestBatch(pending.map { events[$0] })
            } catch {
                // The call itself failed (connection refused, server restarting): every pending
                // event is still unacknowledged.
                answers = Array(repeating: .unavailable("\(error)"), count: pending.count)
            }
            var stillPending: [Int] = []
            for (index, answer) in zip(pending, answers) {
                results[index] = answer
                if case .unavailable = answer { stillPending.append(index) }
            }
            pending = stillPending
            guard !pending.isEmpty, clock.now < deadline else { break }
            let jittered = Duration.nanoseconds(Int64.random(in: 0 ... max(1, backoff.nanoseconds)))
            try await Task.sleep(for: jittered)
            backoff = min(backoff * 2, policy.maxBackoff)
        }
        return results.map { $0 ?? .unavailable("not sent") }
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
