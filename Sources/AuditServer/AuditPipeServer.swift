public import Logging
public import Prometheus
public import ServiceLifecycle

/// The whole AuditPipe server: the gRPC API, the HTTP endpoints and the pipeline that runs behind
/// them, as one `Service`.
///
/// Components start in dependency order and stop in reverse: on graceful shutdown the gRPC
/// server stops accepting RPCs first and finishes the ones in flight, the HTTP server follows,
/// and the pipeline components stop last.
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

    public func run() async throws {
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
        let grpcHealth = GRPCHealthService(health: health)
        let grpc = GRPCServerService(
            address: configuration.grpcAddress,
            services: [grpcHealth],
            onListening: { await ports.grpcListening($0) }
        )
        let http = OperationsHTTPServer(
            address: configuration.httpAddress,
            health: health,
            metrics: metrics,
            logger: logger
        ).makeApplication(onListening: { await ports.httpListening($0) })

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: http),
                    .init(service: grpc),
                ],
                logger: logger
            )
        )
        try await group.run()
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
