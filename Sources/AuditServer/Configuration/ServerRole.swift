/// One job of an `auditpipe serve` process (`server.roles`, `AUDITPIPE_ROLES`, `--roles`).
///
/// One process runs every role its settings allow (the default); instances with different roles
/// on the same Kafka and ClickHouse scale apart: ingest instances behind a load balancer, sink
/// instances sharing the sink's consumer group, one registry. README, "Roles: scaling ingest and
/// the sink apart".
public enum ServerRole: String, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    /// Ingest and IngestBatch, the legacy JSON intake (HTTP and Kafka bridges): validates events
    /// and acknowledges them once Kafka has them.
    case ingest
    /// The exactly-once ClickHouse sink, dead-letter re-drive, hash chains and signed checkpoints.
    case sink
    /// The recent-events view: its Redis sink and the RecentEvents RPC.
    case recent
    /// ComplianceReport and Verify, read from ClickHouse.
    case query
    /// The built-in schema registry's HTTP API (the only writer of its log) and the events
    /// subject's seed schema. Every other role only follows the log.
    case registry

    public var description: String { rawValue }

    public static func < (lhs: ServerRole, rhs: ServerRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The setting a role cannot run without, if any is missing in `configuration`.
    func missingSetting(in configuration: AuditPipeConfiguration) -> (setting: String, problem: String)? {
        switch self {
        case .sink, .query:
            guard configuration.clickHouseURL.isEmpty else { return nil }
            return ("AUDITPIPE_CLICKHOUSE_URL", "the \(self) role reads and writes ClickHouse; set clickhouse.url or leave \(self) out of the roles")
        case .recent:
            guard configuration.redisURL.isEmpty else { return nil }
            return ("AUDITPIPE_REDIS_URL", "the recent role keeps the view in Redis; set redis.url or leave recent out of the roles")
        case .registry:
            guard !configuration.schemaRegistryURL.isEmpty else { return nil }
            return (
                "AUDITPIPE_ROLES",
                "the registry role serves the built-in registry, but schema_registry.url names an external one; leave registry out of the roles or unset the URL"
            )
        case .ingest:
            return nil
        }
    }
}

extension Set where Element == ServerRole {
    /// `ingest,sink` (in the enum's order).
    public var listed: String {
        sorted().map(\.rawValue).joined(separator: ",")
    }
}
