import AuditStore
import AuditConsumer
import AuditEvents
import AvroCodec

/// An upper bound of the event_ids stored per tenant (the recorded bound is raised before each
/// insert, so it holds at every moment). An id above its tenant's bound cannot be stored yet and
/// needs no duplicate look-up; with UUIDv7 ids (time-ordered) nearly every new event is above,
/// and only retries and ids from lagging clocks are looked up.
///
/// Two bounds per tenant: ``bounds``, the greatest id stored as far as this writer knows (what
/// the look-up test reads), and ``recorded``, what ClickHouse holds. A UUIDv7 id is recorded with
/// a minute of headroom (the bound of every UUIDv7 id up to 60 s later), so a steady stream of
/// new ids raises the recorded bound once a minute per tenant, not once per batch: the bound
/// record is no statement of its own in most batches. A writer that reads a bound with headroom
/// (after a restart or a rebalance) looks up the new ids of that minute.
///
/// Ids are compared as UTF-8 bytes, as ClickHouse compares Strings. A tenant lives in one
/// partition (the Kafka key), so one writer raises its bound; after a change of the partition
/// count two writers may for a while, which can only make a bound higher than needed.
struct EventIDBounds: Sendable, Hashable {
    /// How far ahead of a UUIDv7 id its recorded bound reaches.
    static let headroomMilliseconds: UInt64 = 60_000

    /// Known tenants; "" for a tenant with no recorded bound (nothing stored).
    private(set) var bounds: [String: String] = [:]
    /// The bound ClickHouse holds per known tenant (at or above ``bounds``).
    private(set) var recorded: [String: String] = [:]

    /// The tenants of `events` whose bound is not known yet.
    func unknownTenants(of events: [DecodedEvent]) -> Set<String> {
        var tenants = Set<String>()
        for event in events where bounds[event.tenantID] == nil { tenants.insert(event.tenantID) }
        return tenants
    }

    /// Adds the bounds read for `asked` tenants (those without a recorded bound get "").
    mutating func learn(_ stored: [String: String], asked: Set<String>) {
        for tenant in asked {
            bounds[tenant] = stored[tenant] ?? ""
            recorded[tenant] = stored[tenant] ?? ""
        }
    }

    /// The events whose id is at or below their tenant's bound: only these can be stored already.
    static func suspects(in events: [DecodedEvent], bounds: EventIDBounds) -> [DecodedEvent] {
        events.filter { event in
            guard let bound = bounds.bounds[event.tenantID], !bound.isEmpty else { return false }
            return !utf8Less(bound, event.eventID)
        }
    }

    /// Raises the bounds to cover `events`; returns the tenants whose recorded bound must rise
    /// with its new value (to record before the insert); empty when every id is within the
    /// recorded bounds.
    mutating func raise(with events: [DecodedEvent]) -> [String: String] {
        // The greatest id per tenant of the batch first (one look-up per event), then the
        // bounds, once per tenant.
        var greatest: [String: String] = [:]
        func keepGreater(_ current: inout String, _ id: String) {
            if utf8Less(current, id) { current = id }
        }
        for event in events { keepGreater(&greatest[event.tenantID, default: ""], event.eventID) }
        var raised: [String: String] = [:]
        for (tenant, id) in greatest where utf8Less(bounds[tenant] ?? "", id) {
            bounds[tenant] = id
            guard utf8Less(recorded[tenant] ?? "", id) else { continue }
            let withHeadroom = Self.headroom(above: id)
            raised[tenant] = withHeadroom
            recorded[tenant] = withHeadroom
        }
        return raised
    }

    /// For a UUIDv7 id in its canonical lowercase form, the greatest such id whose timestamp is
    /// at most ``headroomMilliseconds`` later; any other id as it is.
    static func headroom(above id: String) -> String {
        guard let milliseconds = UUIDv7.milliseconds(of: id) else { return id }
        return UUIDv7.greatest(milliseconds: milliseconds + headroomMilliseconds)
    }
}
