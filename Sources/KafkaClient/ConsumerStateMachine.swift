/// The bookkeeping of a ``KafkaConsumer``: the bounded event buffer between the polling thread
/// and the events sequence, the waiting iterator, the current assignment and the lifecycle.
/// Pure state, no I/O; held under a `Mutex`, actions performed outside the lock.
///
/// Backpressure: the polling thread stops polling librdkafka once `highWatermark` events are
/// buffered and resumes when the reader has brought the buffer down to `lowWatermark`.
struct ConsumerStateMachine<Waiter> {
    enum Lifecycle: Equatable {
        case running
        /// `close()` was called: the polling thread leaves the group.
        case closing
        /// The handle is destroyed; buffered events can still be read, then the sequence ends.
        case closed
    }

    let highWatermark: Int
    let lowWatermark: Int
    private(set) var lifecycle: Lifecycle = .running
    private(set) var assignment: Set<KafkaTopicPartition> = []
    private var buffer: [KafkaConsumerEvent] = []
    private var head = 0
    private var waiter: Waiter?
    private var cancelledWhileNotWaiting = false
    /// The polling thread is parked because the buffer is full.
    private(set) var pollerParked = false
    /// A fatal error ends the sequence (thrown once the buffer is drained).
    private(set) var terminalError: KafkaError?

    init(highWatermark: Int, lowWatermark: Int) {
        precondition(highWatermark >= 1 && lowWatermark >= 0 && lowWatermark < highWatermark)
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    var bufferedCount: Int { buffer.count - head }

    /// The events currently buffered (tests and diagnostics).
    var bufferedEvents: ArraySlice<KafkaConsumerEvent> { buffer[head...] }

    // MARK: Polling thread

    enum DeliverAction {
        case none
        /// Hand the event straight to the waiting reader.
        case resume(Waiter, KafkaConsumerEvent)
    }

    /// A record was polled.
    mutating func received(_ message: KafkaMessage) -> DeliverAction {
        // While closing, records are no longer handed out: their partitions are being revoked.
        guard lifecycle == .running else { return .none }
        return enqueue(.message(message))
    }

    /// Records polled in one burst, in order: enqueued under one lock.
    mutating func received(contentsOf messages: [KafkaMessage]) -> DeliverAction {
        guard lifecycle == .running, let first = messages.first else { return .none }
        let action = enqueue(.message(first))
        for message in messages.dropFirst() { buffer.append(.message(message)) }
        return action
    }

    /// librdkafka assigned partitions (incrementally for COOPERATIVE, the whole set for EAGER).
    mutating func assigned(_ partitions: [KafkaTopicPartition]) -> DeliverAction {
        assignment.formUnion(partitions)
        return enqueue(.assigned(partitions))
    }

    /// Partitions were revoked (already unassigned in librdkafka). Buffered, not yet read records
    /// of those partitions are dropped: their new owner will read them.
    mutating func revoked(_ partitions: [KafkaTopicPartition]) -> DeliverAction {
        let revoked = Set(partitions)
        assignment.subtract(revoked)
        if bufferedCount > 0 {
            let kept = buffer[head...].filter { event in
                if case .message(let message) = event {
                    return !revoked.contains(KafkaTopicPartition(topic: message.topic, partition: message.partition))
                }
                return true
            }
            buffer = Array(kept)
            head = 0
        }
        return enqueue(.revoked(partitions))
    }

    private mutating func enqueue(_ event: KafkaConsumerEvent) -> DeliverAction {
        if let waiter, bufferedCount == 0 {
            self.waiter = nil
            return .resume(waiter, event)
        }
        buffer.append(event)
        return .none
    }

    /// Asked by the polling thread before each poll: true means "park until woken" (the buffer is
    /// full). Never parks while closing.
    mutating func shouldParkPoller() -> Bool {
        guard lifecycle == .running, terminalError == nil else { return false }
        if bufferedCount >= highWatermark {
            pollerParked = true
            return true
        }
        pollerParked = false
        return false
    }

    // MARK: Reader (the events sequence)

    enum NextAction {
        /// Return this event; wake the poller if it was parked and the buffer is low enough.
        case event(KafkaConsumerEvent, wakePoller: Bool)
        /// The sequence is over (`nil`) or failed.
        case finished(KafkaError?)
        /// Suspend until the polling thread delivers.
        case suspend
    }

    mutating func next() -> NextAction {
        if bufferedCount > 0 {
            let event = buffer[head]
            return .event(event, wakePoller: consume(upTo: head + 1))
        }
        if let terminalError {
            return .finished(terminalError)
        }
        if lifecycle == .closed {
            return .finished(nil)
        }
        return .suspend
    }

    /// Up to `max` buffered events at once, for a reader that handles them as a batch; otherwise
    /// as ``next()``.
    mutating func nextBatch(max: Int) -> NextBatchAction {
        guard bufferedCount > 0 else {
            switch next() {
            case .finished(let error): return .finished(error)
            case .suspend, .event: return .suspend
            }
        }
        let end = head + min(max, bufferedCount)
        let events = Array(buffer[head..<end])
        return .events(events, wakePoller: consume(upTo: end))
    }

    /// Marks the events before `end` as read (compacting the buffer now and then); true when the
    /// parked poller is to be woken (the buffer is down to the low watermark).
    private mutating func consume(upTo end: Int) -> Bool {
        head = end
        if head == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
        guard pollerParked && bufferedCount <= lowWatermark else { return false }
        pollerParked = false
        return true
    }

    enum NextBatchAction {
        case events([KafkaConsumerEvent], wakePoller: Bool)
        case finished(KafkaError?)
        case suspend
    }

    enum SuspendAction {
        case suspended
        /// State changed (or the task was cancelled) between `next()` and suspending: resume now.
        case resumeNow(NextAction)
    }

    /// Registers the reader's continuation after `next()` returned `.suspend`.
    mutating func suspend(_ waiter: Waiter) -> SuspendAction {
        precondition(self.waiter == nil, "KafkaConsumer.events supports one reader at a time")
        if cancelledWhileNotWaiting {
            cancelledWhileNotWaiting = false
            return .resumeNow(.finished(nil))
        }
        let action = next()
        if case .suspend = action {
            self.waiter = waiter
            return .suspended
        }
        return .resumeNow(action)
    }

    /// The reading task was cancelled: the waiting reader gets `nil` (end of iteration).
    mutating func cancelReader() -> Waiter? {
        guard let waiter else {
            cancelledWhileNotWaiting = true
            return nil
        }
        self.waiter = nil
        return waiter
    }

    // MARK: Errors and closing

    /// A fatal error: the sequence ends with it after the buffer is drained.
    mutating func fail(_ error: KafkaError) -> Waiter? {
        if terminalError == nil { terminalError = error }
        return takeWaiterIfBufferEmpty()
    }

    /// Returns true when this call started the close.
    mutating func beginClose() -> Bool {
        guard lifecycle == .running else { return false }
        lifecycle = .closing
        // Records not yet read will not be processed: drop them, keep assignment events.
        let kept = buffer[head...].filter { if case .message = $0 { return false } else { return true } }
        buffer = Array(kept)
        head = 0
        pollerParked = false
        return true
    }

    /// The handle is destroyed. Returns the reader to resume with the end of the sequence.
    mutating func finishClose() -> Waiter? {
        lifecycle = .closed
        assignment = []
        return takeWaiterIfBufferEmpty()
    }

    private mutating func takeWaiterIfBufferEmpty() -> Waiter? {
        guard bufferedCount == 0, let waiter else { return nil }
        self.waiter = nil
        return waiter
    }
}
