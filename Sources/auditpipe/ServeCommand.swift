import ArgumentParser
import AuditServer
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `auditpipe serve`: runs the server until SIGTERM or SIGINT, then drains gracefully.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the AuditPipe server (gRPC API, HTTP endpoints, Kafka-to-ClickHouse pipeline), or some of its roles.",
        discussion: """
            Stops gracefully on SIGTERM or SIGINT: the gRPC server stops taking new RPCs and \
            answers the ones in flight, then the pipeline flushes and commits what it has written.

            Settings come from flags, then AUDITPIPE_* variables, then the YAML file of --config \
            (or AUDITPIPE_CONFIG), then defaults; docs/configuration.md lists every key. An \
            invalid configuration stops the server before it starts (exit status 78) with one \
            line per problem naming the key; `auditpipe config check FILE` runs the same checks.
            """
    )

    @Option(name: .customLong("roles"), help: "What this process runs: ingest, sink, recent, query, registry or all, comma separated. [env: AUDITPIPE_ROLES, default: every role its settings allow]")
    var roles: String?

    @Option(name: .customLong("grpc-addr"), help: "gRPC listen address host:port. [env: AUDITPIPE_GRPC_ADDR, default 127.0.0.1:50051]")
    var grpcAddress: String?

    @Option(name: .customLong("http-addr"), help: "HTTP listen address host:port for /metrics, /healthz, /readyz. [env: AUDITPIPE_HTTP_ADDR, default 127.0.0.1:8080]")
    var httpAddress: String?

    @Option(name: .customLong("kafka-brokers"), help: "Kafka bootstrap servers, comma separated. [env: AUDITPIPE_KAFKA_BROKERS]")
    var kafkaBrokers: String?

    @Option(name: .customLong("clickhouse-url"), help: "ClickHouse HTTP interface URL. [env: AUDITPIPE_CLICKHOUSE_URL]")
    var clickHouseURL: String?

    @Option(name: .customLong("clickhouse-user"), help: "ClickHouse user. [env: AUDITPIPE_CLICKHOUSE_USER, default default]")
    var clickHouseUser: String?

    @Option(name: .customLong("clickhouse-password"), help: "ClickHouse password; prefer the variable, flags show in `ps`. [env: AUDITPIPE_CLICKHOUSE_PASSWORD]")
    var clickHousePassword: String?

    @Option(name: .customLong("redis-url"), help: "Redis URL redis://[:password@]host:port[/db]. [env: AUDITPIPE_REDIS_URL]")
    var redisURL: String?

    @Option(name: .customLong("events-topic"), help: "Kafka topic for audit events; its registry subject is <topic>-value. [env: AUDITPIPE_EVENTS_TOPIC, default auditpipe.events]")
    var eventsTopic: String?

    @Option(name: .customLong("schema-registry-url"), help: "External Confluent-compatible schema registry. Unset: serve AuditPipe's own registry on the HTTP port. [env: AUDITPIPE_SCHEMA_REGISTRY_URL]")
    var schemaRegistryURL: String?

    @Option(name: .customLong("registry-topic"), help: "Compacted Kafka topic (1 partition) storing the built-in registry. [env: AUDITPIPE_REGISTRY_TOPIC, default _auditpipe_schemas]")
    var registryTopic: String?

    @Option(name: .customLong("schema-version"), help: "Encode events with this version of the subject instead of the latest. [env: AUDITPIPE_SCHEMA_VERSION]")
    var schemaVersion: Int?

    @Option(name: .customLong("produce-timeout-ms"), help: "How long ingest waits for Kafka's acknowledgement before answering UNAVAILABLE. [env: AUDITPIPE_PRODUCE_TIMEOUT_MS, default 10000]")
    var produceTimeoutMilliseconds: Int?

    @Option(name: .customLong("legacy-rules"), help: "YAML mapping rules for legacy JSON producers; enables POST /v1/legacy/{source}. [env: AUDITPIPE_LEGACY_RULES]")
    var legacyRules: String?

    @Option(name: .customLong("quarantine-topic"), help: "Kafka topic for refused legacy events. [env: AUDITPIPE_QUARANTINE_TOPIC, default auditpipe.quarantine]")
    var quarantineTopic: String?

    @Option(name: .customLong("legacy-bridges"), help: "Legacy Kafka topics to bridge, source=topic,source=topic. [env: AUDITPIPE_LEGACY_BRIDGES]")
    var legacyBridges: String?

    @Option(name: .customLong("clickhouse-database"), help: "ClickHouse database for AuditPipe's tables (created when missing). [env: AUDITPIPE_CLICKHOUSE_DATABASE, default auditpipe]")
    var clickHouseDatabase: String?

    @Option(name: .customLong("auth-config"), help: "JSON file of API keys (SHA-256 hashes) and client certificates with their tenants and roles. Unset: development mode, no authentication. [env: AUDITPIPE_AUTH_CONFIG]")
    var authConfig: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain for TLS on the gRPC port. [env: AUDITPIPE_TLS_CERT]")
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for TLS on the gRPC port. [env: AUDITPIPE_TLS_KEY]")
    var tlsKey: String?

    @Option(name: .customLong("tls-client-ca"), help: "PEM CA for client certificates: turns on mutual TLS (every client must present one). [env: AUDITPIPE_TLS_CLIENT_CA]")
    var tlsClientCA: String?

    @Option(name: .customLong("dlq-topic"), help: "Kafka topic for records that can never be written to ClickHouse. [env: AUDITPIPE_DLQ_TOPIC, default auditpipe.events.dlq]")
    var deadLetterTopic: String?

    @Option(name: .customLong("sink-group"), help: "Consumer group of the ClickHouse sink (instances sharing it split the partitions). [env: AUDITPIPE_SINK_GROUP, default auditpipe-sink]")
    var sinkGroup: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. [env: AUDITPIPE_LOG_LEVEL, default info]")
    var logLevel: String?

    @Option(name: .customLong("config"), help: "YAML configuration file; flags and AUDITPIPE_* variables override it (docs/configuration.md). [env: AUDITPIPE_CONFIG]")
    var configFile: String?

    /// The flags given, by configuration key (see `ConfigurationKeys`).
    var flagSettings: [String: String] {
        var flags: [String: String] = [:]
        func set(_ key: String, _ value: String?) { if let value { flags[key] = value } }
        set("server.roles", roles)
        set("grpc.address", grpcAddress)
        set("http.address", httpAddress)
        set("kafka.brokers", kafkaBrokers)
        set("kafka.events_topic", eventsTopic)
        set("kafka.dead_letter_topic", deadLetterTopic)
        set("kafka.quarantine_topic", quarantineTopic)
        set("kafka.produce_timeout_ms", produceTimeoutMilliseconds.map(String.init))
        set("clickhouse.url", clickHouseURL)
        set("clickhouse.user", clickHouseUser)
        set("clickhouse.password", clickHousePassword)
        set("clickhouse.database", clickHouseDatabase)
        set("redis.url", redisURL)
        set("schema_registry.url", schemaRegistryURL)
        set("schema_registry.topic", registryTopic)
        set("schema_registry.version", schemaVersion.map(String.init))
        set("sink.group", sinkGroup)
        set("legacy.rules", legacyRules)
        set("legacy.bridges", legacyBridges)
        set("auth.config", authConfig)
        set("grpc.tls.certificate", tlsCertificate)
        set("grpc.tls.private_key", tlsKey)
        set("grpc.tls.client_ca", tlsClientCA)
        set("log.level", logLevel)
        return flags
    }

    func run() async throws {
        // Flags > AUDITPIPE_* variables > the configuration file > defaults, validated before
        // anything starts; every problem names its key.
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigurationLoader.load(file: configFile, environment: ProcessInfo.processInfo.environment, flags: flagSettings)
        } catch {
            FileHandle.standardError.write(Data("auditpipe: the configuration is invalid:\n\(error.description)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let configuration = loaded.configuration
        let level = loaded.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "auditpipe")
        for warning in loaded.warnings { logger.warning("\(warning)") }
        if let file = loaded.file { logger.info("configuration loaded", metadata: ["file": "\(file)"]) }

        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))

        let server = try AuditPipeServer(configuration: configuration, metrics: metrics, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
