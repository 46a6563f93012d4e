package import AuditAuth
import AuditEvents
import Foundation
package import Hummingbird
import LegacyMapping
import NIOCore

/// `POST /v1/legacy/{source}`: one JSON object, an array, or NDJSON from a legacy service.
/// `GET /v1/legacy/report`: the conformance view per source (text).
package struct LegacyHTTPRoutes: Sendable {
    let intake: LegacyIntake
    /// Checks `authorization: Bearer <api key>` like the gRPC API; nil in development mode.
    let authenticator: Authenticator?

    package init(intake: LegacyIntake, authenticator: Authenticator?) {
        self.intake = intake
        self.authenticator = authenticator
    }

    struct ItemResult: Encodable {
        var index: Int
        var status: String
        var event_id: String?
        var partition: Int32?
        var offset: Int64?
        var reasons: [Reason]?
        var message: String?
    }

    struct Reason: Encodable {
        var field: String
        var rule: String
        var description: String
    }

    struct Answer: Encodable {
        var accepted = 0
        var quarantined = 0
        var unavailable = 0
        var permission_denied = 0
        var results: [ItemResult] = []
    }

    struct RefusalAnswer: Encodable {
        var error: String
        var reason: Reason?
    }

    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("v1/legacy/:source") { request, context -> Response in
            let source = context.parameters.get("source") ?? ""
            var allowTenant: @Sendable (String) -> Bool = { _ in true }
            if let authenticator {
                let principal: Principal
                do throws(AuthorizationError) {
                    principal = try authenticator.authenticate(bearer: request.headers[.authorization] ?? "")
                } catch {
                    return json(.unauthorized, RefusalAnswer(error: error.message))
                }
                guard principal.has(.ingest) else {
                    return json(.forbidden, RefusalAnswer(error: "the key `\(principal.name)` does not have the ingest role"))
                }
                allowTenant = { principal.tenants.contains($0) }
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: intake.limits.maxPayloadBytes)
            } catch {
                return json(.contentTooLarge, RefusalAnswer(error: "the payload is larger than \(intake.limits.maxPayloadBytes) bytes; split it"))
            }
            switch await intake.process(source: source, payload: Array(buffer: body), intake: .http, allowTenant: allowTenant) {
            case .failure(.unknownSource(let name)):
                return json(.notFound, RefusalAnswer(error: "unknown legacy source `\(name)`; configured: \(intake.sources.joined(separator: ", "))"))
            case .failure(.payload(let refusal)):
                let reason = Reason(field: refusal.reason.field, rule: refusal.reason.rule, description: refusal.reason.description)
                return json(refusal.isTooLarge ? .contentTooLarge : .badRequest, RefusalAnswer(error: "the payload was refused as a whole; nothing was stored", reason: reason))
            case .success(let outcomes):
                var answer = Answer()
                for (index, outcome) in outcomes.enumerated() {
                    switch outcome {
                    case .durable(let eventID, let partition, let offset):
                        answer.accepted += 1
                        answer.results.append(ItemResult(index: index, status: "durable", event_id: eventID, partition: partition, offset: offset))
                    case .quarantined(let reasons):
                        answer.quarantined += 1
                        answer.results.append(ItemResult(index: index, status: "quarantined", reasons: reasons.map { Reason(field: $0.field, rule: $0.rule, description: $0.description) }))
                    case .unavailable(let message):
                        answer.unavailable += 1
                        answer.results.append(ItemResult(index: index, status: "unavailable", message: message))
                    case .permissionDenied(let message):
                        answer.permission_denied += 1
                        answer.results.append(ItemResult(index: index, status: "permission_denied", message: message))
                    }
                }
                return json(answer.unavailable > 0 ? .serviceUnavailable : .ok, answer)
            }
        }
        router.get("v1/legacy/report") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: intake.conformance.render()))
            )
        }
    }

    private func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
