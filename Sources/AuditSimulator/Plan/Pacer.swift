/// The rate of each service: the total rate split by weight.
package struct RatePlan: Sendable, Hashable {
    package struct Share: Sendable, Hashable {
        package var service: SimulatedService
        /// Events per second.
        package var rate: Double
    }

    package var shares: [Share]

    /// Splits `totalRate` events per second over `services` in proportion to their weights.
    package init(services: [SimulatedService], totalRate: Double) {
        let totalWeight = services.reduce(0) { $0 + max(0, $1.weight) }
        shares = services.map { service in
            Share(service: service, rate: totalWeight == 0 ? 0 : totalRate * Double(max(0, service.weight)) / Double(totalWeight))
        }
    }

    /// How many events the plan sends in `duration` seconds (rounded down per service).
    package func plannedEvents(duration: Double) -> Int {
        shares.reduce(0) { $0 + Int(($1.rate * duration).rounded(.down)) }
    }
}

/// What a service should do now.
package enum PacerDecision: Sendable, Hashable {
    /// Send a request of this many events now.
    case send(Int)
    /// Nothing is due: wait until this many seconds after the start.
    case wait(until: Double)
    /// The run is over for this service.
    case finished
}

/// Open-loop pacing of one service: events become due at `rate` per second from the start; due
/// events are sent in requests of at most `maxPerRequest`, at most one request per
/// `minimumInterval`. When the service falls behind (its requests in flight are at their limit),
/// the backlog is capped at `maxBacklogSeconds` of events and the excess is dropped and counted
/// as `skipped`: the simulator never queues without bound.
package struct Pacer: Sendable, Hashable {
    package let rate: Double
    package let maxPerRequest: Int
    package let minimumInterval: Double
    package let duration: Double
    package let maxBacklogSeconds: Double
    /// Events handed out in requests so far.
    package private(set) var scheduled = 0
    /// Events that became due but were dropped because the backlog was full.
    package private(set) var skipped = 0
    private var lastSendAt: Double?

    package init(rate: Double, maxPerRequest: Int, minimumInterval: Double, duration: Double, maxBacklogSeconds: Double = 2) {
        precondition(maxPerRequest >= 1, "a request holds at least one event")
        self.rate = max(0, rate)
        self.maxPerRequest = maxPerRequest
        self.minimumInterval = max(0, minimumInterval)
        self.duration = duration
        self.maxBacklogSeconds = maxBacklogSeconds
    }

    /// The events due by `elapsed` seconds after the start (those of the run's duration only).
    package func due(at elapsed: Double) -> Int {
        // The epsilon keeps `due(at: n / rate)` at n despite rounding (0.3 * 10 = 2.9999999999999996).
        Int((rate * min(elapsed, duration) + 1e-9).rounded(.down))
    }

    /// The decision at `elapsed` seconds after the start; `.send` counts the events as scheduled.
    package mutating func next(at elapsed: Double) -> PacerDecision {
        let total = due(at: duration)
        if scheduled + skipped >= total { return .finished }
        var owed = due(at: elapsed) - scheduled - skipped
        let backlogLimit = max(maxPerRequest, Int((rate * maxBacklogSeconds).rounded(.up)))
        if owed > backlogLimit {
            skipped += owed - backlogLimit
            owed = backlogLimit
        }
        if owed <= 0 {
            let nextDue = Double(scheduled + skipped + 1) / rate
            return .wait(until: max(nextDue, lastSendAt.map { $0 + minimumInterval } ?? 0))
        }
        if let lastSendAt, elapsed < lastSendAt + minimumInterval, elapsed < duration {
            return .wait(until: lastSendAt + minimumInterval)
        }
        let count = min(owed, maxPerRequest)
        scheduled += count
        lastSendAt = elapsed
        return .send(count)
    }
}
