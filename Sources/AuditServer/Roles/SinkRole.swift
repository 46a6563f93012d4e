import AuditConsumer
import AuditIntegrity
import AuditSink
import ClickHouseHTTP
import Logging

extension ServerAssembly {
    /// The sink role: the exactly-once ClickHouse sink with its hash chains, the dead-letter
    /// re-driver, and the signed checkpoints of the chains' heads. Instances sharing
    /// `sink.group` split the partitions.
    mutating func addSink() async throws {
        let producer = try sharedProducer()
        let schemas = try await sharedSchemaSource()
        let store = try eventStore()
        let bootstrap = try openClickHouse(database: nil)
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
            producer: producer, store: store, schemas: RegistryWriterSchemas(source: schemas), logger: logger
        )
        // Added before the sink's service, so it stops after the sink flushed and signs the
        // last heads.
        if let key = files.checkpointSigningKey {
            var checkpoints = ChainCheckpointConfiguration()
            checkpoints.interval = .milliseconds(configuration.checkpointIntervalMilliseconds)
            checkpoints.everyEvents = UInt64(configuration.checkpointEveryEvents)
            checkpoints.topic = configuration.checkpointTopic.isEmpty ? nil : configuration.checkpointTopic
            checkpoints.exportDirectory = configuration.checkpointExportDirectory
            add(try ChainCheckpointService(
                configuration: checkpoints, key: key, heads: sink.chainHeads, store: store, producer: producer, logger: logger
            ))
            logger.info("signing hash-chain checkpoints", metadata: ["key_id": "\(key.keyID)"])
        }
        let redriver = try DeadLetterRedriver(
            configuration: sinkConfiguration,
            consumer: consumerConfiguration(group: "\(configuration.sinkGroup)-dlq-redriver"),
            producer: producer, store: store, logger: logger
        )
        add(ClickHouseWriters(
            bootstrap: bootstrap, database: configuration.clickHouseDatabase, store: store,
            writers: [sink, redriver], health: health, logger: logger
        ))
    }
}
