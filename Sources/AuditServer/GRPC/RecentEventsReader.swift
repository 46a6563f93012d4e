import AuditPipeProto

/// Where RecentEvents reads a user's newest events (Redis, written by the recent-events sink).
protocol RecentEventsReader: Sendable {
    /// Up to `limit` newest events of one user of one tenant, oldest first; empty when unknown.
    func recent(tenant: String, actor: String, limit: Int) async throws -> [Auditpipe_V1_StoredEvent]
}
