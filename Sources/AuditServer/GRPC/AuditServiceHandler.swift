import AuditAuth
import AuditEvents
import AuditIngest
import AuditIntegrity
import AuditSink
import AuditPipeProto
import AuditQuery
import Foundation
import GRPCCore
import GRPCProtobuf
import NIOCore
import ServiceLifecycle
import Synchronization
import SwiftProtobuf

extension Auditpipe_V1_VerifyResponse {
    /// The response for a verification report.
    init(_ report: ChainVerificationReport) {
        self.init()
        tenantID = report.tenantID
        intact = report.isIntact
        startSequence = report.startSequence
        lastVerifiedSequence = report.lastVerifiedSequence
        lastVerifiedHash = Data(report.lastVerifiedHash.bytes)
        verifiedRows = UInt64(report.verifiedRows)
        verifiedCheckpoints = UInt64(report.verifiedCheckpoints)
        guard let problem = report.problem else { return }
        problemSequence = problem.sequence
        problemDescription = problem.description
        switch problem {
        case .modifiedRow: self.problem = .modifiedRow
        case .missingRows: self.problem = .missingRows
        case .insertedRow: self.problem = .insertedRow
        case .reorderedRows: self.problem = .reorderedRows
        case .badCheckpointSignature: self.problem = .badCheckpointSignature
        case .checkpointMismatch: self.problem = .checkpointMismatch
        }
    }
}

/// `auditpipe.v1.AuditService`: the gRPC face of ingest and of the read side.
struct AuditServiceHandler: Auditpipe_V1_AuditService.SimpleServiceProtocol {
    /// Validates and produces events; nil when this process does not run the ingest role.
    let ingestPipeline: IngestPipeline?
    /// Streams compliance reports from ClickHouse; nil without the query role.
    let reports: ComplianceReportExecutor?
    /// Reads users' recent events from Redis; nil without the recent role.
    let recent: (any RecentEventsReader)?
    /// False only when the server runs without AUDITPIPE_AUTH_CONFIG (development): every caller
    /// then acts as an administrator of every tenant.
    let authenticationRequired: Bool
    /// The roles this process runs, named when a call needs one it does not.
    var roles: Set<ServerRole> = Set(ServerRole.allCases)
    /// How many events of one Ingest stream may be in flight (awaiting durability) at once; the
    /// stream stops reading from the caller beyond that (HTTP/2 flow control pushes back).
    var maxInFlightPerStream = 1024
    /// The largest IngestBatch, in events.
    var maxBatchEvents = 10_000
    /// Verifies tenants' hash chains; nil when no ClickHouse or no checkpoint key is configured.
    var chainAuditor: ChainAuditor? = nil
    /// The largest request message, in bytes; larger ones are answered RESOURCE_EXHAUSTED.
    var maxRequestMessageBytes = GRPCServerLimits().maxRequestMessageBytes
    /// How long an Ingest stream may send nothing while none of its events is in flight.
    var ingestStreamIdleTimeout = GRPCServerLimits().ingestStreamIdleTimeout

    /// Registers the methods with ``SizeLimitedDeserializer``, so that an oversized request is
    /// answered RESOURCE_EXHAUSTED naming the limit (the generated registration would let the
    /// transport reset the stream without a status). RecentEvents and ComplianceReport answer with
    /// bytes already encoded (``serializedRecentEvents(request:context:)``,
    /// ``serializedComplianceReport(request:context:write:)``), which no message type goes through.
    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        typealias Method = Auditpipe_V1_AuditService.Method
        let limit = maxRequestMessageBytes
        func register<Request: SwiftProtobuf.Message, Serializer: MessageSerializer>(
            _ method: MethodDescriptor, _ serializer: Serializer,
            _ handler: @escaping @Sendable (StreamingServerRequest<Request>, ServerContext) async throws -> StreamingServerResponse<Serializer.Message>
        ) {
            router.registerHandler(forMethod: method, deserializer: SizeLimitedDeserializer<Request>(limit: limit), serializer: serializer, handler: handler)
        }
        register(Method.Ingest.descriptor, ProtobufSerializer(), self.ingest(request:context:))
        register(Method.IngestBatch.descriptor, ProtobufSerializer(), self.ingestBatch(request:context:))
        register(Method.RecentEvents.descriptor, SerializedMessageSerializer()) { (request: StreamingServerRequest<Auditpipe_V1_RecentEventsRequest>, context) in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: try await self.serializedRecentEvents(request: single.message, context: context)))
        }
        register(Method.ComplianceReport.descriptor, SerializedMessageSerializer()) { (request: StreamingServerRequest<Auditpipe_V1_ComplianceReportRequest>, context) in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(metadata: [:]) { writer in
                try await self.serializedComplianceReport(request: single.message, context: context) { try await writer.write($0) }
                return [:]
            }
        }
        register(Method.Verify.descriptor, ProtobufSerializer(), self.verify(request:context:))
    }

    func ingest(
        request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>,
        response: RPCWriter<Auditpipe_V1_IngestResult>,
        context: ServerContext
    ) async throws {
        guard let ingestPipeline else { throw notServed("Ingest", by: .ingest) }
        let activity = IngestStreamActivity()
        try await withThrowingTaskGroup(of: Void.self) { stream in
            stream.addTask { try await activity.watch(idleTimeout: ingestStreamIdleTimeout) }
            stream.addTask { try await activity.drainOnGracefulShutdown() }
            stream.addTask { try await self.ingest(request, response, into: ingestPipeline, activity: activity) }
            // The first to finish decides: the stream's own end, the idle watchdog's error, or
            // the end of the drain at shutdown.
            try await stream.next()
            stream.cancelAll()
        }
    }

    /// The stream in units of work: a reader hands each received event to the intake (and stops
    /// reading while `maxInFlightPerStream` events are unanswered); the unit maker takes every
    /// event received since its last unit (a small unit of a busy stream waits a moment for the
    /// events behind it: ``UnitCoalescing``) and runs them through the pipeline as one batch, and
    /// starts the next unit as soon as this one is handed to Kafka; one writer sends the unit's
    /// results, in the per-event form the proto promises, as each of its partitions is
    /// acknowledged.
    private func ingest(
        _ request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>,
        _ response: RPCWriter<Auditpipe_V1_IngestResult>,
        into pipeline: IngestPipeline,
        activity: IngestStreamActivity
    ) async throws {
        let intake = IngestStreamIntake<Auditpipe_V1_IngestRequest>(maxInFlight: maxInFlightPerStream)
        let (results, resultsContinuation) = AsyncStream.makeStream(of: [Auditpipe_V1_IngestResult].self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // One writer: the results of each part go out together, as soon as they are known.
            group.addTask {
                do {
                    for await unit in results {
                        try await response.write(contentsOf: unit)
                        activity.answered(unit.count)
                        intake.answered(unit.count)
                    }
                } catch {
                    intake.finish()
                    throw error
                }
            }
            group.addTask {
                defer { intake.finish() }
                for try await message in request {
                    activity.received()
                    guard await intake.receive(message) else { break }
                    // Shutting down: answer what was received, then end the stream.
                    if activity.isDraining { break }
                }
            }
            await withDiscardingTaskGroup { units in
                var coalescing = UnitCoalescing()
                while var unit = await intake.nextUnit() {
                    if let wait = coalescing.wait(forUnitOf: unit.count, at: .now) {
                        try? await Task.sleep(for: wait)
                        unit += intake.takeArrived()
                    }
                    // The unit's CPU work happens here; the next unit starts as soon as this one
                    // is handed to Kafka, so the events that arrive meanwhile travel together.
                    let pending = await self.submit(unit.map(\.event), to: pipeline)
                    units.addTask {
                        // Each part as Kafka acknowledges it: an event waits for its own
                        // partition, not for the unit's slowest.
                        await pending.forEachPart { part in
                            resultsContinuation.yield(part.map { index, result in
                                var answer = result
                                answer.sequence = unit[index].sequence
                                return answer
                            })
                        }
                    }
                }
            }
            resultsContinuation.finish()
            try await group.waitForAll()
            if activity.isDraining { throw IngestStreamActivity.shuttingDown }
        }
    }

    func ingestBatch(
        request: Auditpipe_V1_IngestBatchRequest,
        context: ServerContext
    ) async throws -> Auditpipe_V1_IngestBatchResponse {
        guard let ingestPipeline else { throw notServed("IngestBatch", by: .ingest) }
        guard request.events.count <= maxBatchEvents else {
            throw RPCError(code: .invalidArgument, message: "events: \(request.events.count) events in one batch; the limit is \(maxBatchEvents). Split the batch.")
        }
        // One unit of work: validated, encoded and produced together, answered once durable.
        let results = await submit(request.events, to: ingestPipeline).results()
        return .with { $0.results = results }
    }

    /// The generated protocol's RecentEvents. The server registers
    /// ``serializedRecentEvents(request:context:)`` instead: the same answer, not decoded.
    func recentEvents(
        request: Auditpipe_V1_RecentEventsRequest,
        context: ServerContext
    ) async throws -> Auditpipe_V1_RecentEventsResponse {
        try Auditpipe_V1_RecentEventsResponse(serializedBytes: await serializedRecentEvents(request: request, context: context).bytes)
    }

    /// RecentEvents: the user's newest events as stored, oldest first.
    func serializedRecentEvents(
        request: Auditpipe_V1_RecentEventsRequest,
        context: ServerContext
    ) async throws -> SerializedMessage<Auditpipe_V1_RecentEventsResponse> {
        let tenant = try caller().resolveTenant(request.tenantID, role: .recentEvents)
        guard !request.actorID.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "actor_id: required; name the user whose events to return")
        }
        guard request.limit <= 100 else {
            throw RPCError(code: .invalidArgument, message: "limit: \(request.limit) is over 100; ask for 1 to 100 (0 means 100)")
        }
        guard let recent else { throw notServed("RecentEvents", by: .recent) }
        return try await recent.recent(tenant: tenant, actor: request.actorID, limit: request.limit == 0 ? 100 : Int(request.limit))
    }

    /// The generated protocol's ComplianceReport. The server registers
    /// ``serializedComplianceReport(request:context:write:)`` instead: the same chunks, not decoded.
    func complianceReport(
        request: Auditpipe_V1_ComplianceReportRequest,
        response: RPCWriter<Auditpipe_V1_ComplianceReportChunk>,
        context: ServerContext
    ) async throws {
        try await serializedComplianceReport(request: request, context: context) { chunk in
            try await response.write(Auditpipe_V1_ComplianceReportChunk(serializedBytes: chunk.bytes))
        }
    }

    /// ComplianceReport: each chunk as the executor encoded it.
    func serializedComplianceReport(
        request: Auditpipe_V1_ComplianceReportRequest,
        context: ServerContext,
        write: (SerializedMessage<Auditpipe_V1_ComplianceReportChunk>) async throws -> Void
    ) async throws {
        let tenant = try caller().resolveTenant(request.tenantID, role: .reports)
        guard let reports else { throw notServed("ComplianceReport", by: .query) }
        let statement = try reports.statement(for: ComplianceReportQuery(request, tenantID: tenant))
        try await reports.run(statement) { chunk in
            try await write(SerializedMessage(bytes: Array(chunk.bytes.readableBytesView)))
        }
    }

    func verify(
        request: Auditpipe_V1_VerifyRequest,
        context: ServerContext
    ) async throws -> Auditpipe_V1_VerifyResponse {
        let tenant = try caller().resolveTenant(request.tenantID, role: .reports)
        let bySequence = request.fromSeq != 0 || request.toSeq != 0
        let byTime = request.fromMs != 0 || request.toMs != 0
        let range: ChainRange
        switch (bySequence, byTime) {
        case (true, true):
            throw RPCError(code: .invalidArgument, message: "from_seq/to_seq and from_ms/to_ms: give a sequence range or a time range, not both")
        case (true, false):
            let upper = request.toSeq == 0 ? UInt64(Int64.max) : request.toSeq
            guard max(request.fromSeq, 1) <= upper else {
                throw RPCError(code: .invalidArgument, message: "from_seq: \(request.fromSeq) is after to_seq \(request.toSeq)")
            }
            range = .sequences(max(request.fromSeq, 1)...upper)
        case (false, true):
            guard request.fromMs < request.toMs else {
                throw RPCError(code: .invalidArgument, message: "to_ms: must be after from_ms; the range is [from_ms, to_ms)")
            }
            range = .times(request.fromMs...(request.toMs - 1))
        case (false, false):
            range = .all
        }
        guard roles.contains(.query) else { throw notServed("Verify", by: .query) }
        guard let chainAuditor else {
            throw RPCError(
                code: .unavailable,
                message: "Verify needs a checkpoint key: start the server with AUDITPIPE_CHECKPOINT_KEY_FILE (or AUDITPIPE_CHECKPOINT_PUBLIC_KEYS)"
            )
        }
        let report: ChainVerificationReport
        do {
            report = try await chainAuditor.verify(tenantID: tenant, range: range)
        } catch {
            throw RPCError(verificationFailure: error)
        }
        return Auditpipe_V1_VerifyResponse(report)
    }

    /// The answer to a call of `method` on a process that does not run `role`.
    private func notServed(_ method: String, by role: ServerRole) -> RPCError {
        let setting: String
        switch role {
        case .query, .sink: setting = " (it needs clickhouse.url)"
        case .recent: setting = " (it needs redis.url)"
        case .ingest, .registry: setting = ""
        }
        return RPCError(
            code: .unimplemented,
            message: "\(method) is served by the \(role) role, which this instance does not run (its roles: \(roles.listed)); call an instance that runs it, or add \(role) to server.roles\(setting)"
        )
    }

    /// The authenticated caller; in development mode (no authentication configured) an
    /// administrator of every tenant.
    private func caller() throws -> Principal {
        if let principal = Principal.current { return principal }
        guard !authenticationRequired else { return try Principal.required() }
        return Principal(name: "open access (AUDITPIPE_AUTH_CONFIG unset)", tenants: .all, roles: [.admin], method: .apiKey)
    }

    /// `events` as one unit: each event is authorized for its tenant (once per run of events of
    /// the same tenant), the allowed ones are submitted to the pipeline as one batch; returns
    /// once they are handed to Kafka.
    private func submit(_ events: [Auditpipe_V1_AuditEvent], to pipeline: IngestPipeline) async -> PendingIngestResults {
        var results: [Auditpipe_V1_IngestResult] = []
        results.reserveCapacity(events.count)
        var accepted: [AuditEvent] = []
        accepted.reserveCapacity(events.count)
        var acceptedIndices: [Int] = []
        acceptedIndices.reserveCapacity(events.count)
        let principal = Result { try caller() }
        var authorizedTenant: String?
        for (index, message) in events.enumerated() {
            var event = AuditEvent(message)
            if event.eventID.isEmpty {
                event.eventID = UUIDv7.make()
            }
            var result = Auditpipe_V1_IngestResult()
            result.eventID = event.eventID
            // An empty tenant is a field error, reported by validation with the other rules.
            if !event.tenantID.isEmpty && event.tenantID != authorizedTenant {
                do {
                    try principal.get().authorize(tenant: event.tenantID, role: .ingest)
                    authorizedTenant = event.tenantID
                } catch {
                    result.status = .permissionDenied
                    result.message = "\(error)"
                    results.append(result)
                    continue
                }
            }
            results.append(result)
            accepted.append(event)
            acceptedIndices.append(index)
        }
        let pending = await pipeline.submit(batch: accepted)
        return PendingIngestResults(results: results, acceptedIndices: acceptedIndices, pending: pending)
    }
}

/// The results of a unit of events whose accepted events are on their way to Kafka.
struct PendingIngestResults: Sendable {
    var results: [Auditpipe_V1_IngestResult]
    let acceptedIndices: [Int]
    let pending: PendingIngest

    /// Waits until every event is durable or refused, one result per event in order; call it
    /// (or ``forEachPart(_:)``) exactly once.
    func results() async -> [Auditpipe_V1_IngestResult] {
        var results = self.results
        await pending.forEachPart { part in
            for (index, outcome) in part { Self.apply(outcome, to: &results[acceptedIndices[index]]) }
        }
        return results
    }

    /// Hands over the results as they are known: the events refused before the pipeline (not
    /// allowed for their tenant) and by it first, then the others as Kafka acknowledges them.
    /// Each part holds the event's index in the unit with its result; call it (or
    /// ``results()``) exactly once.
    func forEachPart(_ body: ([(index: Int, result: Auditpipe_V1_IngestResult)]) async -> Void) async {
        if acceptedIndices.count < results.count {
            var accepted = [Bool](repeating: false, count: results.count)
            for index in acceptedIndices { accepted[index] = true }
            await body(results.indices.filter { !accepted[$0] }.map { ($0, results[$0]) })
        }
        await pending.forEachPart { part in
            await body(part.map { index, outcome in
                let unitIndex = acceptedIndices[index]
                var result = results[unitIndex]
                Self.apply(outcome, to: &result)
                return (unitIndex, result)
            })
        }
    }

    private static func apply(_ outcome: IngestOutcome, to result: inout Auditpipe_V1_IngestResult) {
        switch outcome {
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
    }
}

/// What the idle watchdog and the shutdown drain of one Ingest stream read: events received,
/// events not yet answered, and whether the server is shutting down. One atomic increment per
/// event; the watchdog looks every quarter of the timeout.
final class IngestStreamActivity: Sendable {
    private let receivedCount = Atomic<UInt64>(0)
    private let inFlight = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)

    /// The answer that ends a stream at shutdown, once every event it received is answered.
    static let shuttingDown = RPCError(
        code: .unavailable,
        message: "AuditPipe is shutting down; every event answered on this stream is final. Send the rest on a new stream (another instance, or this one once restarted)"
    )

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Waits for the server's graceful shutdown, then ends the stream with ``shuttingDown`` as
    /// soon as none of its events is in flight (the reader stops after its next event and ends
    /// the stream itself once that is answered). Cancelled with the stream otherwise.
    func drainOnGracefulShutdown() async throws {
        try await gracefulShutdown()
        draining.store(true, ordering: .relaxed)
        while inFlight.load(ordering: .relaxed) > 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Self.shuttingDown
    }

    func received() {
        receivedCount.add(1, ordering: .relaxed)
        inFlight.add(1, ordering: .relaxed)
    }

    /// `count` events' results were written to the caller.
    func answered(_ count: Int = 1) {
        inFlight.subtract(count, ordering: .relaxed)
    }

    /// Returns never; throws DEADLINE_EXCEEDED once the stream has received nothing for
    /// `idleTimeout` (give or take a quarter of it) with no event in flight.
    func watch(idleTimeout: Duration) async throws {
        let interval = idleTimeout / 4
        var last = receivedCount.load(ordering: .relaxed)
        var idleChecks = 0
        while true {
            try await Task.sleep(for: interval)
            let now = receivedCount.load(ordering: .relaxed)
            if now == last && inFlight.load(ordering: .relaxed) == 0 {
                idleChecks += 1
            } else {
                idleChecks = 0
                last = now
            }
            if idleChecks >= 4 {
                throw RPCError(
                    code: .deadlineExceeded,
                    message: "this Ingest stream sent no event for \(idleTimeout) (grpc.stream_idle_timeout_ms); the server closed it. Open a new stream when there are events to send"
                )
            }
        }
    }
}
