import AuditPipeProto
import AuditRecent
import GRPCCore
import RedisClient

/// Where RecentEvents reads a user's newest events (Redis, written by the recent-events sink).
protocol RecentEventsReader: Sendable {
    /// Up to `limit` newest events of one user of one tenant, oldest first, as the encoded
    /// `RecentEventsResponse`; no events when the user is unknown.
    ///
    /// - Throws: `RPCError`: UNAVAILABLE or DEADLINE_EXCEEDED when the store fails.
    func recent(tenant: String, actor: String, limit: Int) async throws -> SerializedMessage<Auditpipe_V1_RecentEventsResponse>
}

/// RecentEvents from what the recent-events sink keeps in Redis. The stored members are already
/// `StoredEvent` protobuf bytes, and they go out as they are: see ``response(_:)``.
struct RedisRecentEvents: RecentEventsReader {
    let store: RecentEventsStore

    func recent(tenant: String, actor: String, limit: Int) async throws -> SerializedMessage<Auditpipe_V1_RecentEventsResponse> {
        let members: [[UInt8]]
        do {
            members = try await store.recentStoredEvents(tenant: tenant, actor: actor, limit: limit)
        } catch let error as RedisError {
            throw RPCError(recentEventsStoreFailure: error)
        }
        return try Self.response(members)
    }

    /// The encoded `RecentEventsResponse` of `StoredEvent` bytes, oldest first, without decoding
    /// them: each member behind the `events` field's tag and length, in one buffer that the
    /// transport copies once (no message value, no per-event work). Each member's framing (tag
    /// and length) is checked first, so a foreign value under our key cannot corrupt the rest of
    /// the response.
    static func response(_ members: [[UInt8]]) throws -> SerializedMessage<Auditpipe_V1_RecentEventsResponse> {
        var wire: [UInt8] = []
        wire.reserveCapacity(members.reduce(0) { $0 + $1.count + 6 })
        for member in members {
            guard StoredEventProtobuf.isFramedStoredEvent(member) else {
                throw RPCError(code: .internalError, message: "RecentEvents: a stored event in Redis is not a StoredEvent; the recent-events cache needs a rebuild")
            }
            wire.append(0x0A)  // RecentEventsResponse.events
            StoredEventProtobuf.appendVarint(UInt64(member.count), to: &wire)
            wire.append(contentsOf: member)
        }
        return SerializedMessage(bytes: wire)
    }
}
