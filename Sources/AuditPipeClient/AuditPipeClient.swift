public import AuditEvents
import AuditPipeProto
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SwiftProtobuf
import Synchronization

/// The outcome of sending one event to AuditPipe.
public enum IngestResult: Sendable, Hashable {
    /// Durable in Kafka: it will not be lost, and appears in reports within seconds.
    case durable(partition: Int32, offset: Int64)
    /// Refused: the event breaks these rules. Fix it; resending it unchanged fails again.
    case invalid([FieldViolation])
    /// Refused: the credentials do not allow events for this event's tenant.
    case permissionDenied(String)
    /// Not stored now. Resend the same event (same `eventID`) later.
    case unavailable(String)

    /// True for `.durable`.
    public var isDurable: Bool {
        if case .durable = self { return true }
        return false
    }
}

/// Where the client connects and how it authenticates.
public struct AuditPipeClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The API key sent as `authorization: Bearer <key>` on every call, if the server wants one.
    public var apiKey: String?

    public init(host: String = "127.0.0.1", port: Int = 50051, apiKey: String? = nil) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
    }
}

/// A small client for AuditPipe's gRPC API.
///
/// ```swift
/// let client = try AuditPipeClient(configuration: .init(host: "auditpipe", port: 50051, apiKey: key))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await client.run() }
///     let results = try await client.ingestBatch(events)
///     client.shutdown()
/// }
/// ```
public final class AuditPipeClient: Sendable {
    private let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    private let service: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>
    private let metadata: Metadata

    public init(configuration: AuditPipeClientConfiguration) throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: configuration.host, port: configuration.port),
            transportSecurity: .plaintext
        )
        self.grpc = GRPCClient(transport: transport)
        self.service = Auditpipe_V1_AuditService.Client(wrapping: grpc)
        var metadata = Metadata()
        if let key = configuration.apiKey { metadata.addString("Bearer \(key)", forKey: "authorization") }
        self.metadata = metadata
    }

    /// Runs the client's connections until `shutdown()`; call it in a task of its own.
    public func run() async throws {
        try await grpc.runConnections()
    }

    /// Stops the client once the calls in flight have finished.
    public func shutdown() {
        grpc.beginGracefulShutdown()
    }

    /// Sends events in one call and returns one result per event, in order.
    public func ingestBatch(_ events: [AuditEvent]) async throws -> [IngestResult] {
        let request = Auditpipe_V1_IngestBatchRequest.with { $0.events = events.map(Auditpipe_V1_AuditEvent.init) }
        let response = try await service.ingestBatch(request, metadata: metadata)
        return response.results.map(IngestResult.init)
    }

    /// Opens an `Ingest` stream for the duration of `body`: every `send` on it returns when its
    /// event is durable or refused, and many sends may be in flight at once.
    ///
    /// The stream's writer sends every event queued since its last write in one write (no task
    /// and no async hand-off per event), so events sent together travel together.
    ///
    /// A server answers every event within its produce timeout (10 s by default). When events
    /// are waiting and none of them is answered for `answerTimeout`, the stream is taken as
    /// broken: every waiting `send` returns `.unavailable` (resend those events, same ids), the
    /// call is cancelled once `body` returns, and this method throws
    /// ``IngestStreamError/noAnswer(waiting:for:callOpen:unwritten:)``.
    public func withIngestStream<Result: Sendable>(
        answerTimeout: Duration = .seconds(60),
        _ body: @Sendable (IngestStream) async throws -> Result
    ) async throws -> Result {
        let stream = IngestStream()
        let service = self.service
        let metadata = self.metadata
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await stream.watchAnswers(timeout: answerTimeout) }
            group.addTask {
                do {
                    try await service.ingest(metadata: metadata) { writer in
                        stream.opened()
                        while let requests = await stream.nextRequests() {
                            try await writer.write(contentsOf: requests)
                            stream.written(requests.count)
                        }
                    } onResponse: { response in
                        // Whatever ends the answers ends the stream at once: the waiting sends
                        // return unavailable and the writer stops waiting for new ones. grpc ends
                        // the call only once the request writer returns, and a writer waiting
                        // for sends that never come (each waits for its answer) would otherwise
                        // hold a broken call open until the answer timeout.
                        do {
                            for try await result in response.messages {
                                stream.complete(result)
                            }
                        } catch {
                            stream.close(reason: "the Ingest stream failed: \(error)")
                            throw error
                        }
                        stream.close(reason: "the Ingest stream ended")
                    }
                } catch {
                    stream.close(reason: "the Ingest stream failed: \(error)")
                }
            }
            defer { stream.finishRequests() }
            let result = try await body(stream)
            stream.finishRequests()
            // The call ends (the watchdog then stops), or the watchdog gives up on the stream
            // (its error cancels the call).
            try await group.next()
            group.cancelAll()
            try await group.waitForAll()
            return result
        }
    }
}

/// Why `AuditPipeClient.withIngestStream(answerTimeout:_:)` gave up on a stream.
public enum IngestStreamError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `waiting` events had no answer, and no other event was answered, for this long;
    /// `callOpen`: whether the call to the server was open; `unwritten`: how many events were
    /// still queued in the client, not yet written to the call.
    case noAnswer(waiting: Int, for: Duration, callOpen: Bool, unwritten: Int)

    public var description: String {
        switch self {
        case .noAnswer(let waiting, let duration, let callOpen, let unwritten):
            "the server answered none of the \(waiting) events waiting on an Ingest stream for \(duration) ("
                + (callOpen ? "the call was open, \(unwritten) of them not yet written to it" : "the call to the server never opened")
                + "); the stream was abandoned (those sends returned unavailable)"
        }
    }
}

/// An open `Ingest` stream. See `AuditPipeClient.withIngestStream(answerTimeout:_:)`.
public final class IngestStream: Sendable {
    private typealias Waiter = UnsafeContinuation<IngestResult, Never>
    private typealias WriterWaiter = UnsafeContinuation<[Auditpipe_V1_IngestRequest]?, Never>

    private struct State {
        var nextSequence: UInt64 = 1
        var pending: [UInt64: Waiter] = [:]
        /// Answers received so far (the watchdog's measure of progress).
        var answered: UInt64 = 0
        /// Whether the call is open (its request writer started), and the requests written to it:
        /// what a give-up message says, to tell a server that holds events from a call that
        /// never got to it.
        var isOpen = false
        var written: UInt64 = 0
        var closedReason: String?
        /// Requests not yet taken by the writer, and the writer when it waits for some.
        var outbox: [Auditpipe_V1_IngestRequest] = []
        var writer: WriterWaiter?
        /// `body` returned: the writer ends the request stream once the outbox is empty.
        var requestsFinished = false

        mutating func takeOutbox() -> [Auditpipe_V1_IngestRequest] {
            var taken: [Auditpipe_V1_IngestRequest] = []
            swap(&taken, &outbox)
            return taken
        }
    }

    private let state = Mutex(State())

    init() {}

    /// Sends one event and returns once it is durable or refused. If the stream breaks first the
    /// result is `.unavailable`: resend the event (same `eventID`).
    public func send(_ event: AuditEvent) async -> IngestResult {
        var request = Auditpipe_V1_IngestRequest()
        request.event = Auditpipe_V1_AuditEvent(event)
        return await withUnsafeContinuation { (continuation: Waiter) in
            let action = state.withLock { state -> (closed: String?, writer: (WriterWaiter, [Auditpipe_V1_IngestRequest])?) in
                if let reason = state.closedReason { return (reason, nil) }
                if state.requestsFinished { return ("the Ingest stream's body has returned", nil) }
                request.sequence = state.nextSequence
                state.nextSequence += 1
                state.pending[request.sequence] = continuation
                state.outbox.append(request)
                guard let writer = state.writer else { return (nil, nil) }
                state.writer = nil
                return (nil, (writer, state.takeOutbox()))
            }
            if let reason = action.closed {
                continuation.resume(returning: .unavailable(reason))
            } else if let (writer, requests) = action.writer {
                writer.resume(returning: requests)
            }
        }
    }

    /// The requests queued since the writer's last call (waits for some); nil once the stream's
    /// body has returned and every request is taken, the stream closed, or the task is cancelled
    /// (grpc cancels the request writer when the call ends).
    func nextRequests() async -> [Auditpipe_V1_IngestRequest]? {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (writer: WriterWaiter) in
                let requests = state.withLock { state -> [Auditpipe_V1_IngestRequest]?? in
                    if !state.outbox.isEmpty { return .some(state.takeOutbox()) }
                    if state.requestsFinished || state.closedReason != nil || Task.isCancelled { return .some(nil) }
                    state.writer = writer
                    return nil
                }
                if let requests { writer.resume(returning: requests) }
            }
        } onCancel: {
            let writer = state.withLock { state -> WriterWaiter? in
                defer { state.writer = nil }
                return state.writer
            }
            writer?.resume(returning: nil)
        }
    }

    /// No more sends: the writer ends the request stream after the queued requests.
    func finishRequests() {
        let writer = state.withLock { state -> WriterWaiter? in
            state.requestsFinished = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(returning: nil)
    }

    func complete(_ result: Auditpipe_V1_IngestResult) {
        let continuation = state.withLock { state in
            state.answered &+= 1
            return state.pending.removeValue(forKey: result.sequence)
        }
        continuation?.resume(returning: IngestResult(result))
    }

    func opened() { state.withLock { $0.isOpen = true } }

    func written(_ count: Int) { state.withLock { $0.written &+= UInt64(count) } }

    /// Returns when the stream has closed; closes it and throws when events have waited for
    /// `timeout` with no answer at all meanwhile. Looks every quarter of `timeout`.
    func watchAnswers(timeout: Duration) async throws {
        let clock = ContinuousClock()
        var lastAnswered: UInt64 = 0
        var since = clock.now
        while true {
            do { try await Task.sleep(for: timeout / 4) } catch { return }  // the call has ended
            let (closed, answered, waiting, isOpen, unwritten) = state.withLock {
                ($0.closedReason != nil, $0.answered, $0.pending.count, $0.isOpen, $0.nextSequence - 1 - $0.written)
            }
            if closed { return }
            if waiting == 0 || answered != lastAnswered {
                lastAnswered = answered
                since = clock.now
            } else if clock.now - since >= timeout {
                let error = IngestStreamError.noAnswer(waiting: waiting, for: timeout, callOpen: isOpen, unwritten: Int(unwritten))
                close(reason: "\(error); they are not acknowledged: resend them (same event ids)")
                throw error
            }
        }
    }

    func close(reason: String) {
        let (pending, writer) = state.withLock { state -> ([Waiter], WriterWaiter?) in
            state.closedReason = reason
            defer {
                state.pending.removeAll()
                state.outbox.removeAll()
                state.writer = nil
            }
            return (Array(state.pending.values), state.writer)
        }
        writer?.resume(returning: nil)
        for continuation in pending {
            continuation.resume(returning: .unavailable(reason))
        }
    }
}

extension IngestResult {
    init(_ result: Auditpipe_V1_IngestResult) {
        switch result.status {
        case .durable:
            self = .durable(partition: result.kafkaPartition, offset: result.kafkaOffset)
        case .invalid:
            self = .invalid(result.violations.map { FieldViolation(field: $0.field, rule: $0.rule, description: $0.description_p) })
        case .permissionDenied:
            self = .permissionDenied(result.message)
        case .unavailable, .unspecified, .UNRECOGNIZED:
            self = .unavailable(result.message.isEmpty ? "the server gave no status" : result.message)
        }
    }
}
