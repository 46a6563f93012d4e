import AuditStore
import AuditPipeTestSupport
import AuditQuery
import ClickHouseHTTP
import Foundation
import NIOCore

/// A unique ClickHouse database with the events table (the store's migrations), filled with synthetic
/// events whose every field follows from the event's number (see ``SyntheticEvents``).
struct ClickHouseFixture {
    let client: ClickHouseClient
    let database: String
    var table: AuditEventsTable { AuditEventsTable(database: database) }

    static let insertColumns: [ClickHouseColumn] = [
        ClickHouseColumn("tenant_id", .lowCardinality(.string)),
        ClickHouseColumn("event_type", .lowCardinality(.string)),
        ClickHouseColumn("timestamp", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("event_id", .string),
        ClickHouseColumn("actor_id", .string),
        ClickHouseColumn("resource", .string),
        ClickHouseColumn("action", .lowCardinality(.string)),
        ClickHouseColumn("metadata", .map(.string, .string)),
        ClickHouseColumn("ingested_at", .dateTime64(precision: 3, timezone: "UTC")),
        ClickHouseColumn("schema_id", .int32),
        ClickHouseColumn("kafka_partition", .int32),
        ClickHouseColumn("kafka_offset", .int64),
    ]

    static func make(_ prefix: String) async throws -> ClickHouseFixture {
        let client = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: try TestService.clickhouse.value,
            user: try TestService.clickhouseUser.value,
            password: try TestService.clickhousePassword.value
        ))
        let fixture = ClickHouseFixture(client: client, database: TestEnvironment.uniqueName(prefix))
        do {
            try await client.execute("CREATE DATABASE {database:Identifier}", parameters: ["database": .string(fixture.database)])
            // The events table as the store's migrations make it, in the fixture's database.
            var settings = client.configuration
            settings.database = fixture.database
            let migrator = try ClickHouseClient(configuration: settings)
            do {
                try await ClickHouseEventStore(client: migrator, tables: ClickHouseTables()).migrate()
                try await migrator.shutdown()
            } catch {
                try? await migrator.shutdown()
                throw error
            }
        } catch {
            await fixture.drop()
            throw error
        }
        return fixture
    }

    /// Runs `body` with a new fixture and drops its database afterwards, also when `body` throws.
    static func with<Result>(_ prefix: String, _ body: (ClickHouseFixture) async throws -> Result) async throws -> Result {
        let fixture = try await make(prefix)
        do {
            let result = try await body(fixture)
            await fixture.drop()
            return result
        } catch {
            await fixture.drop()
            throw error
        }
    }

    func drop() async {
        _ = try? await client.execute("DROP DATABASE IF EXISTS {database:Identifier}", parameters: ["database": .string(database)])
        try? await client.shutdown()
    }

    /// Inserts `model.count` events, generated in ClickHouse from `numbers()` with the same
    /// formulas as ``SyntheticEvents/event(_:)``.
    func insert(_ model: SyntheticEvents) async throws {
        try await client.execute("""
            INSERT INTO {database:Identifier}.audit_events
                (tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, ingested_at, schema_id, kafka_partition, kafka_offset)
            SELECT
                'tenant_' || toString(number % {tenants:UInt64}),
                ['auth', 'data_change', 'permission_change'][intDiv(number, {tenants:UInt64}) % 3 + 1],
                fromUnixTimestamp64Milli(toInt64({base:Int64} + number * {step:Int64}), 'UTC'),
                'e' || toString(number),
                'user_' || toString(intDiv(number, 12) % 7),
                'doc/' || toString(number % 11),
                ['login', 'logout', 'update', 'grant'][intDiv(number, 5) % 4 + 1],
                map('ip', '10.0.0.' || toString(number % 5), 'pad', repeat('x', {pad:UInt64})),
                fromUnixTimestamp64Milli(toInt64({base:Int64} + number * {step:Int64} + 1000), 'UTC'),
                1,
                toInt32(number % 3),
                toInt64(intDiv(number, 3))
            FROM numbers({count:UInt64})
            """,
            parameters: [
                "database": .string(database), "tenants": .integer(model.tenants), "base": .integer(model.base),
                "step": .integer(model.step), "count": .integer(model.count), "pad": .integer(model.padding),
            ],
            settings: ["max_partitions_per_insert_block": "1000"]
        )
    }

    /// Inserts single events (for injection tests).
    func insert(_ events: [SyntheticEvents.Event]) async throws {
        var writer = RowBinaryWriter(columns: Self.insertColumns)
        for event in events {
            try writer.append([
                .string(event.tenant), .string(event.type), .time(event.timestamp), .string(event.id), .string(event.actor),
                .string(event.resource), .string(event.action), .stringMap(event.metadata), .time(event.timestamp + 1000),
                .int(1), .int(Int64(event.partition)), .int(event.offset),
            ])
        }
        // Unique per call, so that the table's deduplication window never drops a test insert.
        try await client.insert(table: "\(database).audit_events", body: writer.buffer, deduplicationToken: UUID().uuidString)
    }

    /// One row of a query's TabSeparated answer, split at tabs.
    func rows(_ sql: String, _ parameters: [String: ClickHouseParameter] = [:]) async throws -> [[String]] {
        let body = try await client.queryCollecting(sql + " FORMAT TabSeparated", parameters: parameters)
        return String(buffer: body).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }
}

/// The synthetic data set: event `n` belongs to tenant `n % tenants`, has event type
/// `n / tenants % 3`, and its timestamp is `base + n * step`, so the events spread evenly over
/// the year 2025 (12 monthly partitions).
struct SyntheticEvents {
    struct Event: Hashable {
        var tenant, type, id, actor, resource, action: String
        var timestamp: Int64
        var metadata: [String: String]
        var partition: Int32
        var offset: Int64
    }

    static let types = ["auth", "data_change", "permission_change"]
    static let actions = ["login", "logout", "update", "grant"]
    /// 2025-01-01T00:00:00Z.
    static let year2025 = Int64(1_735_689_600_000)
    static let march2025 = (from: Int64(1_740_787_200_000), to: Int64(1_743_465_600_000))

    var count: Int
    var tenants: Int = 4
    var padding: Int = 0
    var base: Int64 = SyntheticEvents.year2025
    var step: Int64 { 365 * 86_400_000 / Int64(count) }

    func event(_ n: Int) -> Event {
        Event(
            tenant: "tenant_\(n % tenants)",
            type: Self.types[(n / tenants) % 3],
            id: "e\(n)",
            actor: "user_\((n / 12) % 7)",
            resource: "doc/\(n % 11)",
            action: Self.actions[(n / 5) % 4],
            timestamp: base + Int64(n) * step,
            metadata: ["ip": "10.0.0.\(n % 5)", "pad": String(repeating: "x", count: padding)],
            partition: Int32(n % 3),
            offset: Int64(n / 3)
        )
    }

    /// The events a report selects, in report order.
    func expected(where include: (Event) -> Bool) -> [Event] {
        (0..<count).map(event).filter(include).sorted {
            ($0.timestamp, $0.partition, $0.offset) < ($1.timestamp, $1.partition, $1.offset)
        }
    }
}

enum ProcessMemory {
    /// The resident set size of this process, in bytes (Linux `/proc/self/status`).
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
}
