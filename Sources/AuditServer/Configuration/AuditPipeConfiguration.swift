import Foundation
import KafkaClient

/// Everything `auditpipe serve` needs to run. The executable fills it from flags and `AUDITPIPE_*`
/// environment variables (see README.md, "Configuration reference"); defaults are safe for a
/// single local instance.
public struct AuditPipeConfiguration: Sendable {
    /// The roles this process runs (`server.roles`, `AUDITPIPE_ROLES`, `--roles`); nil: every role
    /// its settings allow (``roles``).
    public var requestedRoles: Set<ServerRole>?
    /// Where the gRPC API listens (`AUDITPIPE_GRPC_ADDR`).
    public var grpcAddress = HostAndPort(host: "127.0.0.1", port: 50051)
    /// Where the HTTP endpoints listen: metrics, health, the schema registry API, legacy JSON
    /// (`AUDITPIPE_HTTP_ADDR`).
    public var httpAddress = HostAndPort(host: "127.0.0.1", port: 8080)
    /// Kafka bootstrap servers, comma separated (`AUDITPIPE_KAFKA_BROKERS`).
    public var kafkaBrokers: String = ""
    /// ClickHouse HTTP interface URL (`AUDITPIPE_CLICKHOUSE_URL`).
    public var clickHouseURL: String = ""
    /// ClickHouse user and password (`AUDITPIPE_CLICKHOUSE_USER`, `AUDITPIPE_CLICKHOUSE_PASSWORD`).
    public var clickHouseUser: String = "default"
    public var clickHousePassword: String = ""
    /// The ClickHouse database holding AuditPipe's tables (`AUDITPIPE_CLICKHOUSE_DATABASE`);
    /// created at start when missing.
    public var clickHouseDatabase: String = "auditpipe"
    /// Redis URL, `redis://[:password@]host:port[/db]` (`AUDITPIPE_REDIS_URL`).
    public var redisURL: String = ""
    /// The Kafka topic audit events are written to (`AUDITPIPE_EVENTS_TOPIC`). Its schema registry
    /// subject is `<topic>-value`.
    public var eventsTopic: String = "auditpipe.events"
    /// An external Confluent-compatible schema registry (`AUDITPIPE_SCHEMA_REGISTRY_URL`). Empty:
    /// AuditPipe serves its own registry on the HTTP port, stored in `registryTopic`.
    public var schemaRegistryURL: String = ""
    /// The compacted Kafka topic that stores the built-in registry (`AUDITPIPE_REGISTRY_TOPIC`).
    public var registryTopic: String = "_auditpipe_schemas"
    /// The schema version events are encoded with (`AUDITPIPE_SCHEMA_VERSION`): nil for the latest.
    public var schemaVersion: Int?

    /// Where records that can never be written go, with the reason in headers
    /// (`AUDITPIPE_DLQ_TOPIC`).
    public var deadLetterTopic: String = "auditpipe.events.dlq"
    /// The sink's consumer group (`AUDITPIPE_SINK_GROUP`); the recent-events sink uses
    /// `<group>-recent` and the dead-letter re-driver `<group>-dlq-redriver`. Instances sharing
    /// the group split the partitions.
    public var sinkGroup: String = "auditpipe-sink"
    /// The legacy mapping rules (`AUDITPIPE_LEGACY_RULES`, a YAML file). Unset: no legacy intake.
    public var legacyRulesPath: String?
    /// Where refused legacy events go, with their original bytes and reasons
    /// (`AUDITPIPE_QUARANTINE_TOPIC`).
    public var quarantineTopic: String = "auditpipe.quarantine"
    /// Legacy Kafka topics to bridge, as source name → topic (`AUDITPIPE_LEGACY_BRIDGES`,
    /// `source=topic,source=topic`). Each source must have mapping rules.
    public var legacyBridges: [String: String] = [:]

    /// API keys and client certificates with their tenants and roles (`AUDITPIPE_AUTH_CONFIG`, a
    /// JSON file; see README "Authentication"). Unset: development mode, every caller is an
    /// administrator of every tenant (the server logs a warning).
    public var authConfigPath: String?
    /// TLS for the gRPC port (`AUDITPIPE_TLS_CERT`, `AUDITPIPE_TLS_KEY`); with
    /// `AUDITPIPE_TLS_CLIENT_CA` clients must present a certificate signed by that CA.
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    public var tlsClientCAPath: String?
    /// The secret that signs report cursors (`AUDITPIPE_CURSOR_KEY`); give every instance the
    /// same one. Unset: a random key per process (cursors do not survive a restart).
    public var cursorKey: String?

    /// How long ingest waits for Kafka to acknowledge an event before answering UNAVAILABLE
    /// (`AUDITPIPE_PRODUCE_TIMEOUT_MS`, librdkafka's delivery timeout). Default 10 s: callers retry
    /// with the same event_id rather than wait minutes.
    public var produceTimeoutMilliseconds: Int = 10_000

    /// How long the producer lets records gather before it sends them (`kafka.linger_ms`,
    /// `AUDITPIPE_KAFKA_LINGER_MS`, librdkafka's `linger.ms`). Default 25 ms
    /// (`KafkaProducerConfiguration.lingerMilliseconds` says why); lower it for a lower
    /// acknowledgement latency on an idle cluster, at more CPU per event under load.
    public var kafkaLingerMilliseconds: Int = KafkaProducerConfiguration(bootstrapServers: []).lingerMilliseconds

    /// How the sink's insert bodies travel to ClickHouse (`clickhouse.insert_compression`,
    /// `AUDITPIPE_CLICKHOUSE_INSERT_COMPRESSION`): `none` (default; loopback or a fast network)
    /// or `gzip` (a remote ClickHouse over a slow link).
    public var clickHouseInsertGzip: Bool = false

    /// The ClickHouse sink cuts a batch at this many rows (`sink.batch_max_rows`,
    /// `AUDITPIPE_SINK_BATCH_MAX_ROWS`). Default 50,000 (a backlog goes in large batches: fewer
    /// parts, and fewer statements, each of which costs ClickHouse a few milliseconds).
    public var sinkBatchMaxRows: Int = 50_000
    /// ... or when its oldest record has waited this long (`sink.batch_max_delay_ms`,
    /// `AUDITPIPE_SINK_BATCH_MAX_DELAY_MS`). Default 500 ms (`AuditSinkConfiguration.maxBatchDelay`
    /// says why).
    public var sinkBatchMaxDelayMilliseconds: Int = 500
    /// How often the consumer-lag gauges of the sink and recent-events groups are refreshed
    /// (`sink.lag_interval_ms`, `AUDITPIPE_LAG_INTERVAL_MS`). Default 5,000 ms.
    public var lagIntervalMilliseconds: Int = 5_000

    /// Whether the sink puts every stored row on its tenant's hash chain
    /// (`integrity.hash_chain`, `AUDITPIPE_HASH_CHAIN`). Default true; off only to measure its cost.
    public var hashChain: Bool = true
    /// The file holding the Ed25519 seed that signs chain checkpoints
    /// (`integrity.checkpoint_key_file`, `AUDITPIPE_CHECKPOINT_KEY_FILE`; make one with
    /// `auditpipe verify keygen`). Unset: no checkpoints are signed.
    public var checkpointKeyFile: String?
    /// Public keys (hex or base64) that the `Verify` RPC trusts besides the signing key's own,
    /// e.g. keys rotated out (`integrity.public_keys`, `AUDITPIPE_CHECKPOINT_PUBLIC_KEYS`, comma-separated).
    public var checkpointPublicKeys: [String] = []
    /// An advanced chain is signed at least this often (`integrity.checkpoint_interval_ms`,
    /// `AUDITPIPE_CHECKPOINT_INTERVAL_MS`). Default 60,000 ms.
    public var checkpointIntervalMilliseconds: Int = 60_000
    /// ... and once it advanced this many events (`integrity.checkpoint_every_events`,
    /// `AUDITPIPE_CHECKPOINT_EVERY_EVENTS`). Default 10,000.
    public var checkpointEveryEvents: Int = 10_000
    /// The Kafka topic checkpoints are published to (`integrity.checkpoint_topic`,
    /// `AUDITPIPE_CHECKPOINT_TOPIC`). Default `auditpipe.checkpoints`; empty publishes none.
    public var checkpointTopic: String = "auditpipe.checkpoints"
    /// A directory receiving one JSON file per checkpoint for an external witness
    /// (`integrity.checkpoint_export_dir`, `AUDITPIPE_CHECKPOINT_EXPORT_DIR`). Unset: none.
    public var checkpointExportDirectory: String?

    /// MAX_CONCURRENT_STREAMS advertised on each gRPC connection (`grpc.max_concurrent_streams`,
    /// `AUDITPIPE_GRPC_MAX_CONCURRENT_STREAMS`). Default 100.
    public var grpcMaxConcurrentStreams: Int = 100
    /// An Ingest stream that sends nothing for this long, with none of its events in flight, is
    /// ended with DEADLINE_EXCEEDED (`grpc.stream_idle_timeout_ms`,
    /// `AUDITPIPE_GRPC_STREAM_IDLE_TIMEOUT_MS`). Default 300,000 ms.
    public var grpcStreamIdleTimeoutMilliseconds: Int = 300_000
    /// `session.timeout.ms` of every consumer group member of this instance
    /// (`kafka.session_timeout_ms`, `AUDITPIPE_KAFKA_SESSION_TIMEOUT_MS`). Default 6,000 ms, the
    /// smallest a Kafka broker accepts by default (`group.min.session.timeout.ms`): a killed
    /// instance's partitions move after about this long.
    public var kafkaSessionTimeoutMilliseconds: Int = 6_000
    /// `group.instance.id` of every consumer group member of this instance: static membership
    /// on a Kafka broker that supports it (`kafka.group_instance_id`,
    /// `AUDITPIPE_KAFKA_GROUP_INSTANCE_ID`). Unset: dynamic membership.
    public var kafkaGroupInstanceID: String?

    /// The bootstrap servers as a list.
    public var kafkaBootstrapServers: [String] {
        kafkaBrokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public init() {}

    /// The roles this process runs: the requested ones, or by default ingest, the built-in
    /// registry when no external one is named, the sink and the query side when ClickHouse is
    /// configured, and recent events when Redis is.
    public var roles: Set<ServerRole> {
        requestedRoles ?? Set(ServerRole.allCases.filter { $0.missingSetting(in: self) == nil })
    }

    /// Checks the settings that can be checked without connecting anywhere.
    public func validate() throws(ConfigurationError) {
        if kafkaBootstrapServers.isEmpty {
            throw ConfigurationError(
                setting: "AUDITPIPE_KAFKA_BROKERS",
                problem: "no Kafka bootstrap servers; set --kafka-brokers or AUDITPIPE_KAFKA_BROKERS (for the dev stack: source .dev/env after Deploy/dev/up)"
            )
        }
        if let requestedRoles {
            if requestedRoles.isEmpty {
                throw ConfigurationError(setting: "AUDITPIPE_ROLES", problem: "no role; name at least one of \(ServerRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            for role in requestedRoles.sorted() {
                if let (setting, problem) = role.missingSetting(in: self) { throw ConfigurationError(setting: setting, problem: problem) }
            }
        }
        if eventsTopic.isEmpty {
            throw ConfigurationError(setting: "AUDITPIPE_EVENTS_TOPIC", problem: "the events topic name is empty")
        }
        if !legacyBridges.isEmpty, legacyRulesPath == nil {
            throw ConfigurationError(setting: "AUDITPIPE_LEGACY_BRIDGES", problem: "bridges need mapping rules; set AUDITPIPE_LEGACY_RULES too")
        }
        if (tlsCertificatePath == nil) != (tlsPrivateKeyPath == nil) {
            throw ConfigurationError(setting: "AUDITPIPE_TLS_CERT / AUDITPIPE_TLS_KEY", problem: "set both the certificate chain and the private key, or neither")
        }
        if tlsClientCAPath != nil, tlsCertificatePath == nil {
            throw ConfigurationError(setting: "AUDITPIPE_TLS_CLIENT_CA", problem: "mutual TLS needs the server's own certificate and key (AUDITPIPE_TLS_CERT, AUDITPIPE_TLS_KEY)")
        }
        if let schemaVersion, schemaVersion < 1 {
            throw ConfigurationError(setting: "AUDITPIPE_SCHEMA_VERSION", problem: "\(schemaVersion) is not a version; versions start at 1 (leave it unset for the latest)")
        }
        if checkpointIntervalMilliseconds < 1 || checkpointEveryEvents < 1 {
            throw ConfigurationError(
                setting: "AUDITPIPE_CHECKPOINT_INTERVAL_MS / AUDITPIPE_CHECKPOINT_EVERY_EVENTS",
                problem: "checkpoints need a positive interval and a positive number of events"
            )
        }
        if grpcAddress == httpAddress, grpcAddress.port != 0 {
            throw ConfigurationError(
                setting: "AUDITPIPE_HTTP_ADDR",
                problem: "the HTTP address \(httpAddress) is the same as the gRPC address; give each its own port"
            )
        }
    }
}
