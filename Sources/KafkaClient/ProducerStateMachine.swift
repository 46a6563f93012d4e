/// The bookkeeping of a ``KafkaProducer``: which records await a delivery report, who waits for
/// room in the local queue, and the producer's lifecycle. Pure state, no I/O; the owner holds it
/// under a `Mutex` and performs the returned actions outside the lock.
///
/// A record gets an id before `rd_kafka_produceva` (the id is the message opaque). The delivery
/// report may arrive before the sender has attached its continuation, so an entry is
/// `enqueued` → (`completed` | `awaiting`) → removed.
struct ProducerStateMachine<DeliveryWaiter, CapacityWaiter> {
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

    /// Records not yet resolved (for logs and tests).
    var unresolvedCount: Int { entries.count }

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

    /// `rd_kafka_produceva` accepted the record.
    mutating func produceAccepted(id: UInt64) {
        activeProduceCalls -= 1
    }

    /// `rd_kafka_produceva` rejected the record: it will get no delivery report.
    mutating func produceRejected(id: UInt64) {
        activeProduceCalls -= 1
        entries[id] = nil
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
    mutating func finishShutdown() -> [(DeliveryWaiter, Result<KafkaDeliveryReport, KafkaError>)] {
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
