package import AuditEvents

/// What happened to one event on one attempt.
package enum DeliveryOutcome: Sendable, Hashable {
    /// Acknowledged as durable, under this event id.
    case durable(eventID: String)
    /// Refused over gRPC (INVALID) with these violations.
    case refused([FieldViolation])
    /// Refused over gRPC: the credentials do not cover the tenant.
    case permissionDenied(String)
    /// Quarantined by the legacy intake with these reasons.
    case quarantined([FieldViolation])
    /// The whole request was refused (HTTP 400, 401, 403, 404, 413): nothing of it was stored.
    case payloadRefused(status: Int, reason: String)
    /// Not stored now; the simulator sends it again (same event id).
    case unavailable(String)
    /// Still unavailable when the retry deadline passed: acknowledged neither way, so it may or
    /// may not be stored ("in doubt").
    case gaveUp(String)
}

/// Counts of one service (or of all).
package struct ServiceCounts: Sendable, Hashable {
    /// Events sent for the first time.
    package var sent = 0
    /// Events sent again after an unavailable answer.
    package var resent = 0
    package var accepted = 0
    /// Refused by the field rules or the credentials (gRPC), or in a refused payload (HTTP).
    package var refused = 0
    package var quarantined = 0
    /// Unavailable answers (each one was retried, or given up).
    package var unavailable = 0
    /// Events given up after the retry deadline (in doubt).
    package var gaveUp = 0
    /// Events that were due but dropped because the service was too far behind.
    package var skipped = 0

    package init() {}

    /// Events with a final answer.
    package var settled: Int { accepted + refused + quarantined + gaveUp }

    static func + (a: ServiceCounts, b: ServiceCounts) -> ServiceCounts {
        var sum = ServiceCounts()
        sum.sent = a.sent + b.sent
        sum.resent = a.resent + b.resent
        sum.accepted = a.accepted + b.accepted
        sum.refused = a.refused + b.refused
        sum.quarantined = a.quarantined + b.quarantined
        sum.unavailable = a.unavailable + b.unavailable
        sum.gaveUp = a.gaveUp + b.gaveUp
        sum.skipped = a.skipped + b.skipped
        return sum
    }
}

/// An answer that contradicts what the simulator expected (a good event refused, a bad one
/// accepted, another rule than expected, another event id than the rules promise).
package struct Surprise: Sendable, Hashable, CustomStringConvertible {
    package var key: EventKey
    package var message: String
    package var description: String { "\(key): \(message)" }
}

/// Everything the simulator learns from the answers: per-service counts, the acknowledged event
/// ids per tenant (what must be stored), the ones in doubt, refusal and quarantine reasons, and
/// surprises. A plain value: the runner keeps it under a lock and feeds it every answer.
package struct SimulationTally: Sendable {
    /// The tenant under which events without a known tenant are counted.
    package static let unknownTenant = "(unknown)"
    /// How many surprises are kept with their message (all are counted).
    package static let keptSurprises = 20

    package private(set) var services: [String: ServiceCounts] = [:]
    /// Acknowledged (durable) event ids per tenant: each must be stored exactly once.
    package private(set) var acknowledged: [String: Set<String>] = [:]
    /// Event ids given up on per tenant: acknowledged neither way, so stored or not.
    package private(set) var inDoubt: [String: Set<String>] = [:]
    /// Events given up on whose id the simulator cannot know (server-derived), per tenant.
    package private(set) var inDoubtWithoutID: [String: Int] = [:]
    /// The actors of the acknowledged events, per tenant (the report filter of this run).
    package private(set) var actors: [String: Set<String>] = [:]
    /// Acknowledged events per (tenant, actor).
    package private(set) var acknowledgedByActor: [TenantActor: Int] = [:]
    /// Refusal and quarantine reasons per service, by `rule field`.
    package private(set) var reasons: [String: [String: Int]] = [:]
    package private(set) var surprises: [Surprise] = []
    package private(set) var surpriseCount = 0
    /// The same event id acknowledged again after a resend (AuditPipe deduplicates it).
    package private(set) var repeatedAcknowledgements = 0
    /// Ingest streams the client abandoned because the server left their events unanswered
    /// (why, per stream): a defect even when the resends were stored.
    package private(set) var abandonedStreams: [String] = []
    /// The earliest and latest timestamps of acknowledged events, in milliseconds.
    package private(set) var timestampRange: ClosedRange<Int64>?

    package init() {}

    /// The client gave up on an Ingest stream of `service` (its events were resent).
    package mutating func recordAbandonedStream(service: String, _ error: any Error) {
        abandonedStreams.append("\(service): \(error)")
    }

    /// A tenant and one of its actors.
    package struct TenantActor: Sendable, Hashable, Comparable {
        package var tenant: String
        package var actor: String
        package static func < (a: TenantActor, b: TenantActor) -> Bool { (a.tenant, a.actor) < (b.tenant, b.actor) }
    }

    /// All services together.
    package var totals: ServiceCounts {
        services.values.reduce(ServiceCounts(), +)
    }

    /// Acknowledged events over all tenants.
    package var acknowledgedCount: Int {
        acknowledged.values.reduce(0) { $0 + $1.count }
    }

    /// The tenants that have acknowledged or in-doubt events, sorted.
    package var tenants: [String] {
        Set(acknowledged.keys).union(inDoubt.keys).union(inDoubtWithoutID.keys).sorted()
    }

    /// Events handed to the transport: first sends, or resends after an unavailable answer.
    package mutating func recordSent(_ descriptors: [EventDescriptor], resend: Bool) {
        for descriptor in descriptors {
            if resend {
                services[descriptor.key.service, default: .init()].resent += 1
            } else {
                services[descriptor.key.service, default: .init()].sent += 1
            }
        }
    }

    /// Events that were due but not sent (the service was too far behind).
    package mutating func recordSkipped(service: String, count: Int) {
        services[service, default: .init()].skipped += count
    }

    /// The answer for one event on one attempt.
    package mutating func record(_ outcome: DeliveryOutcome, for descriptor: EventDescriptor) {
        let service = descriptor.key.service
        let tenant = descriptor.tenant ?? Self.unknownTenant
        switch outcome {
        case .durable(let eventID):
            services[service, default: .init()].accepted += 1
            // The range the stored-events check queries: acknowledged events only (a refused
            // event may carry a timestamp far outside ClickHouse's range on purpose).
            let t = descriptor.timestampMilliseconds
            timestampRange = timestampRange.map { min($0.lowerBound, t)...max($0.upperBound, t) } ?? t...t
            let (inserted, _) = acknowledged[tenant, default: []].insert(eventID)
            if !inserted { repeatedAcknowledgements += 1 }
            inDoubt[tenant]?.remove(eventID)
            if let actor = descriptor.actor {
                actors[tenant, default: []].insert(actor)
                acknowledgedByActor[TenantActor(tenant: tenant, actor: actor), default: 0] += 1
            }
            if let rule = descriptor.expectation.rule {
                surprise(descriptor.key, "accepted as \(eventID), but it was broken on purpose (expected rule `\(rule)`)")
            } else if let expected = descriptor.expectedEventID, expected != eventID {
                surprise(descriptor.key, "accepted under event id \(eventID), expected \(expected)")
            }
            if descriptor.tenant == nil {
                surprise(descriptor.key, "accepted although its tenant was left out on purpose")
            }
        case .refused(let violations):
            services[service, default: .init()].refused += 1
            note(violations, service: service, descriptor: descriptor, verb: "refused")
        case .quarantined(let violations):
            services[service, default: .init()].quarantined += 1
            note(violations, service: service, descriptor: descriptor, verb: "quarantined")
        case .permissionDenied(let message):
            services[service, default: .init()].refused += 1
            reasons[service, default: [:]]["permission_denied", default: 0] += 1
            surprise(descriptor.key, "permission denied: \(message)")
        case .payloadRefused(let status, let reason):
            services[service, default: .init()].refused += 1
            reasons[service, default: [:]]["payload HTTP \(status)", default: 0] += 1
            surprise(descriptor.key, "its request was refused as a whole (HTTP \(status)): \(reason)")
        case .unavailable:
            services[service, default: .init()].unavailable += 1
        case .gaveUp(let message):
            services[service, default: .init()].gaveUp += 1
            if let id = descriptor.expectedEventID {
                if !(acknowledged[tenant]?.contains(id) ?? false) { inDoubt[tenant, default: []].insert(id) }
            } else {
                inDoubtWithoutID[tenant, default: 0] += 1
            }
            surprise(descriptor.key, "still unavailable at the retry deadline: \(message)")
        }
    }

    private mutating func note(_ violations: [FieldViolation], service: String, descriptor: EventDescriptor, verb: String) {
        for violation in violations {
            reasons[service, default: [:]]["\(violation.rule) \(violation.field)", default: 0] += 1
        }
        let rules = violations.map(\.rule)
        switch descriptor.expectation {
        case .accept:
            surprise(descriptor.key, "\(verb), but it was a good event: " + violations.map { "\($0.field) \($0.rule): \($0.description)" }.joined(separator: "; "))
        case .refuse(let rule), .quarantine(let rule):
            if !rules.contains(rule) {
                surprise(descriptor.key, "\(verb) for \(rules.joined(separator: ", ")), expected rule `\(rule)`")
            }
        }
    }

    private mutating func surprise(_ key: EventKey, _ message: String) {
        surpriseCount += 1
        if surprises.count < Self.keptSurprises { surprises.append(Surprise(key: key, message: message)) }
    }

    /// The reasons of one service, most frequent first (ties by name).
    package func topReasons(service: String, limit: Int = 3) -> [(reason: String, count: Int)] {
        (reasons[service] ?? [:]).sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(limit).map { ($0.key, $0.value) }
    }

    /// The actor with the most acknowledged events in `tenant` (ties by name), if any.
    package func busiestActor(tenant: String) -> String? {
        acknowledgedByActor.filter { $0.key.tenant == tenant }.sorted { ($1.value, $0.key.actor) < ($0.value, $1.key.actor) }.first?.key.actor
    }
}
