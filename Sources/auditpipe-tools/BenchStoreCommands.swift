import ArgumentParser
import AuditBench
import Foundation
import Logging

/// Options of the store-side benchmarks (`bench sink`, `bench report`, `bench recent`): they
/// read the dev stack's addresses from the `AUDITPIPE_*` variables (`source .dev/env`) and start
/// their own `auditpipe serve` where they need a server, on their own ports, topic, sink group and
/// ClickHouse database.
struct BenchStoreOptions: ParsableArguments {
    @Flag(help: "Seconds per figure (CI) instead of a meaningful run.")
    var quick = false

    @Option(name: .customLong("markdown"), help: "Also write the results as a markdown table to this file (overwritten).")
    var markdownPath: String?

    @Flag(help: "Exit with status 1 when a figure misses its target (default: only when the benchmark cannot run).")
    var strict = false

    @Option(name: .customLong("log-level"), help: "Log level of the benchmark (and of an in-process sink): trace ... critical.")
    var logLevel: String = "notice"

    func logger() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level \(logLevel): use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "auditpipe.bench")
        logger.logLevel = level
        return logger
    }

    /// `given`, or the dev stack's pid file of `service` (`$AUDITPIPE_STATE_DIR/run/<service>.pid`,
    /// `.dev/run/<service>.pid` without the variable), whose process's CPU time a figure reads.
    func pidFile(of service: String, given: String?) -> String {
        if let given { return given }
        let state = ProcessInfo.processInfo.environment["AUDITPIPE_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".dev"
        return "\(state)/run/\(service).pid"
    }

    func environment(needsKafka: Bool = true, needsRedis: Bool = false) throws -> StoreBenchEnvironment {
        do {
            return try StoreBenchEnvironment.current(needsKafka: needsKafka, needsRedis: needsRedis)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// Prints the table on stderr, one JSON line per figure on stdout, and the markdown file.
    func emit(_ results: [BenchResult]) throws {
        FileHandle.standardError.write(Data(("\n" + BenchResult.table(results) + "\n").utf8))
        for result in results { print(result.jsonLine) }
        if let markdownPath {
            try (BenchResult.markdownTable(results) + "\n").write(toFile: markdownPath, atomically: true, encoding: .utf8)
        }
        if strict, results.contains(where: { $0.met == false }) { throw ExitCode(1) }
    }
}

/// `auditpipe-tools bench sink`.
struct BenchSink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Sink throughput into ClickHouse against ClickHouse's own insert of the same rows (ceiling); visibility latency at a fixed rate.",
        discussion: """
            (1) Throughput: pre-produces --events events (Confluent wire format, as the server \
            does) to a fresh topic, runs the real ClickHouseSink in this process into a fresh \
            database, and times it from its first recorded range to its last commit; then exports \
            the stored rows as RowBinaryWithNamesAndTypes to a file and POSTs that file into an \
            identical fresh table (the ceiling). Target: >= 70% of the ceiling.
            (2) Visibility: starts `auditpipe serve` (this executable) on --grpc-addr/--http-addr \
            with its own topic, sink group and database, ingests at --rate events/s for \
            --duration through the Swift client, and polls ClickHouse every --poll-ms (100) ms for \
            max(kafka_offset) per partition; latency = first poll that sees an event minus its \
            acknowledgement. Target: p99 < 1 s at 5,000 events/s.

            Example (dev stack up):
              source .dev/env && auditpipe-tools bench sink --quick
            """
    )

    @OptionGroup var options: BenchStoreOptions

    @Option(help: "Events for the throughput figure (rounded up to whole 10,000-event blocks per partition). Default 300000 (60000 with --quick).")
    var events: Int?

    @Option(help: "Ingest rate of the visibility figure, events/s.")
    var rate: Double = 5000

    @Option(help: "Length of the visibility run in seconds. Default 30 (5 with --quick).")
    var duration: Double?

    @Option(name: .customLong("poll-ms"), help: "How often the visibility figure polls ClickHouse, ms (each poll scans kafka_partition/kafka_offset of the run's table).")
    var pollMilliseconds = 100

    @Option(name: .customLong("grpc-addr"), help: "Where the spawned server listens for gRPC.")
    var grpcAddress = "127.0.0.1:31061"

    @Option(name: .customLong("http-addr"), help: "Where the spawned server serves /readyz.")
    var httpAddress = "127.0.0.1:8191"

    @Option(name: .customLong("clickhouse-pid-file"), help: "ClickHouse's pid file, to read its CPU time. [default: $AUDITPIPE_STATE_DIR/run/clickhouse.pid or .dev/run/clickhouse.pid]")
    var clickHousePIDFile: String?

    @Flag(name: .customLong("skip-throughput"), help: "Only the visibility figure.")
    var skipThroughput = false

    @Flag(name: .customLong("skip-visibility"), help: "Only the throughput figure.")
    var skipVisibility = false

    func validate() throws {
        if let events, events < 1 { throw ValidationError("--events must be positive") }
        if rate <= 0 { throw ValidationError("--rate must be positive") }
        if !(10...1000).contains(pollMilliseconds) { throw ValidationError("--poll-ms must be 10 to 1000") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
    }

    func run() async throws {
        let logger = try options.logger()
        let environment = try options.environment()
        var results: [BenchResult] = []
        if !skipThroughput {
            var throughput = SinkThroughputBenchmark(events: events ?? (options.quick ? 60_000 : 300_000), logger: logger)
            throughput.partitions = 6
            throughput.clickHousePIDFile = options.pidFile(of: "clickhouse", given: clickHousePIDFile)
            results += try await throughput.run(environment: environment)
        }
        if !skipVisibility {
            var visibility = SinkVisibilityBenchmark(logger: logger)
            visibility.rate = rate
            visibility.duration = .milliseconds(Int64((duration ?? (options.quick ? 5 : 30)) * 1000))
            visibility.pollInterval = .milliseconds(Int64(pollMilliseconds))
            visibility.grpcAddress = grpcAddress
            visibility.httpAddress = httpAddress
            results += try await visibility.run(environment: environment)
        }
        try options.emit(results)
    }
}

/// `auditpipe-tools bench report`.
struct BenchReport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compliance reports: the March report against a full scan (pruning), and a year-long export against ClickHouse's own CSV export.",
        discussion: """
            Pruning: generates --rows events over 12 months of 2025 and 100 tenants inside \
            ClickHouse (INSERT ... SELECT FROM numbers, deterministic columns, at most 10M rows per \
            insert) into database auditpipe_bench_report_<rows>, table created by the sink's \
            migrations; an existing table with exactly --rows rows is reused. Then asks "all auth \
            events of tenant-042 in March" through the ComplianceReportExecutor (row mode, streamed \
            to the end) and the same SQL with identity() around tenant_id, event_type and \
            timestamp, alternately, --repeats times each after a warm-up. Figures: p50 latency, and \
            rows read (system.query_log) per row returned (target <= 2).

            Export: --export-rows events of tenant "big" spread evenly over 2026 (database \
            auditpipe_bench_export_<rows>, kept for the next run), served by a spawned \
            `auditpipe serve` (development mode) on --grpc-addr. The year-long row-mode report is \
            read (1) by `auditpipe report --format csv` to /dev/null (report_export_rows_per_s, \
            target >= 0.5x the peer) and (2) by a plain gRPC client in this process \
            (report_stream_rows_per_s, target >= 0.7x); the peer is ClickHouse's CSV export of the \
            same SELECT over HTTP, in the same run. CPU per row of the CLI and of the server \
            (utime + stime) is reported next to ClickHouse's for its export (from its pid file, \
            else system.query_log). Median of --repeats runs after a warm-up.

            The generated databases are kept; drop them with DROP DATABASE.
            """
    )

    @OptionGroup var options: BenchStoreOptions

    @Option(help: "Events in the pruning data set. Default 50000000 (1000000 with --quick).")
    var rows: Int?

    @Option(name: .customLong("export-rows"), help: "Events of the exported tenant. Default 2000000 (200000 with --quick).")
    var exportRows: Int?

    @Option(help: "Measured runs of each side. Default 5 (3 with --quick) for pruning, 3 (1 with --quick) for export.")
    var repeats: Int?

    @Option(name: .customLong("grpc-addr"), help: "Where the spawned server listens for gRPC (export figures).")
    var grpcAddress = "127.0.0.1:31063"

    @Option(name: .customLong("http-addr"), help: "Where the spawned server serves /readyz.")
    var httpAddress = "127.0.0.1:8193"

    @Option(name: .customLong("clickhouse-pid-file"), help: "ClickHouse's pid file, to read its CPU time. [default: $AUDITPIPE_STATE_DIR/run/clickhouse.pid or .dev/run/clickhouse.pid]")
    var clickHousePIDFile: String?

    @Flag(name: .customLong("skip-pruning"), help: "Only the export figures.")
    var skipPruning = false

    @Flag(name: .customLong("skip-export"), help: "Only the pruning figures.")
    var skipExport = false

    func validate() throws {
        if let rows, rows < 12_000 { throw ValidationError("--rows must be at least 12000") }
        if let exportRows, exportRows < 1_000 { throw ValidationError("--export-rows must be at least 1000") }
        if let repeats, repeats < 1 { throw ValidationError("--repeats must be positive") }
    }

    func run() async throws {
        let logger = try options.logger()
        let environment = try options.environment(needsKafka: !skipExport)
        var results: [BenchResult] = []
        if !skipPruning {
            var benchmark = ReportBenchmark(logger: logger)
            benchmark.rows = rows ?? (options.quick ? 1_000_000 : 50_000_000)
            benchmark.repeats = repeats ?? (options.quick ? 3 : 5)
            results += try await benchmark.run(environment: environment)
        }
        if !skipExport {
            var export = ReportExportBenchmark(logger: logger)
            export.rows = exportRows ?? (options.quick ? 200_000 : 2_000_000)
            export.repeats = repeats ?? (options.quick ? 1 : 3)
            export.grpcAddress = grpcAddress
            export.httpAddress = httpAddress
            export.clickHousePIDFile = options.pidFile(of: "clickhouse", given: clickHousePIDFile)
            results += try await export.run(environment: environment)
        }
        try options.emit(results)
    }
}

/// `auditpipe-tools bench recent`.
struct BenchRecent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recent",
        abstract: "RecentEvents against the server's own Redis read; freshness at 5,000 events/s; Redis CPU per event written against a pipelined peer.",
        discussion: """
            Starts `auditpipe serve` (this executable) on --grpc-addr/--http-addr with its own \
            topic and sink group, ingests 100 events for a new user, waits until RecentEvents \
            returns them, then sends --requests RecentEvents calls with --concurrency in flight, \
            and runs redis-benchmark with the same request count and connections doing the \
            server's read of that user (ZRANGE key -100 -1): recent_events_throughput (target \
            >= 0.5x) and recent_events_p99 (target <= 3x). Then sends events at --rate for \
            --freshness-seconds with the ClickHouse sink running, every 50th to one of 8 probe \
            users read over gRPC every 20 ms: recent_freshness_p99 (acknowledgement to visible, \
            target < 500 ms). Then --cpu-events more without reads: redis_cpu_us_per_event, Redis' \
            utime + stime (/proc, from --redis-pid-file) per event written by the sink, against the \
            same events written by this benchmark as the same number of pipelines of plain \
            commands (target <= 1.5x). Needs redis-benchmark on PATH (Debian: redis-tools).
            """
    )

    @OptionGroup var options: BenchStoreOptions

    @Option(help: "Requests per side. Default 50000 (5000 with --quick).")
    var requests: Int?

    @Option(help: "Requests in flight (gRPC) and connections (redis-benchmark).")
    var concurrency = 16

    @Option(help: "Events per second of the freshness and Redis CPU loads.")
    var rate: Double = 5000

    @Option(name: .customLong("freshness-seconds"), help: "Length of the freshness load. Default 30 (5 with --quick).")
    var freshnessSeconds: Double?

    @Option(name: .customLong("cpu-events"), help: "Events of the Redis CPU measurement. Default 50000 (10000 with --quick).")
    var cpuEvents: Int?

    @Option(name: .customLong("redis-pid-file"), help: "Redis' pid file, to read its CPU time. [default: $AUDITPIPE_STATE_DIR/run/redis.pid or .dev/run/redis.pid]")
    var redisPIDFile: String?

    @Option(name: .customLong("grpc-addr"), help: "Where the spawned server listens for gRPC.")
    var grpcAddress = "127.0.0.1:31062"

    @Option(name: .customLong("http-addr"), help: "Where the spawned server serves /readyz.")
    var httpAddress = "127.0.0.1:8192"

    func validate() throws {
        if let requests, requests < 1 { throw ValidationError("--requests must be positive") }
        if concurrency < 1 { throw ValidationError("--concurrency must be positive") }
        if rate <= 0 { throw ValidationError("--rate must be positive") }
        if let freshnessSeconds, freshnessSeconds <= 0 { throw ValidationError("--freshness-seconds must be positive") }
        if let cpuEvents, cpuEvents < 100 { throw ValidationError("--cpu-events must be at least 100") }
    }

    func run() async throws {
        let logger = try options.logger()
        let environment = try options.environment(needsRedis: true)
        var benchmark = RecentBenchmark(logger: logger)
        benchmark.requests = requests ?? (options.quick ? 5_000 : 50_000)
        benchmark.concurrency = concurrency
        benchmark.grpcAddress = grpcAddress
        benchmark.httpAddress = httpAddress
        benchmark.rate = rate
        benchmark.freshnessDuration = .milliseconds(Int64((freshnessSeconds ?? (options.quick ? 5 : 30)) * 1000))
        benchmark.cpuEvents = cpuEvents ?? (options.quick ? 10_000 : 50_000)
        benchmark.redisPIDFile = options.pidFile(of: "redis", given: redisPIDFile)
        try options.emit(try await benchmark.run(environment: environment))
    }
}
