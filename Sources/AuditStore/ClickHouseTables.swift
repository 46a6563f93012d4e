public import ClickHouseHTTP

/// AuditPipe's ClickHouse objects: the events table and what the sink keeps beside it.
public struct ClickHouseTables: Sendable, Hashable {
    /// The events table. Default `audit_events`.
    public var events: String = "audit_events"
    /// The small table of batch ranges recorded before each insert. Default `auditpipe_sink_ranges`.
    /// Since migration 7 the latest range of each partition is kept in `<ranges>_latest`, a
    /// key-value table; this one is only read (ranges recorded before the upgrade).
    public var ranges: String = "auditpipe_sink_ranges"
    /// The key-value table holding each (group, topic, partition)'s latest batch range.
    public var latestRanges: String { "\(ranges)_latest" }
    /// The key-value table of stored events' (tenant_id, event_id) and insert tokens that the
    /// duplicate check reads (migration 8): `<events>_event_keys`.
    public var eventKeys: String { "\(events)_event_keys" }
    /// The key-value table of each tenant's greatest stored event_id (migration 8):
    /// `<events>_event_id_bounds`. Ids above it skip the duplicate look-up.
    public var eventIDBounds: String { "\(events)_event_id_bounds" }
    /// How long a stored event's key is kept for the duplicate check (the key table's TTL, counted
    /// from when the key was stored). Set when the key table is created (migration 8): a later
    /// change applies to a new table only. Default 7 days; at least
    /// ``AuditSinkConfiguration/eventIDWindow``.
    public var eventKeyRetention: Duration = .seconds(7 * 86_400)
    /// How insert bodies travel to ClickHouse. Default ``ClickHouseCompression/none``: on
    /// loopback or a fast network, compressing costs the sink and ClickHouse more CPU than the
    /// bytes it saves; gzip for a remote ClickHouse over a slow link.
    public var insertCompression: ClickHouseCompression = .none
    /// Which migrations ran. Default `auditpipe_schema_migrations`.
    public var migrations: String = "auditpipe_schema_migrations"
    /// The signed checkpoints of the tenants' hash chains. Default `auditpipe_chain_checkpoints`.
    public var checkpoints: String = "auditpipe_chain_checkpoints"
    /// The table engine of the events table. Default ``Engine/mergeTree``.
    public var engine: Engine = .mergeTree
    /// `non_replicated_deduplication_window` (or `replicated_deduplication_window`): how many
    /// recent insert blocks ClickHouse remembers to drop a retried batch. It must cover the
    /// longest replay (inserts made between a batch and its replay after a crash). Default 10,000.
    public var deduplicationWindowBlocks: Int = 10_000
    /// Rows older than this (by event time) are deleted by a TTL; nil keeps them forever (default).
    /// Whole days only.
    public var retention: Duration? = nil

    /// The events table engine.
    public enum Engine: Sendable, Hashable {
        /// Plain MergeTree (one server). Deduplication uses `non_replicated_deduplication_window`.
        case mergeTree
        /// ReplicatedMergeTree for clusters, with its Keeper path and replica name (macros such
        /// as `{shard}` and `{replica}` allowed). Not exercised by the tests: there is no cluster here.
        case replicated(keeperPath: String, replica: String)
    }

    /// Creates the defaults.
    public init() {}

    package func validate() throws(EventStoreError) {
        for (field, name) in [("events", events), ("ranges", ranges), ("migrations", migrations), ("checkpoints", checkpoints)] where !isIdentifier(name) {
            throw EventStoreError.configuration("ClickHouseTables.\(field)", "must be a ClickHouse identifier [A-Za-z_][A-Za-z0-9_]* (got \"\(name)\")")
        }
        if deduplicationWindowBlocks < 1 {
            throw EventStoreError.configuration("ClickHouseTables.deduplicationWindowBlocks", "must be at least 1: without it ClickHouse ignores the deduplication token")
        }
        if eventKeyRetention < .seconds(1) {
            throw EventStoreError.configuration("ClickHouseTables.eventKeyRetention", "must be at least one second")
        }
        if let retention, retention < .seconds(86_400) {
            throw EventStoreError.configuration("ClickHouseTables.retention", "must be at least one day, or nil to keep rows forever")
        }
    }
}

/// A plain ClickHouse identifier, `[A-Za-z_][A-Za-z0-9_]*` (table and database names).
package func isIdentifier(_ name: String) -> Bool {
    guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
    return name.utf8.allSatisfy {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
    }
}
