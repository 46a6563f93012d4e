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
        abstract: "Run the AuditPipe server (gRPC API, HTTP endpoints, Kafka-to-ClickHouse pipeline).",
        discussion: """
            Stops gracefully on SIGTERM or SIGINT: the gRPC server stops taking new RPCs and \
            answers the ones in flight, then the pipeline flushes and commits what it has written.
            """
    )

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

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func setting(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }

        func integer(_ flag: Int?, _ variable: String, flag name: String) throws -> Int? {
            if let flag { return flag }
            guard let text = environment[variable], !text.isEmpty else { return nil }
            guard let value = Int(text) else { throw ValidationError("invalid \(name) / \(variable) `\(text)`: expected a whole number") }
            return value
        }

        var configuration = AuditPipeConfiguration()
        if let value = setting(grpcAddress, "AUDITPIPE_GRPC_ADDR") {
            configuration.grpcAddress = try HostAndPort(parsing: value, setting: "--grpc-addr / AUDITPIPE_GRPC_ADDR")
        }
        if let value = setting(httpAddress, "AUDITPIPE_HTTP_ADDR") {
            configuration.httpAddress = try HostAndPort(parsing: value, setting: "--http-addr / AUDITPIPE_HTTP_ADDR")
        }
        configuration.kafkaBrokers = setting(kafkaBrokers, "AUDITPIPE_KAFKA_BROKERS") ?? configuration.kafkaBrokers
        configuration.clickHouseURL = setting(clickHouseURL, "AUDITPIPE_CLICKHOUSE_URL") ?? configuration.clickHouseURL
        configuration.clickHouseUser = setting(clickHouseUser, "AUDITPIPE_CLICKHOUSE_USER") ?? configuration.clickHouseUser
        configuration.clickHousePassword = setting(clickHousePassword, "AUDITPIPE_CLICKHOUSE_PASSWORD") ?? configuration.clickHousePassword
        configuration.redisURL = setting(redisURL, "AUDITPIPE_REDIS_URL") ?? configuration.redisURL
        configuration.clickHouseDatabase = setting(clickHouseDatabase, "AUDITPIPE_CLICKHOUSE_DATABASE") ?? configuration.clickHouseDatabase
        configuration.authConfigPath = setting(authConfig, "AUDITPIPE_AUTH_CONFIG")
        configuration.tlsCertificatePath = setting(tlsCertificate, "AUDITPIPE_TLS_CERT")
        configuration.tlsPrivateKeyPath = setting(tlsKey, "AUDITPIPE_TLS_KEY")
        configuration.tlsClientCAPath = setting(tlsClientCA, "AUDITPIPE_TLS_CLIENT_CA")
        configuration.cursorKey = setting(nil, "AUDITPIPE_CURSOR_KEY")
        configuration.deadLetterTopic = setting(deadLetterTopic, "AUDITPIPE_DLQ_TOPIC") ?? configuration.deadLetterTopic
        configuration.sinkGroup = setting(sinkGroup, "AUDITPIPE_SINK_GROUP") ?? configuration.sinkGroup
        configuration.legacyRulesPath = setting(legacyRules, "AUDITPIPE_LEGACY_RULES")
        configuration.quarantineTopic = setting(quarantineTopic, "AUDITPIPE_QUARANTINE_TOPIC") ?? configuration.quarantineTopic
        if let bridges = setting(legacyBridges, "AUDITPIPE_LEGACY_BRIDGES") {
            for pair in bridges.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ValidationError("invalid --legacy-bridges / AUDITPIPE_LEGACY_BRIDGES entry `\(pair)`: write source=topic")
                }
                configuration.legacyBridges[parts[0]] = parts[1]
            }
        }
        configuration.eventsTopic = setting(eventsTopic, "AUDITPIPE_EVENTS_TOPIC") ?? configuration.eventsTopic
        configuration.schemaRegistryURL = setting(schemaRegistryURL, "AUDITPIPE_SCHEMA_REGISTRY_URL") ?? configuration.schemaRegistryURL
        configuration.registryTopic = setting(registryTopic, "AUDITPIPE_REGISTRY_TOPIC") ?? configuration.registryTopic
        configuration.schemaVersion = try integer(schemaVersion, "AUDITPIPE_SCHEMA_VERSION", flag: "--schema-version") ?? configuration.schemaVersion
        configuration.produceTimeoutMilliseconds =
            try integer(produceTimeoutMilliseconds, "AUDITPIPE_PRODUCE_TIMEOUT_MS", flag: "--produce-timeout-ms") ?? configuration.produceTimeoutMilliseconds

        let levelName = setting(logLevel, "AUDITPIPE_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("invalid --log-level / AUDITPIPE_LOG_LEVEL `\(levelName)`: use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "auditpipe")

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
