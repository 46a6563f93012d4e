import AsyncHTTPClient
import AuditEvents
import AuditPipeClient
import AuditPipeProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import NIOCore
import NIOHTTP1
import SwiftProtobuf

/// The simulator's connections to one AuditPipe server: the Swift client for ingest, the
/// generated gRPC client for the read side, HTTP for the legacy intake and the metrics. Thin: it
/// only moves bytes and maps answers to `DeliveryOutcome`s.
package struct ServerConnections: Sendable {
    let ingest: AuditPipeClient
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let reader: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>
    let metadata: Metadata
    let httpBase: String
    let apiKey: String?

    init(configuration: SimulationConfiguration) throws {
        ingest = try AuditPipeClient(configuration: .init(host: configuration.grpcHost, port: configuration.grpcPort, apiKey: configuration.apiKey))
        grpc = GRPCClient(transport: try HTTP2ClientTransport.Posix(
            target: .dns(host: configuration.grpcHost, port: configuration.grpcPort), transportSecurity: .plaintext
        ))
        reader = Auditpipe_V1_AuditService.Client(wrapping: grpc)
        var metadata = Metadata()
        if let key = configuration.apiKey { metadata.addString("Bearer \(key)", forKey: "authorization") }
        self.metadata = metadata
        let host = configuration.httpHost.contains(":") ? "[\(configuration.httpHost)]" : configuration.httpHost
        httpBase = "http://\(host):\(configuration.httpPort)"
        apiKey = configuration.apiKey
    }

    /// Runs the gRPC connections until `shutdown()`.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await ingest.run() }
            group.addTask { try await grpc.runConnections() }
        }
    }

    func shutdown() {
        ingest.shutdown()
        grpc.beginGracefulShutdown()
    }

    // MARK: Ingest

    /// `IngestBatch`; a failed call makes every event unavailable (resent later).
    func ingestBatch(_ events: [AuditEvent]) async -> [DeliveryOutcome] {
        do {
            let results = try await ingest.ingestBatch(events)
            guard results.count == events.count else {
                return Array(repeating: .unavailable("IngestBatch answered \(results.count) results for \(events.count) events"), count: events.count)
            }
            return zip(events, results).map { Self.outcome($1, eventID: $0.eventID) }
        } catch {
            return Array(repeating: .unavailable("IngestBatch failed: \(error)"), count: events.count)
        }
    }

    static func outcome(_ result: IngestResult, eventID: String) -> DeliveryOutcome {
        switch result {
        case .durable: .durable(eventID: eventID)
        case .invalid(let violations): .refused(violations)
        case .permissionDenied(let message): .permissionDenied(message)
        case .unavailable(let message): .unavailable(message)
        }
    }

    // MARK: Legacy intake

    /// `POST /v1/legacy/{source}` with one body; one outcome per record.
    func postLegacy(source: String, body: [UInt8], records: Int, ndjson: Bool) async -> [DeliveryOutcome] {
        var request = HTTPClientRequest(url: "\(httpBase)/v1/legacy/\(source)")
        request.method = .POST
        request.headers.add(name: "content-type", value: ndjson ? "application/x-ndjson" : "application/json")
        if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 32 << 20)
            return LegacyAnswer.outcomes(status: Int(response.status.code), body: Array(buffer: answer), count: records)
        } catch {
            return Array(repeating: .unavailable("POST /v1/legacy/\(source) failed: \(error)"), count: records)
        }
    }

    /// The text of `GET path`, or nil when it cannot be read.
    func getText(_ path: String, timeout: Int64 = 5) async -> (status: Int, text: String)? {
        var request = HTTPClientRequest(url: "\(httpBase)\(path)")
        if let apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
            let body = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), String(buffer: body))
        } catch {
            return nil
        }
    }

    // MARK: Read side

    /// Aggregate counts of a report: one row per group.
    func aggregate(_ request: Auditpipe_V1_ComplianceReportRequest) async throws -> [Auditpipe_V1_ReportAggregate] {
        try await reader.complianceReport(request, metadata: metadata) { response in
            var rows: [Auditpipe_V1_ReportAggregate] = []
            for try await chunk in response.messages { rows += chunk.aggregates }
            return rows
        }
    }

    /// Row mode: how many rows carry each event id.
    func eventIDs(_ request: Auditpipe_V1_ComplianceReportRequest) async throws -> [String: Int] {
        try await reader.complianceReport(request, metadata: metadata) { response in
            var ids: [String: Int] = [:]
            for try await chunk in response.messages {
                for stored in chunk.events { ids[stored.event.eventID, default: 0] += 1 }
            }
            return ids
        }
    }

    func recentEvents(tenant: String, actor: String, limit: UInt32) async throws -> [Auditpipe_V1_StoredEvent] {
        let request = Auditpipe_V1_RecentEventsRequest.with {
            $0.tenantID = tenant
            $0.actorID = actor
            $0.limit = limit
        }
        return try await reader.recentEvents(request, metadata: metadata).events
    }
}
