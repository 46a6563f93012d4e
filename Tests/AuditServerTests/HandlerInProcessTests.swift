import AuditEvents
import AuditIngest
import AuditPipeProto
import GRPCCore
import GRPCInProcessTransport
import SwiftProtobuf
import Synchronization
import Testing

@testable import AuditServer

/// The production handler (`AuditServiceHandler`, with its own method registration) behind a
/// real `GRPCServer`, over grpc-swift's in-process transport: what a caller sees, statuses and
/// per-event results, without sockets. The log and the schema are in-memory stand-ins; the
/// integration suites run the same handler against the dev stack.
@Suite("The API handler over the in-process transport")
struct HandlerInProcessTests {
    struct SeedSchema: EventSchemaSource {
        func currentSchema() async throws -> EventSchema { EventSchema(id: 1, schema: AuditEventSchema.seed) }
    }

    final class MemoryLog: DurableEventLog {
        let appended = Mutex(0)
        func append(_ record: EventRecord) async throws -> RecordPosition {
            appended.withLock { count in
                defer { count += 1 }
                return RecordPosition(partition: 3, offset: Int64(count))
            }
        }
    }

    /// Runs `handler` in a server and gives `body` a client of it.
    private func withHandler<Result: Sendable>(
        _ handler: AuditServiceHandler,
        _ body: (Auditpipe_V1_AuditService.Client<InProcessTransport.Client>) async throws -> Result
    ) async throws -> Result {
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [handler])
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            return try await withGRPCClient(transport: transport.client) { client in
                try await body(Auditpipe_V1_AuditService.Client(wrapping: client))
            }
        }
    }

    private func handler(roles: Set<ServerRole>, log: MemoryLog = MemoryLog(), maxRequestMessageBytes: Int = 4 << 20) -> AuditServiceHandler {
        AuditServiceHandler(
            ingestPipeline: roles.contains(.ingest) ? IngestPipeline(schemas: SeedSchema(), log: log) : nil,
            reports: nil, recent: nil, authenticationRequired: false, roles: roles,
            maxBatchEvents: 3, maxRequestMessageBytes: maxRequestMessageBytes
        )
    }

    private func event(tenant: String, id: String) -> Auditpipe_V1_AuditEvent {
        .with {
            $0.eventID = id
            $0.tenantID = tenant
            $0.actorID = "alice"
            $0.eventType = "auth"
            $0.resource = "session"
            $0.action = "login"
            $0.timestampMs = UnixTime.nowMilliseconds()
        }
    }

    @Test("IngestBatch answers per event: durable with its position, or invalid naming the field and rule")
    func ingestBatchResults() async throws {
        let log = MemoryLog()
        let response = try await withHandler(handler(roles: [.ingest], log: log)) { client in
            try await client.ingestBatch(.with { $0.events = [event(tenant: "acme", id: "e-1"), event(tenant: "", id: "e-2")] })
        }
        #expect(response.results.map(\.eventID) == ["e-1", "e-2"])
        #expect(response.results[0].status == .durable)
        #expect(response.results[0].kafkaPartition == 3)
        #expect(response.results[1].status == .invalid)
        #expect(response.results[1].violations.map(\.field) == ["tenant_id"], "\(response.results[1])")
        #expect(log.appended.withLock { $0 } == 1)
    }

    @Test("a batch over the limit is INVALID_ARGUMENT naming the field; nothing is produced")
    func batchOverLimit() async throws {
        let log = MemoryLog()
        let error = await #expect(throws: RPCError.self) {
            try await withHandler(handler(roles: [.ingest], log: log)) { client in
                try await client.ingestBatch(.with { $0.events = (1...4).map { event(tenant: "acme", id: "e-\($0)") } })
            }
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix("events: 4 events in one batch; the limit is 3") == true, "\(String(describing: error))")
        #expect(log.appended.withLock { $0 } == 0)
    }

    @Test("an oversized request is RESOURCE_EXHAUSTED naming the limit, not a reset stream")
    func oversizedRequest() async throws {
        let error = await #expect(throws: RPCError.self) {
            try await withHandler(handler(roles: [.ingest], maxRequestMessageBytes: 256)) { client in
                var big = event(tenant: "acme", id: "e-1")
                big.resource = String(repeating: "r", count: 1_000)
                return try await client.ingestBatch(.with { $0.events = [big] })
            }
        }
        #expect(error?.code == .resourceExhausted, "\(String(describing: error))")
        #expect(error?.message.contains("256") == true, "\(String(describing: error))")
    }

    @Test("calls for roles this instance does not run are UNIMPLEMENTED, naming the role")
    func rolesNotServed() async throws {
        try await withHandler(handler(roles: [.sink])) { client in
            let ingest = await #expect(throws: RPCError.self) {
                try await client.ingestBatch(.with { $0.events = [event(tenant: "acme", id: "e-1")] })
            }
            #expect(ingest?.code == .unimplemented)
            #expect(ingest?.message.contains("IngestBatch is served by the ingest role, which this instance does not run (its roles: sink)") == true, "\(String(describing: ingest))")
            let report = await #expect(throws: RPCError.self) {
                try await client.complianceReport(.with { $0.tenantID = "acme"; $0.fromMs = 0; $0.toMs = 1 }) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(report?.code == .unimplemented)
            #expect(report?.message.contains("ComplianceReport is served by the query role") == true, "\(String(describing: report))")
            let recent = await #expect(throws: RPCError.self) {
                try await client.recentEvents(.with { $0.tenantID = "acme"; $0.actorID = "alice" })
            }
            #expect(recent?.code == .unimplemented)
            #expect(recent?.message.contains("RecentEvents is served by the recent role") == true, "\(String(describing: recent))")
        }
    }

    @Test("RecentEvents checks its request before anything else: the field and the rule")
    func recentEventsRequest() async throws {
        try await withHandler(handler(roles: [.recent])) { client in
            let limit = await #expect(throws: RPCError.self) {
                try await client.recentEvents(.with { $0.tenantID = "acme"; $0.actorID = "alice"; $0.limit = 101 })
            }
            #expect(limit?.code == .invalidArgument)
            #expect(limit?.message.hasPrefix("limit: 101 is over 100") == true, "\(String(describing: limit))")
            let actor = await #expect(throws: RPCError.self) {
                try await client.recentEvents(.with { $0.tenantID = "acme" })
            }
            #expect(actor?.code == .invalidArgument)
            #expect(actor?.message.hasPrefix("actor_id: required") == true, "\(String(describing: actor))")
        }
    }
}
