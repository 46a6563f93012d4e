import ArgumentParser
import AuditBench
import Foundation
import Logging

/// `auditpipe-tools bench`: the benchmarks. Each subcommand measures our figure and its peer or ceiling
/// in the same run, prints a table on stderr and one JSON line per figure on stdout.
/// `Deploy/bench/run` runs them all and writes BENCHMARKS.md.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each side by side with its peer or ceiling (Deploy/bench/run runs them all).",
        discussion: """
            Every subcommand prints a human table on stderr and one JSON object per figure on \
            stdout: {"benchmark","figure","value","unit","peer","peer_value","ratio","target",\
            "met","notes"}. ingest and legacy measure a running server (--grpc-addr, \
            --http-addr); sink, report and recent start what they need on the dev stack (source \
            .dev/env). --quick runs each figure for a few seconds (CI). Run them in a release \
            build: `swift build -c release`.
            """,
        subcommands: [BenchIngest.self, BenchLegacy.self, BenchSink.self, BenchReport.self, BenchRecent.self]
    )
}

/// Options shared by the benchmark subcommands: where the server is, and what to print.
struct BenchCommonOptions: ParsableArguments {
    @Option(name: .customLong("grpc-addr"), help: "The server's gRPC address host:port. [env: AUDITPIPE_GRPC_ADDR, default 127.0.0.1:50051]")
    var grpcAddress: String?

    @Option(name: .customLong("http-addr"), help: "The server's HTTP address host:port (schema registry, legacy intake). [env: AUDITPIPE_HTTP_ADDR, default 127.0.0.1:8080]")
    var httpAddress: String?

    @Option(name: .customLong("api-key-env"), help: "The environment variable holding the API key, sent as a bearer token when set.")
    var apiKeyEnvironmentVariable = "AUDITPIPE_API_KEY"

    @Flag(help: "A few seconds per figure (for CI) instead of about 20 s.")
    var quick = false

    @Option(name: .customLong("markdown"), help: "Also write the results as a markdown table to this file (overwritten).")
    var markdownPath: String?

    @Flag(help: "Exit with status 1 when a figure misses its target (default: only when the benchmark cannot run).")
    var strict = false

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func grpc() throws -> (host: String, port: Int) {
        try Self.hostAndPort(grpcAddress ?? environment["AUDITPIPE_GRPC_ADDR"] ?? "127.0.0.1:50051", flag: "--grpc-addr")
    }

    func httpBaseURL() throws -> String {
        let address = try Self.hostAndPort(httpAddress ?? environment["AUDITPIPE_HTTP_ADDR"] ?? "127.0.0.1:8080", flag: "--http-addr")
        return "http://\(address.host):\(address.port)"
    }

    var apiKey: String? { environment[apiKeyEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 } }

    static func hostAndPort(_ text: String, flag: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("\(flag) '\(text)' must be host:port")
        }
        let host = String(text[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// Parses `20`, `20s`, `1.5s`, `2m`, `500ms` into seconds.
    static func seconds(_ text: String, flag: String) throws -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 { return value * scale }
            throw ValidationError("\(flag) '\(text)' must be a positive duration such as 20s, 500ms or 2m")
        }
        guard let value = Double(text), value > 0 else {
            throw ValidationError("\(flag) '\(text)' must be a positive duration such as 20s, 500ms or 2m")
        }
        return value
    }

    /// Prints the table on stderr, one JSON line per figure on stdout, and the markdown file.
    func emit(_ results: [BenchResult]) throws {
        FileHandle.standardError.write(Data(("\n" + BenchResult.table(results) + "\n").utf8))
        for result in results {
            print(result.jsonLine)
        }
        if let markdownPath {
            try (BenchResult.markdownTable(results) + "\n").write(toFile: markdownPath, atomically: true, encoding: .utf8)
        }
        if strict, results.contains(where: { $0.met == false }) {
            throw ExitCode(1)
        }
    }

    static func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// `auditpipe-tools bench ingest`.
struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest latency and throughput through the Swift client, next to Confluent's Python producer (peer) and raw librdkafka (ceiling).",
        discussion: """
            Against a running `auditpipe serve` (its gRPC port, and its HTTP port for the schema \
            registry), in one run: (1) the Ingest stream at a fixed open-loop rate, ack latency \
            p50/p99 per event (target: p99 at most 3x raw librdkafka's in the same run, 1.5x against \
            a server without sinks); (2) max throughput of the \
            Ingest stream (bounded window) and of IngestBatch. The peer, Deploy/bench/confluent_peer.py, \
            validates the same events with the same rules, serializes them with Confluent's \
            AvroSerializer (schema from the registry) and produces them with acks=all and idempotence; \
            the ceiling produces the same pre-encoded bytes with our KafkaProducer and no validation. \
            Both write to a topic of their own, <events-topic>.peers, so that the server's sinks \
            do not spend the server's CPU on their records. Targets with the sinks running: the stream \
            >= 2x the peer's throughput, IngestBatch >= 4x; the server's CPU per event without sinks \
            <= 2x the ceiling process's.

            Example (dev stack up, server running):
              auditpipe-tools bench ingest --kafka-brokers "$AUDITPIPE_KAFKA_BROKERS" --quick
            """
    )

    @OptionGroup var common: BenchCommonOptions

    @Option(name: .customLong("kafka-brokers"), help: "The Kafka cluster the server produces to (for the peer and the ceiling). [env: AUDITPIPE_KAFKA_BROKERS]")
    var kafkaBrokers: String?

    @Option(name: .customLong("events-topic"), help: "The server's events topic; registry subject <topic>-value. [env: AUDITPIPE_EVENTS_TOPIC, default auditpipe.events]")
    var eventsTopic: String?

    @Option(name: .customLong("schema-registry-url"), help: "The registry the peer reads. Default: the server's own on its HTTP port. [env: AUDITPIPE_SCHEMA_REGISTRY_URL]")
    var schemaRegistryURL: String?

    @Option(help: "Fixed rate of the latency figures, events/s.")
    var rate: Double = 5000

    @Option(help: "Length of each figure's run: 20s, 1m. Default 20s (3s with --quick).")
    var duration: String?

    @Option(help: "Unacknowledged events allowed in the max-throughput runs (stream, peer and ceiling alike).")
    var window = 1024

    @Option(name: .customLong("batch-size"), help: "Events per IngestBatch call in the batch throughput run.")
    var batchSize = 500

    @Option(name: .customLong("batch-concurrency"), help: "Concurrent IngestBatch calls in the batch throughput run.")
    var batchConcurrency = 4

    @Option(help: "Python with confluent-kafka[avro,schemaregistry] for the peer. [env: AUDITPIPE_PYTHON]")
    var python: String?

    @Option(name: .customLong("peer-script"), help: "The peer script.")
    var peerScript = "Deploy/bench/confluent_peer.py"

    @Flag(name: .customLong("skip-peer"), help: "Do not run the Confluent Python peer.")
    var skipPeer = false

    @Flag(name: .customLong("skip-ceiling"), help: "Do not run the raw librdkafka ceiling.")
    var skipCeiling = false

    @Option(
        name: .customLong("figure-suffix"),
        help: "Appended to every figure name, to tell runs against differently configured servers apart in one table (Deploy/bench/run uses _ingest_only for a server started without sinks)."
    )
    var figureSuffix = ""

    @Option(
        name: .customLong("server-pid"),
        help: "The server's process id: its CPU time (utime + stime from /proc/PID/stat) per acknowledged event is reported next to the ceiling's, measured in the same run."
    )
    var serverPID: Int32?

    @Flag(
        name: .customLong("server-without-sinks"),
        help: "The server runs without sinks: its CPU figure is server_cpu_us_per_event (target <= 2x the ceiling's) instead of server_cpu_us_per_event_with_sinks."
    )
    var serverWithoutSinks = false

    func run() async throws {
        let environment = common.environment
        var configuration = IngestBenchmarkConfiguration()
        configuration.serverPID = serverPID
        configuration.serverRunsSinks = !serverWithoutSinks
        let grpc = try common.grpc()
        configuration.grpcHost = grpc.host
        configuration.grpcPort = grpc.port
        configuration.apiKey = common.apiKey
        configuration.httpBaseURL = try common.httpBaseURL()
        configuration.registryURL = schemaRegistryURL ?? environment["AUDITPIPE_SCHEMA_REGISTRY_URL"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.kafkaBrokers = (kafkaBrokers ?? environment["AUDITPIPE_KAFKA_BROKERS"] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        configuration.eventsTopic = eventsTopic ?? environment["AUDITPIPE_EVENTS_TOPIC"] ?? "auditpipe.events"
        configuration.rate = rate
        let seconds = try duration.map { try BenchCommonOptions.seconds($0, flag: "--duration") } ?? (common.quick ? 3 : 20)
        configuration.rateDurationSeconds = seconds
        configuration.maxDurationSeconds = seconds
        configuration.warmupSeconds = common.quick ? 1 : 2
        configuration.window = window
        configuration.batchSize = batchSize
        configuration.batchConcurrency = batchConcurrency
        configuration.skipCeiling = skipCeiling
        configuration.figureSuffix = figureSuffix
        if !skipPeer {
            guard let python = python ?? environment["AUDITPIPE_PYTHON"], !python.isEmpty else {
                throw ValidationError("the peer needs Python with confluent-kafka: pass --python or set AUDITPIPE_PYTHON (source .dev/env), or --skip-peer")
            }
            guard FileManager.default.fileExists(atPath: peerScript) else {
                throw ValidationError("--peer-script \(peerScript) does not exist; run from the repository root or pass its path")
            }
            configuration.python = python
            configuration.peerScript = peerScript
        }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        var logger = Logger(label: "auditpipe.bench")
        logger.logLevel = .warning
        let results = try await IngestBenchmark.run(configuration, logger: logger, progress: { BenchCommonOptions.progress($0) })
        try common.emit(results)
    }
}

/// `auditpipe-tools bench legacy`.
struct BenchLegacy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legacy",
        abstract: "Mapped events/s through the legacy JSON intake, next to IngestBatch of the same events already canonical (ceiling).",
        discussion: """
            Against a running `auditpipe serve` started with --legacy-rules: posts batches of \
            `auth-gateway` records (NDJSON or a JSON array) to POST /v1/legacy/auth-gateway from \
            several concurrent requests, then sends the same events, mapped up front with the same \
            rules, through IngestBatch with the same batch size and concurrency.

            Example:
              auditpipe-tools bench legacy --legacy-rules Deploy/legacy-rules.yaml --quick
            """
    )

    @OptionGroup var common: BenchCommonOptions

    @Option(name: .customLong("legacy-rules"), help: "The mapping rules the server runs with. [env: AUDITPIPE_LEGACY_RULES, default Deploy/legacy-rules.yaml]")
    var rulesPath: String?

    @Option(help: "Length of each figure's run: 20s, 1m. Default 20s (3s with --quick).")
    var duration: String?

    @Option(name: .customLong("batch-size"), help: "Events per request (legacy POST and IngestBatch alike).")
    var batchSize = 200

    @Option(help: "Concurrent requests (both sides).")
    var concurrency = 8

    @Flag(help: "Send JSON arrays instead of NDJSON.")
    var array = false

    func run() async throws {
        var configuration = LegacyBenchmarkConfiguration()
        let grpc = try common.grpc()
        configuration.grpcHost = grpc.host
        configuration.grpcPort = grpc.port
        configuration.apiKey = common.apiKey
        configuration.httpBaseURL = try common.httpBaseURL()
        configuration.rulesPath = rulesPath ?? common.environment["AUDITPIPE_LEGACY_RULES"] ?? "Deploy/legacy-rules.yaml"
        configuration.durationSeconds = try duration.map { try BenchCommonOptions.seconds($0, flag: "--duration") } ?? (common.quick ? 3 : 20)
        configuration.warmupSeconds = common.quick ? 1 : 2
        configuration.batchSize = batchSize
        configuration.concurrency = concurrency
        configuration.ndjson = !array
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        let results = try await LegacyBenchmark.run(configuration, progress: { BenchCommonOptions.progress($0) })
        try common.emit(results)
    }
}
