public import AuditConsumer
public import ClickHouseHTTP
/// Configuration of the ClickHouse side of the sink: topics, tables, batching, deduplication and
/// retries. Plain values with documented defaults; ``validate()`` names the field and the rule.
public struct AuditSinkConfiguration: Sendable, Hashable {
    /// The audit topic read by ``ClickHouseSink``. Default `auditpipe.events`.
    public var topic: String = "auditpipe.events"
    /// Where records that can never be written go. Default `auditpipe.events.dlq`.
    public var deadLetterTopic: String = "auditpipe.events.dlq"
    /// The ClickHouse tables (names and engine).
    public var tables = ClickHouseTables()
    /// A batch is cut when it holds this many records. Default 50,000 (ClickHouse advises
    /// 10k–100k rows per insert; each insert is a part, and every statement of a batch costs
    /// ClickHouse a few milliseconds whatever its size, so a backlog goes in large batches).
    public var maxBatchRows: Int = 50_000
    /// ... or when its oldest record has waited this long, so events are queryable within a
    /// second. Default 500 ms: at 5,000 events/s on the dev stack, with the producer's default
    /// 25 ms linger, the visibility p99 was 709-926 ms with it and 1,352-1,483 ms with 1 s (with
    /// a 5 ms linger the machine's CPU, not the delay, decided it: 3,004 ms). The price is
    /// twice the batches (each a range record, an insert and a key record, a few milliseconds of
    /// ClickHouse CPU each) at rates where batches are cut by time.
    public var maxBatchDelay: Duration = .milliseconds(500)
    /// Events with the same (tenant, event_id) whose event times are at most this far apart are
    /// stored once, as long as the first was stored within ``ClickHouseTables/eventKeyRetention``.
    /// Default 24 h.
    public var eventIDWindow: Duration = .seconds(24 * 3600)
    /// How ClickHouse failures are retried. Default: 5 attempts, 0.5 s doubling to 30 s, jitter.
    public var retry = RetryPolicy()
    /// How often the lag gauges are refreshed. Default 5 s.
    public var lagInterval: Duration = .seconds(5)
    /// Whether each stored row is put on its tenant's hash chain (`chain_seq`, `chain_hash`; see
    /// the `AuditIntegrity` module). Default true. Off, rows are stored with `chain_seq` 0 and
    /// `auditpipe verify` reports them as not on the chain; it exists to measure the chain's cost.
    public var hashChain: Bool = true

    /// Creates a configuration with the defaults documented on each field.
    public init() {}

    /// Checks every field.
    public func validate() throws(AuditSinkError) {
        if topic.isEmpty { throw .configuration("AuditSinkConfiguration.topic", "must not be empty") }
        if deadLetterTopic.isEmpty || deadLetterTopic == topic {
            throw .configuration("AuditSinkConfiguration.deadLetterTopic", "must be a topic other than \(topic)")
        }
        if !(1...1_000_000).contains(maxBatchRows) {
            throw .configuration("AuditSinkConfiguration.maxBatchRows", "must be in 1...1000000 (got \(maxBatchRows))")
        }
        if maxBatchDelay <= .zero { throw .configuration("AuditSinkConfiguration.maxBatchDelay", "must be positive") }
        if eventIDWindow < .zero { throw .configuration("AuditSinkConfiguration.eventIDWindow", "must not be negative") }
        if eventIDWindow > tables.eventKeyRetention {
            throw .configuration(
                "AuditSinkConfiguration.eventIDWindow",
                "must not exceed ClickHouseTables.eventKeyRetention (\(tables.eventKeyRetention.components.seconds) s): the keys it compares against are kept that long"
            )
        }
        if lagInterval <= .zero { throw .configuration("AuditSinkConfiguration.lagInterval", "must be positive") }
        try tables.validate()
        try retry.validate()
    }
}

/// The sink's ClickHouse objects.
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

    func validate() throws(AuditSinkError) {
        for (field, name) in [("events", events), ("ranges", ranges), ("migrations", migrations), ("checkpoints", checkpoints)] where !isIdentifier(name) {
            throw .configuration("ClickHouseTables.\(field)", "must be a ClickHouse identifier [A-Za-z_][A-Za-z0-9_]* (got \"\(name)\")")
        }
        if deduplicationWindowBlocks < 1 {
            throw .configuration("ClickHouseTables.deduplicationWindowBlocks", "must be at least 1: without it ClickHouse ignores the deduplication token")
        }
        if eventKeyRetention < .seconds(1) {
            throw .configuration("ClickHouseTables.eventKeyRetention", "must be at least one second")
        }
        if let retention, retention < .seconds(86_400) {
            throw .configuration("ClickHouseTables.retention", "must be at least one day, or nil to keep rows forever")
        }
    }
}

func isIdentifier(_ name: String) -> Bool {
    guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
    return name.utf8.allSatisfy {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
    }
}
