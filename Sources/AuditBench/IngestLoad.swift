import Synchronization

/// What one measured run did: how many events were offered, how many were acknowledged, over how
/// long, and the acknowledgement latency of each acknowledged event.
package struct LoadMeasurement: Sendable {
    /// Who did the work (`auditpipe-stream`, `confluent-python`, `librdkafka-raw`, ...).
    package var label: String
    /// Events handed to the system under test.
    package var sent: Int
    /// Events acknowledged as durable.
    package var succeeded: Int
    /// Events refused or failed (including those the generator had to drop, see `skipped`).
    package var failed: Int
    /// Events an open-loop generator could not send because its in-flight limit was reached.
    package var skipped: Int = 0
    /// Wall time of the run, in seconds (from the first send to the last answer).
    package var elapsedSeconds: Double
    /// Latency from send to acknowledgement of the acknowledged events; `nil` when none.
    package var latency: LatencySummary?
    /// The largest delay between an event's due time and its send (open loop only), in ns.
    package var maxScheduleLagNanoseconds: UInt64 = 0
    /// The first failure seen, for the notes.
    package var firstError: String?

    /// Acknowledged events per second.
    package var throughput: Double { elapsedSeconds > 0 ? Double(succeeded) / elapsedSeconds : 0 }

    package init(
        label: String, sent: Int, succeeded: Int, failed: Int, elapsedSeconds: Double,
        latency: LatencySummary?, firstError: String? = nil
    ) {
        self.label = label
        self.sent = sent
        self.succeeded = succeeded
        self.failed = failed
        self.elapsedSeconds = elapsedSeconds
        self.latency = latency
        self.firstError = firstError
    }
}

/// The answer for one send (of one event or a batch of events).
package struct SendOutcome: Sendable, Equatable {
    /// Events acknowledged as durable.
    package var succeeded: Int
    /// Events refused or failed.
    package var failed: Int
    /// A description of the first failure, if any.
    package var error: String?

    package init(succeeded: Int, failed: Int = 0, error: String? = nil) {
        self.succeeded = succeeded
        self.failed = failed
        self.error = error
    }

    /// One event acknowledged.
    package static let ok = SendOutcome(succeeded: 1)

    /// `count` events failed with `error`.
    package static func failure(_ error: String, count: Int = 1) -> SendOutcome {
        SendOutcome(succeeded: 0, failed: count, error: error)
    }
}

/// Open-loop pacing: event `i` (from 0) is due `i / rate` seconds after the start, whatever happened
/// to the events before it (a slow answer does not delay the next send, so latency is not hidden
/// by coordinated omission).
package struct OpenLoopSchedule: Sendable, Hashable {
    /// Events per second (> 0).
    package let rate: Double
    /// The total number of events of the run.
    package let total: Int

    /// A schedule of `rate` events per second for `durationSeconds`.
    package init(rate: Double, durationSeconds: Double) {
        precondition(rate > 0 && durationSeconds > 0, "rate and duration must be positive")
        self.rate = rate
        self.total = Int((rate * durationSeconds + 1e-9).rounded(.down))
    }

    /// How many events are due `elapsedSeconds` after the start (never more than `total`).
    package func due(atElapsed elapsedSeconds: Double) -> Int {
        guard elapsedSeconds > 0 else { return min(total, 1) }
        // Event 0 is due at 0; the epsilon keeps `due(n / rate)` exact despite rounding.
        return min(total, Int((rate * elapsedSeconds + 1e-9).rounded(.down)) + 1)
    }

    /// When event `index` is due, in seconds after the start.
    package func dueTime(of index: Int) -> Double { Double(index) / rate }
}

/// Collects results from many concurrent senders: counts and a latency histogram under one lock.
package final class LoadRecorder: Sendable {
    private struct State {
        var histogram = LatencyHistogram()
        var sent = 0
        var succeeded = 0
        var failed = 0
        var skipped = 0
        var maxLag: UInt64 = 0
        var firstError: String?
    }
    private let state = Mutex(State())

    package init() {}

    /// Records the outcome of a send of `count` events that took `latency` (applied to each
    /// acknowledged event of it).
    package func record(_ outcome: SendOutcome, count: Int, latency: Duration) {
        let nanoseconds = latency.nanoseconds
        state.withLock { state in
            state.sent += count
            state.succeeded += outcome.succeeded
            state.failed += outcome.failed
            for _ in 0..<outcome.succeeded { state.histogram.record(nanoseconds: nanoseconds) }
            if state.firstError == nil, let error = outcome.error { state.firstError = error }
        }
    }

    /// Records events the generator had to drop (in-flight limit reached).
    package func recordSkipped(_ count: Int) {
        state.withLock { state in
            state.skipped += count
            if state.firstError == nil { state.firstError = "the generator's in-flight limit was reached: events were dropped" }
        }
    }

    /// Records how late a send was against its due time.
    package func recordLag(_ lag: Duration) {
        let nanoseconds = lag.nanoseconds
        state.withLock { $0.maxLag = max($0.maxLag, nanoseconds) }
    }

    /// The measurement so far.
    package func measurement(label: String, elapsedSeconds: Double) -> LoadMeasurement {
        state.withLock { state in
            var measurement = LoadMeasurement(
                label: label, sent: state.sent, succeeded: state.succeeded, failed: state.failed + state.skipped,
                elapsedSeconds: elapsedSeconds, latency: state.histogram.summary, firstError: state.firstError
            )
            measurement.skipped = state.skipped
            measurement.maxScheduleLagNanoseconds = state.maxLag
            return measurement
        }
    }
}

/// The two ways the benchmarks drive a system: at a fixed rate (latency) and as fast as a bounded
/// window allows (throughput).
package enum LoadDriver {
    /// Open loop: sends event `i` at `schedule.dueTime(of: i)` in a task of its own, with at most
    /// `maxInFlight` unanswered events (beyond that, due events are dropped and counted as failed,
    /// so memory stays bounded). Due events are released in ticks of about a millisecond.
    /// `onScheduled` runs once every event has been sent or dropped (before the answers are awaited).
    package static func openLoop(
        label: String,
        schedule: OpenLoopSchedule,
        maxInFlight: Int,
        send: @escaping @Sendable (Int) async -> SendOutcome,
        onScheduled: @Sendable () -> Void = {}
    ) async -> LoadMeasurement {
        let recorder = LoadRecorder()
        let clock = ContinuousClock()
        let inFlight = AtomicCounter()
        let start = clock.now
        await withDiscardingTaskGroup { group in
            var next = 0
            while next < schedule.total {
                let elapsed = (clock.now - start).seconds
                let due = schedule.due(atElapsed: elapsed)
                while next < due {
                    let index = next
                    next += 1
                    if inFlight.value.load(ordering: .relaxed) >= maxInFlight {
                        recorder.recordSkipped(1)
                        continue
                    }
                    inFlight.value.add(1, ordering: .relaxed)
                    group.addTask {
                        let sentAt = clock.now
                        recorder.recordLag(sentAt - (start + .seconds(schedule.dueTime(of: index))))
                        let outcome = await send(index)
                        recorder.record(outcome, count: 1, latency: clock.now - sentAt)
                        inFlight.value.subtract(1, ordering: .relaxed)
                    }
                }
                guard next < schedule.total else { break }
                let wakeAt = start + .seconds(schedule.dueTime(of: next))
                try? await Task.sleep(until: max(wakeAt, clock.now + .microseconds(500)), clock: clock)
            }
            onScheduled()
        }
        return recorder.measurement(label: label, elapsedSeconds: (clock.now - start).seconds)
    }

    /// Closed loop: `concurrency` workers each send `batchSize` events at a time, the next as soon
    /// as the previous is answered, until `durationSeconds` have passed (each sends at least once). Every acknowledged event
    /// of a batch gets the batch's latency. `send` receives the index of the first event and the count.
    package static func closedLoop(
        label: String,
        durationSeconds: Double,
        concurrency: Int,
        batchSize: Int,
        send: @escaping @Sendable (_ first: Int, _ count: Int) async -> SendOutcome
    ) async -> LoadMeasurement {
        precondition(concurrency >= 1 && batchSize >= 1, "concurrency and batch size must be positive")
        let recorder = LoadRecorder()
        let clock = ContinuousClock()
        let counter = AtomicCounter()
        let start = clock.now
        let deadline = start + .seconds(durationSeconds)
        await withDiscardingTaskGroup { group in
            for _ in 0..<concurrency {
                group.addTask {
                    // Every worker sends at least once, so a slow start never yields an empty run.
                    repeat {
                        let first = counter.value.add(batchSize, ordering: .relaxed).oldValue
                        let sentAt = clock.now
                        let outcome = await send(first, batchSize)
                        recorder.record(outcome, count: batchSize, latency: clock.now - sentAt)
                    } while clock.now < deadline && !Task.isCancelled
                }
            }
        }
        return recorder.measurement(label: label, elapsedSeconds: (clock.now - start).seconds)
    }
}

/// An `Atomic<Int>` that closures can share (an `Atomic` itself cannot be captured).
private final class AtomicCounter: Sendable {
    let value = Atomic<Int>(0)
}

extension Duration {
    /// Whole nanoseconds (0 for negative durations).
    package var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    /// Seconds as a `Double`.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
