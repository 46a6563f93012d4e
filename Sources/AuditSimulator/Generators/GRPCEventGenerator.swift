package import AuditEvents

/// The people of every simulated tenant (the same names in each tenant; actor ids are per
/// tenant). Shared by the gRPC and legacy services, so one user's recent events mix sources.
package enum SimulatedPeople {
    package static let names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
}

/// Events of one gRPC service, good and (for a careless service) deliberately bad.
package struct GRPCEventGenerator: Sendable {
    package let service: SimulatedService
    package let run: RunIdentity
    package let tenants: [String]
    private var random: SeededRandom

    package init(service: SimulatedService, run: RunIdentity, tenants: [String], random: SeededRandom) {
        precondition(!tenants.isEmpty, "a run needs at least one tenant")
        self.service = service
        self.run = run
        self.tenants = tenants
        self.random = random
    }

    /// The event number `sequence` of this service, stamped `nowMilliseconds`.
    package mutating func next(sequence: Int, nowMilliseconds: Int64) -> PlannedEvent {
        let tenant = tenants[Int.random(in: 0..<tenants.count, using: &random)]
        let person = run.actor(SimulatedPeople.names[Int.random(in: 0..<SimulatedPeople.names.count, using: &random)])
        let eventID = run.eventID(service: service.name, sequence: sequence)
        var event: AuditEvent
        switch service.profile ?? .apiCalls {
        case .auth:
            let action = random.weighted([("login", 55), ("logout", 25), ("login_failed", 12), ("mfa_challenge", 8)])
            event = AuditEvent(
                eventID: eventID, tenantID: tenant, actorID: person, eventType: "auth", resource: "session",
                action: action, timestampMilliseconds: nowMilliseconds,
                metadata: ["ip": "203.0.113.\(Int.random(in: 1...254, using: &random))", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"]
            )
        case .dataChange:
            let action = random.weighted([("update", 70), ("create", 20), ("delete", 10)])
            let document = Int.random(in: 1...500, using: &random)
            event = AuditEvent(
                eventID: eventID, tenantID: tenant, actorID: person, eventType: "data_change", resource: "document/\(document)",
                action: action, timestampMilliseconds: nowMilliseconds,
                metadata: action == "update" ? ["field": "title", "old": "Draft \(document)", "new": "Final \(document)"] : [:]
            )
        case .permissionChange:
            let action = random.weighted([("grant", 60), ("revoke", 40)])
            let role = random.weighted([("viewer", 50), ("editor", 35), ("admin", 15)])
            let target = run.actor(SimulatedPeople.names[Int.random(in: 0..<SimulatedPeople.names.count, using: &random)])
            event = AuditEvent(
                eventID: eventID, tenantID: tenant, actorID: person, eventType: "permission_change", resource: "role/\(role)",
                action: action, timestampMilliseconds: nowMilliseconds, metadata: ["target_user": target]
            )
        case .apiCalls:
            event = AuditEvent(
                eventID: eventID, tenantID: tenant, actorID: run.actor("svc-batch"), eventType: "api", resource: "/v1/orders/\(Int.random(in: 1...9999, using: &random))",
                action: "call", timestampMilliseconds: nowMilliseconds, metadata: ["status": "200"]
            )
        }
        var expectation = ExpectedOutcome.accept
        if random.chance(service.badFraction) {
            let rule: String
            (event, rule) = Self.broken(event, variant: Int.random(in: 0..<Self.brokenVariants, using: &random))
            expectation = .refuse(rule: rule)
        }
        let descriptor = EventDescriptor(
            key: EventKey(service: service.name, sequence: sequence), tenant: event.tenantID, actor: event.actorID,
            eventType: event.eventType, expectedEventID: eventID, expectation: expectation,
            timestampMilliseconds: event.timestampMilliseconds
        )
        return PlannedEvent(event: event, descriptor: descriptor)
    }

    /// How many kinds of broken event `broken(_:variant:)` makes.
    package static let brokenVariants = 7

    /// `event` broken in one of the ways careless callers break events, and the rule that
    /// AuditPipe's field rules name for it. The event id and tenant stay intact.
    package static func broken(_ event: AuditEvent, variant: Int) -> (AuditEvent, rule: String) {
        var event = event
        switch variant % brokenVariants {
        case 0:
            event.action = ""
            return (event, "required")
        case 1:
            event.actorID = "svc\nbatch"
            return (event, "control_characters")
        case 2:
            event.timestampMilliseconds /= 1000 // seconds sent as milliseconds
            return (event, "too_old")
        case 3:
            event.timestampMilliseconds *= 1000 // microseconds sent as milliseconds
            return (event, "not_in_future")
        case 4:
            for index in 0..<70 { event.metadata["header_\(index)"] = "x" }
            return (event, "max_entries")
        case 5:
            event.metadata["response_body"] = String(repeating: "{\"order\":1}", count: 460)
            return (event, "max_length")
        default:
            event.eventType = String(repeating: "api.", count: 50)
            return (event, "max_length")
        }
    }
}
