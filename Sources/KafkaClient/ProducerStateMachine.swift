/// The bookkeeping of a ``KafkaProducer``: which records await a delivery report, who waits for
/// room in the local queue, and the producer's lifecycle. Pure state, no I/O; the owner holds it
/// under a `Mutex` and performs the returned actions outside the lock.
///
/// A record gets an id before `rd_kafka_produceva` (the id is the message opaque). The delivery
/// report may arrive before the sender has attached its continuation, so an entry is
/// `enqueued` → (`completed` | `awaiting`) → removed.
///
/// A batch (``beginBatch(count:)``) is one entry for all its records: their opaques are
/// ``BatchOpaque`` values (batch id and index), each delivery report fills one slot and counts the
/// batch's outstanding records down, and the one waiter of the batch is resumed when the count
/// reaches zero. No entry, lock round trip or continuation per record. A sender may instead take
/// a batch's results in parts (``attachPart(batch:waiter:)``): each part holds the records
/// resolved since the last, so it hears of each partition's acknowledgement as it comes.
struct ProducerStateMachine<DeliveryWaiter, CapacityWaiter, BatchWaiter, PartWaiter> {
    enum Lifecycle: Equatable {
        case running
        case shuttingDown
        case shutDown
    }

    private enum Entry {
        case enqueued
        case awaiting(DeliveryWaiter)
        case completed(Result<KafkaDeliveryReport, KafkaError>)
    }

    private(set) var lifecycle: Lifecycle = .running
    private(set) var fatalError: KafkaError?
    private var nextID: UInt64 = 1
    private var entries: [UInt64: Entry] = [:]
    /// Bumped whenever delivery reports free room in librdkafka's queue.
    private(set) var capacityGeneration: UInt64 = 0
    private var capacityWaiters: [UInt64: CapacityWaiter] = [:]
    private var nextCapacityWaiterID: UInt64 = 1
    /// `rd_kafka_produceva` calls in progress: the handle must outlive them.
    private(set) var activeProduceCalls = 0

    private var nextBatchID: UInt64 = 1
    private var batches: [UInt64: BatchEntry] = [:]

    /// One batch: a slot per record, how many still await a report (or a produce call), and its
    /// waiter once the sender has produced every record. Taken in parts, it also keeps the
    /// records resolved since the last part, and the part waiter.
    private struct BatchEntry {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var outstanding: Int
        var waiter: BatchWaiter?
        var inParts = false
        var fresh: [Int] = []
        var partWaiter: PartWaiter?

        init(count: Int) {
            results = Array(repeating: nil, count: count)
            outstanding = count
        }

        /// Fills an empty slot; false when the slot was already filled (a duplicate report).
        mutating func fill(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) -> Bool {
            guard index < results.count, results[index] == nil else { return false }
            results[index] = result
            outstanding -= 1
            if inParts { fresh.append(index) }
            return true
        }

        var finalResults: [Result<KafkaDeliveryReport, KafkaError>] { results.map { $0! } }

        /// The records resolved since the last part.
        mutating func takePart() -> KafkaBatchPart {
            var part = KafkaBatchPart(indices: [], results: [])
            swap(&part.indices, &fresh)
            part.results = part.indices.map { results[$0]! }
            return part
        }
    }

    /// Records not yet resolved (for logs and tests), batches counted by their outstanding records.
    var unresolvedCount: Int { entries.count + batches.values.reduce(0) { $0 + $1.outstanding } }

    /// Batches not yet resolved (for tests).
    var unresolvedBatchCount: Int { batches.count }

    // MARK: Sending

    enum BeginProduceAction: Equatable {
        /// Call `rd_kafka_produceva` with this id as opaque; remember the generation for
        /// queue-full waits.
        case produce(id: UInt64, capacityGeneration: UInt64)
        case fail(KafkaError)
    }

    mutating func beginProduce() -> BeginProduceAction {
        if let fatalError { return .fail(fatalError) }
        guard lifecycle == .running else { return .fail(Self.shutDownError) }
        let id = nextID
        nextID += 1
        entries[id] = .enqueued
        activeProduceCalls += 1
        return .produce(id: id, capacityGeneration: capacityGeneration)
    }

    /// `rd_kafka_produceva` accepted the record. Returns ``produceCallEnded()``'s answer.
    @discardableResult
    mutating func produceAccepted(id: UInt64) -> Bool {
        produceCallEnded()
    }

    /// `rd_kafka_produceva` rejected the record: it will get no delivery report. Returns
    /// ``produceCallEnded()``'s answer.
    @discardableResult
    mutating func produceRejected(id: UInt64) -> Bool {
        entries[id] = nil
        return produceCallEnded()
    }

    /// A produce call ended: true when it was the last one while the producer shuts down (the
    /// shutdown waits for that signal before it destroys the handle).
    private mutating func produceCallEnded() -> Bool {
        activeProduceCalls -= 1
        return activeProduceCalls == 0 && lifecycle != .running
    }

    enum AttachAction {
        case wait
        case resume(Result<KafkaDeliveryReport, KafkaError>)
    }

    /// The sender attaches its continuation after a successful produce call.
    mutating func attach(id: UInt64, waiter: DeliveryWaiter) -> AttachAction {
        switch entries[id] {
        case .enqueued:
            entries[id] = .awaiting(waiter)
            return .wait
        case .completed(let result):
            entries[id] = nil
            return .resume(result)
        case .awaiting, nil:
            preconditionFailure("record \(id) attached twice or unknown")
        }
    }

    // MARK: Batches

    enum BeginBatchAction: Equatable {
        /// Produce the records with ``BatchOpaque(batch:index:)`` opaques; remember the generation
        /// for queue-full waits. One produce call is counted active until ``batchProduced``.
        case produce(batch: UInt64, capacityGeneration: UInt64)
        case fail(KafkaError)
    }

    /// Opens a batch of `count` records (1 ... ``BatchOpaque/maxRecords``).
    mutating func beginBatch(count: Int) -> BeginBatchAction {
        precondition(count > 0 && count <= BatchOpaque.maxRecords, "a batch holds 1 to \(BatchOpaque.maxRecords) records")
        if let fatalError { return .fail(fatalError) }
        guard lifecycle == .running else { return .fail(Self.shutDownError) }
        let id = nextBatchID
        nextBatchID += 1
        batches[id] = BatchEntry(count: count)
        activeProduceCalls += 1
        return .produce(batch: id, capacityGeneration: capacityGeneration)
    }

    /// The sender's produce calls for a batch stopped (done, or the queue was full): `rejected`
    /// records got an error from `rd_kafka_produceva` and will get no report. Returns
    /// ``produceCallEnded()``'s answer.
    @discardableResult
    mutating func batchProduced(batch id: UInt64, rejected: [(index: Int, error: KafkaError)]) -> Bool {
        for (index, error) in rejected { _ = batches[id]?.fill(index, .failure(error)) }
        return produceCallEnded()
    }

    /// After a wait for room: go on producing the batch from where it stopped, or fail its
    /// remaining records when the producer stopped meanwhile.
    mutating func resumeBatch(batch id: UInt64) -> BeginBatchAction {
        if let fatalError { return .fail(fatalError) }
        guard lifecycle == .running else { return .fail(Self.shutDownError) }
        activeProduceCalls += 1
        return .produce(batch: id, capacityGeneration: capacityGeneration)
    }

    /// Records `range` of the batch were never produced: they fail with `error`.
    mutating func batchAbandoned(batch id: UInt64, range: Range<Int>, error: KafkaError) {
        for index in range { _ = batches[id]?.fill(index, .failure(error)) }
    }

    /// The sender waits for the batch's reports; returns the results when they are all in.
    mutating func attachBatch(batch id: UInt64, waiter: BatchWaiter) -> [Result<KafkaDeliveryReport, KafkaError>]? {
        guard let entry = batches[id] else { preconditionFailure("batch \(id) unknown") }
        precondition(entry.waiter == nil, "batch \(id) attached twice")
        if entry.outstanding == 0 {
            batches[id] = nil
            return entry.finalResults
        }
        batches[id]!.waiter = waiter
        return nil
    }

    enum AttachPartAction {
        /// The records resolved since the last part (not empty).
        case part(KafkaBatchPart)
        /// Every record was in an earlier part.
        case done
        /// Nothing new yet: the waiter is kept until a delivery report comes.
        case wait
    }

    /// The sender takes the batch's results in parts: the records resolved since its last part,
    /// or it waits for the next. The first call makes the batch a batch taken in parts.
    mutating func attachPart(batch id: UInt64, waiter: PartWaiter) -> AttachPartAction {
        guard var entry = batches[id] else { return .done }
        precondition(entry.waiter == nil && entry.partWaiter == nil, "batch \(id) attached twice")
        if !entry.inParts {
            entry.inParts = true
            entry.fresh = entry.results.indices.filter { entry.results[$0] != nil }
        }
        if entry.fresh.isEmpty {
            entry.partWaiter = waiter
            batches[id] = entry
            return .wait
        }
        let part = entry.takePart()
        batches[id] = entry.outstanding == 0 ? nil : entry
        return .part(part)
    }

    enum BatchDeliveredAction {
        case none
        /// Every record of the batch is resolved: resume its waiter.
        case resume(BatchWaiter, [Result<KafkaDeliveryReport, KafkaError>])
        /// A sender waits for the batch's next part: hand it over with ``takePart(batch:)`` once
        /// this event's reports are all in (one part per batch and event, not per record).
        case partWaiting(batch: UInt64)
        /// A report for a batch or slot we do not know (should not happen; log it).
        case unknown
    }

    /// A delivery report for record `index` of batch `id`.
    mutating func batchDelivered(batch id: UInt64, index: Int, result: Result<KafkaDeliveryReport, KafkaError>) -> BatchDeliveredAction {
        guard batches[id]?.fill(index, result) == true else { return .unknown }
        if batches[id]!.partWaiter != nil {
            return batches[id]!.fresh.count == 1 ? .partWaiting(batch: id) : .none
        }
        guard batches[id]!.outstanding == 0, let waiter = batches[id]!.waiter else { return .none }
        let results = batches.removeValue(forKey: id)!.finalResults
        return .resume(waiter, results)
    }

    /// The part for the sender waiting on batch `id` (after ``BatchDeliveredAction/partWaiting(batch:)``).
    mutating func takePart(batch id: UInt64) -> (PartWaiter, KafkaBatchPart)? {
        guard var entry = batches[id], let waiter = entry.partWaiter, !entry.fresh.isEmpty else { return nil }
        entry.partWaiter = nil
        let part = entry.takePart()
        batches[id] = entry.outstanding == 0 ? nil : entry
        return (waiter, part)
    }

    // MARK: Delivery reports (poll thread)

    enum DeliveredAction {
        case none
        case resume(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)
        /// A report for an id we never issued (should not happen; log it).
        case unknown
    }

    mutating func delivered(id: UInt64, result: Result<KafkaDeliveryReport, KafkaError>) -> DeliveredAction {
        switch entries[id] {
        case .enqueued:
            entries[id] = .completed(result)
            return .none
        case .awaiting(let waiter):
            entries[id] = nil
            return .resume(waiter, result)
        case .completed, nil:
            return .unknown
        }
    }

    /// After a batch of delivery reports: room was freed, wake every sender waiting for it.
    mutating func capacityFreed() -> [CapacityWaiter] {
        capacityGeneration &+= 1
        defer { capacityWaiters.removeAll() }
        return Array(capacityWaiters.values)
    }

    enum WaitForCapacityAction: Equatable {
        /// Room was freed since the failed attempt (or the producer stopped): try again now.
        case retryNow
        /// Wait; the id is for cancellation.
        case wait(waiterID: UInt64)
    }

    mutating func waitForCapacity(after generation: UInt64, waiter: CapacityWaiter) -> WaitForCapacityAction {
        guard generation == capacityGeneration, lifecycle == .running, fatalError == nil else { return .retryNow }
        let id = nextCapacityWaiterID
        nextCapacityWaiterID += 1
        capacityWaiters[id] = waiter
        return .wait(waiterID: id)
    }

    mutating func cancelCapacityWait(waiterID: UInt64) -> CapacityWaiter? {
        capacityWaiters.removeValue(forKey: waiterID)
    }

    // MARK: Errors and shutdown

    /// A fatal error was raised: new sends fail with it. Returns waiters to wake.
    mutating func fatal(_ error: KafkaError) -> [CapacityWaiter] {
        if fatalError == nil { fatalError = error }
        defer { capacityWaiters.removeAll() }
        return Array(capacityWaiters.values)
    }

    /// Returns false when a shutdown is already under way or done.
    mutating func beginShutdown() -> (start: Bool, wake: [CapacityWaiter]) {
        guard lifecycle == .running else { return (false, []) }
        lifecycle = .shuttingDown
        defer { capacityWaiters.removeAll() }
        return (true, Array(capacityWaiters.values))
    }

    /// The handle is destroyed: every record without report fails (never hangs).
    mutating func finishShutdown() -> (
        records: [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)],
        batches: [(BatchWaiter, [Result<KafkaDeliveryReport, KafkaError>])],
        parts: [(PartWaiter, KafkaBatchPart)]
    ) {
        var batchResumes: [(BatchWaiter, [Result<KafkaDeliveryReport, KafkaError>])] = []
        var partResumes: [(PartWaiter, KafkaBatchPart)] = []
        for id in Array(batches.keys) {
            for index in batches[id]!.results.indices { _ = batches[id]!.fill(index, .failure(Self.lostAtShutdownError)) }
            if let waiter = batches[id]!.waiter {
                batchResumes.append((waiter, batches.removeValue(forKey: id)!.finalResults))
            } else if let part = takePart(batch: id) {
                partResumes.append(part)
            }
        }
        return (finishRecordsAtShutdown(), batchResumes, partResumes)
    }

    private mutating func finishRecordsAtShutdown() -> [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)] {
        lifecycle = .shutDown
        var toResume: [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)] = []
        for (id, entry) in entries {
            switch entry {
            case .awaiting(let waiter):
                toResume.append((waiter, .failure(Self.lostAtShutdownError)))
                entries[id] = nil
            case .enqueued:
                entries[id] = .completed(.failure(Self.lostAtShutdownError))
            case .completed:
                break
            }
        }
        return toResume
    }

    static var shutDownError: KafkaError {
        KafkaError(
            code: .destroyed,
            message: "the producer is shut down: create a new KafkaProducer to send more records",
            isRetriable: false
        )
    }

    static var lostAtShutdownError: KafkaError {
        KafkaError(
            code: .destroyed,
            message: "the producer was shut down before the broker acknowledged this record; it may or may not have been written: resend it with the same event id through a new producer",
            isRetriable: true
        )
    }
}

/// The message opaque of a batch's record: the batch id and the record's index in one pointer-sized
/// value, the top bit set (single records' ids never reach it), so a delivery report finds its slot
/// without a table of records.
struct BatchOpaque: Equatable {
    /// The largest batch (24 bits of index).
    static let maxRecords = 1 << 24
    private static let flag: UInt64 = 1 << 63

    var batch: UInt64
    var index: Int

    init(batch: UInt64, index: Int) {
        self.batch = batch
        self.index = index
    }

    /// Decodes an opaque; nil for a single record's id.
    init?(raw: UInt64) {
        guard raw & Self.flag != 0 else { return nil }
        batch = (raw & ~Self.flag) >> 24
        index = Int(raw & UInt64(Self.maxRecords - 1))
    }

    var raw: UInt64 { Self.flag | (batch << 24) | UInt64(index) }
}
