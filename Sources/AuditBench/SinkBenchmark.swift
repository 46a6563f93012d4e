package import AuditEvents
import AuditConsumer
import AuditSink
import AuditStore
import AvroCodec
import ClickHouseHTTP
import Foundation
import KafkaClient
package import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `auditpipe-tools bench sink`, part 1: how many rows per second the real ``ClickHouseSink`` stores,
/// against ClickHouse's own insert of the same rows from a file (the ceiling), in the same run.
///
/// 1. Pre-produces the events to a fresh topic as the server does (Confluent wire format,
///    schema id 1 = the seed schema, key = tenant, header `event_id`), spread evenly over the
///    partitions so each partition holds whole batches.
/// 2. Runs a ``ClickHouseSink`` in this process (default batching: up to 50,000 rows, 1 s) into a
///    fresh database and times it through its checkpoints: from the first recorded range to the
///    last commit. Four passes, each into a fresh database: chain on, off, off, on (the
///    chain's cost, in the same run, with warm-up and drift shared alike).
/// 3. Exports the stored rows (the sink's columns, in Kafka order) as
///    `RowBinaryWithNamesAndTypes` to a file, and inserts that file with one plain HTTP POST into
///    a fresh table with the identical DDL (`CREATE TABLE … AS`), timed.
package struct SinkThroughputBenchmark: Sendable {
    /// Events to store (rounded up to whole batches per partition).
    package var events: Int
    /// Partitions of the topic.
    package var partitions: Int = 6
    /// Keep the topic's database afterwards (for inspection).
    package var keepDatabase = false
    /// ClickHouse's pid file, to read its CPU time (utime + stime from /proc) over each window.
    package var clickHousePIDFile: String?
    package var logger: Logger

    package init(events: Int, logger: Logger) {
        self.events = events
        self.logger = logger
    }

    /// Runs both sides and returns the figure.
    package func run(environment: StoreBenchEnvironment) async throws -> [BenchResult] {
        // Whole 10,000-event blocks per partition, so every partition gets the same share.
        let count = SinkVisibility.roundedEventCount(events, partitions: partitions, batchRows: 10_000)
        let id = benchRunID()
        let topic = "bench_sink_\(id)"
        let database = "bench_sink_\(id)"
        try await environment.createTopic(topic, partitions: partitions)
        try await environment.createTopic(topic + ".dlq", partitions: 1)
        let admin = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword,
            requestTimeout: .seconds(300)
        ))
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: environment.kafkaBrokers), logger: logger)
        do {
            try await admin.execute("CREATE DATABASE IF NOT EXISTS `\(database)`")
            let result = try await measure(count: count, topic: topic, database: database, admin: admin, producer: producer, environment: environment)
            if !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`") }
            await producer.shutdown()
            try? await admin.shutdown()
            return result
        } catch {
            if !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(database)`") }
            await producer.shutdown()
            try? await admin.shutdown()
            throw error
        }
    }

    private func measure(
        count: Int, topic: String, database: String, admin: ClickHouseClient, producer: KafkaProducer, environment: StoreBenchEnvironment
    ) async throws -> [BenchResult] {
        // 1. Pre-produce.
        let produceStart = ContinuousClock.now
        try await Self.produce(count: count, partitions: partitions, topic: topic, producer: producer)
        let produceSeconds = (ContinuousClock.now - produceStart).seconds
        logger.notice("produced \(count) events to \(topic) in \(BenchFormat.fixed(produceSeconds, decimals: 1)) s")

        // 2. The real sink, in process, each pass from the start of the topic into a database of
        //    its own: with the hash chain (as the server runs it) and without it (the chain's
        //    cost), in the order on, off, off, on so that warm-up and drift weigh on both alike.
        var withChain: [Drain] = []
        var withoutChain: [Drain] = []
        let passes = [true, false, false, true]
        let passDatabases = passes.indices.map { $0 == 0 ? database : "\(database)_pass\($0)" }
        for (pass, chain) in passes.enumerated() {
            let passDatabase = passDatabases[pass]
            try await admin.execute("CREATE DATABASE IF NOT EXISTS `\(passDatabase)`")
            let result = try await drain(count: count, topic: topic, database: passDatabase, chain: chain, producer: producer, environment: environment)
            let stored = try await Self.scalar(admin, "SELECT count() FROM `\(passDatabase)`.audit_events")
            guard stored == count else {
                throw BenchSetupError("the sink stored \(stored) rows in \(passDatabase) for \(count) events; the measurement is not valid")
            }
            if pass > 0, !keepDatabase { _ = try? await admin.execute("DROP DATABASE IF EXISTS `\(passDatabase)`") }
            if chain { withChain.append(result) } else { withoutChain.append(result) }
        }
        let sinkRate = Drain.rate(of: withChain)
        let plainRate = Drain.rate(of: withoutChain)
        let sinkCPU = Drain.cpuMicrosecondsPerRow(of: withChain, rows: count, \.sinkCPUSeconds)
        let plainCPU = Drain.cpuMicrosecondsPerRow(of: withoutChain, rows: count, \.sinkCPUSeconds)
        let clickHouseCPU = Drain.cpuMicrosecondsPerRow(of: withChain, rows: count, \.clickHouseCPUSeconds)
        let window = withChain[0].window
        let totalSeconds = withChain[0].totalSeconds
        let work = try await SinkStatementCost.read(admin, databases: passDatabases)
        let configuration = AuditSinkConfiguration()

        // 3. The ceiling: the same rows from a file, one direct HTTP insert into an identical table.
        let columns = "tenant_id, event_type, timestamp, event_id, actor_id, resource, action, metadata, ingested_at, schema_id, kafka_partition, kafka_offset, insert_token"
        let path = NSTemporaryDirectory() + "auditpipe-bench-sink-\(database).rowbinary"
        let exported = try await admin.query(
            "SELECT \(columns) FROM `\(database)`.audit_events ORDER BY kafka_partition, kafka_offset FORMAT RowBinaryWithNamesAndTypes",
            settings: ["max_execution_time": "300"]
        )
        var body = ByteBuffer()
        for try await var chunk in exported.body { body.writeBuffer(&chunk) }
        let bytes = body.readableBytes
        let fileData = Data(body.readableBytesView)
        try await onDedicatedThread("auditpipe-bench-file") { try fileData.write(to: URL(fileURLWithPath: path)) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await admin.execute("CREATE TABLE `\(database)`.ceiling AS `\(database)`.audit_events")
        let fromFile = try await onDedicatedThread("auditpipe-bench-file") { try Data(contentsOf: URL(fileURLWithPath: path)) }
        let ceilingBody = ByteBuffer(bytes: fromFile)
        let ceilingStart = ContinuousClock.now
        let ceilingClickHouseStart = clickHouseCPUSeconds()
        try await admin.insert(table: "\(database).ceiling", body: ceilingBody, settings: ["async_insert": "0"], compression: .none)
        let ceilingSeconds = (ContinuousClock.now - ceilingStart).seconds
        let ceilingClickHouseCPU = Self.elapsed(from: ceilingClickHouseStart, to: clickHouseCPUSeconds()).map { $0 * 1e6 / Double(count) }
        let ceilingRows = try await Self.scalar(admin, "SELECT count() FROM `\(database)`.ceiling")
        guard ceilingRows == count else {
            throw BenchSetupError("the ceiling insert stored \(ceilingRows) rows of \(count); the measurement is not valid")
        }
        let ceilingRate = Double(count) / ceilingSeconds
        let ratio = sinkRate / ceilingRate
        let notes = """
            \(count) events over \(partitions) partitions (\(count / partitions) each; the sink cuts batches of up to \(configuration.maxBatchRows) rows); \
            sink window \(BenchFormat.fixed((window.end - window.start).seconds, decimals: 2)) s from first recorded range to last commit \
            (\(count - window.firstBatchRows) rows counted), \(BenchFormat.fixed(totalSeconds, decimals: 2)) s from sink start incl. group join \
            (\(BenchFormat.value(Double(count) / totalSeconds)) rows/s); ceiling: one uncompressed RowBinaryWithNamesAndTypes file of \
            \(bytes / 1_048_576) MiB POSTed into `CREATE TABLE ... AS` the sink's table in \(BenchFormat.fixed(ceilingSeconds, decimals: 2)) s; \
            pre-produce took \(BenchFormat.fixed(produceSeconds, decimals: 1)) s
            """
        let chainRatio = sinkRate / plainRate
        let storedRows = count * passes.count
        let lookup = work[SinkQueryComment.eventKeyLookup] ?? SinkStatementCost()
        var cpu: [BenchResult] = [
            BenchResult(
                benchmark: "sink", figure: "event_id_lookup_rows_read_per_row", value: Double(lookup.readRows) / Double(storedRows), unit: "x",
                peer: nil, peerValue: nil, target: "<= 1.0", met: lookup.readRows <= storedRows,
                notes: """
                    read_rows of the duplicate check's look-ups (system.query_log, log_comment \(SinkQueryComment.eventKeyLookup)) over the \
                    rows stored, all four passes (UUIDv7 event ids, \(lookup.queries) look-ups); ClickHouse CPU per stored row by statement \
                    (query_log ProfileEvents, merges not included): \(SinkStatementCost.summary(work, rows: storedRows))
                    """
            )
        ]
        if let ceilingClickHouseCPU, let clickHouseCPU {
            let cpuNotes = """
                utime + stime from /proc over each whole pass (sink start to last commit, group join included) per stored row; \
                the sink runs in the benchmark's own process; ClickHouse's figure holds its inserts, the event_id look-ups, the \
                batch-range records and the merges that ran meanwhile; the peer is ClickHouse's CPU per row while it takes the \
                ceiling file (\(BenchFormat.fixed(ceilingClickHouseCPU, decimals: 2)) us/row)
                """
            cpu += [
                BenchResult(
                    benchmark: "sink", figure: "sink_cpu_us_per_row", value: sinkCPU, unit: "us/row",
                    peer: "clickhouse-cpu-per-row-of-the-ceiling-insert", peerValue: ceilingClickHouseCPU,
                    target: "<= 1.0 x ceiling", met: sinkCPU <= ceilingClickHouseCPU, notes: cpuNotes
                ),
                BenchResult(
                    benchmark: "sink", figure: "clickhouse_cpu_us_per_row", value: clickHouseCPU, unit: "us/row",
                    peer: "clickhouse-cpu-per-row-of-the-ceiling-insert", peerValue: ceilingClickHouseCPU,
                    target: "<= 2.0 x ceiling", met: clickHouseCPU <= 2 * ceilingClickHouseCPU, notes: cpuNotes
                ),
            ]
        }
        cpu.append(BenchResult(
            benchmark: "sink", figure: "chain_cpu_ratio", value: sinkCPU / plainCPU, unit: "x",
            peer: nil, peerValue: nil,
            target: "<= 1.10", met: sinkCPU / plainCPU <= 1.10,
            notes: """
                the sink's CPU per row with the hash chain (\(BenchFormat.fixed(sinkCPU, decimals: 2)) us) over without it \
                (\(BenchFormat.fixed(plainCPU, decimals: 2)) us), from the same four passes as the throughput figures
                """
        ))
        return cpu + [
            BenchResult(
                benchmark: "sink", figure: "throughput", value: sinkRate, unit: "rows/s",
                peer: "clickhouse-http-insert-from-file", peerValue: ceilingRate,
                target: ">= 0.70 x ceiling", met: ratio >= 0.70, notes: notes
            ),
            BenchResult(
                benchmark: "sink", figure: "throughput with the hash chain", value: sinkRate, unit: "rows/s",
                peer: "the same sink without the chain", peerValue: plainRate,
                target: ">= 0.90 x without (cost under 10%)", met: chainRatio >= 0.90,
                notes: """
                    the same \(count) events drained four times from the same topic into fresh databases, chain on, off, off, on; \
                    rows over summed windows per mode (chain on: \(withChain.map { BenchFormat.value($0.rate) }.joined(separator: ", ")) rows/s; \
                    off: \(withoutChain.map { BenchFormat.value($0.rate) }.joined(separator: ", ")) rows/s)
                    """
            ),
        ]
    }

    /// One measured sink pass over the whole topic into `database` (a new consumer group).
    private struct Drain {
        var rate: Double
        var window: SinkProgress.Window
        var totalSeconds: Double
        /// CPU seconds of this process (the sink) over the pass.
        var sinkCPUSeconds: Double
        /// CPU seconds of ClickHouse over the pass; nil without its pid.
        var clickHouseCPUSeconds: Double?

        /// Mean CPU microseconds per row over the passes; nil when any pass lacks the figure.
        static func cpuMicrosecondsPerRow(of passes: [Drain], rows: Int, _ seconds: KeyPath<Drain, Double>) -> Double {
            passes.reduce(0) { $0 + $1[keyPath: seconds] } * 1e6 / Double(rows * passes.count)
        }

        static func cpuMicrosecondsPerRow(of passes: [Drain], rows: Int, _ seconds: KeyPath<Drain, Double?>) -> Double? {
            let values = passes.compactMap { $0[keyPath: seconds] }
            guard values.count == passes.count else { return nil }
            return values.reduce(0, +) * 1e6 / Double(rows * passes.count)
        }

        /// Rows over time of several passes (each counted as ``rate`` measured it).
        static func rate(of passes: [Drain]) -> Double {
            let seconds = passes.reduce(0) { $0 + ($1.window.end - $1.window.start).seconds }
            let rows = passes.reduce(0.0) { $0 + $1.rate * ($1.window.end - $1.window.start).seconds }
            return rows / seconds
        }
    }

    private func drain(
        count: Int, topic: String, database: String, chain: Bool, producer: KafkaProducer, environment: StoreBenchEnvironment
    ) async throws -> Drain {
        let client = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword,
            database: database, requestTimeout: .seconds(120)
        ))
        defer { Task { try? await client.shutdown() } }
        let store = try ClickHouseEventStore(client: client, tables: ClickHouseTables())
        try await store.migrate()
        var configuration = AuditSinkConfiguration()
        configuration.topic = topic
        configuration.deadLetterTopic = topic + ".dlq"
        configuration.hashChain = chain
        let consumer = KafkaConsumerConfiguration(bootstrapServers: environment.kafkaBrokers, groupID: "bench-sink-\(database)")
        let progress = SinkProgress()
        let sink = try ClickHouseSink(
            configuration: configuration, consumer: consumer, producer: producer, store: store,
            schemas: SeedSchemaLookup(), logger: logger,
            hook: { point, range in progress.record(point, range) }
        )
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: sink)], logger: logger))
        let sinkStart = ContinuousClock.now
        let cpuStart = (sink: ProcessCPU.seconds(of: getpid()) ?? 0, clickHouse: clickHouseCPUSeconds())
        let running = Task { try await group.run() }
        let timeout = Duration.seconds(max(120, count / 2000))
        while progress.committedRows < count {
            if ContinuousClock.now - sinkStart > timeout {
                await group.triggerGracefulShutdown()
                running.cancel()
                throw BenchSetupError("the sink (chain \(chain ? "on" : "off")) committed \(progress.committedRows) of \(count) rows in \(timeout); see the log (--log-level info)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let sinkEnd = ContinuousClock.now
        let cpuEnd = (sink: ProcessCPU.seconds(of: getpid()) ?? 0, clickHouse: clickHouseCPUSeconds())
        await group.triggerGracefulShutdown()
        try await running.value
        guard let window = progress.window else { throw BenchSetupError("the sink reported no batches") }
        let rate = SinkVisibility.throughput(rows: count, firstBatchRows: window.firstBatchRows, windowSeconds: (window.end - window.start).seconds)
        return Drain(
            rate: rate, window: window, totalSeconds: (sinkEnd - sinkStart).seconds,
            sinkCPUSeconds: cpuEnd.sink - cpuStart.sink,
            clickHouseCPUSeconds: Self.elapsed(from: cpuStart.clickHouse, to: cpuEnd.clickHouse)
        )
    }

    /// `end - start` when both were read.
    private static func elapsed(from start: Double?, to end: Double?) -> Double? {
        guard let start, let end else { return nil }
        return end - start
    }

    /// ClickHouse's CPU seconds so far, or nil without a readable pid file.
    private func clickHouseCPUSeconds() -> Double? {
        guard let clickHousePIDFile,
            let text = try? String(contentsOfFile: clickHousePIDFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return ProcessCPU.seconds(of: pid)
    }

    /// Produces `count` seed-schema events, partition `i % partitions`, with up to 20,000 in flight.
    static func produce(count: Int, partitions: Int, topic: String, producer: KafkaProducer) async throws {
        let window = 20_000
        let now = UnixTime.nowMilliseconds()
        var next = 0
        var writer = AvroBinaryWriter()
        while next < count {
            let end = min(count, next + window)
            var batch = KafkaOutgoingBatch(topic: topic, headerName: "event_id")
            for index in next..<end {
                let event = SinkBenchEvents.event(index, now: now)
                writer.bytes.removeAll(keepingCapacity: true)
                AuditEventSchema.encodeSeedRecord(event, into: &writer)
                batch.append(
                    key: event.tenantID.utf8, value: ConfluentWireFormat.encode(schemaID: 1, body: writer.bytes), headerValue: event.eventID.utf8,
                    partition: Int32(index % partitions)
                )
            }
            for result in await producer.sendBatch(batch) { _ = try result.get() }
            next = end
        }
    }

    static func scalar(_ client: ClickHouseClient, _ sql: String) async throws -> Int {
        let buffer = try await client.queryCollecting(sql + " FORMAT TabSeparated")
        guard let value = Int(String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchSetupError("unexpected answer to \(sql): \(String(buffer: buffer))")
        }
        return value
    }
}

/// What each statement the sink runs per batch cost ClickHouse over some databases, from
/// `system.query_log` (the sink tags each with a `log_comment`).
struct SinkStatementCost {
    var queries = 0
    var readRows = 0
    var cpuSeconds = 0.0

    static func read(_ admin: ClickHouseClient, databases: [String]) async throws -> [String: SinkStatementCost] {
        try await admin.execute("SYSTEM FLUSH LOGS")
        let list = databases.map { "'\($0)'" }.joined(separator: ", ")
        let comments = SinkQueryComment.all.map { "'\($0)'" }.joined(separator: ", ")
        let buffer = try await admin.queryCollecting(
            """
            SELECT log_comment, count(), sum(read_rows),
                sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) / 1e6
            FROM system.query_log
            WHERE type = 'QueryFinish' AND event_date >= yesterday() AND current_database IN (\(list)) AND log_comment IN (\(comments))
            GROUP BY log_comment FORMAT TabSeparated
            """
        )
        var result: [String: SinkStatementCost] = [:]
        for line in String(buffer: buffer).split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 4, let queries = Int(fields[1]), let rows = Int(fields[2]), let cpu = Double(fields[3]) else { continue }
            result[String(fields[0])] = SinkStatementCost(queries: queries, readRows: rows, cpuSeconds: cpu)
        }
        return result
    }

    /// `insert 2.10 us (1,200 queries), event-key-lookup 0.80 us, ...` per stored row.
    static func summary(_ costs: [String: SinkStatementCost], rows: Int) -> String {
        SinkQueryComment.all.map { comment in
            let cost = costs[comment] ?? SinkStatementCost()
            let name = comment.replacingOccurrences(of: "auditpipe-sink-", with: "")
            return "\(name) \(BenchFormat.fixed(cost.cpuSeconds * 1e6 / Double(rows), decimals: 2)) us (\(cost.queries) queries)"
        }.joined(separator: ", ")
    }
}

/// The events the sink benchmarks store: 20 tenants, 1,000 actors, five types, times in the
/// last hour, a small metadata map (about the size of the simulator's events).
package enum SinkBenchEvents {
    static let types = ["auth", "data_change", "permission_change", "admin_action", "api_access"]
    static let actions = ["login", "logout", "read", "update", "delete", "grant", "revoke", "export"]

    /// Event `index` of a run whose clock read `now` (ms) at the start. Its id is a UUIDv7 as the
    /// server assigns them (time-ordered: 16 events per millisecond from `now`, random bits), so
    /// the duplicate check sees the keys it sees in production.
    package static func event(_ index: Int, now: Int64, tenantPrefix: String = "bench-tenant-") -> AuditEvent {
        AuditEvent(
            eventID: UUIDv7.make(milliseconds: now + Int64(index / 16)),
            tenantID: "\(tenantPrefix)\(index % 20)",
            actorID: "user-\((index &* 7919) % 1000)",
            eventType: types[index % types.count],
            resource: "doc/\((index &* 104_729) % 100_000)",
            action: actions[(index / 5) % actions.count],
            timestampMilliseconds: now - Int64((index &* 31) % 3_600_000),
            metadata: ["ip": "10.\(index % 256).\((index / 256) % 256).\(index % 199)", "client": "bench"]
        )
    }
}

/// Schema id 1 is the seed schema (what the benchmark's records carry).
struct SeedSchemaLookup: WriterSchemaLookup {
    func schema(id: Int32) async throws -> AvroSchema {
        guard id == 1 else { throw WriterSchemaNotFound(id: id) }
        return AuditEventSchema.seed
    }
}

/// The sink's checkpoints as the benchmark sees them.
final class SinkProgress: Sendable {
    struct Window {
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        var firstBatchRows: Int
    }

    private struct State {
        var committed = 0
        var start: ContinuousClock.Instant?
        var firstBatchRows = 0
        var end: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    func record(_ point: SinkCheckpoint, _ range: BatchRange) {
        let now = ContinuousClock.now
        let rows = Int(range.last - range.first + 1)
        state.withLock { state in
            switch point {
            case .rangeRecorded:
                if state.start == nil {
                    state.start = now
                    state.firstBatchRows = rows
                }
            case .inserted:
                break
            case .committed:
                state.committed += rows
                state.end = now
            }
        }
    }

    var committedRows: Int { state.withLock { $0.committed } }

    var window: Window? {
        state.withLock { state in
            guard let start = state.start, let end = state.end else { return nil }
            return Window(start: start, end: end, firstBatchRows: state.firstBatchRows)
        }
    }
}
