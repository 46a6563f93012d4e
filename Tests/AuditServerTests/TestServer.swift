import AuditPipeTestSupport
import AuditServer
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// An `AuditPipeServer` running in this process on ports chosen by the OS, against the dev stack.
struct RunningServer: Sendable {
    var grpcPort: Int
    var httpPort: Int
    var configuration: AuditPipeConfiguration
    var metrics: PrometheusCollectorRegistry
}

/// swift-metrics is bootstrapped once per process; every in-process test server exports through
/// this one registry (series of parallel tests add up).
let sharedMetrics: PrometheusCollectorRegistry = {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return registry
}()

/// The configuration for a test server: the dev stack's addresses and fresh topic names, so tests
/// never see each other's events.
func testConfiguration() throws -> AuditPipeConfiguration {
    var configuration = AuditPipeConfiguration()
    configuration.grpcAddress = HostAndPort(host: "127.0.0.1", port: 0)
    configuration.httpAddress = HostAndPort(host: "127.0.0.1", port: 0)
    configuration.kafkaBrokers = try TestService.kafka.value
    configuration.eventsTopic = try DevKafkaControl.createTopic("events", partitions: 6, replicationFactor: 3)
    configuration.registryTopic = try DevKafkaControl.createTopic("schemas", partitions: 1, replicationFactor: 3)
    return configuration
}

/// Runs a server for the duration of `body`, then shuts it down gracefully and waits for it.
func withServer<Result: Sendable>(
    _ configuration: AuditPipeConfiguration,
    _ body: (RunningServer) async throws -> Result
) async throws -> Result {
    let (ports, portsContinuation) = AsyncStream.makeStream(of: AuditPipeServer.ListeningAddresses.self)
    let metrics = sharedMetrics
    var logger = Logger(label: "test-server")
    logger.logLevel = .warning
    let server = try AuditPipeServer(
        configuration: configuration,
        metrics: metrics,
        logger: logger,
        onListening: { portsContinuation.yield($0) }
    )
    let group = ServiceGroup(services: [server], logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let listening = await iterator.next() else { throw CancellationError() }
        let running = RunningServer(grpcPort: listening.grpcPort, httpPort: listening.httpPort, configuration: configuration, metrics: metrics)
        do {
            let result = try await body(running)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
