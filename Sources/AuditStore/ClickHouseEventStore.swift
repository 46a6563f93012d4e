import AuditEvents
public import ClickHouseHTTP
import Foundation
package import NIOCore

/// AuditPipe's ClickHouse tables: their versioned migrations, and the reads the sink, reports and
/// Verify share. The sink's own statements (ranges, the duplicate check, the insert) extend it
/// in AuditSink.
public final class ClickHouseEventStore: Sendable {
    /// The client (its configuration names the database).
    public let client: ClickHouseClient
    /// The table names and engine.
    public let tables: ClickHouseTables

    /// Creates the store; call ``migrate()`` before use.
    public init(client: ClickHouseClient, tables: ClickHouseTables) throws(EventStoreError) {
        try tables.validate()
        self.client = client
        self.tables = tables
    }

    /// The projection the event_id lookup read (migration 6; dropped by migration 8).
    static let eventIDProjection = "event_id_keys"

    // MARK: Migrations

    /// One versioned schema change; its statements are idempotent (`IF NOT EXISTS`).
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: [String]
    }

    /// The migrations, in order. Never edit a released one: add a new version.
    var migrations: [Migration] {
        let engine: String
        let window: String
        switch tables.engine {
        case .mergeTree:
            engine = "MergeTree"
            window = "non_replicated_deduplication_window = \(tables.deduplicationWindowBlocks)"
        case .replicated(let path, let replica):
            engine = "ReplicatedMergeTree(\(quote(path)), \(quote(replica)))"
            window = "replicated_deduplication_window = \(tables.deduplicationWindowBlocks)"
        }
        return [
            Migration(version: 1, name: "create \(tables.events)", statements: [
                """
                CREATE TABLE IF NOT EXISTS `\(tables.events)` (
                    tenant_id LowCardinality(String),
                    event_type LowCardinality(String),
                    timestamp DateTime64(3, 'UTC'),
                    event_id String,
                    actor_id String,
                    resource String,
                    action LowCardinality(String),
                    metadata Map(String, String),
                    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
                    schema_id Int32,
                    kafka_partition Int32,
                    kafka_offset Int64,
                    insert_token String,
                    INDEX event_id_bloom event_id TYPE bloom_filter(0.001) GRANULARITY 1
                ) ENGINE = \(engine)
                PARTITION BY toYYYYMM(timestamp)
                ORDER BY (tenant_id, event_type, timestamp)
                SETTINGS \(window)
                """
            ]),
            Migration(version: 2, name: "create \(tables.ranges)", statements: [
                """
                CREATE TABLE IF NOT EXISTS `\(tables.ranges)` (
                    consumer_group String,
                    topic String,
                    kafka_partition Int32,
                    first_offset Int64,
                    last_offset Int64,
                    recorded_at DateTime64(6, 'UTC')
                ) ENGINE = ReplacingMergeTree(recorded_at)
                ORDER BY (consumer_group, topic, kafka_partition)
                """
            ]),
            // The tenants' hash chains (issue 9): each row's sequence number in its tenant's chain
            // and its link hash, SHA-256(previous hash || canonical event), as 32 raw bytes.
            // Rows stored before this migration (or with the chain off) keep chain_seq 0.
            Migration(version: 3, name: "add hash chain columns to \(tables.events)", statements: [
                """
                ALTER TABLE `\(tables.events)`
                    ADD COLUMN IF NOT EXISTS chain_seq UInt64 DEFAULT 0,
                    ADD COLUMN IF NOT EXISTS chain_hash FixedString(32)
                """
            ]),
            // Signed checkpoints of the chains' heads (one row per checkpoint, never updated).
            Migration(version: 4, name: "create \(tables.checkpoints)", statements: [
                """
                CREATE TABLE IF NOT EXISTS `\(tables.checkpoints)` (
                    tenant_id String,
                    chain_seq UInt64,
                    head_hash FixedString(32),
                    signed_at DateTime64(3, 'UTC'),
                    key_id String,
                    signature String,
                    stored_at DateTime64(3, 'UTC') DEFAULT now64(3)
                ) ENGINE = MergeTree
                ORDER BY (tenant_id, chain_seq, signed_at)
                """
            ]),
            // The event_id lookup before each insert reads this projection, sorted by
            // (tenant_id, event_id), instead of scanning the window's bloom filters. A projection
            // lives inside each part, so it is written atomically with the rows it indexes.
            // Parts written before this migration get it in the background (MATERIALIZE); until
            // then the lookup reads them from the table itself, still correct.
            Migration(version: 5, name: "add the event_id lookup projection to \(tables.events)", statements: [
                """
                ALTER TABLE `\(tables.events)` MODIFY SETTING lightweight_mutation_projection_mode = 'rebuild'
                """,
                """
                ALTER TABLE `\(tables.events)` ADD PROJECTION IF NOT EXISTS event_id_lookup
                    (SELECT tenant_id, event_id, timestamp, insert_token ORDER BY tenant_id, event_id)
                """,
                "ALTER TABLE `\(tables.events)` MATERIALIZE PROJECTION event_id_lookup",
                "ALTER TABLE `\(tables.events)` DROP INDEX IF EXISTS event_id_bloom",
            ]),
            // The same projection with 1,024-row granules instead of 8,192. A batch's keys are
            // the newest ids of every tenant, so the lookup reads about one granule per tenant
            // and part: measured on a 10 M-row table of 13 parts, 175k rows read and 30 ms of
            // ClickHouse CPU per lookup with 8,192. The projection's primary index grows 8x,
            // which is still small (4 narrow columns). Needs projection-level settings
            // (ClickHouse 25.x or later; tested on 26.9).
            Migration(version: 6, name: "give the event_id lookup projection of \(tables.events) small granules", statements: [
                """
                ALTER TABLE `\(tables.events)` ADD PROJECTION IF NOT EXISTS \(Self.eventIDProjection)
                    (SELECT tenant_id, event_id, timestamp, insert_token ORDER BY tenant_id, event_id)
                    WITH SETTINGS (index_granularity = 1024)
                """,
                "ALTER TABLE `\(tables.events)` MATERIALIZE PROJECTION \(Self.eventIDProjection)",
                "ALTER TABLE `\(tables.events)` DROP PROJECTION IF EXISTS event_id_lookup",
            ]),
            // Each batch's range record was a one-row insert into a MergeTree: a new part (and
            // eventually a merge) per batch, about 10 ms of ClickHouse CPU each. The latest range
            // per partition is all a replay needs, so it moves to a key-value table (RocksDB,
            // single server; KeeperMap would be the cluster's): an insert overwrites the key,
            // no part, no merge. The ranges recorded before are copied over once (never over a range
            // an upgraded instance already recorded).
            Migration(version: 7, name: "keep the latest batch range per partition in \(tables.latestRanges)", statements: [
                """
                CREATE TABLE IF NOT EXISTS `\(tables.latestRanges)` (
                    consumer_group String,
                    topic String,
                    kafka_partition Int32,
                    first_offset Int64,
                    last_offset Int64,
                    recorded_at DateTime64(6, 'UTC')
                ) ENGINE = EmbeddedRocksDB
                PRIMARY KEY (consumer_group, topic, kafka_partition)
                """,
                """
                INSERT INTO `\(tables.latestRanges)`
                SELECT consumer_group, topic, kafka_partition,
                    argMax(first_offset, (recorded_at, last_offset)), argMax(last_offset, (recorded_at, last_offset)), max(recorded_at)
                FROM `\(tables.ranges)`
                WHERE (consumer_group, topic, kafka_partition) NOT IN (SELECT consumer_group, topic, kafka_partition FROM `\(tables.latestRanges)`)
                GROUP BY consumer_group, topic, kafka_partition
                """,
            ]),
            // The duplicate check read the event_id projection: about one 1,024-row granule per
            // tenant and part for every batch, 22 rows read per row stored in `bench sink`, and
            // the projection made every insert and merge sort and write the keys a second time.
            // The keys move to a key-value table read by point look-ups (one key read per row
            // checked); the sink writes a batch's keys after its insert (a replay writes them
            // again), and RocksDB's TTL forgets them after `eventKeyRetention`. The keys of rows
            // stored within that time are copied over once, the oldest insert of a key last (it
            // wins). Each tenant's greatest event_id is kept too (raised before each insert):
            // only ids at or below it are looked up.
            Migration(version: 8, name: "keep stored event keys in \(tables.eventKeys) instead of the event_id projection", statements: [
                """
                CREATE TABLE IF NOT EXISTS `\(tables.eventIDBounds)` (
                    tenant_id String,
                    max_event_id String
                ) ENGINE = EmbeddedRocksDB
                PRIMARY KEY tenant_id
                """,
                """
                INSERT INTO `\(tables.eventIDBounds)`
                SELECT tenant_id, max(event_id) FROM `\(tables.events)` GROUP BY tenant_id
                """,
                """
                CREATE TABLE IF NOT EXISTS `\(tables.eventKeys)` (
                    key String,
                    tenant_id String,
                    event_id String,
                    timestamp DateTime64(3, 'UTC'),
                    insert_token String
                ) ENGINE = EmbeddedRocksDB(\(tables.eventKeyRetention.components.seconds))
                PRIMARY KEY key
                """,
                """
                INSERT INTO `\(tables.eventKeys)`
                SELECT \(EventKey.rowFromEvents) FROM `\(tables.events)`
                WHERE ingested_at >= now64(3) - toIntervalSecond(\(tables.eventKeyRetention.components.seconds))
                ORDER BY ingested_at DESC
                """,
                "ALTER TABLE `\(tables.events)` DROP PROJECTION IF EXISTS \(Self.eventIDProjection)",
            ]),
        ]
    }

    /// Creates or upgrades the tables: runs each migration not yet recorded in the migrations
    /// table, records it, then applies the configurable table settings (deduplication window,
    /// TTL). Safe to run concurrently from several instances (every statement is idempotent).
    ///
    /// - Returns: the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await client.execute(
            """
            CREATE TABLE IF NOT EXISTS `\(tables.migrations)` (
                version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
            ) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version
            """
        )
        let applied = Set(try await lines("SELECT DISTINCT version FROM `\(tables.migrations)` FORMAT TabSeparated").compactMap { Int($0) })
        var ran: [Int] = []
        for migration in migrations where !applied.contains(migration.version) {
            for statement in migration.statements { try await client.execute(statement) }
            try await client.execute(
                "INSERT INTO `\(tables.migrations)` (version, name) SELECT {v:UInt32}, {n:String}",
                parameters: ["v": .integer(migration.version), "n": .string(migration.name)]
            )
            ran.append(migration.version)
        }
        try await reconcileSettings()
        return ran
    }

    /// The versions recorded in the migrations table.
    public func appliedMigrations() async throws -> [Int] {
        try await lines("SELECT DISTINCT version FROM `\(tables.migrations)` ORDER BY version FORMAT TabSeparated").compactMap { Int($0) }
    }

    private func reconcileSettings() async throws {
        let setting: String
        switch tables.engine {
        case .mergeTree: setting = "non_replicated_deduplication_window"
        case .replicated: setting = "replicated_deduplication_window"
        }
        try await client.execute("ALTER TABLE `\(tables.events)` MODIFY SETTING \(setting) = \(tables.deduplicationWindowBlocks)")
        if let retention = tables.retention {
            let days = retention.components.seconds / 86_400
            try await client.execute(
                "ALTER TABLE `\(tables.events)` MODIFY TTL toDateTime(timestamp) + toIntervalDay(\(days))",
                settings: ["materialize_ttl_after_modify": "0"]
            )
        } else {
            let engine = try await lines(
                "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String} FORMAT TabSeparated",
                ["t": .string(tables.events)]
            ).first ?? ""
            if engine.contains(" TTL ") { try await client.execute("ALTER TABLE `\(tables.events)` REMOVE TTL") }
        }
    }

    package func lines(_ sql: String, _ parameters: [String: ClickHouseParameter] = [:]) async throws -> [String] {
        let buffer = try await client.queryCollecting(sql, parameters: parameters)
        return String(buffer: buffer).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

/// The key of a stored event in the key table: the tenant's length in bytes, `:`, the tenant, the
/// event id (unambiguous for any bytes in either).
package enum EventKey {
    package static func string(tenantID: String, eventID: String) -> String {
        "\(tenantID.utf8.count):\(tenantID)\(eventID)"
    }

    /// Writes the key as a RowBinary String, the same bytes as ``string(tenantID:eventID:)``
    /// without making that String (once per stored row).
    package static func write(tenantID: String, eventID: String, into buffer: inout ByteBuffer) {
        let tenantBytes = tenantID.utf8.count
        var digits = 1
        var rest = tenantBytes
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        buffer.writeLEB128(UInt64(digits + 1 + tenantBytes + eventID.utf8.count))
        buffer.writeString(String(tenantBytes))
        buffer.writeInteger(UInt8(ascii: ":"))
        buffer.writeString(tenantID)
        buffer.writeString(eventID)
    }

    /// A row of the key table (its columns, in order) computed by ClickHouse from a row of the
    /// events table: the same key, then the tenant, the event id, its time and its insert token.
    package static let rowFromEvents = "concat(toString(length(tenant_id)), ':', tenant_id, event_id), tenant_id, event_id, timestamp, insert_token"
}

private func quote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}
