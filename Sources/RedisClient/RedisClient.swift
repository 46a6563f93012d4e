public import Logging
import Synchronization

/// A fixed set of ``RedisConnection``s, each with its own thread.
///
/// Calls are spread over the connections in turn; each connection pipelines the calls that wait
/// for it (see ``RedisConnection``), so no caller waits for a connection to be free: it waits only
/// for its replies. Connections reconnect lazily after transport errors.
///
/// ```swift
/// let redis = try await RedisClient.connect(configuration: RedisConfiguration(url: url))
/// let replies = try await redis.pipeline([
///     ["ZADD", key, RedisArgument(timestampMillis), eventID],
///     ["ZREMRANGEBYRANK", key, 0, -101],   // keep the newest 100
///     ["EXPIRE", key, 2_592_000],
/// ])
/// ```
public final class RedisClient: Sendable {
    /// The configuration shared by every connection.
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let next = Atomic<UInt>(0)

    /// Creates the connections without connecting; they connect on first use.
    ///
    /// - Throws: ``RedisError`` of kind ``RedisError/Kind/configuration``.
    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "auditpipe.redis")) throws(RedisError) {
        try configuration.validate()
        self.configuration = configuration
        var connections: [RedisConnection] = []
        for index in 0..<configuration.poolSize {
            connections.append(try RedisConnection(configuration: configuration, name: "redis-\(index)", logger: logger))
        }
        self.connections = connections
    }

    /// Creates the client and connects every connection now, so that a wrong address or
    /// password fails at start-up rather than on the first command.
    public static func connect(configuration: RedisConfiguration, logger: Logger = Logger(label: "auditpipe.redis")) async throws -> RedisClient {
        let client = try RedisClient(configuration: configuration, logger: logger)
        do {
            for connection in client.connections { try await connection.connect() }
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    /// Sends one command and returns its reply.
    ///
    /// - Throws: ``RedisError`` (an error reply is kind ``RedisError/Kind/server``).
    public func send(_ command: [RedisArgument]) async throws -> RedisReply {
        try await connection().send(command)
    }

    /// Sends all commands in one round trip on one connection, contiguous and in order; see
    /// ``RedisConnection/pipeline(_:)``.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisReply] {
        try await connection().pipeline(commands)
    }

    /// Closes every connection after its queued commands. Later calls fail with
    /// ``RedisError/Kind/closed``.
    public func close() async {
        for connection in connections { await connection.close() }
    }

    private func connection() -> RedisConnection {
        connections[Int(next.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(connections.count))]
    }
}
