import AuditEvents
@testable import AuditSink
import Testing

@Suite("Event id bounds: which ids need the duplicate look-up")
struct EventIDBoundsTests {
    static func event(_ tenant: String, _ id: String) -> DecodedEvent {
        DecodedEvent(
            event: AuditEvent(eventID: id, tenantID: tenant, actorID: "a", eventType: "t", resource: "r", action: "x", timestampMilliseconds: 0),
            schemaID: 1, sourcePartition: 0, sourceOffset: 0
        )
    }

    @Test("a tenant without a bound needs no look-up; ids at or below the bound do, above do not")
    func suspectsAreIDsAtOrBelowTheBound() {
        var bounds = EventIDBounds()
        let batch = [Self.event("a", "0190-b"), Self.event("b", "x")]
        #expect(bounds.unknownTenants(of: batch) == ["a", "b"])
        bounds.learn(["a": "0190-b"], asked: ["a", "b"])
        #expect(bounds.unknownTenants(of: batch).isEmpty)
        let next = [Self.event("a", "0190-a"), Self.event("a", "0190-b"), Self.event("a", "0190-c"), Self.event("b", "x")]
        #expect(EventIDBounds.suspects(in: next, bounds: bounds).map(\.eventID) == ["0190-a", "0190-b"])
    }

    @Test("raising keeps the greatest id per tenant, in UTF-8 byte order, and reports only raised tenants")
    func raiseKeepsTheGreatestID() {
        var bounds = EventIDBounds()
        bounds.learn(["a": "m"], asked: ["a", "b"])
        // Byte order: "é" (0xC3 0xA9) is above "z" (0x7A), "Z" (0x5A) above "A" (0x41).
        let raised = bounds.raise(with: [Self.event("a", "c"), Self.event("a", "z"), Self.event("a", "é"), Self.event("b", "Z"), Self.event("b", "A")])
        #expect(raised == ["a": "é", "b": "Z"])
        #expect(bounds.bounds == ["a": "é", "b": "Z"])
        #expect(bounds.raise(with: [Self.event("a", "b")]).isEmpty)
        #expect(EventIDBounds.suspects(in: [Self.event("a", "é"), Self.event("a", "éa"), Self.event("b", "Y")], bounds: bounds).map(\.eventID) == ["é", "Y"])
    }
}
