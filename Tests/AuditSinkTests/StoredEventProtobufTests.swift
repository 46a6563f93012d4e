import AuditEvents
@testable import AuditSink
@testable import AuditRecent
import Testing

@Suite("Recent events' stored form")
struct StoredEventProtobufTests {
    static let hostile = AuditEvent(
        eventID: "\"quoted\"", tenantID: "back\\slash", actorID: "tab\tnew\nline\r\u{0}\u{1F}", eventType: "é漢😀",
        resource: String(repeating: "r", count: 300), action: "", timestampMilliseconds: -62_135_596_800_000,
        metadata: ["": "", "k\"": "v\\", "\u{8}\u{C}": "/", "z": String(repeating: "v", count: 200)]
    )

    @Test func roundTripsAndIsDeterministic() {
        let event = AuditEvent(eventID: "e", tenantID: "t", actorID: "a", eventType: "x", resource: "r", action: "y", timestampMilliseconds: 7, metadata: ["z": "1", "a": "2", "m": "/"])
        let bytes = StoredEventProtobuf.encode(event)
        #expect(StoredEventProtobuf.decode(bytes) == event)
        // Metadata in key order, whatever the dictionary's order: a copy built in another order
        // gives the same bytes.
        var reordered = event
        reordered.metadata = [:]
        for key in ["m", "z", "a"] { reordered.metadata[key] = event.metadata[key] }
        #expect(StoredEventProtobuf.encode(reordered) == bytes)
        #expect(StoredEventProtobuf.decode(StoredEventProtobuf.encode(Self.hostile)) == Self.hostile)
        let empty = AuditEvent(eventID: "", tenantID: "", actorID: "", eventType: "", resource: "", action: "", timestampMilliseconds: 0)
        #expect(StoredEventProtobuf.encode(empty) == [0x0A, 0x00])
        #expect(StoredEventProtobuf.decode([0x0A, 0x00]) == empty)
    }

    /// The exact bytes of a small event, worked out by hand from the protobuf wire format.
    @Test func wireBytes() {
        let event = AuditEvent(eventID: "e", tenantID: "t", actorID: "a", eventType: "x", resource: "r", action: "y", timestampMilliseconds: 300, metadata: ["k": "v"])
        let inner: [UInt8] = [
            0x0A, 1, 0x65, 0x12, 1, 0x74, 0x1A, 1, 0x61, 0x22, 1, 0x78, 0x2A, 1, 0x72, 0x32, 1, 0x79,
            0x38, 0xAC, 0x02,  // 300
            0x42, 6, 0x0A, 1, 0x6B, 0x12, 1, 0x76,
        ]
        #expect(StoredEventProtobuf.encode(event) == [0x0A, UInt8(inner.count)] + inner)
    }

    @Test func rejectsTruncatedBytes() {
        let bytes = StoredEventProtobuf.encode(Self.hostile)
        for cut in [1, 2, 10, bytes.count - 1] {
            #expect(StoredEventProtobuf.decode(Array(bytes.prefix(cut))) == nil)
        }
    }

    @Test func anEventIDShowsOnceWithItsNewestCopy() {
        func event(_ id: String, _ resource: String) -> [UInt8] {
            StoredEventProtobuf.encode(AuditEvent(eventID: id, tenantID: "t", actorID: "a", eventType: "x", resource: resource, action: "y", timestampMilliseconds: 1))
        }
        let members = [event("a", "1"), event("b", "1"), event("a", "2"), event("c", "1")]
        #expect(StoredEventProtobuf.withoutRepeatedIDs(members) == [members[1], members[2], members[3]])
        let distinct = [event("a", "1"), event("b", "1"), event("", "1"), event("", "2")]
        #expect(StoredEventProtobuf.withoutRepeatedIDs(distinct) == distinct)
        #expect(StoredEventProtobuf.eventID(in: members[0]).map(Array.init) == Array("a".utf8))
    }
}
