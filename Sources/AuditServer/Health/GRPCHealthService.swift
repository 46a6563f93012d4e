import AuditPipeProto
import GRPCCore

/// The standard gRPC health service (`grpc.health.v1.Health`), answering for the server as a
/// whole (`""`) and for `auditpipe.v1.AuditService` from the `HealthStatusRegistry`.
struct GRPCHealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    static let knownServices: Set<String> = ["", "auditpipe.v1.AuditService"]

    let health: HealthStatusRegistry

    func check(
        request: Grpc_Health_V1_HealthCheckRequest,
        context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.knownServices.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service `\(request.service)`: ask for \"\" or auditpipe.v1.AuditService")
        }
        return response(for: request.service)
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        var last: Grpc_Health_V1_HealthCheckResponse?
        while !Task.isCancelled {
            let current = self.response(for: request.service)
            if current != last {
                try await response.write(current)
                last = current
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    private func response(for service: String) -> Grpc_Health_V1_HealthCheckResponse {
        var answer = Grpc_Health_V1_HealthCheckResponse()
        if !Self.knownServices.contains(service) {
            answer.status = .serviceUnknown
        } else {
            answer.status = health.isReady ? .serving : .notServing
        }
        return answer
    }
}
