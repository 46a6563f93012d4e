import AuditPipeProto
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Foundation
package import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
package import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `auditpipe-tools bench report`, export figures: a year-long row-mode report of one tenant's
/// events (default 2,000,000, spread evenly over 2026) through a spawned `auditpipe serve`,
///
/// - end to end with `auditpipe report --format csv` to /dev/null (`report_export_rows_per_s`);
/// - read by a plain gRPC client in this process, generated message decoding, no formatting
///   (`report_stream_rows_per_s`);
///
/// each next to ClickHouse's own CSV export of the same query over HTTP in the same run, and
/// the CPU per row of the CLI and of the server (utime + stime from /proc), next to
/// ClickHouse's CPU per row for its export.
package struct ReportExportBenchmark: Sendable {
    /// Events of the tenant.
    package var rows: Int = 2_000_000
    /// Measured runs of each side (after a warm-up run each); the median is reported.
    package var repeats: Int = 3
    /// Where the spawned server listens.
    package var grpcAddress = "127.0.0.1:31063"
    package var httpAddress = "127.0.0.1:8193"
    /// ClickHouse's pid file (its CPU time is read from /proc); nil: ClickHouse's CPU comes
    /// from `system.query_log` for its own export only.
    package var clickHousePIDFile: String?
    package var logger: Logger

    package init(logger: Logger) { self.logger = logger }

    /// The tenant and the range of the report.
    package static let tenant = "big"
    /// 2026-01-01T00:00:00Z and 2027-01-01T00:00:00Z.
    package static let range = (from: Int64(1_767_225_600_000), to: Int64(1_798_761_600_000))

    /// The database holding the data set of `rows` events.
    package static func database(rows: Int) -> String { "auditpipe_bench_export_\(rows)" }

    /// Event `number` of `rows` (evenly spaced over 2026, Kafka partition `number % 6`, offset `number`).
    package static func insertSQL(database: String, table: String) -> String {
        """
        INSERT INTO `\(database)`.`\(table)` (tenant_id, event_type, timestamp, event_id, actor_id, resource, action, \
        metadata, ingested_at, schema_id, kafka_partition, kafka_offset, insert_token)
        SELECT
            {tenant:String},
            ['auth', 'data_change', 'permission_change', 'admin_action', 'api_access'][cityHash64(number, 2) % 5 + 1],
            fromUnixTimestamp64Milli(toInt64({from:Int64} + intDiv(number * {span:UInt64}, {rows:UInt64})), 'UTC') AS ts,
            concat(lower(hex(cityHash64(number, 4))), lower(hex(cityHash64(number, 5)))),
            concat('user-', toString(cityHash64(number, 6) % 5000)),
            concat('doc/', toString(cityHash64(number, 7) % 1000000)),
            ['login', 'logout', 'read', 'update', 'delete', 'grant', 'revoke', 'export'][cityHash64(number, 8) % 8 + 1],
            map('ip', IPv4NumToString(toUInt32(cityHash64(number, 9) % 4294967296)), 'source', 'bench-export'),
            ts + toIntervalMillisecond(1500),
            toInt32(1),
            toInt32(number % 6),
            toInt64(number),
            concat('bench-export:', toString(intDiv(number, 10000)))
        FROM numbers({rows:UInt64})
        """
    }

    package func run(environment: StoreBenchEnvironment) async throws -> [BenchResult] {
        let database = Self.database(rows: rows)
        let client = try ClickHouseClient(configuration: ClickHouseConfiguration(
            url: environment.clickHouseURL, user: environment.clickHouseUser, password: environment.clickHousePassword,
            database: database, requestTimeout: .seconds(1800), maxExecutionTime: .seconds(1800)
        ))
        do {
            let preparation = try await prepare(client: client, database: database)
            logger.notice("\(preparation)")
            let id = benchRunID()
            let topic = "bench_export_\(id)"
            try await environment.createTopic(topic, partitions: 3)
            try await environment.createTopic(topic + ".dlq", partitions: 1)
            let server = try await BenchServerProcess(
                settings: .init(
                    grpcAddress: grpcAddress, httpAddress: httpAddress, eventsTopic: topic, deadLetterTopic: topic + ".dlq",
                    sinkGroup: "bench-export-\(id)", clickHouseDatabase: database
                ),
                environment: environment
            )
            do {
                let results = try await measure(client: client, server: server, preparation: preparation)
                await server.stop()
                try? await client.shutdown()
                return results
            } catch {
                await server.stop()
                throw error
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Creates the table with the sink's migrations and fills it, unless it holds the data set.
    private func prepare(client: ClickHouseClient, database: String) async throws -> String {
        let existing = try await ReportBenchmark.migratedEventsTable(client: client, database: database)
        if existing == rows { return "reused \(database).audit_events (\(rows) events of tenant \(Self.tenant) over 2026)" }
        if existing != 0 { try await client.execute("TRUNCATE TABLE audit_events") }
        let started = ContinuousClock.now
        try await client.execute(
            Self.insertSQL(database: database, table: ClickHouseTables().events),
            parameters: [
                "tenant": .string(Self.tenant), "from": .integer(Self.range.from), "span": .integer(Self.range.to - Self.range.from),
                "rows": .integer(rows),
            ],
            settings: ["max_partitions_per_insert_block": "100", "insert_deduplicate": "0", "max_threads": "2", "max_execution_time": "1800"]
        )
        let stored = try await SinkThroughputBenchmark.scalar(client, "SELECT count() FROM audit_events")
        guard stored == rows else { throw BenchSetupError("generated \(stored) rows, expected \(rows)") }
        return "generated \(rows) events of tenant \(Self.tenant) over 2026 in \(BenchFormat.fixed((ContinuousClock.now - started).seconds, decimals: 1)) s"
    }

    /// One measured run: wall seconds, rows, CPU seconds of the reader, the server and ClickHouse.
    struct Run {
        var seconds: Double
        var rows: Int
        var readerCPU: Double
        var serverCPU: Double
        var clickHouseCPU: Double?
        var rowsPerSecond: Double { Double(rows) / seconds }
    }

    private func measure(client: ClickHouseClient, server: BenchServerProcess, preparation: String) async throws -> [BenchResult] {
        let query = ComplianceReportQuery(tenantID: Self.tenant, fromMilliseconds: Self.range.from, toMilliseconds: Self.range.to)
        let statement = try ComplianceReportStatement(query: query, table: AuditEventsTable(), cursors: ReportCursorCodec())
        let peerSQL = statement.sql.replacingOccurrences(of: "FORMAT RowBinaryWithNamesAndTypes", with: "FORMAT CSV")
        let executable = AuditPipeExecutable.path
        let clickHousePID = clickHousePIDFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .flatMap { ProcessCPU.seconds(of: $0) == nil ? nil : $0 }
        let serverPID = server.processIdentifier
        let cliArguments = [
            "report", "--server", grpcAddress, "--tenant", Self.tenant, "--from", "2026-01-01", "--to", "2027-01-01",
            "--format", "csv", "--no-progress",
        ]

        // Correctness first: the CLI's csv has one line per event plus the header, and the
        // plain client and the peer see every event.
        let check = try await ChildProcess.run(executable: executable, arguments: cliArguments, countingLines: true)
        guard check.status == 0, check.lines == rows + 1 else {
            throw BenchSetupError("auditpipe report wrote \(check.lines) lines (exit \(check.status)), expected \(rows + 1); see the server log \(server.logPath)")
        }

        func measured(_ body: () async throws -> (rows: Int, readerCPU: Double, clickHouseCPU: Double?)) async throws -> Run {
            let serverBefore = ProcessCPU.seconds(of: serverPID) ?? 0
            let clickHouseBefore = clickHousePID.flatMap(ProcessCPU.seconds(of:))
            let started = ContinuousClock.now
            let result = try await body()
            let seconds = (ContinuousClock.now - started).seconds
            let serverCPU = (ProcessCPU.seconds(of: serverPID) ?? 0) - serverBefore
            let clickHouseCPU = result.clickHouseCPU ?? clickHouseBefore.flatMap { before in clickHousePID.flatMap(ProcessCPU.seconds(of:)).map { $0 - before } }
            return Run(seconds: seconds, rows: result.rows, readerCPU: result.readerCPU, serverCPU: serverCPU, clickHouseCPU: clickHouseCPU)
        }
        let export = {
            let child = try await ChildProcess.run(executable: executable, arguments: cliArguments, countingLines: false)
            guard child.status == 0 else { throw BenchSetupError("auditpipe report exited with \(child.status); see \(server.logPath)") }
            return (rows: self.rows, readerCPU: child.cpuSeconds, clickHouseCPU: nil as Double?)
        }
        func stream(decoding: Bool) -> () async throws -> (rows: Int, readerCPU: Double, clickHouseCPU: Double?) {
            {
                let before = ProcessCPU.seconds(of: getpid()) ?? 0
                let count = try await self.plainClient(host: server.grpcHost, port: server.grpcPort, decoding: decoding)
                return (rows: count, readerCPU: (ProcessCPU.seconds(of: getpid()) ?? 0) - before, clickHouseCPU: nil as Double?)
            }
        }
        let peer = {
            let before = ProcessCPU.seconds(of: getpid()) ?? 0
            let queryID = "bench-export-peer-\(UUID().uuidString.lowercased())"
            let response = try await client.query(peerSQL, parameters: statement.parameters, settings: statement.settings, queryID: queryID)
            var bytes = 0
            for try await chunk in response.body { bytes += chunk.readableBytes }
            guard bytes > 0 else { throw BenchSetupError("ClickHouse's CSV export was empty") }
            let log = try await self.queryLog(client, queryID)
            guard log.rows == self.rows else { throw BenchSetupError("ClickHouse's CSV export returned \(log.rows) rows, expected \(self.rows)") }
            return (rows: log.rows, readerCPU: (ProcessCPU.seconds(of: getpid()) ?? 0) - before, clickHouseCPU: clickHousePID == nil ? log.cpuSeconds : nil)
        }

        _ = try await measured(stream(decoding: false))
        _ = try await measured(peer)
        var exports: [Run] = []
        var streams: [Run] = []
        var decodedStreams: [Run] = []
        var peers: [Run] = []
        for _ in 0..<repeats {
            exports.append(try await measured(export))
            streams.append(try await measured(stream(decoding: false)))
            decodedStreams.append(try await measured(stream(decoding: true)))
            peers.append(try await measured(peer))
        }
        guard (streams + decodedStreams).allSatisfy({ $0.rows == rows }) else {
            throw BenchSetupError("the plain gRPC clients received \((streams + decodedStreams).map(\.rows)) events, expected \(rows)")
        }
        func median(_ runs: [Run]) -> Run { runs.sorted { $0.rowsPerSecond < $1.rowsPerSecond }[runs.count / 2] }
        let ourExport = median(exports)
        let ourStream = median(streams)
        let decoded = median(decodedStreams)
        let theirs = median(peers)
        func perRow(_ seconds: Double, _ run: Run) -> Double { seconds * 1e6 / Double(run.rows) }
        func f(_ value: Double) -> String { BenchFormat.value(value) }
        let peerName = "ClickHouse CSV over HTTP"
        let clickHouseSource = clickHousePID == nil ? "system.query_log ProfileEvents (user + system) of the query" : "utime + stime of the ClickHouse process (/proc)"
        let theirCPU = theirs.clickHouseCPU.map { perRow($0, theirs) }
        let common = "\(preparation); year-long row-mode report (12 columns, ordered by time), median of \(repeats) runs after a warm-up"
        func runs(_ list: [Run]) -> String { list.map { f($0.rowsPerSecond) }.joined(separator: ", ") }
        let exportCH = ourExport.clickHouseCPU.map { "; ClickHouse CPU \(f(perRow($0, ourExport))) us/row during it" } ?? ""
        let streamCH = ourStream.clickHouseCPU.map { "; ClickHouse CPU \(f(perRow($0, ourStream))) us/row during it" } ?? ""
        return [
            BenchResult(
                benchmark: "report", figure: "report_export_rows_per_s", value: ourExport.rowsPerSecond, unit: "rows/s",
                peer: peerName, peerValue: theirs.rowsPerSecond, target: ">= 0.5x peer", met: ourExport.rowsPerSecond >= 0.5 * theirs.rowsPerSecond,
                notes: "\(common); `auditpipe report --format csv` to /dev/null (a child process, dev-mode server, no key): \(f(ourExport.seconds)) s; runs \(runs(exports)) rows/s; peer runs \(runs(peers)) rows/s (\(f(theirs.seconds)) s, the same SELECT with FORMAT CSV, read and dropped by this process)\(exportCH)"
            ),
            BenchResult(
                benchmark: "report", figure: "report_stream_rows_per_s", value: ourStream.rowsPerSecond, unit: "rows/s",
                peer: peerName, peerValue: theirs.rowsPerSecond, target: ">= 0.7x peer", met: ourStream.rowsPerSecond >= 0.7 * theirs.rowsPerSecond,
                notes: "\(common); a gRPC client in this process (GRPCClient.serverStreaming with a deserializer that counts each chunk's events from its protobuf field tags; no message objects, no formatting): \(f(ourStream.seconds)) s; runs \(runs(streams)) rows/s; reader CPU \(f(perRow(ourStream.readerCPU, ourStream))) us/row\(streamCH)"
            ),
            BenchResult(
                benchmark: "report", figure: "report_stream_decoded_rows_per_s", value: decoded.rowsPerSecond, unit: "rows/s",
                peer: peerName, peerValue: theirs.rowsPerSecond,
                notes: "\(common); the generated Auditpipe_V1_AuditService client in this process, every chunk decoded into messages by SwiftProtobuf: \(f(decoded.seconds)) s; runs \(runs(decodedStreams)) rows/s; reader CPU \(f(perRow(decoded.readerCPU, decoded))) us/row, server CPU \(f(perRow(decoded.serverCPU, decoded))) us/row"
            ),
            BenchResult(
                benchmark: "report", figure: "report_cli_cpu_us_per_row", value: perRow(ourExport.readerCPU, ourExport), unit: "us/row",
                peer: "ClickHouse CPU per row, its CSV export", peerValue: theirCPU,
                notes: "utime + stime of the `auditpipe report --format csv` process (wait4 rusage) over the median export run; ClickHouse's from \(clickHouseSource)"
            ),
            BenchResult(
                benchmark: "report", figure: "report_server_cpu_us_per_row", value: perRow(ourExport.serverCPU, ourExport), unit: "us/row",
                peer: "ClickHouse CPU per row, its CSV export", peerValue: theirCPU,
                notes: "utime + stime of the `auditpipe serve` process (/proc/PID/stat) over the median export run (\(f(perRow(ourStream.serverCPU, ourStream))) us/row over the plain-client run); ClickHouse's from \(clickHouseSource)"
            ),
        ]
    }

    /// Reads the report with a plain gRPC client; returns the events received. `decoding`: the
    /// generated client, each chunk decoded into messages by SwiftProtobuf; otherwise each chunk
    /// is taken as the bytes it arrived as and its events counted from the protobuf field tags.
    private func plainClient(host: String, port: Int, decoding: Bool) async throws -> Int {
        var request = Auditpipe_V1_ComplianceReportRequest()
        request.tenantID = Self.tenant
        request.fromMs = Self.range.from
        request.toMs = Self.range.to
        return try await withGRPCClient(
            transport: try HTTP2ClientTransport.Posix(target: .dns(host: host, port: port), transportSecurity: .plaintext)
        ) { grpc in
            if decoding {
                return try await Auditpipe_V1_AuditService.Client(wrapping: grpc).complianceReport(request: ClientRequest(message: request)) { response in
                    var count = 0
                    for try await chunk in response.messages { count += chunk.events.count }
                    return count
                }
            }
            return try await grpc.serverStreaming(
                request: ClientRequest(message: request),
                descriptor: Auditpipe_V1_AuditService.Method.ComplianceReport.descriptor,
                serializer: ProtobufSerializer<Auditpipe_V1_ComplianceReportRequest>(),
                deserializer: ChunkEventCount(),
                options: .defaults
            ) { response in
                var count = 0
                for try await events in response.messages { count += events }
                return count
            }
        }
    }

    /// Rows and CPU seconds (user + system) of a finished query, from `system.query_log`.
    private func queryLog(_ client: ClickHouseClient, _ queryID: String) async throws -> (rows: Int, cpuSeconds: Double) {
        _ = try? await client.execute("SYSTEM FLUSH LOGS")
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let answer = try await client.queryCollecting(
                """
                SELECT result_rows, ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']
                FROM system.query_log WHERE type = 'QueryFinish' AND query_id = {id:String} AND event_date >= yesterday()
                FORMAT TabSeparated
                """,
                parameters: ["id": .string(queryID)]
            )
            let fields = String(buffer: answer).split(separator: "\n").first?.split(separator: "\t") ?? []
            if fields.count == 2, let rows = Int(fields[0]), let micros = Double(fields[1]) { return (rows, micros / 1e6) }
            guard ContinuousClock.now < deadline else { throw BenchSetupError("query \(queryID) is not in system.query_log after 30 s") }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// A `ComplianceReportChunk` read as the number of events it holds: its field-1 entries,
/// counted from the tags and lengths of the message's bytes.
package struct ChunkEventCount: MessageDeserializer {
    package init() {}

    package func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Int {
        try serializedMessageBytes.withUnsafeBytes { bytes in
            var reader = ProtobufWire.Reader(bytes)
            var events = 0
            while let (field, wireType) = try reader.tag() {
                if field == 1, wireType == 2 {
                    _ = try reader.bytes()
                    events += 1
                } else {
                    try reader.skip(wireType)
                }
            }
            return events
        }
    }
}

/// A child process run to its end with its resource usage (`wait4`), stdout to /dev/null or
/// counted in lines.
enum ChildProcess {
    struct Outcome {
        var status: Int32
        var cpuSeconds: Double
        var lines: Int
    }

    static func run(executable: String, arguments: [String], countingLines: Bool) async throws -> Outcome {
        try await onDedicatedThread("auditpipe-bench-child") { try runBlocking(executable: executable, arguments: arguments, countingLines: countingLines) }
    }

    private static func runBlocking(executable: String, arguments: [String], countingLines: Bool) throws -> Outcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipe: [Int32] = [-1, -1]
        if countingLines {
            guard Glibc.pipe(&pipe) == 0 else { throw BenchSetupError("pipe() failed: errno \(errno)") }
            posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipe[0])
            posix_spawn_file_actions_addclose(&actions, pipe[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        if countingLines { close(pipe[1]) }
        guard spawned == 0 else {
            if countingLines { close(pipe[0]) }
            throw BenchSetupError("cannot start \(executable): error \(spawned)")
        }
        var lines = 0
        if countingLines {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                for index in 0..<count where buffer[index] == UInt8(ascii: "\n") { lines += 1 }
            }
            close(pipe[0])
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw BenchSetupError("wait4 failed: errno \(errno)") }
        }
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        // Exit status, or 128 + signal.
        let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Outcome(status: exit, cpuSeconds: cpu, lines: lines)
    }
}
