public import Logging
import Synchronization

/// Metadata keys used in this module's log messages.
enum RedisLogKey {
    static let server = "redis.server"
    static let connection = "redis.connection"
    static let error = "redis.error"
}

/// One Redis connection with its own dedicated thread.
///
/// Every hiredis call (connect, write, blocking read) runs on that thread, never on Swift's
/// cooperative pool; callers await the result. Calls made while the connection is busy are
/// pipelined together: the thread writes the commands of every waiting caller at once, reads all
/// replies, and resumes each caller with its own (one thread wake-up and one round trip for many
/// callers). A call's commands stay contiguous and in order, so `MULTI`/`EXEC` inside one
/// ``pipeline(_:)`` stays atomic.
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
    private let queue = Mutex(PipelineQueue<Request>())

    struct Request: Sendable {
        var commands: [[RedisArgument]]
        var continuation: CheckedContinuation<Result<[RedisReply], RedisError>, Never>
    }

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

    /// Sends all commands in one write and reads all replies: one round trip (shared with the
    /// other callers waiting at the same time).
    ///
    /// Replies are returned in order; an element may be ``RedisReply/error(_:)`` when the server
    /// rejected that command (the others still ran: use `MULTI`/`EXEC` inside the pipeline for
    /// all-or-nothing). A transport failure fails the whole call with a retriable error, and
    /// some of the commands may have been applied.
    ///
    /// - Throws: ``RedisError``; kind ``RedisError/Kind/configuration`` (nothing sent) when a
    ///   command has no arguments.
    public func pipeline(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        // Checked here, so that one caller's mistake never breaks the batch of the others.
        guard commands.allSatisfy({ !$0.isEmpty }) else {
            throw RedisError(kind: .configuration, message: "a Redis command needs at least one argument (its name)")
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[RedisReply], RedisError>, Never>) in
            switch queue.withLock({ $0.enqueue(Request(commands: commands, continuation: continuation)) }) {
            case .none:
                break
            case .fail:
                continuation.resume(returning: .failure(Self.closedError))
            case .scheduleDrain:
                if !worker.submit({ [self] in self.drain() }) {
                    for request in queue.withLock({ $0.abandon() }) { request.continuation.resume(returning: .failure(Self.closedError)) }
                }
            }
        }
        return try result.get()
    }

    private static let closedError = RedisError(kind: .closed, message: "the Redis client was closed")

    /// On the worker thread: writes the commands of everything queued, reads the replies, hands
    /// each caller its own; again until the queue is empty.
    private func drain() {
        while true {
            let requests = queue.withLock { $0.take() }
            guard !requests.isEmpty else { return }
            if !hiredis.isConnected {
                do throws(RedisError) {
                    try hiredis.connect()
                    logger.debug("connected to Redis")
                } catch {
                    logger.warning("cannot connect to Redis", metadata: [RedisLogKey.error: "\(error)"])
                    for request in requests { request.continuation.resume(returning: .failure(error)) }
                    continue
                }
            }
            let (replies, error) = requests.count == 1
                ? hiredis.pipeline(requests[0].commands)
                : hiredis.pipeline(requests.flatMap(\.commands))
            if let error, !hiredis.isConnected {
                logger.warning("Redis connection dropped; reconnecting on the next command", metadata: [RedisLogKey.error: "\(error)"])
            }
            var start = 0
            for request in requests {
                let end = start + request.commands.count
                if end <= replies.count {
                    request.continuation.resume(returning: .success(Array(replies[start..<end])))
                } else {
                    request.continuation.resume(returning: .failure(error ?? RedisError(kind: .protocol, message: "Redis sent fewer replies than commands")))
                }
                start = end
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
        queue.withLock { $0.close() }
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
