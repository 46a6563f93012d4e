internal import CRdkafka
import Dispatch
public import Logging
import Synchronization

/// An idempotent Kafka producer (`enable.idempotence=true`, `acks=all`) over librdkafka.
///
/// ``send(_:)`` returns only when the broker has acknowledged the record, with its partition and
/// offset. Delivery reports are read from librdkafka's event queue by a dedicated thread and
/// matched to the waiting `send` by the message opaque. When librdkafka's local queue is full,
/// `send` waits for room (backpressure) instead of failing.
///
/// Call ``shutdown(timeout:)`` when done: it flushes, then destroys the client; every pending
/// `send` completes or fails, none hangs. Blocking librdkafka calls (flush, metadata, destroy)
/// run on a dedicated queue, never on Swift's cooperative pool.
public final class KafkaProducer: Sendable {
    private let core: ProducerCore

    /// Creates the producer and starts its polling thread.
    ///
    /// - Throws: ``KafkaError`` with code `invalidArgument` if the configuration is invalid.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        try configuration.validate()
        self.core = try ProducerCore(configuration: configuration, logger: logger)
    }

    deinit {
        core.shutdownInBackground()
    }

    /// Produces one record and waits until the broker has acknowledged it (`acks=all`).
    ///
    /// Cancelling the calling task only has an effect while `send` waits for room in the local
    /// queue (it then throws `interrupted` and nothing was produced); once the record is queued
    /// the call waits for its delivery report.
    ///
    /// - Returns: where the record was written.
    /// - Throws: ``KafkaError``: delivery failures (check ``KafkaError/isRetriable``), fatal
    ///   producer errors (``KafkaError/isFatal``: recreate the producer), or `destroyed` after
    ///   ``shutdown(timeout:)``.
    public func send(_ message: KafkaOutgoingMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        try await core.send(message)
    }

    /// Produces every record of `batch` and waits until each has its delivery report: one unit of
    /// work (one waiter, one lock round trip per produce round and per delivery-report event),
    /// however many records. Records are produced in order; when librdkafka's local queue is
    /// full the call waits for room and goes on.
    ///
    /// - Returns: one result per record, in the batch's order: where it was written, or why it
    ///   was not (the same errors as ``send(_:)``).
    public func sendBatch(_ batch: KafkaOutgoingBatch) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await core.enqueueBatch(batch).results()
    }

    /// The first half of ``sendBatch(_:)``: returns once every record of `batch` is handed to
    /// librdkafka (or refused), so the caller can prepare its next batch while this one travels.
    /// Call ``KafkaPendingBatch/results()`` on the answer exactly once.
    public func enqueueBatch(_ batch: KafkaOutgoingBatch) async -> KafkaPendingBatch {
        await core.enqueueBatch(batch)
    }

    /// Waits until every queued record has a delivery report, or the timeout passes.
    ///
    /// - Throws: ``KafkaError`` `timedOut` if records are still outstanding after `timeout`.
    public func flush(timeout: Duration) async throws(KafkaError) {
        try await core.flush(timeout: timeout)
    }

    /// The number of partitions of `topic`, from cluster metadata.
    ///
    /// - Throws: ``KafkaError`` (e.g. `unknownTopicOrPartition`, `timedOut`).
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> Int {
        try await core.partitionCount(topic: topic, timeout: timeout)
    }

    /// Flushes for up to `timeout`, purges what is left (those sends fail with a retriable
    /// error), then destroys the client. Safe to call more than once; later calls wait for the
    /// first to finish.
    public func shutdown(timeout: Duration = .seconds(30)) async {
        await core.shutdown(timeout: timeout)
    }
}

/// A batch handed to librdkafka by ``KafkaProducer/enqueueBatch(_:)``, whose delivery reports are
/// still to come.
public struct KafkaPendingBatch: Sendable {
    enum State: Sendable {
        case inFlight(UInt64)
        case done([Result<KafkaDeliveryReport, KafkaError>])
    }

    let core: ProducerCore
    let state: State

    /// Waits until every record has its delivery report; one result per record, in the batch's
    /// order. Call it (or ``forEachPart(_:)``) exactly once.
    public func results() async -> [Result<KafkaDeliveryReport, KafkaError>] {
        switch state {
        case .done(let results): results
        case .inFlight(let batchID): await core.results(ofBatch: batchID)
        }
    }

    /// Hands over the results as they come, in parts: each part holds the records resolved
    /// since the last (typically one partition's records, acknowledged by its leader), so a
    /// caller can answer for them without waiting for the batch's slowest partition. Returns
    /// once every record was in a part. Call it (or ``results()``) exactly once.
    public func forEachPart(_ body: (KafkaBatchPart) async -> Void) async {
        switch state {
        case .done(let results):
            await body(KafkaBatchPart(indices: Array(results.indices), results: results))
        case .inFlight(let batchID):
            while let part = await core.nextPart(ofBatch: batchID) { await body(part) }
        }
    }
}

/// Records of a batch resolved together: their indices in the batch and their results.
public struct KafkaBatchPart: Sendable {
    public var indices: [Int]
    public var results: [Result<KafkaDeliveryReport, KafkaError>]

    public init(indices: [Int], results: [Result<KafkaDeliveryReport, KafkaError>]) {
        self.indices = indices
        self.results = results
    }
}

/// The producer's machinery; kept apart from ``KafkaProducer`` so that the polling thread does
/// not keep the public object alive (its `deinit` starts a shutdown).
final class ProducerCore: Sendable {
    typealias DeliveryWaiter = UnsafeContinuation<Result<KafkaDeliveryReport, KafkaError>, Never>
    typealias CapacityWaiter = UnsafeContinuation<Void, Never>
    typealias BatchWaiter = UnsafeContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>
    typealias PartWaiter = UnsafeContinuation<KafkaBatchPart?, Never>
    typealias StateMachine = ProducerStateMachine<DeliveryWaiter, CapacityWaiter, BatchWaiter, PartWaiter>

    private let handle: SendablePointer
    private let mainQueue: SendablePointer
    private let logger: Logger
    /// Serial queue for blocking librdkafka calls and the final destroy.
    private let blockingQueue: DispatchQueue
    private let state = Mutex(StateMachine())
    /// Signalled by the last produce call to end once shutdown has begun.
    private let produceCallsEnded = DispatchSemaphore(value: 0)
    private let stopPolling = Atomic<Bool>(false)
    private let destroyed = Atomic<Bool>(false)
    private let shutdownTask = Mutex<Task<Void, Never>?>(nil)
    private let pollThread = Mutex<DedicatedThread?>(nil)

    init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        var logger = logger
        logger[metadataKey: LogKey.client] = "producer:\(configuration.clientID)"
        self.logger = logger
        let rk = try makeKafkaHandle(
            type: RD_KAFKA_PRODUCER,
            properties: configuration.properties,
            events: Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG)
        )
        rd_kafka_set_log_queue(rk, nil)  // log.queue=true: logs to the main queue we poll
        self.handle = SendablePointer(raw: rk)
        self.mainQueue = SendablePointer(raw: rd_kafka_queue_get_main(rk))
        self.blockingQueue = DispatchQueue(label: "auditpipe.kafka.producer.blocking")
        let thread = DedicatedThread(name: "kafka-producer-poll") { [self] in pollLoop() }
        pollThread.withLock { $0 = thread }
    }

    // MARK: Poll thread

    private func pollLoop() {
        while !stopPolling.load(ordering: .acquiring) {
            guard let event = rd_kafka_queue_poll(mainQueue.raw, 100) else { continue }
            handle(event: event)
            rd_kafka_event_destroy(event)
        }
        // Serve what is left without blocking (reports produced by a final purge).
        while let event = rd_kafka_queue_poll(mainQueue.raw, 0) {
            handle(event: event)
            rd_kafka_event_destroy(event)
        }
    }

    private func handle(event: OpaquePointer) {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_DR:
            handleDeliveryReports(event)
        case RD_KAFKA_EVENT_LOG:
            forwardLog(event, to: logger)
        case RD_KAFKA_EVENT_ERROR:
            handleError(event)
        default:
            break
        }
    }

    private func handleDeliveryReports(_ event: OpaquePointer) {
        var resumes: [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)] = []
        var batchResumes: [(BatchWaiter, [Result<KafkaDeliveryReport, KafkaError>])] = []
        var partsWaiting: [UInt64] = []
        var partResumes: [(PartWaiter, KafkaBatchPart)] = []
        var unknown = 0
        var reports: [(UInt64, Result<KafkaDeliveryReport, KafkaError>)] = []
        reports.reserveCapacity(rd_kafka_event_message_count(event))
        // The topic's name, read once per topic handle rather than once per report.
        var topicName: (handle: OpaquePointer, name: String)?
        while let message = rd_kafka_event_message_next(event) {
            guard let opaque = message.pointee._private else { unknown += 1; continue }
            let id = UInt64(UInt(bitPattern: opaque))
            var topic = "?"
            if let rkt = message.pointee.rkt {
                if let cached = topicName, cached.handle == rkt {
                    topic = cached.name
                } else {
                    topic = String(cString: rd_kafka_topic_name(rkt))
                    topicName = (rkt, topic)
                }
            }
            reports.append((id, Self.deliveryResult(message, topic: topic)))
        }
        let wake = state.withLock { state in
            for (id, result) in reports {
                if let batch = BatchOpaque(raw: id) {
                    switch state.batchDelivered(batch: batch.batch, index: batch.index, result: result) {
                    case .none: break
                    case .resume(let waiter, let results): batchResumes.append((waiter, results))
                    case .partWaiting(let batch): partsWaiting.append(batch)
                    case .unknown: unknown += 1
                    }
                    continue
                }
                switch state.delivered(id: id, result: result) {
                case .none: break
                case .resume(let waiter, let result): resumes.append((waiter, result))
                case .unknown: unknown += 1
                }
            }
            for batch in partsWaiting {
                if let part = state.takePart(batch: batch) { partResumes.append(part) }
            }
            return state.capacityFreed()
        }
        for (waiter, result) in resumes { waiter.resume(returning: result) }
        for (waiter, results) in batchResumes { waiter.resume(returning: results) }
        for (waiter, part) in partResumes { waiter.resume(returning: part) }
        for waiter in wake { waiter.resume() }
        if unknown > 0 {
            logger.error("delivery reports for unknown records ignored", metadata: ["count": "\(unknown)"])
        }
    }

    private static func deliveryResult(_ message: UnsafePointer<rd_kafka_message_t>, topic: String) -> Result<KafkaDeliveryReport, KafkaError> {
        let err = message.pointee.err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let hint =
                switch rd_kafka_message_status(message) {
                case RD_KAFKA_MSG_STATUS_NOT_PERSISTED:
                    "The record was not written; sending it again is safe"
                case RD_KAFKA_MSG_STATUS_PERSISTED:
                    "The broker reports the record as written despite the error"
                default:
                    "The record may or may not have been written; resend it with the same event id (downstream deduplicates)"
                }
            return .failure(KafkaError(err, doing: "delivering a record to \(topic)[\(message.pointee.partition)]", hint: hint))
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return .success(
            KafkaDeliveryReport(
                topic: topic,
                partition: message.pointee.partition,
                offset: message.pointee.offset,
                timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
            )
        )
    }

    private func handleError(_ event: OpaquePointer) {
        guard let error = fatalErrorEvent(event, handle: handle.raw, client: "producer", remedy: "shut it down and create a new KafkaProducer", logger: logger) else { return }
        let wake = state.withLock { $0.fatal(error) }
        for waiter in wake { waiter.resume() }
    }

    // MARK: Sending

    func send(_ message: KafkaOutgoingMessage) async throws(KafkaError) -> KafkaDeliveryReport {
        let id: UInt64
        while true {
            let begin = state.withLock { $0.beginProduce() }
            guard case .produce(let newID, let generation) = begin else {
                if case .fail(let error) = begin { throw error }
                preconditionFailure()
            }
            let error = produce(message, id: newID)
            guard let error else {
                if state.withLock({ $0.produceAccepted(id: newID) }) { produceCallsEnded.signal() }
                id = newID
                break
            }
            if state.withLock({ $0.produceRejected(id: newID) }) { produceCallsEnded.signal() }
            guard error.code == .queueFull else { throw error }
            try await waitForCapacity(after: generation)
        }
        let result = await withUnsafeContinuation { (continuation: DeliveryWaiter) in
            let action = state.withLock { $0.attach(id: id, waiter: continuation) }
            if case .resume(let result) = action { continuation.resume(returning: result) }
        }
        return try result.get()
    }

    func enqueueBatch(_ batch: KafkaOutgoingBatch) async -> KafkaPendingBatch {
        let count = batch.records.count
        guard count > 0 else { return KafkaPendingBatch(core: self, state: .done([])) }
        guard count <= BatchOpaque.maxRecords else {
            let error = KafkaError(code: .invalidArgument, message: "a batch holds at most \(BatchOpaque.maxRecords) records; got \(count)", isRetriable: false)
            return KafkaPendingBatch(core: self, state: .done(Array(repeating: .failure(error), count: count)))
        }
        var begin = state.withLock { $0.beginBatch(count: count) }
        guard case .produce(let batchID, _) = begin else {
            guard case .fail(let error) = begin else { preconditionFailure() }
            return KafkaPendingBatch(core: self, state: .done(Array(repeating: .failure(error), count: count)))
        }
        var next = 0
        while next < count {
            guard case .produce(_, let generation) = begin else {
                guard case .fail(let error) = begin else { preconditionFailure() }
                state.withLock { $0.batchAbandoned(batch: batchID, range: next..<count, error: error) }
                break
            }
            let (stoppedAt, rejected) = produceRecords(of: batch, batchID: batchID, from: next)
            if state.withLock({ $0.batchProduced(batch: batchID, rejected: rejected) }) { produceCallsEnded.signal() }
            guard let stoppedAt else { break }
            // The queue was full at record `stoppedAt`: wait for room, then go on from there.
            next = stoppedAt
            do {
                try await waitForCapacity(after: generation)
            } catch {
                state.withLock { $0.batchAbandoned(batch: batchID, range: next..<count, error: error) }
                break
            }
            begin = state.withLock { $0.resumeBatch(batch: batchID) }
        }
        return KafkaPendingBatch(core: self, state: .inFlight(batchID))
    }

    /// Waits for every delivery report of a batch produced by ``enqueueBatch(_:)``.
    func results(ofBatch batchID: UInt64) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await withUnsafeContinuation { (continuation: BatchWaiter) in
            if let results = state.withLock({ $0.attachBatch(batch: batchID, waiter: continuation) }) {
                continuation.resume(returning: results)
            }
        }
    }

    /// The records of a batch resolved since the last part; nil once every record was in a part.
    func nextPart(ofBatch batchID: UInt64) async -> KafkaBatchPart? {
        await withUnsafeContinuation { (continuation: PartWaiter) in
            switch state.withLock({ $0.attachPart(batch: batchID, waiter: continuation) }) {
            case .part(let part): continuation.resume(returning: part)
            case .done: continuation.resume(returning: nil)
            case .wait: break
            }
        }
    }

    /// Produces records `start...` of a batch until the end or until librdkafka's queue is full;
    /// returns the index of the record that found the queue full (nil: all produced) and the
    /// records rejected for another reason (they get no delivery report).
    private func produceRecords(
        of batch: KafkaOutgoingBatch, batchID: UInt64, from start: Int
    ) -> (stoppedAt: Int?, rejected: [(index: Int, error: KafkaError)]) {
        var rejected: [(index: Int, error: KafkaError)] = []
        let stoppedAt: Int? = batch.topic.withCString { topicC in
            (batch.headerName ?? "").withCString { headerC in
                batch.bytes.withUnsafeBytes { raw in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
                        let base = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                        for index in start..<batch.records.count {
                            let record = batch.records[index]
                            var n = 0
                            func add(_ body: (inout rd_kafka_vu_t) -> Void) {
                                var vu = rd_kafka_vu_t()
                                body(&vu)
                                vus[n] = vu
                                n += 1
                            }
                            add { $0.vtype = RD_KAFKA_VTYPE_TOPIC; $0.u.cstr = topicC }
                            add { $0.vtype = RD_KAFKA_VTYPE_MSGFLAGS; $0.u.i = 0x2 }  // RD_KAFKA_MSG_F_COPY
                            add { $0.vtype = RD_KAFKA_VTYPE_PARTITION; $0.u.i32 = record.partition ?? -1 }  // -1: the partitioner chooses
                            if let key = record.key {
                                add {
                                    $0.vtype = RD_KAFKA_VTYPE_KEY
                                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: base + key.lowerBound)
                                    $0.u.mem.size = key.count
                                }
                            }
                            add {
                                $0.vtype = RD_KAFKA_VTYPE_VALUE
                                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: base + record.value.lowerBound)
                                $0.u.mem.size = record.value.count
                            }
                            if let header = record.headerValue, batch.headerName != nil {
                                add {
                                    $0.vtype = RD_KAFKA_VTYPE_HEADER
                                    $0.u.header.name = headerC
                                    $0.u.header.val = base + header.lowerBound
                                    $0.u.header.size = header.count
                                }
                            }
                            let opaque = BatchOpaque(batch: batchID, index: index).raw
                            add { $0.vtype = RD_KAFKA_VTYPE_OPAQUE; $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(opaque)) }
                            guard let error = rd_kafka_produceva(handle.raw, vus.baseAddress, n) else { continue }
                            let code = KafkaError.Code(rd_kafka_error_code(error))
                            if code == .queueFull {
                                rd_kafka_error_destroy(error)
                                return index
                            }
                            rejected.append((index, KafkaError(consuming: error, doing: "producing a record to \(batch.topic)")))
                        }
                        return nil
                    }
                }
            }
        }
        return (stoppedAt, rejected)
    }

    private func waitForCapacity(after generation: UInt64) async throws(KafkaError) {
        let waiterID = Mutex<UInt64?>(nil)
        let cancelled = Atomic<Bool>(false)
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: CapacityWaiter) in
                if cancelled.load(ordering: .acquiring) {
                    continuation.resume()
                    return
                }
                switch state.withLock({ $0.waitForCapacity(after: generation, waiter: continuation) }) {
                case .retryNow: continuation.resume()
                case .wait(let id): waiterID.withLock { $0 = id }
                }
            }
        } onCancel: {
            cancelled.store(true, ordering: .releasing)
            if let id = waiterID.withLock({ $0 }), let waiter = state.withLock({ $0.cancelCapacityWait(waiterID: id) }) {
                waiter.resume()
            }
        }
        if cancelled.load(ordering: .acquiring) {
            throw KafkaError(
                code: .interrupted,
                message: "send was cancelled while waiting for room in the producer queue; the record was not produced",
                isRetriable: true
            )
        }
    }

    /// Calls `rd_kafka_produceva` (returns its own error object: no thread-local last error).
    private func produce(_ message: KafkaOutgoingMessage, id: UInt64) -> KafkaError? {
        // All strings and bytes in one arena, so the pointers stay valid for the single call
        // (librdkafka copies everything: RD_KAFKA_MSG_F_COPY for the value).
        var arena: [UInt8] = []
        arena.reserveCapacity(message.topic.utf8.count + 1 + (message.key?.count ?? 0) + (message.value?.count ?? 0) + message.headers.reduce(0) { $0 + $1.name.utf8.count + 1 + $1.value.count })
        func append<C: Collection<UInt8>>(_ bytes: C, nulTerminated: Bool = false) -> (offset: Int, count: Int) {
            let offset = arena.count
            arena.append(contentsOf: bytes)
            if nulTerminated { arena.append(0) }
            return (offset, bytes.count)
        }
        let topic = append(message.topic.utf8, nulTerminated: true)
        let headers = message.headers.map { (name: append($0.name.utf8, nulTerminated: true), value: append($0.value)) }
        let key = message.key.map { append($0) }
        let value = message.value.map { append($0) }

        let error: OpaquePointer? = arena.withUnsafeBytes { raw in
            let base = raw.baseAddress!  // never empty: the topic's NUL is there
            var vus: [rd_kafka_vu_t] = []
            vus.reserveCapacity(6 + headers.count)
            var vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_TOPIC
            vu.u.cstr = (base + topic.offset).assumingMemoryBound(to: CChar.self)
            vus.append(vu)
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
            vu.u.i = 0x2  // RD_KAFKA_MSG_F_COPY
            vus.append(vu)
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_PARTITION
            vu.u.i32 = message.partition ?? -1  // RD_KAFKA_PARTITION_UA: let the partitioner choose
            vus.append(vu)
            if let key {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_KEY
                vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: base + key.offset)
                vu.u.mem.size = key.count
                vus.append(vu)
            }
            if let value {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_VALUE
                vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: base + value.offset)
                vu.u.mem.size = value.count
                vus.append(vu)
            }
            for header in headers {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_HEADER
                vu.u.header.name = (base + header.name.offset).assumingMemoryBound(to: CChar.self)
                vu.u.header.val = base + header.value.offset
                vu.u.header.size = header.value.count
                vus.append(vu)
            }
            if let timestamp = message.timestampMilliseconds {
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
                vu.u.i64 = timestamp
                vus.append(vu)
            }
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_OPAQUE
            vu.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(id))
            vus.append(vu)
            return vus.withUnsafeBufferPointer { rd_kafka_produceva(handle.raw, $0.baseAddress, $0.count) }
        }
        guard let error else { return nil }
        let code = KafkaError.Code(rd_kafka_error_code(error))
        if code == .queueFull {
            rd_kafka_error_destroy(error)
            return KafkaError(code: .queueFull, message: "producer queue full")
        }
        return KafkaError(consuming: error, doing: "producing a record to \(message.topic)")
    }

    // MARK: Blocking operations

    func flush(timeout: Duration) async throws(KafkaError) {
        let ms = milliseconds(timeout)
        try await runBlocking(on: blockingQueue) { [self] () -> Result<Void, KafkaError> in
            guard !destroyed.load(ordering: .acquiring) else { return .failure(StateMachine.shutDownError) }
            let err = rd_kafka_flush(handle.raw, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let left = rd_kafka_outq_len(handle.raw)
                return .failure(
                    KafkaError(err, doing: "flushing the producer", hint: "\(left) records/requests still outstanding after \(ms) ms; check that the brokers are reachable")
                )
            }
            return .success(())
        }
    }

    func partitionCount(topic: String, timeout: Duration) async throws(KafkaError) -> Int {
        let ms = milliseconds(timeout)
        return try await runBlocking(on: blockingQueue) { [self] () -> Result<Int, KafkaError> in
            guard !destroyed.load(ordering: .acquiring) else { return .failure(StateMachine.shutDownError) }
            return fetchPartitionCount(handle: handle.raw, topic: topic, timeoutMilliseconds: ms)
        }
    }

    func shutdown(timeout: Duration) async {
        let task = shutdownTask.withLock { task in
            if let task { return task }
            let newTask = Task { await self.performShutdown(timeout: timeout) }
            task = newTask
            return newTask
        }
        await task.value
    }

    /// Used by `KafkaProducer.deinit`: a shutdown nobody waits for.
    func shutdownInBackground() {
        let alreadyStarted = shutdownTask.withLock { $0 != nil }
        guard !alreadyStarted else { return }
        logger.warning("KafkaProducer released without shutdown(): shutting down in the background")
        Task { await self.shutdown(timeout: .seconds(30)) }
    }

    private func performShutdown(timeout: Duration) async {
        let (start, wake) = state.withLock { $0.beginShutdown() }
        for waiter in wake { waiter.resume() }
        guard start else { return }
        let ms = milliseconds(timeout)
        let resumes: (
            records: [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)],
            batches: [(BatchWaiter, [Result<KafkaDeliveryReport, KafkaError>])],
            parts: [(PartWaiter, KafkaBatchPart)]
        ) = await withCheckedContinuation { continuation in
            blockingQueue.async { [self] in
                let rk = handle.raw
                if rd_kafka_flush(rk, ms) != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.warning("producer flush timed out at shutdown; purging \(rd_kafka_outq_len(rk)) outstanding records (their sends fail)")
                    rd_kafka_purge(rk, 0x1 | 0x2)  // RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT
                    _ = rd_kafka_flush(rk, 5000)  // lets the purge's delivery reports reach the poll thread
                }
                // No produce call may still be using the handle: the last one to end signals.
                if state.withLock({ $0.activeProduceCalls }) > 0 { produceCallsEnded.wait() }
                stopPolling.store(true, ordering: .releasing)
                rd_kafka_queue_yield(mainQueue.raw)
                pollThread.withLock { $0 }?.join()
                rd_kafka_queue_destroy(mainQueue.raw)
                rd_kafka_destroy(rk)
                destroyed.store(true, ordering: .releasing)
                continuation.resume(returning: state.withLock { $0.finishShutdown() })
            }
        }
        for (waiter, result) in resumes.records { waiter.resume(returning: result) }
        for (waiter, results) in resumes.batches { waiter.resume(returning: results) }
        for (waiter, part) in resumes.parts { waiter.resume(returning: part) }
        logger.debug("producer shut down")
    }
}

/// Reads the partition count of one topic from metadata (blocking: dedicated threads only).
func fetchPartitionCount(handle rk: OpaquePointer, topic: String, timeoutMilliseconds ms: Int32) -> Result<Int, KafkaError> {
    guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
        return .failure(KafkaError(code: .invalidArgument, message: "invalid topic name \"\(topic)\"", isRetriable: false))
    }
    defer { rd_kafka_topic_destroy(rkt) }
    var metadata: UnsafePointer<rd_kafka_metadata_t>?
    let err = rd_kafka_metadata(rk, 0, rkt, &metadata, ms)
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        return .failure(KafkaError(err, doing: "reading metadata of topic \(topic)", hint: "check that the brokers are reachable"))
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    guard metadata.pointee.topic_cnt > 0, let topics = metadata.pointee.topics else {
        return .failure(KafkaError(code: .unknownTopicOrPartition, message: "topic \(topic) is not in the cluster metadata: create it first", isRetriable: true))
    }
    let entry = topics[0]
    guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
        return .failure(KafkaError(entry.err, doing: "reading metadata of topic \(topic)", hint: "create the topic or check its name"))
    }
    return .success(Int(entry.partition_cnt))
}
