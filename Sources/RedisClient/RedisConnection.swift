public import Logging

/// Metadata keys used in this module's log messages.
enum RedisLogKey {
    static let server = "redis.server"
    static let connection = "redis.connection"
    static let error = "redis.error"
}

/// One Redis connection with its own dedicated thread.
///
/// Every hiredis call (connect, write, blocking read) runs on that thread, never on Swift's
/// cooperative pool; callers await the result. Commands run one at a time, in submission order.
///
/// The connection is made on first use (or by ``connect()``). When a command fails because of
/// the transport (reset, closed by the server, timeout), the socket is discarded and the command
/// fails with a retriable ``RedisError``; the *next* command reconnects (sending `AUTH` and
/// `SELECT` again). A failed command is never resent silently, because it may already have been
/// applied by the server.
public final class RedisConnection: Sendable {
    /// The configuration this connection uses.
    public let configuration: RedisConfiguration
    private let worker: WorkerThread
    private let hiredis: HiredisConnection
    private let logger: Logger

    /// Creates a connection; nothing is connected until ``connect()`` or the first command.
    ///
    /// - Throws: ``RedisError`` of kind ``RedisError/Kind/configuration`` when the
    ///   configuration does not validate.
    public init(configuration: RedisConfiguration, name: String = "redis", logger: Logger = Logger(label: "auditpipe.redis")) throws(RedisError) {
        try configuration.validate()
        self.configuration = configuration
        self.hiredis = HiredisConnection(configuration: configuration)
        self.worker = WorkerThread(name: name)
        var logger = logger
        logger[metadataKey: RedisLogKey.server] = "\(configuration.host):\(configuration.port)"
        logger[metadataKey: RedisLogKey.connection] = "\(name)"
        self.logger = logger
    }

    /// Connects now (and authenticates / selects the database), replacing any open socket.
    ///
    /// - Throws: ``RedisError``: ``RedisError/Kind/connection`` or ``RedisError/Kind/timeout``
    ///   (retriable) or ``RedisError/Kind/authentication`` (fix the URL).
    public func connect() async throws(RedisError) {
        let hiredis = self.hiredis
        let logger = self.logger
        try await worker.run { () throws(RedisError) in
            do throws(RedisError) {
                try hiredis.connect()
                logger.debug("connected to Redis")
            } catch {
                logger.warning("cannot connect to Redis", metadata: [RedisLogKey.error: "\(error)"])
                throw error
            }
        }
    }

    /// Sends one command and returns its reply.
    ///
    /// - Throws: ``RedisError``; an error *reply* from the server is thrown as kind
    ///   ``RedisError/Kind/server``.
    public func send(_ command: [RedisArgument]) async throws(RedisError) -> RedisReply {
        try await pipeline([command])[0].checked()
    }

    /// Sends all commands in one write and reads all replies: one round trip.
    ///
    /// Replies are returned in order; an element may be ``RedisReply/error(_:)`` when the server
    /// rejected that command (the others still ran: use `MULTI`/`EXEC` inside the pipeline for
    /// all-or-nothing). A transport failure fails the whole call with a retriable error, and
    /// some of the commands may have been applied.
    public func pipeline(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        let hiredis = self.hiredis
        let logger = self.logger
        return try await worker.run { () throws(RedisError) -> [RedisReply] in
            if !hiredis.isConnected {
                do throws(RedisError) {
                    try hiredis.connect()
                    logger.debug("connected to Redis")
                } catch {
                    logger.warning("cannot connect to Redis", metadata: [RedisLogKey.error: "\(error)"])
                    throw error
                }
            }
            do throws(RedisError) {
                return try hiredis.pipeline(commands)
            } catch {
                if !hiredis.isConnected {
                    logger.warning("Redis connection dropped; reconnecting on the next command", metadata: [RedisLogKey.error: "\(error)"])
                }
                throw error
            }
        }
    }

    deinit {
        // Without close(), still free the socket and end the thread.
        worker.stop { [hiredis] in hiredis.disconnect() }
    }

    /// Closes the socket and ends the thread after the commands already queued.
    /// Later commands fail with ``RedisError/Kind/closed``.
    public func close() async {
        let hiredis = self.hiredis
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = worker.stop {
                hiredis.disconnect()
                continuation.resume()
            }
            if !accepted { continuation.resume() }
        }
    }
}
