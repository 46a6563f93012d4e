import AuditEvents
@testable import AuditServer
import AuditPipeProto
import AuditRecent
import GRPCCore
import RedisClient
import SwiftProtobuf
import Testing

@Suite("RecentEvents' response from stored bytes, and its errors")
struct RecentEventsReaderTests {
    static let events = [
        AuditEvent(eventID: "e1", tenantID: "t", actorID: "a", eventType: "auth", resource: "session", action: "login", timestampMilliseconds: 1_770_000_000_000, metadata: ["ip": "10.0.0.1", "agent": "curl/8", "é": "漢😀"]),
        AuditEvent(eventID: "e2", tenantID: "t", actorID: "a", eventType: "data_change", resource: String(repeating: "r", count: 400), action: "update", timestampMilliseconds: -5),
        AuditEvent(eventID: "", tenantID: "t", actorID: "a", eventType: "x", resource: "", action: "y", timestampMilliseconds: 0, metadata: ["k": ""]),
    ]

    static func proto(_ event: AuditEvent) -> Auditpipe_V1_StoredEvent {
        .with {
            $0.event = .with {
                $0.eventID = event.eventID
                $0.tenantID = event.tenantID
                $0.actorID = event.actorID
                $0.eventType = event.eventType
                $0.resource = event.resource
                $0.action = event.action
                $0.timestampMs = event.timestampMilliseconds
                $0.metadata = event.metadata
            }
        }
    }

    /// SwiftProtobuf, an independent implementation, reads the hand-written bytes as the same
    /// message, and writes the same bytes (deterministic map order).
    @Test func storedBytesAreSwiftProtobufsBytes() throws {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        for event in Self.events {
            let bytes = StoredEventProtobuf.encode(event)
            #expect(try Auditpipe_V1_StoredEvent(serializedBytes: bytes) == Self.proto(event))
            let theirs: [UInt8] = try Self.proto(event).serializedBytes(options: options)
            #expect(StoredEventProtobuf.decode(theirs) == event)
            if event.metadata.values.allSatisfy({ !$0.isEmpty }) { #expect(bytes == theirs) }
        }
    }

    /// What the caller receives (the encoded response, which the gRPC serializer writes as it
    /// is) is the events, in order, byte for byte what SwiftProtobuf writes for them.
    @Test func responseIsTheMembersInOrder() throws {
        let members = Self.events.map(StoredEventProtobuf.encode)
        let bytes = try RedisRecentEvents.response(members).bytes
        let received = try Auditpipe_V1_RecentEventsResponse(serializedBytes: bytes)
        #expect(received.events == Self.events.map(Self.proto))
        #expect(bytes == (try Auditpipe_V1_RecentEventsResponse.with { $0.events = Self.events.map(Self.proto) }.serializedBytes(options: {
            var options = BinaryEncodingOptions()
            options.useDeterministicOrdering = true
            return options
        }())))
        #expect(try RedisRecentEvents.response([]).bytes == [])
        #expect(throws: RPCError.self) { try RedisRecentEvents.response([[0x0A, 0x05, 0x01]]) }
        #expect(throws: RPCError.self) { try RedisRecentEvents.response([members[0] + [0x08, 0x01]]) }
    }

    @Test func redisFailuresAreUnavailableOrDeadlineExceeded() {
        func code(_ kind: RedisError.Kind, _ message: String = "x") -> RPCError.Code {
            RPCError(recentEventsStoreFailure: RedisError(kind: kind, message: message)).code
        }
        #expect(code(.timeout) == .deadlineExceeded)
        #expect(code(.connection) == .unavailable)
        #expect(code(.closed) == .unavailable)
        #expect(code(.authentication) == .unavailable)
        #expect(code(.server, "LOADING Redis is loading the dataset in memory") == .unavailable)
        #expect(code(.server, "WRONGTYPE Operation against a key holding the wrong kind of value") == .internalError)
        let error = RPCError(recentEventsStoreFailure: RedisError(kind: .connection, message: "connection refused"))
        #expect(error.message.contains("Redis is unavailable"))
    }
}
