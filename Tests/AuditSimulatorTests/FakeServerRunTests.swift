import AuditEvents
import AuditPipeProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import LegacyMapping
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

@testable import AuditSimulator

/// The whole runner (Swift client streams and batches, legacy HTTP posts, settling, row-mode
/// verification, reports, exit status) against an in-process stand-in for AuditPipe: a gRPC
/// service over an in-memory store and an HTTP intake that maps legacy JSON with the real rules.
/// The stand-in can lose or duplicate acknowledged events on purpose, and the run must say so.
/// (This checks the simulator, not AuditPipe: the real end-to-end run is `auditpipe-tools simulate`
/// against `auditpipe serve`.)
@Suite("simulate against an in-process stand-in server", .serialized)
struct FakeServerRunTests {
    @Test func losslessServerPasses() async throws {
        let (outcome, store) = try await Self.run(fault: .none)
        let delivery = try #require(outcome.delivery)
        #expect(outcome.exitCode == 0)
        #expect(delivery.passed)
        #expect(delivery.acknowledged > 300)
        #expect(delivery.acknowledged == store.storedRows)
        #expect(delivery.missing == 0 && delivery.duplicated == 0)
        #expect(outcome.tally.totals.refused > 0, "the careless gRPC service's broken events are refused")
        #expect(outcome.tally.totals.quarantined > 0, "malformed legacy records are quarantined")
        #expect(outcome.tally.surpriseCount == 0, "\(outcome.tally.surprises)")
        #expect(store.reportCalls > 0 && store.recentCalls == 1)
        #expect(outcome.tenants.map(\.tenant) == ["acme", "globex", "hooli", "initech", "umbrella"])
    }

    @Test func lostAcknowledgedEventsFailTheRun() async throws {
        let (outcome, store) = try await Self.run(fault: .dropEvery(37))
        let delivery = try #require(outcome.delivery)
        #expect(outcome.exitCode == 1)
        #expect(store.dropped > 0)
        #expect(delivery.missing == store.dropped)
        #expect(delivery.duplicated == 0)
        #expect(!delivery.passed)
    }

    @Test func duplicatedEventsFailTheRun() async throws {
        let (outcome, store) = try await Self.run(fault: .duplicateEvery(29))
        let delivery = try #require(outcome.delivery)
        #expect(outcome.exitCode == 1)
        #expect(store.duplicated > 0)
        #expect(delivery.duplicated == store.duplicated)
        #expect(delivery.missing == 0)
    }

    @Test func aStreamLeftUnansweredFailsTheRunAndItsEventsAreResent() async throws {
        let (outcome, store) = try await Self.run(fault: .silentFirstStream(after: 5))
        let delivery = try #require(outcome.delivery)
        #expect(outcome.exitCode == 1, "a server that stops answering a stream is a defect")
        #expect(outcome.tally.abandonedStreams.count == 1, "\(outcome.tally.abandonedStreams)")
        #expect(outcome.tally.abandonedStreams.first?.contains("answered none of the") == true)
        // The stand-in read every event: the message says the server holds them, not the client.
        #expect(outcome.tally.abandonedStreams.first?.contains("the call was open, 0 of them not yet written to it") == true, "\(outcome.tally.abandonedStreams)")
        #expect(delivery.passed, "the unanswered events were resent through IngestBatch and stored once")
        #expect(delivery.acknowledged == store.storedRows)
    }

    /// The first Ingest stream reads events without answering until the caller stops sending
    /// (every send of its window waits for an answer), then fails. The client must end the stream
    /// at once (its sends return unavailable and are resent), not wait for answers that cannot
    /// come: before, the request writer waited for sends that never came, grpc kept the call
    /// open for it, and the stream was abandoned only by the answer timeout (after a kill -9 of
    /// the server in `Deploy/chaos`).
    @Test func aStreamThatFailsWhileEverySendWaitsEndsAtOnce() async throws {
        // Longer than the stream takes to fill its window (64 events at its share of 300/s).
        let (outcome, store) = try await Self.run(fault: .failFirstStreamWhenFull, streamAnswerTimeout: 5)
        let delivery = try #require(outcome.delivery)
        #expect(store.failedStreams == 1, "the fault fired")
        #expect(outcome.tally.abandonedStreams.isEmpty, "\(outcome.tally.abandonedStreams)")
        #expect(outcome.exitCode == 0)
        #expect(delivery.passed)
        #expect(delivery.acknowledged == store.storedRows)
    }

    // MARK: Harness

    static func run(fault: FakeStore.Fault, streamAnswerTimeout: Double = 1) async throws -> (SimulationRunner.Outcome, FakeStore) {
        let store = FakeStore(fault: fault, mappers: try Self.mappers())
        let grpcServer = GRPCServer(
            transport: HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
            services: [FakeAuditService(store: store)]
        )
        let httpPort = Mutex<Int?>(nil)
        let application = Application(
            router: Self.router(store),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in httpPort.withLock { $0 = channel.localAddress?.port } },
            logger: Self.quietLogger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await grpcServer.serve() }
            group.addTask { try await application.run() }
            defer { group.cancelAll() }
            guard let grpcPort = try await grpcServer.listeningAddress?.ipv4?.port else { throw FakeError("the gRPC stand-in did not listen") }
            var port: Int?
            for _ in 0..<100 where port == nil {
                port = httpPort.withLock { $0 }
                if port == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            var configuration = SimulationConfiguration(run: RunIdentity(runID: "fake\(Int.random(in: 1000...9999))"))
            configuration.grpcPort = grpcPort
            configuration.httpPort = try #require(port)
            configuration.duration = 2
            configuration.rate = 300
            configuration.seed = 17
            configuration.retryDeadline = 5
            configuration.settleTimeout = 5
            configuration.streamAnswerTimeout = streamAnswerTimeout
            let outcome = try await SimulationRunner(configuration: configuration).run()
            grpcServer.beginGracefulShutdown()
            return (outcome, store)
        }
    }

    /// Hummingbird logs its shutdown by cancellation as an error; keep the test output readable.
    static let quietLogger: Logger = {
        var logger = Logger(label: "simulate-stand-in")
        logger.logLevel = .critical
        return logger
    }()

    static func mappers() throws -> [String: LegacyMapper] {
        let rules = try GeneratorTests.rules()
        return Dictionary(uniqueKeysWithValues: rules.sources.map { ($0.name, LegacyMapper(rules: $0)) })
    }

    /// `/healthz` and `/v1/legacy/{source}`, answering like AuditPipe's legacy intake.
    static func router(_ store: FakeStore) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.post("v1/legacy/:source") { request, context -> Response in
            let source = context.parameters.get("source") ?? ""
            let body = try await request.body.collect(upTo: 16 << 20)
            guard let mapper = store.mappers[source] else {
                return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: #"{"error":"unknown legacy source"}"#)))
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            guard case .success(let items) = mapper.mapPayload(Array(buffer: body), receivedAtMilliseconds: now, nowMilliseconds: now) else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: #"{"error":"the payload was refused as a whole"}"#)))
            }
            var results: [String] = []
            for (index, item) in items.enumerated() {
                switch item.result {
                case .success(let event):
                    store.store(Auditpipe_V1_AuditEvent(event))
                    results.append(#"{"index":\#(index),"status":"durable","event_id":\#(JSONText.string(event.eventID).text),"partition":0,"offset":\#(index)}"#)
                case .failure(let rejection):
                    let reasons = rejection.reasons.map { JSONText.object([("field", .string($0.field)), ("rule", .string($0.rule)), ("description", .string($0.description))]) }
                    results.append(#"{"index":\#(index),"status":"quarantined","reasons":\#(JSONText.array(reasons).text)}"#)
                }
            }
            let text = #"{"accepted":0,"quarantined":0,"unavailable":0,"results":[\#(results.joined(separator: ","))]}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }
}

struct FakeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The stand-in's store: every durable event by tenant, with faults on purpose.
final class FakeStore: Sendable {
    enum Fault: Sendable {
        case none
        /// Acknowledge every n-th event without storing it.
        case dropEvery(Int)
        /// Store every n-th event twice.
        case duplicateEvery(Int)
        /// The first Ingest stream answers `after` events, then reads on and answers nothing.
        case silentFirstStream(after: Int)
        /// The first Ingest stream answers nothing; once no event has come for 300 ms (the caller
        /// waits for answers) it fails with UNAVAILABLE.
        case failFirstStreamWhenFull
    }

    private struct State {
        var rows: [Auditpipe_V1_AuditEvent] = []
        var ids: Set<String> = []
        var accepted = 0
        var dropped = 0
        var duplicated = 0
        var reportCalls = 0
        var recentCalls = 0
        var streams = 0
        var failedStreams = 0
    }

    let fault: Fault
    let mappers: [String: LegacyMapper]
    private let state = Mutex(State())

    init(fault: Fault, mappers: [String: LegacyMapper]) {
        self.fault = fault
        self.mappers = mappers
    }

    var storedRows: Int { state.withLock { $0.rows.count } }
    var dropped: Int { state.withLock { $0.dropped } }
    var duplicated: Int { state.withLock { $0.duplicated } }
    var reportCalls: Int { state.withLock { $0.reportCalls } }
    var recentCalls: Int { state.withLock { $0.recentCalls } }
    var failedStreams: Int { state.withLock { $0.failedStreams } }

    func countFailedStream() { state.withLock { $0.failedStreams += 1 } }

    /// Counts an Ingest stream opened; returns its number (1 for the first).
    func openStream() -> Int { state.withLock { $0.streams += 1; return $0.streams } }

    /// Stores an acknowledged event once per (tenant, id), unless a fault says otherwise.
    func store(_ event: Auditpipe_V1_AuditEvent) {
        state.withLock { state in
            let key = event.tenantID + "\u{0}" + event.eventID
            guard state.ids.insert(key).inserted else { return }
            state.accepted += 1
            switch fault {
            case .dropEvery(let n) where state.accepted % n == 0:
                state.dropped += 1
            case .duplicateEvery(let n) where state.accepted % n == 0:
                state.rows += [event, event]
                state.duplicated += 1
            default:
                state.rows.append(event)
            }
        }
    }

    func rows(_ filter: (Auditpipe_V1_AuditEvent) -> Bool) -> [Auditpipe_V1_AuditEvent] {
        state.withLock { $0.rows.filter(filter) }
    }

    func countReport() { state.withLock { $0.reportCalls += 1 } }
    func countRecent() { state.withLock { $0.recentCalls += 1 } }
}

/// The four RPCs over the store; the field rules are the real `EventValidator`.
struct FakeAuditService: Auditpipe_V1_AuditService.SimpleServiceProtocol {
    let store: FakeStore

    func result(_ event: Auditpipe_V1_AuditEvent) -> Auditpipe_V1_IngestResult {
        let canonical = AuditEvent(
            eventID: event.eventID, tenantID: event.tenantID, actorID: event.actorID, eventType: event.eventType,
            resource: event.resource, action: event.action, timestampMilliseconds: event.timestampMs, metadata: event.metadata
        )
        let violations = EventValidator().violations(of: canonical, nowMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        return .with {
            $0.eventID = event.eventID
            if violations.isEmpty {
                store.store(event)
                $0.status = .durable
            } else {
                $0.status = .invalid
                $0.violations = violations.map { v in .with { $0.field = v.field; $0.rule = v.rule; $0.description_p = v.description } }
            }
        }
    }

    func ingest(request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>, response: RPCWriter<Auditpipe_V1_IngestResult>, context: ServerContext) async throws {
        let stream = store.openStream()
        if case .failFirstStreamWhenFull = store.fault, stream == 1 {
            try await failWhenCallerWaits(request)
            return
        }
        let silentAfter: Int? = if case .silentFirstStream(let after) = store.fault, stream == 1 { after } else { nil }
        var answered = 0
        for try await message in request {
            if let silentAfter, answered >= silentAfter { continue }
            answered += 1
            var answer = result(message.event)
            answer.sequence = message.sequence
            try await response.write(answer)
        }
    }

    /// Reads events without answering; once some came and none for 300 ms, fails the call.
    private func failWhenCallerWaits(_ request: RPCAsyncSequence<Auditpipe_V1_IngestRequest, any Error>) async throws {
        final class Arrivals: Sendable {
            let state = Mutex<(count: Int, last: ContinuousClock.Instant)>((0, .now))
        }
        let received = Arrivals()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in request { received.state.withLock { $0 = ($0.count + 1, .now) } }
                try await Task.sleep(for: .seconds(3600))  // the watcher below ends the call
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(50))
                    let (count, last) = received.state.withLock { $0 }
                    if count > 0, last.duration(to: .now) > .milliseconds(300) { break }
                }
                store.countFailedStream()
                throw RPCError(code: .unavailable, message: "the stand-in failed this stream while its caller waited for answers")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    func ingestBatch(request: Auditpipe_V1_IngestBatchRequest, context: ServerContext) async throws -> Auditpipe_V1_IngestBatchResponse {
        .with { $0.results = request.events.map(result) }
    }

    func verify(request: Auditpipe_V1_VerifyRequest, context: ServerContext) async throws -> Auditpipe_V1_VerifyResponse {
        throw RPCError(code: .unimplemented, message: "Verify is not part of this test")
    }

    func recentEvents(request: Auditpipe_V1_RecentEventsRequest, context: ServerContext) async throws -> Auditpipe_V1_RecentEventsResponse {
        store.countRecent()
        let rows = store.rows { $0.tenantID == request.tenantID && $0.actorID == request.actorID }.sorted { $0.timestampMs < $1.timestampMs }
        return .with { $0.events = rows.suffix(Int(request.limit == 0 ? 100 : request.limit)).map { event in .with { $0.event = event } } }
    }

    func complianceReport(request: Auditpipe_V1_ComplianceReportRequest, response: RPCWriter<Auditpipe_V1_ComplianceReportChunk>, context: ServerContext) async throws {
        store.countReport()
        let rows = store.rows { event in
            event.tenantID == request.tenantID && event.timestampMs >= request.fromMs && event.timestampMs < request.toMs
                && (request.eventTypes.isEmpty || request.eventTypes.contains(event.eventType))
                && (request.actorIds.isEmpty || request.actorIds.contains(event.actorID))
        }
        if request.groupBy.isEmpty {
            for chunk in stride(from: 0, to: rows.count, by: 200) {
                try await response.write(.with { $0.events = rows[chunk..<min(rows.count, chunk + 200)].map { event in .with { $0.event = event } } })
            }
            return
        }
        var groups: [Auditpipe_V1_ReportAggregate: UInt64] = [:]
        for event in rows {
            var key = Auditpipe_V1_ReportAggregate()
            for dimension in request.groupBy {
                switch dimension {
                case .eventType: key.eventType = event.eventType
                case .action: key.action = event.action
                case .actor: key.actorID = event.actorID
                default: throw RPCError(code: .unimplemented, message: "the stand-in groups by event type, action and actor only")
                }
            }
            groups[key, default: 0] += 1
        }
        try await response.write(.with { $0.aggregates = groups.map { key, count in var row = key; row.count = count; return row } })
    }
}
