import AuditEvents

/// The greatest event_id recorded per tenant: an upper bound of the ids stored for it (the bound
/// is raised before each insert, so it holds at every moment). An id above its tenant's bound
/// cannot be stored yet and needs no duplicate look-up; with UUIDv7 ids (time-ordered) nearly
/// every new event is above, and only retries and ids from lagging clocks are looked up.
///
/// Ids are compared as UTF-8 bytes, as ClickHouse compares Strings. A tenant lives in one
/// partition (the Kafka key), so one writer raises its bound; after a change of the partition
/// count two writers may for a while, which can only make a bound higher than needed.
struct EventIDBounds: Sendable, Hashable {
    /// Known tenants; "" for a tenant with no recorded bound (nothing stored).
    private(set) var bounds: [String: String] = [:]

    /// The tenants of `events` whose bound is not known yet.
    func unknownTenants(of events: [DecodedEvent]) -> Set<String> {
        var tenants = Set<String>()
        for event in events where bounds[event.tenantID] == nil { tenants.insert(event.tenantID) }
        return tenants
    }

    /// Adds the bounds read for `asked` tenants (those without a recorded bound get "").
    mutating func learn(_ recorded: [String: String], asked: Set<String>) {
        for tenant in asked { bounds[tenant] = recorded[tenant] ?? "" }
    }

    /// The events whose id is at or below their tenant's bound: only these can be stored already.
    static func suspects(in events: [DecodedEvent], bounds: EventIDBounds) -> [DecodedEvent] {
        events.filter { event in
            guard let bound = bounds.bounds[event.tenantID], !bound.isEmpty else { return false }
            return !bound.utf8.lexicographicallyPrecedes(event.eventID.utf8)
        }
    }

    /// Raises the bounds to cover `events`; returns the tenants whose bound rose, with the new
    /// bound (to record before the insert).
    mutating func raise(with events: [DecodedEvent]) -> [String: String] {
        var raised: [String: String] = [:]
        for event in events {
            let tenant = event.tenantID
            let id = event.eventID
            let current = raised[tenant] ?? bounds[tenant] ?? ""
            if current.utf8.lexicographicallyPrecedes(id.utf8) { raised[tenant] = id }
        }
        bounds.merge(raised) { $1 }
        return raised
    }
}
