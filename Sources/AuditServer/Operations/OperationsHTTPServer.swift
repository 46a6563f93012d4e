package import Hummingbird
package import Logging
import NIOCore
package import Prometheus

/// The HTTP side of `auditpipe serve`: `/healthz` (the process is alive), `/readyz` (every
/// dependency reachable; says which is not) and `/metrics` (Prometheus text format).
///
/// Further HTTP APIs (the schema registry, legacy JSON intake) add their routes through
/// `extraRoutes`.
package struct OperationsHTTPServer {
    package var address: HostAndPort
    package var health: HealthStatusRegistry
    package var metrics: PrometheusCollectorRegistry
    package var logger: Logger

    package init(address: HostAndPort, health: HealthStatusRegistry, metrics: PrometheusCollectorRegistry, logger: Logger) {
        self.address = address
        self.health = health
        self.metrics = metrics
        self.logger = logger
    }

    /// The Hummingbird application, a `Service` that runs until graceful shutdown.
    ///
    /// - Parameter onListening: called with the bound port once the server listens (useful with
    ///   port 0).
    package func makeApplication(
        extraRoutes: (Router<BasicRequestContext>) -> Void = { _ in },
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let health = self.health
        let metrics = self.metrics
        router.get("healthz") { _, _ in
            "ok\n"
        }
        router.get("readyz") { _, _ -> Response in
            let components = health.components
            var body = ""
            for (name, state) in components {
                switch state {
                case .serving: body += "\(name): ok\n"
                case .notServing(let reason): body += "\(name): not ready: \(reason)\n"
                }
            }
            let ready = components.allSatisfy { $0.state == .serving }
            if components.isEmpty { body = "ok\n" }
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body))
            )
        }
        router.get("metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            metrics.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        extraRoutes(router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "auditpipe"),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? 0)
            },
            logger: logger
        )
    }
}
