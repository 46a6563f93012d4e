import AuditRecent
import RedisClient

extension ServerAssembly {
    /// The recent role: each user's newest events in Redis, written by their own consumer group
    /// (`<sink.group>-recent`) and read by RecentEvents.
    mutating func addRecent() async throws {
        let schemas = try await sharedSchemaSource()
        let redis: RedisClient
        do {
            redis = try RedisClient(configuration: RedisConfiguration(url: configuration.redisURL), logger: logger)
        } catch {
            throw ConfigurationError(setting: "AUDITPIPE_REDIS_URL", problem: "\(error)")
        }
        clients.add { await redis.close() }
        var recentConfiguration = RecentEventsConfiguration()
        recentConfiguration.topic = configuration.eventsTopic
        recentConfiguration.lagInterval = .milliseconds(configuration.lagIntervalMilliseconds)
        let store = try RecentEventsStore(redis: redis, configuration: recentConfiguration)
        add(try RecentEventsSink(
            store: store,
            consumer: consumerConfiguration(group: "\(configuration.sinkGroup)-recent"),
            schemas: RegistryWriterSchemas(source: schemas), logger: logger
        ))
        recent = RedisRecentEvents(store: store)
        probes.append(.init(name: "redis") {
            _ = try await redis.send(["PING"]).checked()
        })
    }
}
