import AuditIngest
import KafkaClient

extension ServerAssembly {
    /// The ingest role: Ingest and IngestBatch through one ``IngestPipeline`` (validated against
    /// the registry, produced idempotently with acks=all), and the legacy intake behind the same
    /// pipeline: POST /v1/legacy/{source} and the Kafka bridges.
    mutating func addIngest() async throws {
        let producer = try sharedProducer()
        let schemas = try await sharedSchemaSource()
        let pipeline = IngestPipeline(
            schemas: RegistryEventSchemas(source: schemas, topic: configuration.eventsTopic),
            log: KafkaEventLog(producer: producer, topic: configuration.eventsTopic)
        )
        ingest = pipeline
        guard let rules = files.legacyRules else { return }
        let intake = LegacyIntake(rules: rules, ingest: pipeline, producer: producer, quarantineTopic: configuration.quarantineTopic)
        let routes = LegacyHTTPRoutes(intake: intake, authenticator: files.authenticator)
        httpRoutes.append { routes.addRoutes(to: $0) }
        if !configuration.legacyBridges.isEmpty {
            var consumer = consumerConfiguration(group: "auditpipe-legacy-bridge")
            consumer.clientID = "auditpipe-legacy-bridge"
            add(LegacyKafkaBridge(
                intake: intake,
                sourcesByTopic: Dictionary(uniqueKeysWithValues: configuration.legacyBridges.map { ($0.value, $0.key) }),
                consumerConfiguration: consumer,
                logger: logger
            ))
        }
    }
}
