import Foundation
import AuditEvents
import AvroCodec
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

    @Test("ids compare as UTF-8 bytes: prefixes, non-ASCII and equal ids, against the standard library's byte order")
    func idsCompareAsUTF8Bytes() {
        let alphabet = ["a", "b", "z", "0", "9", "-", "é", "漢", "😀", "\u{7F}"]
        var generator = SplitMix64(seed: 7)
        var ids = ["", "a", "ab", "b", "é", "e\u{301}", "0190-a", "0190-ab"]
        for _ in 0..<300 {
            ids.append((0..<Int(generator.next() % 6)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }.joined())
        }
        for a in ids {
            for b in ids {
                #expect(utf8Less(a, b) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a) < \(b)")
            }
        }
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

    @Test("a UUIDv7 id is recorded with a minute of headroom: later ids of that minute raise nothing to record, and are not looked up")
    func uuidv7BoundsAreRecordedWithHeadroom() {
        let t0: Int64 = 1_765_000_000_000
        let first = UUIDv7.make(milliseconds: t0)
        let recordedBound = EventIDBounds.headroom(above: first)
        #expect(recordedBound.count == 36 && recordedBound.hasSuffix("-ffff-ffff-ffffffffffff"))
        #expect(recordedBound.hasPrefix(String(UUIDv7.make(milliseconds: t0 + 60_000).prefix(13))))
        for later in [t0, t0 + 1, t0 + 59_999, t0 + 60_000] {
            #expect(UUIDv7.make(milliseconds: later).utf8.lexicographicallyPrecedes(recordedBound.utf8), "\(later - t0) ms later is within the headroom")
        }
        #expect(recordedBound.utf8.lexicographicallyPrecedes(UUIDv7.make(milliseconds: t0 + 60_001).utf8))

        var bounds = EventIDBounds()
        bounds.learn([:], asked: ["a"])
        #expect(bounds.raise(with: [Self.event("a", first)]) == ["a": recordedBound])
        // Within the minute: the exact bound follows the ids (no look-ups for new ids), nothing to record.
        let second = UUIDv7.make(milliseconds: t0 + 30_000)
        #expect(bounds.raise(with: [Self.event("a", second)]).isEmpty)
        #expect(bounds.bounds["a"] == second)
        #expect(EventIDBounds.suspects(in: [Self.event("a", UUIDv7.make(milliseconds: t0 + 30_001)), Self.event("a", first)], bounds: bounds).map(\.eventID) == [first])
        // Past the minute: recorded again, with new headroom.
        let third = UUIDv7.make(milliseconds: t0 + 61_000)
        #expect(bounds.raise(with: [Self.event("a", third)]) == ["a": EventIDBounds.headroom(above: third)])
        // A writer that reads the bound with headroom looks up the ids of that minute.
        var reader = EventIDBounds()
        reader.learn(["a": recordedBound], asked: ["a"])
        #expect(EventIDBounds.suspects(in: [Self.event("a", second)], bounds: reader).count == 1)
    }

    @Test("ids that are not canonical lowercase UUIDv7 are recorded as they are")
    func otherIDsHaveNoHeadroom() {
        for id in ["order-17", "0190-b", UUIDv7.make().uppercased(), UUID().uuidString.lowercased(), "", String(UUIDv7.make().dropLast())] {
            #expect(EventIDBounds.headroom(above: id) == id)
        }
    }
}
