public import GRPCCore
import GRPCNIOTransportHTTP2
public import Logging

/// A gRPC server interceptor that authenticates every RPC and makes the caller's
/// ``Principal`` available to handlers as ``Principal/current``.
///
/// It reads `authorization: Bearer <api key>` metadata, or the client certificate of a
/// mutual-TLS connection (`HTTP2ServerTransport.Posix`). Calls without valid credentials end
/// with `UNAUTHENTICATED` before reaching a handler. Authorization (tenant and role) is the
/// handler's job: `try Principal.required().resolveTenant(request.tenantID, role: .reports)`.
public struct AuthenticationInterceptor: ServerInterceptor {
    private let authenticator: Authenticator
    private let unauthenticatedMethods: Set<String>
    private let logger: Logger

    /// Creates the interceptor.
    ///
    /// - Parameters:
    ///   - authenticator: checks credentials.
    ///   - unauthenticatedMethods: fully qualified methods open to everyone (by default the
    ///     gRPC health checks `grpc.health.v1.Health/Check` and `grpc.health.v1.Health/Watch`).
    ///   - logger: refusals are logged at `notice`, without the key.
    public init(
        authenticator: Authenticator,
        unauthenticatedMethods: Set<String> = ["grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch"],
        logger: Logger = Logger(label: "auditpipe.auth")
    ) {
        self.authenticator = authenticator
        self.unauthenticatedMethods = unauthenticatedMethods
        self.logger = logger
    }

    /// Authenticates, then runs the handler (including its response producer) with
    /// ``Principal/current`` set.
    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if unauthenticatedMethods.contains(context.descriptor.fullyQualifiedMethod) {
            return try await next(request, context)
        }
        let principal: Principal
        do throws(AuthorizationError) {
            let authorization = request.metadata[stringValues: "authorization"].first(where: { _ in true })
            let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
            principal = try authenticator.authenticate(authorization: authorization, peerCertificate: certificate)
        } catch {
            logger.notice("refused an RPC", metadata: [
                "rpc.method": "\(context.descriptor)", "rpc.peer": "\(context.remotePeer)", "auth.error": "\(error.message)",
            ])
            return StreamingServerResponse(error: RPCError(code: error.code, message: error.message))
        }
        var response = try await Principal.$current.withValue(principal) {
            try await next(request, context)
        }
        // The producer runs after `next` returns: give it the principal as well.
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in
                try await Principal.$current.withValue(principal) { try await producer(writer) }
            }
            response.accepted = .success(contents)
        }
        return response
    }
}
