import ServiceLifecycle
import Synchronization

/// The clients a server opened (Kafka producer, registry log, ClickHouse, Redis), closed in the
/// reverse order of opening.
///
/// It is the server's first service, so the service group stops it last: once every service
/// that uses a client has stopped, whether cleanly or not. A start-up that fails before the group
/// runs calls ``close()`` itself, so no client outlives a configuration error.
final class OwnedClients: Service, Sendable {
    private let closers = Mutex<[@Sendable () async -> Void]>([])

    /// Registers how to close a client just opened.
    func add(_ close: @escaping @Sendable () async -> Void) {
        closers.withLock { $0.append(close) }
    }

    func run() async throws {
        // Until shutdown; cancellation (an abrupt stop) ends the wait too.
        try? await gracefulShutdown()
        await close()
    }

    /// Closes every client registered so far, newest first; later calls close nothing twice.
    func close() async {
        let pending = closers.withLock { closers in
            defer { closers = [] }
            return closers
        }
        for close in pending.reversed() { await close() }
    }
}
