import AuditAuth
import GRPCCore
public import Logging
public import Prometheus
public import ServiceLifecycle

/// An AuditPipe server process: the roles of ``AuditPipeConfiguration/roles`` (ingest, sink,
/// recent events, queries, the built-in registry) behind one gRPC and one HTTP port, as one
/// `Service`.
///
/// Components start in dependency order and stop in reverse: on graceful shutdown the gRPC
/// server stops accepting RPCs first and finishes the ones in flight, the HTTP server follows,
/// then the roles' pipelines, and the clients they share close last.
public struct AuditPipeServer: Service {
    public let configuration: AuditPipeConfiguration
    private let logger: Logger
    private let metrics: PrometheusCollectorRegistry
    private let health: HealthStatusRegistry
    private let onListening: @Sendable (ListeningAddresses) async -> Void

    /// The ports the server actually bound (useful when the configuration asks for port 0).
    public struct ListeningAddresses: Sendable {
        public var grpcPort: Int
        public var httpPort: Int
    }

    /// - Parameters:
    ///   - metrics: the registry `/metrics` serves; bootstrap swift-metrics with a
    ///     `PrometheusMetricsFactory` over the same registry to export the server's metrics.
    ///   - onListening: called once both the gRPC and the HTTP server listen.
    public init(
        configuration: AuditPipeConfiguration,
        metrics: PrometheusCollectorRegistry,
        logger: Logger,
        onListening: @escaping @Sendable (ListeningAddresses) async -> Void = { _ in }
    ) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.health = HealthStatusRegistry()
        self.onListening = onListening
    }

    /// The composition root: the roles' parts, then the gRPC and HTTP servers in front of them.
    public func run() async throws {
        let roles = configuration.roles
        let clients = OwnedClients()
        let server: ServerAssembly
        do {
            var assembly = ServerAssembly(
                configuration: configuration, files: try ServerFiles(configuration, roles: roles),
                health: health, logger: logger, clients: clients
            )
            if roles.contains(.registry) { _ = try await assembly.sharedSchemaSource() }
            if roles.contains(.ingest) { try await assembly.addIngest() }
            if roles.contains(.sink) { try await assembly.addSink() }
            if roles.contains(.recent) { try await assembly.addRecent() }
            if roles.contains(.query) { try assembly.addQuery() }
            server = assembly
        } catch {
            await clients.close()
            throw error
        }
        if server.files.authenticator == nil {
            logger.warning("no AUDITPIPE_AUTH_CONFIG: every caller may act for every tenant (development mode)")
        }
        logger.info("starting", metadata: ["roles": "\(roles.listed)"])
        // Started in this order, stopped in reverse: the gRPC server first, the clients last.
        let services: [any Service] = [clients] + server.services + transports(for: server)
        try await ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger)).run()
    }

    /// Readiness probes, the HTTP port (health, metrics, the registry and legacy routes) and the
    /// gRPC port (health, and the API of the roles this process runs).
    private func transports(for server: ServerAssembly) -> [any Service] {
        let ports = PortRendezvous { ports in
            logger.info(
                "AuditPipe is listening",
                metadata: [
                    "grpc": "\(configuration.grpcAddress.host):\(ports.grpcPort)",
                    "http": "\(configuration.httpAddress.host):\(ports.httpPort)",
                ]
            )
            await onListening(ports)
        }
        var limits = GRPCServerLimits()
        limits.maxConcurrentStreams = configuration.grpcMaxConcurrentStreams
        limits.ingestStreamIdleTimeout = .milliseconds(configuration.grpcStreamIdleTimeoutMilliseconds)
        let grpc = GRPCServerService(
            address: configuration.grpcAddress,
            services: [
                GRPCHealthService(health: health),
                AuditServiceHandler(
                    ingestPipeline: server.ingest, reports: server.reports, recent: server.recent,
                    authenticationRequired: server.files.authenticator != nil,
                    roles: configuration.roles,
                    chainAuditor: server.chainAuditor,
                    maxRequestMessageBytes: limits.maxRequestMessageBytes,
                    ingestStreamIdleTimeout: limits.ingestStreamIdleTimeout
                ),
            ],
            interceptors: server.files.authenticator.map { [AuthenticationInterceptor(authenticator: $0, logger: logger)] } ?? [],
            transportSecurity: server.files.transportSecurity,
            limits: limits,
            onListening: { await ports.grpcListening($0) }
        )
        let routes = server.httpRoutes
        let http = OperationsHTTPServer(address: configuration.httpAddress, health: health, metrics: metrics, logger: logger)
            .makeApplication(
                extraRoutes: { router in for add in routes { add(router) } },
                onListening: { await ports.httpListening($0) }
            )
        return [ReadinessProbes(probes: server.probes, health: health), http, grpc]
    }
}

/// Waits for both listeners to report their ports, then reports them together once.
private actor PortRendezvous {
    private var grpcPort: Int?
    private var httpPort: Int?
    private let report: @Sendable (AuditPipeServer.ListeningAddresses) async -> Void

    init(report: @escaping @Sendable (AuditPipeServer.ListeningAddresses) async -> Void) {
        self.report = report
    }

    func grpcListening(_ port: Int) async {
        grpcPort = port
        await reportIfComplete()
    }

    func httpListening(_ port: Int) async {
        httpPort = port
        await reportIfComplete()
    }

    private func reportIfComplete() async {
        guard let grpcPort, let httpPort else { return }
        await report(.init(grpcPort: grpcPort, httpPort: httpPort))
    }
}
