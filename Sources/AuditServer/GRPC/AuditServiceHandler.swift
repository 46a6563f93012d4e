import AuditEvents
import AuditIngest
import AuditPipeProto
import GRPCCore
import SwiftProtobuf

/// `auditpipe.v1.AuditService`: the gRPC face of ingest and of the read side.
struct AuditServiceHandler: Auditpipe_V1_AuditService.SimpleServiceProtocol {
    let ingestPipeline: IngestPipeline
    /// How many events of one Ingest stream may be in flight (awaiting durability) at once; the
    /// stream stops reading from the caller beyond that (HTTP/2 flow control pushes back).
    var maxInFlightPerStream = 1024
    /// The largest IngestBatch, in events.
    var maxBatchEvents = 10_000

    func ingest(
        request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>,
        response: RPCWriter<Auditpipe_V1_IngestResult>,
        context: ServerContext
    ) async throws {
        let (results, resultsContinuation) = AsyncStream.makeStream(of: Auditpipe_V1_IngestResult.self)
        try await withThrowingTaskGroup(of: Void.self) { writerGroup in
            // One writer: results go out in completion order, as soon as each event is durable.
            writerGroup.addTask {
                for await result in results {
                    try await response.write(result)
                }
            }
            defer { resultsContinuation.finish() }
            try await withThrowingTaskGroup(of: Void.self) { events in
                var inFlight = 0
                for try await message in request {
                    if inFlight >= maxInFlightPerStream {
                        try await events.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    events.addTask {
                        var result = await self.result(for: message.event)
                        result.sequence = message.sequence
                        resultsContinuation.yield(result)
                    }
                }
                try await events.waitForAll()
            }
            resultsContinuation.finish()
            try await writerGroup.waitForAll()
        }
    }

    func ingestBatch(
        request: Auditpipe_V1_IngestBatchRequest,
        context: ServerContext
    ) async throws -> Auditpipe_V1_IngestBatchResponse {
        guard request.events.count <= maxBatchEvents else {
            throw RPCError(code: .invalidArgument, message: "events: \(request.events.count) events in one batch; the limit is \(maxBatchEvents). Split the batch.")
        }
        let results = await withTaskGroup(of: (Int, Auditpipe_V1_IngestResult).self) { group in
            for (index, event) in request.events.enumerated() {
                group.addTask { (index, await self.result(for: event)) }
            }
            var ordered = [Auditpipe_V1_IngestResult](repeating: .init(), count: request.events.count)
            for await (index, result) in group {
                ordered[index] = result
            }
            return ordered
        }
        return .with { $0.results = results }
    }

    func recentEvents(
        request: Auditpipe_V1_RecentEventsRequest,
        context: ServerContext
    ) async throws -> Auditpipe_V1_RecentEventsResponse {
        throw RPCError(code: .unimplemented, message: "RecentEvents is not available in this version of AuditPipe yet")
    }

    func complianceReport(
        request: Auditpipe_V1_ComplianceReportRequest,
        response: RPCWriter<Auditpipe_V1_ComplianceReportChunk>,
        context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "ComplianceReport is not available in this version of AuditPipe yet")
    }

    private func result(for event: Auditpipe_V1_AuditEvent) async -> Auditpipe_V1_IngestResult {
        var event = AuditEvent(event)
        if event.eventID.isEmpty {
            event.eventID = UUIDv7.make()
        }
        var result = Auditpipe_V1_IngestResult()
        result.eventID = event.eventID
        switch await ingestPipeline.ingest(event) {
        case .durable(let position):
            result.status = .durable
            result.kafkaPartition = position.partition
            result.kafkaOffset = position.offset
        case .invalid(let violations):
            result.status = .invalid
            result.violations = violations.map { violation in
                .with {
                    $0.field = violation.field
                    $0.rule = violation.rule
                    $0.description_p = violation.description
                }
            }
        case .unavailable(let reason):
            result.status = .unavailable
            result.message = reason
        }
        return result
    }
}

extension AuditEvent {
    init(_ event: Auditpipe_V1_AuditEvent) {
        self.init(
            eventID: event.eventID,
            tenantID: event.tenantID,
            actorID: event.actorID,
            eventType: event.eventType,
            resource: event.resource,
            action: event.action,
            timestampMilliseconds: event.timestampMs,
            metadata: event.metadata
        )
    }
}
