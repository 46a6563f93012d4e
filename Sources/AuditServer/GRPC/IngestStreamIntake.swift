import Synchronization

/// The bookkeeping of one Ingest stream: events received and not yet taken into a unit of work,
/// how many are in flight (received, not yet answered), the reader waiting for room and the unit
/// maker waiting for events. Pure state, no I/O; ``IngestStreamIntake`` holds it under a lock and
/// resumes the returned waiters outside it.
///
/// The reader hands over every event it receives; the unit maker takes all events that arrived
/// since its last unit at once (one event at a low rate, many when they arrive together), so the
/// stream costs a unit of work per group of events, not per event. Beyond `maxInFlight`
/// unanswered events the reader waits, so the stream stops reading and HTTP/2 flow control
/// pushes back on the caller.
package struct IngestStreamIntakeState<Message, ReaderWaiter, UnitWaiter> {
    package let maxInFlight: Int
    private var pending: [Message] = []
    package private(set) var inFlight = 0
    private var readerWaiter: ReaderWaiter?
    private var unitWaiter: UnitWaiter?
    /// The reader has seen the end of the requests (or the stream failed): no more events.
    package private(set) var finished = false

    package init(maxInFlight: Int) {
        precondition(maxInFlight > 0)
        self.maxInFlight = maxInFlight
    }

    package enum ReceiveAction {
        /// Read the next event.
        case proceed
        /// Read the next event, after handing these events to the waiting unit maker.
        case handOver(UnitWaiter, [Message])
        /// The stream is over (failed): stop reading.
        case stop
    }

    /// The reader received an event.
    package mutating func receive(_ message: Message) -> ReceiveAction {
        guard !finished else { return .stop }
        inFlight += 1
        pending.append(message)
        guard let waiter = unitWaiter else { return .proceed }
        unitWaiter = nil
        return .handOver(waiter, takePending())
    }

    /// Whether the reader must wait for room before reading on; if so, the waiter is kept.
    package mutating func waitForRoom(_ waiter: ReaderWaiter) -> Bool {
        guard !finished, inFlight >= maxInFlight else { return false }
        readerWaiter = waiter
        return true
    }

    package enum NextUnitAction {
        /// These events are the next unit.
        case unit([Message])
        /// Nothing yet: the waiter is kept until an event arrives.
        case wait
        /// No more events will come.
        case finished
    }

    /// The unit maker asks for the events received since its last unit.
    package mutating func nextUnit(_ waiter: UnitWaiter) -> NextUnitAction {
        if !pending.isEmpty { return .unit(takePending()) }
        if finished { return .finished }
        unitWaiter = waiter
        return .wait
    }

    /// The events received since the last unit, without waiting (empty when none).
    package mutating func takeArrived() -> [Message] {
        pending.isEmpty ? [] : takePending()
    }

    /// `count` events were answered: returns the reader to resume when there is room again.
    package mutating func answered(_ count: Int) -> ReaderWaiter? {
        inFlight -= count
        guard inFlight < maxInFlight, let waiter = readerWaiter else { return nil }
        readerWaiter = nil
        return waiter
    }

    /// No more events (the requests ended, or the stream failed): returns the waiters to resume;
    /// a waiting unit maker gets no unit (the pending events were taken before it waited).
    package mutating func finish() -> (reader: ReaderWaiter?, unitMaker: UnitWaiter?) {
        finished = true
        defer {
            readerWaiter = nil
            unitWaiter = nil
        }
        return (readerWaiter, unitWaiter)
    }

    private mutating func takePending() -> [Message] {
        var unit: [Message] = []
        unit.reserveCapacity(pending.count)
        swap(&unit, &pending)
        return unit
    }
}

/// When a unit of an Ingest stream waits for the events behind it. A caller that sends one event
/// at a time, often (a service sending each user action as it happens), would make every event a
/// unit of its own, each paying the hand-offs to Kafka and back. When units follow each other
/// within twice ``window``, a unit of fewer than ``maxEvents`` waits ``window`` and takes what
/// arrived meanwhile; an occasional event goes at once. The wait is short against the producer's
/// linger (25 ms), and a unit's events are answered as their own partition is acknowledged, not
/// when its slowest partition is, so it adds about the window to an acknowledgement.
package struct UnitCoalescing {
    package var window: Duration = .milliseconds(2)
    package var maxEvents = 64
    private var lastUnit: ContinuousClock.Instant?

    package init() {}

    /// A unit of `count` events is taken at `now`: how long it waits for more (nil: it goes at once).
    package mutating func wait(forUnitOf count: Int, at now: ContinuousClock.Instant) -> Duration? {
        defer { lastUnit = now }
        guard count < maxEvents, let lastUnit, lastUnit.duration(to: now) < window * 2 else { return nil }
        return window
    }
}

/// ``IngestStreamIntakeState`` under a lock, with continuations as its waiters.
final class IngestStreamIntake<Message: Sendable>: Sendable {
    private typealias State = IngestStreamIntakeState<Message, UnsafeContinuation<Void, Never>, UnsafeContinuation<[Message]?, Never>>
    private let state: Mutex<State>

    init(maxInFlight: Int) {
        state = Mutex(State(maxInFlight: maxInFlight))
    }

    /// Hands a received event over; waits while `maxInFlight` events are unanswered. Returns
    /// false when the stream is over and the reader should stop.
    func receive(_ message: Message) async -> Bool {
        let (action, full) = state.withLock { state in
            (state.receive(message), state.inFlight >= state.maxInFlight)
        }
        switch action {
        case .stop: return false
        case .proceed: break
        case .handOver(let waiter, let unit): waiter.resume(returning: unit)
        }
        // Suspends only when the stream is full (no continuation per event otherwise).
        guard full else { return true }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            if !state.withLock({ $0.waitForRoom(continuation) }) { continuation.resume() }
        }
        return !state.withLock { $0.finished }
    }

    /// The events received since the last unit (waits for one); nil once no more will come.
    func nextUnit() async -> [Message]? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<[Message]?, Never>) in
            switch state.withLock({ $0.nextUnit(continuation) }) {
            case .unit(let unit): continuation.resume(returning: unit)
            case .finished: continuation.resume(returning: nil)
            case .wait: break
            }
        }
    }

    /// The events received since the last unit, without waiting (empty when none).
    func takeArrived() -> [Message] {
        state.withLock { $0.takeArrived() }
    }

    /// `count` events were answered.
    func answered(_ count: Int) {
        state.withLock { $0.answered(count) }?.resume()
    }

    /// No more events: the reader ended or the stream failed.
    func finish() {
        let (reader, unitMaker) = state.withLock { $0.finish() }
        reader?.resume()
        unitMaker?.resume(returning: nil)
    }
}
