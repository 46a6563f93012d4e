import AuditIngest
import AuditQuery
import AuditSink
import AuditStore
import ClickHouseHTTP
import Hummingbird
import KafkaClient
import Logging
import Metrics
import SchemaRegistry
import ServiceLifecycle

/// The parts of one server process, added role by role (``AuditPipeServer/run()``).
///
/// The clients that several roles share (the Kafka producer, the schema source, ClickHouse) are
/// opened by the first role that asks for them and registered with ``OwnedClients``. Services
/// start in the order they are added and stop in reverse, so a role's services stop before the
/// shared parts they use.
struct ServerAssembly {
    let configuration: AuditPipeConfiguration
    let files: ServerFiles
    let health: HealthStatusRegistry
    let logger: Logger
    let clients: OwnedClients

    /// In start order.
    private(set) var services: [any Service] = []
    /// Checked by `/readyz` and the gRPC health service.
    var probes: [ReadinessProbes.Probe] = []
    /// Routes of the HTTP port besides health and metrics.
    var httpRoutes: [@Sendable (Router<BasicRequestContext>) -> Void] = []

    // What the gRPC API serves; nil: not a role of this process.
    var ingest: IngestPipeline?
    var reports: ComplianceReportExecutor?
    var recent: (any RecentEventsReader)?
    var chainAuditor: ChainAuditor?

    private var producer: KafkaProducer?
    private var schemaSource: (any SchemaSource)?
    private var clickHouse: ClickHouseClient?
    private var store: ClickHouseEventStore?

    init(configuration: AuditPipeConfiguration, files: ServerFiles, health: HealthStatusRegistry, logger: Logger, clients: OwnedClients) {
        self.configuration = configuration
        self.files = files
        self.health = health
        self.logger = logger
        self.clients = clients
    }

    mutating func add(_ service: any Service) {
        services.append(service)
    }

    /// The process's Kafka producer (idempotent, acks=all), flushed and closed after every
    /// service stopped.
    mutating func sharedProducer() throws -> KafkaProducer {
        if let producer { return producer }
        var settings = KafkaProducerConfiguration(bootstrapServers: configuration.kafkaBootstrapServers)
        settings.clientID = "auditpipe-ingest"
        settings.deliveryTimeoutMilliseconds = configuration.produceTimeoutMilliseconds
        settings.lingerMilliseconds = configuration.kafkaLingerMilliseconds
        let producer = try KafkaProducer(configuration: settings, logger: logger)
        clients.add { await producer.shutdown(timeout: .seconds(30)) }
        probes.append(.init(name: "kafka") { [eventsTopic = configuration.eventsTopic] in
            _ = try await producer.partitionCount(topic: eventsTopic, timeout: .seconds(5))
        })
        self.producer = producer
        return producer
    }

    /// Schemas by topic and by id: an external registry's client, or the built-in registry's
    /// log, followed by every role and written (HTTP API, seed schema) by the registry role only.
    mutating func sharedSchemaSource() async throws -> any SchemaSource {
        if let schemaSource { return schemaSource }
        let source: any SchemaSource
        let policy = SchemaVersionPolicy(pinned: configuration.schemaVersion.map { [configuration.eventsTopic: Int32($0)] } ?? [:])
        if configuration.schemaRegistryURL.isEmpty {
            var logConfiguration = KafkaRegistryLog.Configuration(bootstrapServers: configuration.kafkaBootstrapServers)
            logConfiguration.topic = configuration.registryTopic
            let log = try await KafkaRegistryLog.open(configuration: logConfiguration, logger: logger)
            clients.add { await log.close() }
            let registry = SchemaRegistryService(log: log, logger: logger)
            source = LocalSchemaSource(registry: registry, policy: policy)
            let writes = configuration.roles.contains(.registry)
            if writes {
                let api = SchemaRegistryHTTPAPI(registry: registry)
                httpRoutes.append { api.addRoutes(to: $0) }
            }
            // Not ready before the first look at /readyz: Ingest refuses events until the log is read.
            health.set("registry", .notServing(reason: "replaying the registry log"))
            add(EmbeddedRegistryService(
                registry: registry, eventsTopic: configuration.eventsTopic, seedsEventsSubject: writes, health: health, logger: logger
            ))
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
            source = RegistrySchemaSource(client: client, policy: policy)
            probes.append(.init(name: "registry") { [eventsTopic = configuration.eventsTopic] in
                _ = try await source.schema(forTopic: eventsTopic)
            })
        }
        schemaSource = source
        return source
    }

    /// The ClickHouse client of AuditPipe's database (the sink's writes, reports, Verify).
    mutating func sharedClickHouse() throws -> ClickHouseClient {
        if let clickHouse { return clickHouse }
        let client = try openClickHouse(database: configuration.clickHouseDatabase)
        probes.append(.init(name: "clickhouse") {
            _ = try await client.queryCollecting("SELECT 1", maxBytes: 1024)
        })
        clickHouse = client
        return client
    }

    /// The events table and its companions in AuditPipe's database (the sink writes, Verify reads).
    mutating func eventStore() throws -> ClickHouseEventStore {
        if let store { return store }
        var tables = ClickHouseTables()
        tables.insertCompression = configuration.clickHouseInsertGzip ? .gzip : .none
        let store = try ClickHouseEventStore(client: try sharedClickHouse(), tables: tables)
        self.store = store
        return store
    }

    /// A ClickHouse client of `database` (nil: the user's default, to create AuditPipe's).
    func openClickHouse(database: String?) throws -> ClickHouseClient {
        var settings = ClickHouseConfiguration(
            url: configuration.clickHouseURL, user: configuration.clickHouseUser, password: configuration.clickHousePassword
        )
        settings.database = database
        let client = try ClickHouseClient(configuration: settings, logger: logger)
        clients.add { try? await client.shutdown() }
        return client
    }

    /// Settings of a consumer group member of this instance: the same membership settings for all.
    func consumerConfiguration(group: String) -> KafkaConsumerConfiguration {
        var consumer = KafkaConsumerConfiguration(bootstrapServers: configuration.kafkaBootstrapServers, groupID: group)
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
}
