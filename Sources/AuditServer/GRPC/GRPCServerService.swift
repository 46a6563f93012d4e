package import GRPCCore
package import GRPCNIOTransportHTTP2
package import ServiceLifecycle

/// Runs a gRPC server as a `Service`: it serves until graceful shutdown, then stops accepting
/// new RPCs (clients get GOAWAY) and returns once the RPCs in flight have finished.
package struct GRPCServerService: Service {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let transport: HTTP2ServerTransport.Posix
    private let onListening: @Sendable (Int) async -> Void

    /// - Parameter onListening: called with the bound port once the server listens.
    package init(
        address: HostAndPort,
        services: [any RegistrableRPCService],
        interceptors: [any ServerInterceptor] = [],
        transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity = .plaintext,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let socketAddress: SocketAddress =
            address.host.contains(":")
            ? .ipv6(host: address.host, port: address.port)
            : .ipv4(host: address.host, port: address.port)
        self.transport = HTTP2ServerTransport.Posix(address: socketAddress, transportSecurity: transportSecurity)
        self.server = GRPCServer(transport: transport, services: services, interceptors: interceptors)
        self.onListening = onListening
    }

    package func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.server.serve() }
                let bound = try await self.transport.listeningAddress
                await self.onListening(bound.ipv4?.port ?? bound.ipv6?.port ?? 0)
            }
        } onGracefulShutdown: {
            self.server.beginGracefulShutdown()
        }
    }
}
