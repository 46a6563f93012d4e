public import Logging
import Synchronization

/// A fixed pool of ``RedisConnection``s, each with its own thread.
///
/// A command leases an idle connection (waiting in FIFO order when all are busy), runs, and
/// gives it back. Connections reconnect lazily after transport errors; see ``RedisConnection``.
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
    /// The configuration shared by every connection of the pool.
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let pool: Mutex<PoolStateMachine<Waiter>>
    private let waiterIDs = Atomic<UInt64>(0)

    struct Waiter: Sendable {
        var id: UInt64
        var continuation: CheckedContinuation<Int, any Error>
    }

    /// Creates the pool without connecting; connections are made on first use.
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
        self.pool = Mutex(PoolStateMachine(size: configuration.poolSize))
    }

    /// Creates the pool and connects every connection now, so that a wrong address or
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

    /// Sends one command on a pooled connection and returns its reply.
    ///
    /// - Throws: ``RedisError`` (an error reply is kind ``RedisError/Kind/server``), or
    ///   `CancellationError` when the task is cancelled while waiting for a connection.
    public func send(_ command: [RedisArgument]) async throws -> RedisReply {
        try await withConnection { try await $0.send(command) }
    }

    /// Sends all commands in one round trip on one pooled connection; see
    /// ``RedisConnection/pipeline(_:)``.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RedisReply] {
        try await withConnection { try await $0.pipeline(commands) }
    }

    /// Runs `body` with exclusive use of one connection (e.g. for `WATCH`/`MULTI`/`EXEC`).
    public func withConnection<T: Sendable>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        let index = try await lease()
        defer { release(index) }
        return try await body(connections[index])
    }

    /// Fails waiting callers, then closes every connection after its queued commands.
    /// Later calls fail with ``RedisError/Kind/closed``.
    public func close() async {
        let waiters = pool.withLock { $0.close() }
        for waiter in waiters {
            waiter.continuation.resume(throwing: RedisError(kind: .closed, message: "the Redis client was closed"))
        }
        for connection in connections { await connection.close() }
    }

    private func lease() async throws -> Int {
        let id = waiterIDs.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let action = pool.withLock { $0.lease(Waiter(id: id, continuation: continuation)) }
                switch action {
                case .use(let index):
                    continuation.resume(returning: index)
                case .fail:
                    continuation.resume(throwing: RedisError(kind: .closed, message: "the Redis client was closed"))
                case .wait:
                    // Cancellation may have raced with registering the waiter.
                    if Task.isCancelled, let waiter = pool.withLock({ $0.cancel { $0.id == id } }) {
                        waiter.continuation.resume(throwing: CancellationError())
                    }
                }
            }
        } onCancel: {
            if let waiter = pool.withLock({ $0.cancel { $0.id == id } }) {
                waiter.continuation.resume(throwing: CancellationError())
            }
        }
    }

    private func release(_ index: Int) {
        if let waiter = pool.withLock({ $0.release(index) }) {
            waiter.continuation.resume(returning: index)
        }
    }
}

/// Which connection of the pool is free and who waits for one. Pure logic, no I/O: the client
/// applies the returned actions outside the lock.
struct PoolStateMachine<Waiter> {
    enum LeaseAction {
        /// Use this connection now.
        case use(Int)
        /// All connections are busy; the waiter was queued.
        case wait
        /// The pool is closed.
        case fail
    }

    private enum State {
        case running(idle: [Int], waiters: [Waiter])
        case closed
    }

    private var state: State

    init(size: Int) {
        state = .running(idle: Array(0..<size), waiters: [])
    }

    mutating func lease(_ waiter: Waiter) -> LeaseAction {
        switch state {
        case .closed:
            return .fail
        case .running(var idle, var waiters):
            if !idle.isEmpty {
                let index = idle.removeFirst()
                state = .running(idle: idle, waiters: waiters)
                return .use(index)
            }
            waiters.append(waiter)
            state = .running(idle: idle, waiters: waiters)
            return .wait
        }
    }

    /// Returns a connection; hands it to the oldest waiter, if any (the caller resumes it).
    mutating func release(_ index: Int) -> Waiter? {
        switch state {
        case .closed:
            return nil
        case .running(var idle, var waiters):
            if !waiters.isEmpty {
                let waiter = waiters.removeFirst()
                state = .running(idle: idle, waiters: waiters)
                return waiter
            }
            idle.append(index)
            state = .running(idle: idle, waiters: waiters)
            return nil
        }
    }

    /// Removes and returns the first waiter matching `predicate` (a cancelled caller).
    mutating func cancel(where predicate: (Waiter) -> Bool) -> Waiter? {
        guard case .running(let idle, var waiters) = state,
              let position = waiters.firstIndex(where: predicate) else { return nil }
        let waiter = waiters.remove(at: position)
        state = .running(idle: idle, waiters: waiters)
        return waiter
    }

    /// Closes the pool and returns the waiters to fail.
    mutating func close() -> [Waiter] {
        guard case .running(_, let waiters) = state else { return [] }
        state = .closed
        return waiters
    }

    var idleCount: Int {
        if case .running(let idle, _) = state { return idle.count }
        return 0
    }
}
