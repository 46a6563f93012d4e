package import GRPCCore
package import GRPCNIOTransportHTTP2
import GRPCProtobuf
import ServiceLifecycle
import SwiftProtobuf

/// What one caller may hold of the gRPC server, and for how long.
package struct GRPCServerLimits: Sendable, Hashable {
    /// The largest request message the handlers accept (16 MiB): larger ones are answered
    /// RESOURCE_EXHAUSTED by ``SizeLimitedDeserializer``.
    package var maxRequestMessageBytes = 16 * 1024 * 1024
    /// The largest request message the transport reads at all (64 MiB). grpc-swift-nio-transport
    /// 2.9.2 resets a stream whose message header declares more without a status
    /// (`GRPCStreamStateMachine` replaces the decoder's RESOURCE_EXHAUSTED by a reset), so this
    /// is set well above ``maxRequestMessageBytes``: everything between the two gets a status.
    package var transportMessageCeilingBytes = 64 * 1024 * 1024
    /// MAX_CONCURRENT_STREAMS, advertised in the server's SETTINGS so that clients queue their
    /// streams beyond it (swift-nio-http2 ends the connection of a client that ignores it).
    package var maxConcurrentStreams = 100
    /// A connection without any stream for this long is closed with GOAWAY.
    package var connectionIdleTimeout: Duration = .seconds(600)
    /// The server pings a connection silent for this long, and closes it when the ping is not
    /// answered within 20 s (a peer that vanished without closing its socket).
    package var keepaliveInterval: Duration = .seconds(60)
    /// How long RPCs may take to finish once the server shuts down gracefully; then their
    /// connections are closed.
    package var shutdownGraceTime: Duration = .seconds(10)
    /// An Ingest stream that sends no event for this long while none of its events is in flight
    /// is ended with DEADLINE_EXCEEDED, freeing what it holds.
    package var ingestStreamIdleTimeout: Duration = .seconds(300)

    package init() {}

    /// The transport configuration for these limits.
    var transportConfiguration: HTTP2ServerTransport.Posix.Config {
        .defaults { config in
            config.rpc.maxRequestPayloadSize = max(transportMessageCeilingBytes, maxRequestMessageBytes)
            config.http2.maxConcurrentStreams = maxConcurrentStreams
            config.connection.maxIdleTime = connectionIdleTimeout
            // At shutdown, a connection whose RPCs have not finished (a report still streaming)
            // is closed after this long; Ingest streams end themselves within it.
            config.connection.maxGraceTime = shutdownGraceTime
            config.connection.keepalive = .init(
                time: keepaliveInterval,
                timeout: .seconds(20),
                // Clients may ping every 30 s (idle connections included) without being told
                // to calm down.
                clientBehavior: .init(minPingIntervalWithoutCalls: .seconds(30), allowWithoutCalls: true)
            )
        }
    }
}

/// A protobuf deserializer that answers RESOURCE_EXHAUSTED, naming the limit and what to do,
/// for a request message over `limit` bytes (instead of the transport's bare stream reset).
struct SizeLimitedDeserializer<Message: SwiftProtobuf.Message>: MessageDeserializer {
    let limit: Int

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        guard serializedMessageBytes.count <= limit else {
            throw RPCError(
                code: .resourceExhausted,
                message: "request message is \(serializedMessageBytes.count) bytes; the limit is \(limit) bytes (\(limit / (1024 * 1024)) MiB) per message. Split the batch into several IngestBatch calls (or send the events on an Ingest stream)"
            )
        }
        return try ProtobufDeserializer<Message>().deserialize(serializedMessageBytes)
    }
}

/// A response message already in its protobuf encoding (`Message` names what the bytes are). It
/// goes out as it is: no message value is built to be serialized again.
struct SerializedMessage<Message: SwiftProtobuf.Message>: Sendable {
    /// The message's protobuf encoding.
    var bytes: [UInt8]
}

/// Writes a ``SerializedMessage``'s bytes into the transport's buffer (one copy).
struct SerializedMessageSerializer<Message: SwiftProtobuf.Message>: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: SerializedMessage<Message>) throws -> Bytes {
        Bytes(message.bytes)
    }
}

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
        limits: GRPCServerLimits = GRPCServerLimits(),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let socketAddress: SocketAddress =
            address.host.contains(":")
            ? .ipv6(host: address.host, port: address.port)
            : .ipv4(host: address.host, port: address.port)
        self.transport = HTTP2ServerTransport.Posix(
            address: socketAddress, transportSecurity: transportSecurity, config: limits.transportConfiguration
        )
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
