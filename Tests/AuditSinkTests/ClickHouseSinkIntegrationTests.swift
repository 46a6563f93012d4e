import AuditEvents
import AuditPipeTestSupport
@testable import AuditSink
@testable import AuditStore
@testable import AuditConsumer
import AvroCodec
import ClickHouseHTTP
import Foundation
import KafkaClient
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// The ClickHouse sink on the real dev stack: Kafka (mock cluster), ClickHouse (chdb-core).
@Suite("ClickHouse sink on the dev stack", .serialized, .enabled(if: TestService.available(.kafka, .kafkaControl, .clickhouse)))
struct ClickHouseSinkIntegrationTests {
    @Test func migrationsAreVersionedAndIdempotent() async throws {
        try await SinkFixture.with(partitions: 1) { fixture in
            func engine() async throws -> String {
                String(buffer: try await fixture.clickhouse.queryCollecting(
                    "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'audit_events' FORMAT TabSeparated"
                ))
            }
            #expect(try await fixture.store.appliedMigrations() == [1, 2, 3, 4, 5, 6, 7, 8])
            #expect(try await fixture.store.migrate() == [])
            let created = try await engine()
            let ddl = String(buffer: try await fixture.clickhouse.queryCollecting(
                "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'audit_events' FORMAT TabSeparated"
            ))
            // Migration 8 moved the duplicate check's keys to a key-value table.
            #expect(!ddl.contains("PROJECTION"))
            #expect(!ddl.contains("event_id_bloom"))
            #expect(created.contains("PARTITION BY toYYYYMM(timestamp)"))
            #expect(created.contains("ORDER BY (tenant_id, event_type, timestamp)"))
            #expect(created.contains("non_replicated_deduplication_window = 10000"))
            #expect(!created.contains(" TTL "))
            // Retention and the window are reconciled on every start.
            var tables = ClickHouseTables()
            tables.retention = .seconds(400 * 86_400)
            tables.deduplicationWindowBlocks = 500
            _ = try await ClickHouseEventStore(client: fixture.clickhouse, tables: tables).migrate()
            let altered = try await engine()
            #expect(altered.contains(" TTL "))
            #expect(altered.contains("non_replicated_deduplication_window = 500"))
            _ = try await fixture.store.migrate()
            #expect(!(try await engine()).contains(" TTL "))
        }
    }

    @Test("batch ranges: the latest per partition in a key-value table, no part per batch; ranges recorded before migration 7 are carried over")
    func latestRangesLiveInAKeyValueTable() async throws {
        try await SinkFixture.with(partitions: 1) { fixture in
            let store = fixture.store
            let tables = store.tables
            func value(_ sql: String) async throws -> String {
                String(buffer: try await fixture.clickhouse.queryCollecting(sql + " FORMAT TabSeparated")).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(try await value("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '\(tables.latestRanges)'") == "EmbeddedRocksDB")
            let partsBefore = try await value("SELECT count() FROM system.parts WHERE database = currentDatabase() AND active")
            for first in stride(from: Int64(0), to: 50, by: 10) {
                try await store.recordRange(BatchRange(topic: "t", partition: 3, first: first, last: first + 9), group: "g")
            }
            #expect(try await store.lastRecordedRange(topic: "t", partition: 3, group: "g") == BatchRange(topic: "t", partition: 3, first: 40, last: 49))
            #expect(try await store.lastRecordedRange(topic: "t", partition: 4, group: "g") == nil)
            #expect(try await value("SELECT count() FROM `\(tables.latestRanges)`") == "1")
            #expect(try await value("SELECT count() FROM system.parts WHERE database = currentDatabase() AND active") == partsBefore)

            // An installation upgraded from migration 6: its ranges are in the MergeTree table.
            try await fixture.clickhouse.execute(
                "INSERT INTO `\(tables.ranges)` VALUES ('old', 't', 0, 0, 9, '2026-01-01 00:00:00'), ('old', 't', 0, 10, 19, '2026-01-01 00:00:01'), ('g', 't', 3, 0, 9, '2026-01-01 00:00:00')"
            )
            try await fixture.clickhouse.execute("DELETE FROM `\(tables.migrations)` WHERE version = 7", settings: ["mutations_sync": "2"])
            #expect(try await store.migrate() == [7])
            #expect(try await store.lastRecordedRange(topic: "t", partition: 0, group: "old") == BatchRange(topic: "t", partition: 0, first: 10, last: 19))
            // A range already recorded in the new table is never overwritten by an older one.
            #expect(try await store.lastRecordedRange(topic: "t", partition: 3, group: "g") == BatchRange(topic: "t", partition: 3, first: 40, last: 49))
        }
    }

    @Test("duplicate check: one key read per key checked; keys stored before migration 8 are carried over")
    func duplicateCheckReadsOneKeyPerKeyAndSurvivesTheUpgrade() async throws {
        try await SinkFixture.with(partitions: 1) { fixture in
            let tables = fixture.store.tables
            func value(_ sql: String) async throws -> String {
                String(buffer: try await fixture.clickhouse.queryCollecting(sql + " FORMAT TabSeparated")).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let events = (0..<200).map { SinkFixture.event($0) }
            try await fixture.produce(events)
            let commits = CommitTracker()
            _ = try await running([try fixture.sink(group: TestEnvironment.uniqueName("sink"), commits: commits)]) { _ in
                try await fixture.waitForRows(200)
            }
            #expect(try await value("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '\(tables.eventKeys)'") == "EmbeddedRocksDB")
            #expect(try await value("SELECT count() FROM `\(tables.eventKeys)`") == "200")
            try await fixture.clickhouse.execute("SYSTEM FLUSH LOGS")
            let lookups = try await value(
                """
                SELECT count(), sum(read_rows) FROM system.query_log
                WHERE type = 'QueryFinish' AND current_database = currentDatabase() AND log_comment = '\(SinkQueryComment.eventKeyLookup)'
                """
            )
            let fields = lookups.split(separator: "\t").compactMap { Int($0) }
            // Only ids at or below their tenant's bound are looked up (these ids, "evt-N", are not
            // ordered), each at most once; RocksDB reads only those keys.
            #expect(fields.count == 2 && fields[1] <= 200, "rows read by the look-ups: \(lookups)")
            // Each tenant's bound is its greatest id (byte order).
            let expectedBounds = Dictionary(grouping: events, by: \.tenantID).mapValues { $0.map(\.eventID).max { $0.utf8.lexicographicallyPrecedes($1.utf8) }! }
            func bounds() async throws -> [String: String] {
                let text = try await value("SELECT tenant_id, max_event_id FROM `\(tables.eventIDBounds)` ORDER BY tenant_id")
                return Dictionary(uniqueKeysWithValues: text.split(separator: "\n").map { line in
                    let fields = line.split(separator: "\t")
                    return (String(fields[0]), String(fields[1]))
                })
            }
            #expect(try await bounds() == expectedBounds)

            // An installation from before migration 8: no key tables; its rows are in the events table.
            try await fixture.clickhouse.execute("DROP TABLE `\(tables.eventKeys)` SYNC")
            try await fixture.clickhouse.execute("DROP TABLE `\(tables.eventIDBounds)` SYNC")
            try await fixture.clickhouse.execute("DELETE FROM `\(tables.migrations)` WHERE version = 8", settings: ["mutations_sync": "2"])
            #expect(try await fixture.store.migrate() == [8])
            #expect(try await value("SELECT count() FROM `\(tables.eventKeys)`") == "200")
            #expect(try await bounds() == expectedBounds)
            // Retries of events stored before the upgrade are still dropped.
            try await fixture.produce(Array(events[0..<50]) + (200..<210).map { SinkFixture.event($0) })
            let tally = try await running([try fixture.sink(group: TestEnvironment.uniqueName("sink"), commits: commits)]) { _ in
                try await fixture.waitForRows(210)
            }
            #expect(tally.rows == 210 && tally.distinct == 210)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await fixture.tally() == (210, 210))
        }
    }

    @Test func storesEachEventOnceAndDeadLettersPoisonWithReasons() async throws {
        try await SinkFixture.with(partitions: 3) { fixture in
            let events = (0..<300).map { SinkFixture.event($0) }
            try await fixture.produce(events)
            // Client retries after a timeout: the same events again, later in the topic.
            try await fixture.produce(Array(events[100..<140]))
            // Poison, between good records of the same partition (same key).
            try await fixture.produceRaw(key: "tenant-1", value: [1, 2, 3, 4, 5, 6])  // bad magic byte
            try await fixture.produceRaw(key: "tenant-1", value: try SinkFixture.framed(SinkFixture.event(9000), schemaID: 99))  // unknown schema
            try await fixture.produceRaw(key: "tenant-1", value: Array(try SinkFixture.framed(SinkFixture.event(9001)).dropLast(3)))  // truncated Avro
            try await fixture.produceRaw(key: "tenant-1", value: nil)  // null value
            try await fixture.produce(SinkFixture.event(9002, time: 99_999_999_999_999))  // year 5138: outside DateTime64
            try await fixture.produce((300..<310).map { SinkFixture.event($0) })

            let group = TestEnvironment.uniqueName("sink")
            let commits = CommitTracker()
            let (tally, letters) = try await running([try fixture.sink(group: group, commits: commits)]) { _ in
                let tally = try await fixture.waitForRows(310)
                let letters = try await fixture.deadLetters(count: 5)
                try await eventually("offsets committed to the end") { fixture.committedToEnd(commits) }
                return (tally, letters)
            }
            #expect(tally.rows == 310 && tally.distinct == 310)
            #expect(try await fixture.tally() == (310, 310))
            let parsed = letters.compactMap { DeadLetter(headers: $0.headers) }
            #expect(parsed.count == 5)
            #expect(Set(parsed.map(\.stage)) == [.decode, .schema, .encode])
            #expect(parsed.allSatisfy { $0.sourceTopic == fixture.topic && !$0.reason.isEmpty && !$0.redrive && $0.attempts == 1 && $0.timeMilliseconds > 0 })
            #expect(parsed.contains { $0.stage == .schema && $0.reason.contains("99") })
            #expect(parsed.contains { $0.stage == .decode && $0.reason.contains("magic") })
            // The dead letter carries the source record itself.
            #expect(letters.contains { $0.value == [1, 2, 3, 4, 5, 6] })
            // Rows carry their Kafka coordinates and schema id.
            let coordinates = String(buffer: try await fixture.clickhouse.queryCollecting(
                "SELECT uniqExact(kafka_partition, kafka_offset), min(schema_id), max(schema_id) FROM audit_events FORMAT TabSeparated"
            ))
            #expect(coordinates.trimmingCharacters(in: .whitespacesAndNewlines) == "310\t1\t1")
        }
    }

    /// Crash simulations: the sink stops at a checkpoint of its first batch (no commit), then a
    /// fresh sink in the same group takes over.
    @Test(arguments: [SinkCheckpoint.rangeRecorded, .inserted])
    func replayAfterACrashStoresNoDuplicateAndLosesNothing(at crashPoint: SinkCheckpoint) async throws {
        try await SinkFixture.with(partitions: 2) { fixture in
            try await fixture.produce((0..<400).map { SinkFixture.event($0) })
            let group = TestEnvironment.uniqueName("sink")
            let crashed = Mutex<BatchRange?>(nil)
            let commits = CommitTracker()
            struct SimulatedCrash: Error {}
            let first = try fixture.sink(group: group, commits: commits) { point, range in
                guard point == crashPoint else { return }
                let crashNow = crashed.withLock { value -> Bool in
                    guard value == nil else { return false }
                    value = range
                    return true
                }
                if crashNow { throw SimulatedCrash() }
            }
            await #expect(throws: SimulatedCrash.self) { try await first.run() }
            let crashedRange = try #require(crashed.withLock { $0 })
            if crashPoint == .inserted { #expect(try await fixture.tally().rows >= 1) }

            // The new instance must replay exactly the crashed range first on that partition.
            let replayed = Mutex<[BatchRange]>([])
            let second = try fixture.sink(group: group, commits: commits) { point, range in
                if point == .rangeRecorded, range.partition == crashedRange.partition { replayed.withLock { $0.append(range) } }
            }
            let tally = try await running([second]) { _ in
                let tally = try await fixture.waitForRows(400)
                try await eventually("offsets committed to the end") { fixture.committedToEnd(commits) }
                return tally
            }
            #expect(replayed.withLock { $0.first } == crashedRange)
            #expect(tally.rows == 400 && tally.distinct == 400)
            #expect(try await fixture.tally() == (400, 400))
            // The replay recorded the keys the crash left out (for later duplicate checks).
            let keys = String(buffer: try await fixture.clickhouse.queryCollecting(
                "SELECT count() FROM `\(fixture.store.tables.eventKeys)` FORMAT TabSeparated"
            ))
            #expect(keys.trimmingCharacters(in: .whitespacesAndNewlines) == "400")
        }
    }

    @Test func retriesWhileClickHouseIsUnreachableThenSucceeds() async throws {
        let proxy = try TCPProxy(target: try TestService.clickhouse.value)
        defer { proxy.terminate() }
        try await SinkFixture.with(partitions: 2, clickhouseURL: "http://127.0.0.1:\(proxy.port)") { fixture in
            var configuration = fixture.configuration
            configuration.retry = RetryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(300), maxBackoff: .seconds(2))
            let group = TestEnvironment.uniqueName("sink")
            let tally = try await running([try fixture.sink(group: group, configuration: configuration)]) { _ in
                try await fixture.produce((0..<100).map { SinkFixture.event($0) })
                #expect(try await fixture.waitForRows(100).rows == 100)
                try proxy.down()
                try await fixture.produce((100..<200).map { SinkFixture.event($0) })
                try await Task.sleep(for: .milliseconds(1500))  // a few failed attempts
                #expect(try await fixture.tally() == (100, 100))
                try proxy.up()
                return try await fixture.waitForRows(200)
            }
            #expect(tally.rows == 200 && tally.distinct == 200)
            #expect(try await fixture.tally() == (200, 200))
            #expect(try await fixture.deadLettersPresent() == false)
        }
    }

    @Test func deadLettersBatchesAfterRetriesAndRedrivesThemOnceClickHouseIsBack() async throws {
        let proxy = try TCPProxy(target: try TestService.clickhouse.value)
        defer { proxy.terminate() }
        try await SinkFixture.with(partitions: 2, clickhouseURL: "http://127.0.0.1:\(proxy.port)") { fixture in
            var configuration = fixture.configuration
            configuration.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(300))
            let group = TestEnvironment.uniqueName("sink")
            let services: [any Service] = [
                try fixture.sink(group: group, configuration: configuration),
                try fixture.redriver(group: group + "_redrive", configuration: configuration),
            ]
            let (tally, parsed) = try await running(services) { _ in
                try await fixture.produce((0..<100).map { SinkFixture.event($0) })
                #expect(try await fixture.waitForRows(100).rows == 100)
                try proxy.down()
                try await fixture.produce((100..<250).map { SinkFixture.event($0) })
                // Every batch of the outage ends in the dead-letter topic, marked for re-drive.
                let letters = try await fixture.deadLetters(count: 150, timeout: .seconds(40))
                // Client retries of events of the outage arrive too.
                try await fixture.produce((200..<220).map { SinkFixture.event($0) })
                try proxy.up()
                let tally = try await fixture.waitForRows(250, timeout: .seconds(40))
                try await Task.sleep(for: .seconds(2))  // let any straggling duplicate show up
                return (tally, letters.compactMap { DeadLetter(headers: $0.headers) })
            }
            #expect(parsed.count == 150)
            #expect(parsed.allSatisfy { $0.stage == .insertRetriesExhausted && $0.redrive && $0.attempts == 3 })
            #expect(Set(parsed.map { "\($0.sourcePartition):\($0.sourceOffset)" }).count == 150)
            #expect(tally.rows == 250 && tally.distinct == 250)
            #expect(try await fixture.tally() == (250, 250))
        }
    }

    /// ClickHouse goes away right after a batch's insert was stored: its key record and every
    /// retry fail, so the batch is dead-lettered although its rows are stored. Re-driven, its
    /// records must be found as duplicates (the chaos suite's clickhouse-stop found 14 stored twice).
    @Test func aBatchStoredBeforeItsKeysIsStoredOnceWhenReDriven() async throws {
        let proxy = try TCPProxy(target: try TestService.clickhouse.value)
        defer { proxy.terminate() }
        try await SinkFixture.with(partitions: 1, clickhouseURL: "http://127.0.0.1:\(proxy.port)") { fixture in
            var configuration = fixture.configuration
            configuration.retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(300))
            let group = TestEnvironment.uniqueName("sink")
            let cut = Mutex<BatchRange?>(nil)
            let sink = try fixture.sink(group: group, configuration: configuration) { point, range in
                guard point == .inserted, cut.withLock({ value in
                    guard value == nil else { return false }
                    value = range
                    return true
                }) else { return }
                try proxy.down()  // the insert is stored; its key record and each retry fail
            }
            let services: [any Service] = [sink, try fixture.redriver(group: group + "_redrive", configuration: configuration)]
            let (stored, rows, letters, tally) = try await running(services) { _ in
                try await fixture.produce((0..<50).map { SinkFixture.event($0) })
                try await eventually("the first insert") { cut.withLock { $0 } != nil }
                let range = try #require(cut.withLock { $0 })
                let count = Int(range.last - range.first + 1)
                let letters = try await fixture.deadLetters(count: count, timeout: .seconds(30))
                let rows = try await fixture.tally()
                try proxy.up()
                let tally = try await fixture.waitForRows(50)
                try await Task.sleep(for: .seconds(2))  // let any re-driven duplicate show up
                return (count, rows, letters.compactMap { DeadLetter(headers: $0.headers) }, tally)
            }
            #expect(rows.rows == stored && rows.distinct == stored)  // dead-lettered, yet stored
            #expect(letters.allSatisfy { $0.stage == .insertRetriesExhausted && $0.redrive && $0.insertToken != nil })
            #expect(tally.rows == 50 && tally.distinct == 50)
            #expect(try await fixture.tally() == (50, 50))
        }
    }

    @Test func aCommittedOffsetPastThePartitionsEndDoesNotSkipItsRecords() async throws {
        try await SinkFixture.with(partitions: 2) { fixture in
            let group = TestEnvironment.uniqueName("sink")
            // What the group left behind on an earlier topic of the same name (deleted and created
            // again): committed offsets far past this topic's end.
            let earlier = try KafkaConsumer(configuration: fixture.consumer(group: group), topics: [fixture.topic], logger: testLogger)
            var stale: [KafkaTopicPartitionOffset] = []
            for try await event in earlier.events {
                guard case .assigned(let partitions) = event else { continue }
                stale = partitions.map { KafkaTopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: 10_000) }
                try await earlier.commit(stale)
                break
            }
            #expect(try await earlier.committed(stale.map { KafkaTopicPartition(topic: $0.topic, partition: $0.partition) }).values.sorted() == [10_000, 10_000])
            await earlier.close()

            try await fixture.produce((0..<100).map { SinkFixture.event($0) })
            let commits = CommitTracker()
            let tally = try await running([try fixture.sink(group: group, commits: commits)]) { _ in
                try await eventually("the sink to commit this topic's end") { fixture.committedToEnd(commits) }
                return try await fixture.tally()
            }
            #expect(tally.rows == 100 && tally.distinct == 100)
        }
    }

    @Test func twoInstancesSplitPartitionsAndOneLeaves() async throws {
        try await SinkFixture.with(partitions: 6) { fixture in
            let group = TestEnvironment.uniqueName("sink")
            let writersA = Mutex<Set<Int32>>([])
            let writersB = Mutex<Set<Int32>>([])
            let commits = CommitTracker()
            let sinkA = try fixture.sink(group: group, commits: commits) { point, range in
                if point == .committed { writersA.withLock { _ = $0.insert(range.partition) } }
            }
            let sinkB = try fixture.sink(group: group, commits: commits) { point, range in
                if point == .committed { writersB.withLock { _ = $0.insert(range.partition) } }
            }
            let tally = try await running([sinkB]) { _ in
                try await running([sinkA]) { _ in
                    try await Task.sleep(for: .seconds(3))  // both joined
                    try await fixture.produce((0..<600).map { SinkFixture.event($0, tenants: 60) })
                    #expect(try await fixture.waitForRows(600).rows == 600)
                    // Produce while A leaves (when this closure returns, A stops gracefully).
                    return Task { try await fixture.produce((600..<1200).map { SinkFixture.event($0, tenants: 60) }) }
                }.value
                #expect(!writersA.withLock { $0 }.isEmpty)
                #expect(!writersB.withLock { $0 }.isEmpty)
                let tally = try await fixture.waitForRows(1200)
                try await eventually("offsets committed to the end") { fixture.committedToEnd(commits) }
                return tally
            }
            #expect(writersB.withLock { $0 }.count == 6)
            #expect(tally.rows == 1200 && tally.distinct == 1200)
            #expect(try await fixture.tally() == (1200, 1200))
        }
    }
}

extension SinkFixture {
    /// The tally read through a client that bypasses the test proxy.
    /// Whether the dead-letter topic holds any record.
    func deadLettersPresent() async throws -> Bool {
        let consumer = try KafkaConsumer(configuration: consumer(group: TestEnvironment.uniqueName("dlq_check")), topics: [deadLetterTopic], logger: testLogger)
        var total: Int64 = 0
        for partition in Int32(0)..<2 { total += try await consumer.watermarks(topic: deadLetterTopic, partition: partition).high }
        await consumer.close()
        return total > 0
    }
}

/// `tcp_proxy.py` in a child process: a TCP forwarder to ClickHouse that can refuse connections.
final class TCPProxy: Sendable {
    let port: Int
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle

    init(target url: String) throws {
        guard let targetPort = URL(string: url)?.port else { throw TimedOut(what: "a port in \(url)") }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("tcp_proxy.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (try? TestService.python.value) ?? "/usr/bin/python3")
        process.arguments = [script, String(targetPort)]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.output = stdout.fileHandleForReading
        guard let line = Self.readLine(output), let port = Int(line) else { throw TimedOut(what: "the proxy's port") }
        self.port = port
    }

    func down() throws { try command("down") }
    func up() throws { try command("up") }

    /// Ends the proxy: closing its stdin makes it exit; SIGTERM if it has not after 2 s.
    func terminate() {
        try? input.close()
        for _ in 0..<20 where process.isRunning { usleep(100_000) }
        if process.isRunning { process.terminate() }
    }

    private func command(_ text: String) throws {
        input.write(Data((text + "\n").utf8))
        guard Self.readLine(output) == "ok" else { throw TimedOut(what: "the proxy to answer \(text)") }
    }

    private static func readLine(_ handle: FileHandle) -> String? {
        var bytes: [UInt8] = []
        while true {
            let data = handle.readData(ofLength: 1)
            guard let byte = data.first else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}
