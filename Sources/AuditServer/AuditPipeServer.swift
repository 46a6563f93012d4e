import AuditAuth
import AuditIngest
import AuditIntegrity
import AuditQuery
import AuditSink
import RedisClient
import ClickHouseHTTP
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KafkaClient
import LegacyMapping
import Metrics
import SchemaRegistry
public import Logging
public import Prometheus
public import ServiceLifecycle

/// The whole AuditPipe server: the gRPC API, the HTTP endpoints and the pipeline that runs behind
/// them, as one `Service`.
///
/// Components start in dependency order and stop in reverse: on graceful shutdown the gRPC
/// server stops accepting RPCs first and finishes the ones in flight, the HTTP server follows,
/// and the pipeline components stop last.
public struct AuditPipeServer: Service {
    public let configuration: AuditPipeConfiguration
    private let logger: Logger
    private let metrics: PrometheusCollectorRegistry
    private let health: HealthStatusRegistry
    private let onListening: @Sendable (ListeningAddresses) async -> Void

    /// The ports the server actually bound (useful when the configuration asks for port 0).
    public struct ListeningAddresses: Sendable {
        public var grpcPort: Int
        public var httpPort: Int
    }

    /// - Parameters:
    ///   - metrics: the registry `/metrics` serves; bootstrap swift-metrics with a
    ///     `PrometheusMetricsFactory` over the same registry to export the server's metrics.
    ///   - onListening: called once both the gRPC and the HTTP server listen.
    public init(
        configuration: AuditPipeConfiguration,
        metrics: PrometheusCollectorRegistry,
        logger: Logger,
        onListening: @escaping @Sendable (ListeningAddresses) async -> Void = { _ in }
    ) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.health = HealthStatusRegistry()
        self.onListening = onListening
    }

    public func run() async throws {
        let ports = PortRendezvous { ports in
            logger.info(
                "AuditPipe is listening",
                metadata: [
                    "grpc": "\(configuration.grpcAddress.host):\(ports.grpcPort)",
                    "http": "\(configuration.httpAddress.host):\(ports.httpPort)",
                ]
            )
            await onListening(ports)
        }
        let brokers = configuration.kafkaBootstrapServers
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: brokers)
        producerConfiguration.clientID = "auditpipe-ingest"
        producerConfiguration.deliveryTimeoutMilliseconds = configuration.produceTimeoutMilliseconds
        producerConfiguration.lingerMilliseconds = configuration.kafkaLingerMilliseconds
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)

        /// Every consumer group member of this instance: the same membership settings.
        func consumerConfiguration(group: String) -> KafkaConsumerConfiguration {
            var consumer = KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: group)
            consumer.groupInstanceID = configuration.kafkaGroupInstanceID
            consumer.sessionTimeoutMilliseconds = configuration.kafkaSessionTimeoutMilliseconds
            consumer.heartbeatIntervalMilliseconds = max(1, configuration.kafkaSessionTimeoutMilliseconds / 3)
            // Freshness: a broker that finds nothing to return holds a fetch for up to this long.
            // Kafka answers as soon as data arrives, but librdkafka's mock cluster (the dev stack)
            // always waits the full time (rdkafka_mock_handlers.c: "isn't strictly correct"); with
            // librdkafka's 500 ms default a fetch sent between two produce requests came back up
            // to 500 ms late, in every group. 100 ms costs an idle partition leader
            // ten small fetches a second.
            consumer.additionalProperties["fetch.wait.max.ms"] = "100"
            return consumer
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let schemaSource: any SchemaSource
        var registryAPI: SchemaRegistryHTTPAPI?
        let policy = SchemaVersionPolicy(pinned: configuration.schemaVersion.map { [configuration.eventsTopic: Int32($0)] } ?? [:])
        if configuration.schemaRegistryURL.isEmpty {
            var logConfiguration = KafkaRegistryLog.Configuration(bootstrapServers: brokers)
            logConfiguration.topic = configuration.registryTopic
            let log = try await KafkaRegistryLog.open(configuration: logConfiguration, logger: logger)
            let registry = SchemaRegistryService(log: log, logger: logger)
            schemaSource = LocalSchemaSource(registry: registry, policy: policy)
            registryAPI = SchemaRegistryHTTPAPI(registry: registry)
            // Not ready before the first look at /readyz: Ingest refuses events until the log is read.
            health.set("registry", .notServing(reason: "replaying the registry log"))
            services.append(.init(service: EmbeddedRegistryService(
                registry: registry, log: log, eventsTopic: configuration.eventsTopic, health: health, logger: logger
            )))
        } else {
            // auditpipe_registry_cache_total{result}: every series exists from the start, at 0.
            let cacheCounters = Dictionary(uniqueKeysWithValues: SchemaCacheResult.allCases.map {
                ($0, Counter(label: "auditpipe_registry_cache_total", dimensions: [("result", $0.rawValue)]))
            })
            let client = try SchemaRegistryClient(
                configuration: SchemaRegistryClientConfiguration(baseURL: configuration.schemaRegistryURL),
                logger: logger,
                cacheObserver: { result in cacheCounters[result]?.increment() }
            )
            schemaSource = RegistrySchemaSource(client: client, policy: policy)
        }
        services.append(.init(service: KafkaProducerService(producer: producer)))
        var probes: [ReadinessProbes.Probe] = [
            .init(name: "kafka") { [eventsTopic = configuration.eventsTopic] in
                _ = try await producer.partitionCount(topic: eventsTopic, timeout: .seconds(5))
            }
        ]
        if !configuration.schemaRegistryURL.isEmpty {
            probes.append(.init(name: "registry") { [eventsTopic = configuration.eventsTopic] in
                _ = try await schemaSource.schema(forTopic: eventsTopic)
            })
        }

        let ingest = IngestPipeline(
            schemas: RegistryEventSchemas(source: schemaSource, topic: configuration.eventsTopic),
            log: KafkaEventLog(producer: producer, topic: configuration.eventsTopic)
        )
        // Authentication: API keys and client certificates, or development mode.
        var interceptors: [any ServerInterceptor] = []
        var authenticator: Authenticator?
        if let authPath = configuration.authConfigPath {
            do {
                let auth = try AuthConfiguration.load(contentsOf: URL(fileURLWithPath: authPath))
                let checker = try Authenticator(configuration: auth)
                authenticator = checker
                interceptors.append(AuthenticationInterceptor(authenticator: checker, logger: logger))
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_AUTH_CONFIG", problem: "\(error)")
            }
        } else {
            logger.warning("no AUDITPIPE_AUTH_CONFIG: every caller may act for every tenant (development mode)")
        }
        var legacyRoutes: LegacyHTTPRoutes?
        if let rulesPath = configuration.legacyRulesPath {
            let rules: LegacyRuleSet
            do {
                rules = try LegacyRuleSet.load(contentsOfFile: rulesPath)
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_LEGACY_RULES", problem: "\(error)")
            }
            for source in configuration.legacyBridges.keys where rules[source: source] == nil {
                throw ConfigurationError(setting: "AUDITPIPE_LEGACY_BRIDGES", problem: "no mapping rules for source `\(source)` in \(rulesPath)")
            }
            let intake = LegacyIntake(rules: rules, ingest: ingest, producer: producer, quarantineTopic: configuration.quarantineTopic)
            legacyRoutes = LegacyHTTPRoutes(intake: intake, authenticator: authenticator)
            if !configuration.legacyBridges.isEmpty {
                var consumer = consumerConfiguration(group: "auditpipe-legacy-bridge")
                consumer.clientID = "auditpipe-legacy-bridge"
                services.append(.init(service: LegacyKafkaBridge(
                    intake: intake,
                    sourcesByTopic: Dictionary(uniqueKeysWithValues: configuration.legacyBridges.map { ($0.value, $0.key) }),
                    consumerConfiguration: consumer,
                    logger: logger
                )))
            }
        }
        var clickHouseClients: [ClickHouseClient] = []
        var redisClient: RedisClient?

        // The read side: reports from ClickHouse.
        var reports: ComplianceReportExecutor?
        // Hash-chain verification (the Verify RPC); nil without ClickHouse or checkpoint keys.
        var chainAuditor: ChainAuditor?
        if !configuration.clickHouseURL.isEmpty {
            let clickHouse = try ClickHouseClient(configuration: ClickHouseConfiguration(
                url: configuration.clickHouseURL, user: configuration.clickHouseUser,
                password: configuration.clickHousePassword, database: configuration.clickHouseDatabase
            ), logger: logger)
            clickHouseClients.append(clickHouse)
            let cursors = configuration.cursorKey.map { ReportCursorCodec(key: SymmetricKey(data: SHA256.hash(data: Array($0.utf8)))) } ?? ReportCursorCodec()
            reports = ComplianceReportExecutor(client: clickHouse, table: AuditEventsTable(), cursors: cursors)
            probes.append(.init(name: "clickhouse") {
                _ = try await clickHouse.queryCollecting("SELECT 1", maxBytes: 1024)
            })

            // The exactly-once sink and the dead-letter re-driver.
            let bootstrap = try ClickHouseClient(configuration: ClickHouseConfiguration(
                url: configuration.clickHouseURL, user: configuration.clickHouseUser, password: configuration.clickHousePassword
            ), logger: logger)
            clickHouseClients.append(bootstrap)
            var tables = ClickHouseTables()
            tables.insertCompression = configuration.clickHouseInsertGzip ? .gzip : .none
            let store = try ClickHouseEventStore(client: clickHouse, tables: tables)
            var sinkConfiguration = AuditSinkConfiguration()
            sinkConfiguration.topic = configuration.eventsTopic
            sinkConfiguration.deadLetterTopic = configuration.deadLetterTopic
            sinkConfiguration.maxBatchRows = configuration.sinkBatchMaxRows
            sinkConfiguration.maxBatchDelay = .milliseconds(configuration.sinkBatchMaxDelayMilliseconds)
            sinkConfiguration.lagInterval = .milliseconds(configuration.lagIntervalMilliseconds)
            sinkConfiguration.hashChain = configuration.hashChain
            let sink = try ClickHouseSink(
                configuration: sinkConfiguration,
                consumer: consumerConfiguration(group: configuration.sinkGroup),
                producer: producer, store: store, schemas: RegistryWriterSchemas(source: schemaSource), logger: logger
            )
            // Signed checkpoints of the chains' heads. Listed before the sink's service, so it
            // stops after the sink flushed and signs the last heads.
            var trustedKeys: [CheckpointVerificationKey] = []
            do {
                trustedKeys = try configuration.checkpointPublicKeys.map { text throws(IntegrityError) in try CheckpointVerificationKey(publicKeyText: text) }
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_CHECKPOINT_PUBLIC_KEYS", problem: String(describing: error))
            }
            if let keyFile = configuration.checkpointKeyFile {
                let key: CheckpointSigningKey
                do { key = try CheckpointSigningKey(contentsOfFile: keyFile) } catch {
                    throw ConfigurationError(setting: "AUDITPIPE_CHECKPOINT_KEY_FILE", problem: String(describing: error))
                }
                trustedKeys.append(key.verificationKey)
                var checkpoints = ChainCheckpointConfiguration()
                checkpoints.interval = .milliseconds(configuration.checkpointIntervalMilliseconds)
                checkpoints.everyEvents = UInt64(configuration.checkpointEveryEvents)
                checkpoints.topic = configuration.checkpointTopic.isEmpty ? nil : configuration.checkpointTopic
                checkpoints.exportDirectory = configuration.checkpointExportDirectory
                services.append(.init(service: try ChainCheckpointService(
                    configuration: checkpoints, key: key, heads: sink.chainHeads, store: store, producer: producer, logger: logger
                )))
                logger.info("signing hash-chain checkpoints", metadata: ["key_id": "\(key.keyID)"])
            }
            if !trustedKeys.isEmpty {
                chainAuditor = ChainAuditor(store: store, trustedKeys: TrustedKeys(trustedKeys))
            }
            let redriver = try DeadLetterRedriver(
                configuration: sinkConfiguration,
                consumer: consumerConfiguration(group: "\(configuration.sinkGroup)-dlq-redriver"),
                producer: producer, store: store, logger: logger
            )
            services.append(.init(service: ClickHouseWriters(
                bootstrap: bootstrap, database: configuration.clickHouseDatabase, store: store,
                writers: [sink, redriver], health: health, logger: logger
            )))
        }

        // The recent-events view in Redis, with its own consumer group.
        var recent: RedisRecentEvents?
        if !configuration.redisURL.isEmpty {
            let redis: RedisClient
            do {
                redis = try RedisClient(configuration: RedisConfiguration(url: configuration.redisURL), logger: logger)
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_REDIS_URL", problem: "\(error)")
            }
            redisClient = redis
            var recentConfiguration = RecentEventsConfiguration()
            recentConfiguration.topic = configuration.eventsTopic
            recentConfiguration.lagInterval = .milliseconds(configuration.lagIntervalMilliseconds)
            let store = try RecentEventsStore(redis: redis, configuration: recentConfiguration)
            let recentConsumer = consumerConfiguration(group: "\(configuration.sinkGroup)-recent")
            services.append(.init(service: try RecentEventsSink(
                store: store,
                consumer: recentConsumer,
                schemas: RegistryWriterSchemas(source: schemaSource), logger: logger
            )))
            recent = RedisRecentEvents(store: store)
            probes.append(.init(name: "redis") {
                _ = try await redis.send(["PING"]).checked()
            })
        }

        var transportSecurity = HTTP2ServerTransport.Posix.TransportSecurity.plaintext
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsPrivateKeyPath {
            do {
                transportSecurity = try GRPCTLSConfiguration(
                    certificateChainPath: certificate, privateKeyPath: key, clientCAPath: configuration.tlsClientCAPath
                ).transportSecurity()
            } catch {
                throw ConfigurationError(setting: "AUDITPIPE_TLS_CERT", problem: "\(error)")
            }
        }

        var grpcLimits = GRPCServerLimits()
        grpcLimits.maxConcurrentStreams = configuration.grpcMaxConcurrentStreams
        grpcLimits.ingestStreamIdleTimeout = .milliseconds(configuration.grpcStreamIdleTimeoutMilliseconds)
        let grpc = GRPCServerService(
            address: configuration.grpcAddress,
            services: [
                GRPCHealthService(health: health),
                AuditServiceHandler(
                    ingestPipeline: ingest, reports: reports, recent: recent,
                    authenticationRequired: configuration.authConfigPath != nil,
                    chainAuditor: chainAuditor,
                    maxRequestMessageBytes: grpcLimits.maxRequestMessageBytes,
                    ingestStreamIdleTimeout: grpcLimits.ingestStreamIdleTimeout
                ),
            ],
            interceptors: interceptors,
            transportSecurity: transportSecurity,
            limits: grpcLimits,
            onListening: { await ports.grpcListening($0) }
        )
        let http = OperationsHTTPServer(
            address: configuration.httpAddress,
            health: health,
            metrics: metrics,
            logger: logger
        ).makeApplication(
            extraRoutes: { router in
                registryAPI?.addRoutes(to: router)
                legacyRoutes?.addRoutes(to: router)
            },
            onListening: { await ports.httpListening($0) }
        )
        services.append(.init(service: ReadinessProbes(probes: probes, health: health)))
        services.append(.init(service: http))
        services.append(.init(service: grpc))

        // Started in this order, stopped in reverse: the gRPC server first, the producer and the
        // registry last.
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        // Close the clients once every service has stopped, whether it stopped cleanly or not.
        var failure: (any Error)?
        do { try await group.run() } catch { failure = error }
        for client in clickHouseClients { try? await client.shutdown() }
        await redisClient?.close()
        if let failure { throw failure }
    }
}

/// Waits for both listeners to report their ports, then reports them together once.
private actor PortRendezvous {
    private var grpcPort: Int?
    private var httpPort: Int?
    private let report: @Sendable (AuditPipeServer.ListeningAddresses) async -> Void

    init(report: @escaping @Sendable (AuditPipeServer.ListeningAddresses) async -> Void) {
        self.report = report
    }

    func grpcListening(_ port: Int) async {
        grpcPort = port
        await reportIfComplete()
    }

    func httpListening(_ port: Int) async {
        httpPort = port
        await reportIfComplete()
    }

    private func reportIfComplete() async {
        guard let grpcPort, let httpPort else { return }
        await report(.init(grpcPort: grpcPort, httpPort: httpPort))
    }
}
