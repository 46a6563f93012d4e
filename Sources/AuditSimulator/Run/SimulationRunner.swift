import AuditEvents
import AuditPipeClient
import AuditPipeProto
import Foundation
import SwiftProtobuf
import Synchronization

/// Runs a simulation against a live server: the services send at their rates with bounded
/// concurrency, every answer goes into the tally, a progress line goes to stderr; then it waits
/// for the acknowledged events to be queryable, prints the reports on stdout and decides the exit
/// status. The I/O is here; what to send and how to judge the answers is in the pure types.
package final class SimulationRunner: Sendable {
    /// How a run ended.
    package struct Outcome: Sendable {
        /// 0 when nothing acknowledged is missing and nothing is stored twice; 1 otherwise.
        package var exitCode: Int32
        /// The loss tally (nil when the stored events were not or could not be counted).
        package var delivery: DeliveryTally?
        /// Acknowledged against stored per tenant (empty when not counted).
        package var tenants: [TenantDelivery] = []
        package var tally: SimulationTally
    }

    package let configuration: SimulationConfiguration
    private let tally = Mutex(SimulationTally())
    private let lag = Mutex<[String: Double]?>(nil)
    private let clock = ContinuousClock()
    private let interactive = isatty(STDERR_FILENO) != 0

    package init(configuration: SimulationConfiguration) {
        self.configuration = configuration
    }

    /// The whole run. Throws only when it cannot start (bad address).
    package func run() async throws -> Outcome {
        let connections = try ServerConnections(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await connections.run() }
            defer { connections.shutdown() }
            let outcome = await phases(connections)
            connections.shutdown()
            try await group.waitForAll()
            return outcome
        }
    }

    private func phases(_ connections: ServerConnections) async -> Outcome {
        let config = configuration
        say("auditpipe-tools simulate: run \(config.run.runID), \(config.services.count) services, \(format(config.rate)) events/s for \(SimulationText.clock(config.duration)), \(config.tenantCount) tenants, seed \(config.seed)")
        say("  gRPC \(config.grpcHost):\(config.grpcPort)   HTTP \(connections.httpBase)")
        guard await waitForServer(connections) else {
            say("error: the server's HTTP endpoint \(connections.httpBase)/healthz did not answer within 15 s; start the server (Deploy/run) or pass --http")
            return Outcome(exitCode: 1, delivery: nil, tally: tally.withLock { $0 })
        }
        let deadLettersBefore = await deadLetters(connections)

        // 1. Send.
        let plan = RatePlan(services: config.services, totalRate: config.rate)
        let start = clock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scrapeLag(connections, until: start + .seconds(config.duration)) }
            group.addTask { await self.showProgress(start: start) }
            await withTaskGroup(of: Void.self) { services in
                for (index, share) in plan.shares.enumerated() {
                    let random = SeededRandom(seed: config.seed).derived("\(index):\(share.service.name)")
                    services.addTask { await self.runService(share, random: random, start: start, connections: connections) }
                }
            }
            group.cancelAll()
        }
        let sent = tally.withLock { $0 }
        endProgressLine(SimulationText.progress(sent.totals, elapsed: seconds(since: start), duration: config.duration, lagSeconds: lag.withLock { $0 }))
        print("\n== Services")
        print(SimulationText.services(sent, order: config.services))

        // 2. Quarantine and refusals (from the answers).
        print("\n== Quarantine summary (legacy intake, per source)")
        print(SimulationText.quarantine(sent, sources: config.services.filter { $0.legacySource != nil }))
        print("\n== Refusals (gRPC field rules)")
        print(SimulationText.refusals(sent, services: config.services.filter { $0.legacySource == nil }))
        if sent.surpriseCount > 0 {
            print("\n== Unexpected answers (\(sent.surpriseCount); the first \(sent.surprises.count))")
            for surprise in sent.surprises { print("  \(surprise)") }
        }

        guard config.verify else {
            print("\n== Stored: NOT VERIFIED (--skip-verify): this run proves nothing about storage")
            return Outcome(exitCode: sent.totals.gaveUp == 0 ? 0 : 1, delivery: nil, tally: sent)
        }

        // 3. Wait until the acknowledged events are queryable, then compare id by id.
        var readFailures: [String] = []
        let stored: [String: StoredObservation]?
        switch await settle(connections, tally: sent) {
        case .success(let observations):
            stored = observations
        case .failure(let error):
            say("error: could not count the stored events through ComplianceReport: \(error.message)")
            readFailures.append("ComplianceReport (counting this run's events): \(error.message)")
            stored = nil
        }

        // 4. Read-side reports.
        await printComplianceReport(connections, tenants: Set(config.tenants).union(sent.tenants).subtracting([SimulationTally.unknownTenant]).sorted(), failures: &readFailures)
        await printRecentEvents(connections, tally: sent, failures: &readFailures)
        if config.checkRecent {
            await checkRecentEventsCaughtUp(connections, tally: sent, failures: &readFailures)
        }

        // 5. Verdict.
        var exitCode: Int32 = 0
        var delivery: DeliveryTally?
        var tenantDeliveries: [TenantDelivery] = []
        if let stored {
            let deliveries = DeliveryCheck.compare(sent, stored: stored)
            let deadLettersAfter = await deadLetters(connections)
            // A server restarted during the run starts its counters at zero again: then the
            // difference means nothing and the count is shown as unknown.
            let deadLettered = deadLettersAfter.flatMap { after in after >= (deadLettersBefore ?? 0) ? after - (deadLettersBefore ?? 0) : nil }
            let summary = DeliveryTally(deliveries, deadLettered: deadLettered, quarantined: sent.totals.quarantined)
            delivery = summary
            tenantDeliveries = deliveries
            print("\n== Acknowledged vs stored (this run's events, per tenant)")
            print(SimulationText.verdict(deliveries))
            for d in deliveries {
                if !d.missingIDs.isEmpty { print("  \(d.tenant): missing \(d.missingIDs.prefix(10).joined(separator: ", "))\(d.missingIDs.count > 10 ? ", ..." : "")") }
                if !d.duplicatedIDs.isEmpty { print("  \(d.tenant): duplicated \(d.duplicatedIDs.prefix(10).joined(separator: ", "))\(d.duplicatedIDs.count > 10 ? ", ..." : "")") }
            }
            print("\n" + summary.line(label: "delivery"))
            if !summary.passed {
                exitCode = 1
                print("FAIL: \(summary.missing) acknowledged events are missing and \(summary.duplicated) are stored more than once (or stored without being sent by this run).")
            }
        } else {
            print("\n== Acknowledged vs stored: NOT CHECKED (the stored events could not be counted)")
        }
        if !sent.abandonedStreams.isEmpty {
            exitCode = 1
            print("FAIL: the server left events unanswered on \(sent.abandonedStreams.count) Ingest stream(s) (the events were resent; see the server log): " + sent.abandonedStreams.joined(separator: "; "))
        }
        if !readFailures.isEmpty {
            exitCode = 1
            print("FAIL: the read side did not answer: " + readFailures.joined(separator: "; "))
        }
        return Outcome(exitCode: exitCode, delivery: delivery, tenants: tenantDeliveries, tally: sent)
    }

    // MARK: Services

    private func runService(_ share: RatePlan.Share, random: SeededRandom, start: ContinuousClock.Instant, connections: ServerConnections) async {
        let service = share.service
        let configuration = self.configuration
        var pacer = Pacer(rate: share.rate, maxPerRequest: service.maxEventsPerRequest, minimumInterval: service.requestInterval, duration: configuration.duration)
        switch service.transport {
        case .grpcStream:
            // One stream at a time. When a send on it is answered "unavailable" (the stream broke,
            // or the server cannot make events durable now), no more events go on that stream: the
            // unavailable ones are resent through IngestBatch (same ids), and a new stream is
            // opened a second later. Pacing and numbering carry over from stream to stream.
            let session = StreamSession(
                pacer: pacer,
                generator: GRPCEventGenerator(service: service, run: configuration.run, tenants: configuration.tenants, random: random)
            )
            while !session.isFinished {
                session.open()
                let abandoned = await connections.ingest.withStream(answerTimeout: .milliseconds(Int64(configuration.streamAnswerTimeout * 1000))) { stream in
                    await self.pace(service: service, start: start, decide: session.decide, stop: session.isBroken) { count in
                        let events = session.generate(count, nowMilliseconds: self.nowMilliseconds())
                        return {
                            for planned in events {
                                await self.deliver([planned.descriptor], connections: connections) { _, resend in
                                    if resend || session.isBroken() { return await connections.ingestBatch([planned.event]) }
                                    let result = await stream.send(planned.event)
                                    if case .unavailable = result { session.markBroken() }
                                    return [ServerConnections.outcome(result, eventID: planned.event.eventID)]
                                }
                            }
                        }
                    }
                }
                if let abandoned { tally.withLock { $0.recordAbandonedStream(service: service.name, abandoned) } }
                if !session.isFinished { try? await Task.sleep(for: .seconds(1)) }
            }
        case .grpcBatch:
            var generator = GRPCEventGenerator(service: service, run: configuration.run, tenants: configuration.tenants, random: random)
            var sequence = 0
            await pace(service: service, start: start, decide: { pacer.decide(at: $0) }, stop: { false }) { count in
                let events = (0..<count).map { _ in
                    sequence += 1
                    return generator.next(sequence: sequence, nowMilliseconds: self.nowMilliseconds())
                }
                return {
                    await self.deliver(events.map(\.descriptor), connections: connections) { indices, _ in
                        await connections.ingestBatch(indices.map { events[$0].event })
                    }
                }
            }
        case .legacyHTTP(let source):
            var generator = LegacyRecordGenerator(source: source, run: configuration.run, tenants: configuration.tenants, badFraction: service.badFraction, random: random)
            let shape = LegacyPayloadShape.of(source)
            var sequence = 0
            await pace(service: service, start: start, decide: { pacer.decide(at: $0) }, stop: { false }) { count in
                let records = (0..<count).map { _ in
                    sequence += 1
                    return generator.next(sequence: sequence, nowMilliseconds: self.nowMilliseconds())
                }
                return {
                    await self.deliver(records.map(\.descriptor), connections: connections) { indices, _ in
                        await self.postLegacy(indices.map { records[$0] }, source: source, shape: shape, connections: connections)
                    }
                }
            }
        }
    }

    /// Paces one service: asks `makeRequest` for a request of the due events and runs it, with at
    /// most `maxInFlight` requests running. Returns when the pacer is finished or `stop()` is
    /// true, once the requests in flight have finished.
    private func pace(
        service: SimulatedService,
        start: ContinuousClock.Instant,
        decide: (Double) -> (PacerDecision, skipped: Int),
        stop: () -> Bool,
        makeRequest: (Int) -> @Sendable () async -> Void
    ) async {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            while !stop() {
                let (decision, skipped) = decide(seconds(since: start))
                if skipped > 0 {
                    tally.withLock { $0.recordSkipped(service: service.name, count: skipped) }
                }
                switch decision {
                case .finished:
                    await group.waitForAll()
                    return
                case .wait(let until):
                    try? await Task.sleep(until: start + .milliseconds(Int64(until * 1000)), clock: clock)
                case .send(let count):
                    if inFlight >= service.maxInFlight {
                        await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask(operation: makeRequest(count))
                }
            }
            await group.waitForAll()
        }
    }

    /// Sends events until each has a final answer or the retry deadline passes; resends only the
    /// unavailable ones, with the same ids, after a jittered exponential backoff.
    private func deliver(
        _ descriptors: [EventDescriptor],
        connections: ServerConnections,
        attempt: ([Int], _ resend: Bool) async -> [DeliveryOutcome]
    ) async {
        var pending = Array(descriptors.indices)
        var resend = false
        var backoff = 0.1
        let deadline = clock.now + .milliseconds(Int64(configuration.retryDeadline * 1000))
        while !pending.isEmpty {
            tally.withLock { tally in tally.recordSent(pending.map { descriptors[$0] }, resend: resend) }
            let outcomes = await attempt(pending, resend)
            var unavailable: [(Int, String)] = []
            tally.withLock { tally in
                for (index, outcome) in zip(pending, outcomes) {
                    tally.record(outcome, for: descriptors[index])
                    if case .unavailable(let message) = outcome { unavailable.append((index, message)) }
                }
            }
            guard !unavailable.isEmpty else { return }
            if clock.now >= deadline {
                tally.withLock { tally in
                    for (index, message) in unavailable { tally.record(.gaveUp(message), for: descriptors[index]) }
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(Int64(Double.random(in: 0...backoff) * 1000)))
            backoff = min(backoff * 2, 5)
            pending = unavailable.map(\.0)
            resend = true
        }
    }

    private func postLegacy(_ records: [PlannedLegacyRecord], source: LegacySource, shape: LegacyPayloadShape, connections: ServerConnections) async -> [DeliveryOutcome] {
        var outcomes: [DeliveryOutcome] = []
        var byKey: [EventKey: DeliveryOutcome] = [:]
        for group in shape.requests(records) {
            let body = shape.body(group.map(\.bytes))
            let isNDJSON = if case .ndjson = shape { true } else { false }
            let answers = await connections.postLegacy(source: source.rawValue, body: body, records: group.count, ndjson: isNDJSON)
            for (record, answer) in zip(group, answers) { byKey[record.descriptor.key] = answer }
        }
        for record in records { outcomes.append(byKey[record.descriptor.key] ?? .unavailable("not sent")) }
        return outcomes
    }

    // MARK: Settling and the read side

    struct ReadError: Error { var message: String }

    /// Polls the aggregate counts per tenant until every acknowledged event is queryable (or the
    /// timeout), then reads the event ids of this run's actors to compare id by id.
    private func settle(_ connections: ServerConnections, tally: SimulationTally) async -> Result<[String: StoredObservation], ReadError> {
        let tenants = tally.tenants.filter { $0 != SimulationTally.unknownTenant }
        guard let range = tally.timestampRange else { return .success([:]) }
        let from = range.lowerBound - 3_600_000
        let to = range.upperBound + 3_600_000
        func request(_ tenant: String) -> Auditpipe_V1_ComplianceReportRequest {
            .with {
                $0.tenantID = tenant
                $0.fromMs = from
                $0.toMs = to
                $0.actorIds = (tally.actors[tenant] ?? []).sorted()
            }
        }
        let start = clock.now
        let acknowledged = tally.acknowledgedCount
        var counts: [String: Int] = [:]
        while true {
            // The read side may itself be recovering (ClickHouse restarting): keep asking until
            // the settle timeout, and fail with the last error only then.
            var readError: (any Error)?
            for tenant in tenants where (tally.acknowledged[tenant]?.count ?? 0) > (counts[tenant] ?? 0) || counts[tenant] == nil {
                guard !(tally.actors[tenant] ?? []).isEmpty else { counts[tenant] = 0; continue }
                var aggregate = request(tenant)
                aggregate.groupBy = [.eventType]
                do {
                    counts[tenant] = Int(try await connections.aggregate(aggregate).reduce(0) { $0 + $1.count })
                } catch {
                    readError = error
                    break
                }
            }
            if let readError, seconds(since: start) >= configuration.settleTimeout {
                endProgressLine(nil)
                return .failure(ReadError(message: "\(readError)"))
            }
            let stored = counts.values.reduce(0, +)
            let elapsed = seconds(since: start)
            progressLine(SimulationText.settling(stored: stored, acknowledged: acknowledged, elapsed: elapsed, timeout: configuration.settleTimeout, lagSeconds: lag.withLock { $0 }))
            let done = readError == nil && tenants.allSatisfy { (counts[$0] ?? 0) >= (tally.acknowledged[$0]?.count ?? 0) }
            if done || elapsed >= configuration.settleTimeout { break }
            let lagNow = await currentLag(connections)
            lag.withLock { $0 = lagNow }
            try? await Task.sleep(for: .seconds(1))
        }
        endProgressLine(nil)
        var observations: [String: StoredObservation] = [:]
        for tenant in tenants {
            guard !(tally.actors[tenant] ?? []).isEmpty else { observations[tenant] = .count(0); continue }
            do {
                observations[tenant] = .ids(try await connections.eventIDs(request(tenant)))
            } catch {
                say("note: row-mode report for \(tenant) failed (\(error)); comparing counts only")
                observations[tenant] = .count(counts[tenant] ?? 0)
            }
        }
        return .success(observations)
    }

    private func printComplianceReport(_ connections: ServerConnections, tenants: [String], failures: inout [String]) async {
        let now = nowMilliseconds()
        let month = CivilTime.monthRange(containing: now)
        print("\n== Compliance report: authentication events per tenant, \(CivilTime.day(month.from)) to \(CivilTime.day(month.to - 1)) (UTC, all stored events)")
        var counts: [String: [String: UInt64]] = [:]
        for tenant in tenants {
            let request = Auditpipe_V1_ComplianceReportRequest.with {
                $0.tenantID = tenant
                $0.fromMs = month.from
                $0.toMs = month.to
                $0.eventTypes = ["auth"]
                $0.groupBy = [.action]
            }
            do {
                counts[tenant] = Dictionary(try await connections.aggregate(request).map { ($0.action, $0.count) }, uniquingKeysWith: +)
            } catch {
                print("  \(tenant): not available: \(error)")
                failures.append("ComplianceReport for \(tenant): \(error)")
                return
            }
        }
        print(SimulationText.countsTable(rowTitle: "tenant", counts: counts, preferredColumns: ["login", "logout", "login_failed", "mfa_challenge"]))
    }

    private func printRecentEvents(_ connections: ServerConnections, tally: SimulationTally, failures: inout [String]) async {
        guard let (tenant, actor) = Self.recentEventsUser(tally) else {
            print("\n== Recent events: no acknowledged events to show")
            return
        }
        let acknowledged = tally.acknowledgedByActor[.init(tenant: tenant, actor: actor)] ?? 0
        print("\n== Recent events of \(actor) in \(tenant) (RecentEvents, newest 10; \(acknowledged) acknowledged in this run)")
        do {
            let events = try await connections.recentEvents(tenant: tenant, actor: actor, limit: 10)
            let rows = events.map { stored in
                SimulationText.RecentRow(
                    timestampMilliseconds: stored.event.timestampMs, eventType: stored.event.eventType, action: stored.event.action,
                    resource: stored.event.resource, eventID: stored.event.eventID,
                    source: stored.event.metadata["legacy_source"] ?? (stored.event.eventID.hasPrefix("sim-") ? "grpc" : "legacy")
                )
            }
            print(rows.isEmpty ? "  (none)" : SimulationText.recent(rows))
        } catch {
            print("  not available: \(error)")
            failures.append("RecentEvents: \(error)")
        }
    }

    /// The user whose recent events the run shows and checks: the busiest one of `acme`, else of
    /// the first tenant; nil when nothing was acknowledged.
    private static func recentEventsUser(_ tally: SimulationTally) -> (tenant: String, actor: String)? {
        let tenants = tally.tenants.filter { $0 != SimulationTally.unknownTenant }
        guard let tenant = tenants.contains("acme") ? "acme" : tenants.first, let actor = tally.busiestActor(tenant: tenant) else { return nil }
        return (tenant, actor)
    }

    /// Polls RecentEvents for the busiest user of the first tenant until it shows as many of the
    /// user's events as were acknowledged (up to the 100 Redis keeps), or the settle timeout.
    private func checkRecentEventsCaughtUp(_ connections: ServerConnections, tally: SimulationTally, failures: inout [String]) async {
        guard let (tenant, actor) = Self.recentEventsUser(tally) else {
            Swift.print("recent events: nothing acknowledged to check")
            return
        }
        let expected = min(100, tally.acknowledgedByActor[.init(tenant: tenant, actor: actor)] ?? 0)
        let start = clock.now
        var shown = 0
        var lastError: String?
        while true {
            do {
                shown = try await connections.recentEvents(tenant: tenant, actor: actor, limit: 100).count
                lastError = nil
            } catch {
                lastError = "\(error)"
            }
            if shown >= expected || seconds(since: start) >= configuration.settleTimeout { break }
            try? await Task.sleep(for: .seconds(1))
        }
        let waited = String(format: "%.1f", seconds(since: start))
        if shown >= expected {
            Swift.print("recent events: \(tenant)/\(actor) shows \(shown) of \(expected) expected, caught up after \(waited) s")
        } else {
            Swift.print("recent events: \(tenant)/\(actor) shows \(shown) of \(expected) expected after \(waited) s: NOT caught up\(lastError.map { " (last error: \($0))" } ?? "")")
            failures.append("RecentEvents did not catch up: \(shown) of \(expected) events of \(tenant)/\(actor)")
        }
    }

    // MARK: Progress, metrics, clock

    private func showProgress(start: ContinuousClock.Instant) async {
        var lastPrinted = -100.0
        while !Task.isCancelled {
            let elapsed = seconds(since: start)
            if interactive || elapsed - lastPrinted >= 5 {
                let totals = tally.withLock { $0.totals }
                progressLine(SimulationText.progress(totals, elapsed: elapsed, duration: configuration.duration, lagSeconds: lag.withLock { $0 }))
                lastPrinted = elapsed
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func scrapeLag(_ connections: ServerConnections, until end: ContinuousClock.Instant) async {
        while !Task.isCancelled {
            let value = await currentLag(connections)
            lag.withLock { $0 = value }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Each consumer group's lag in seconds from /metrics (the largest over its partitions), if exported.
    private func currentLag(_ connections: ServerConnections) async -> [String: Double]? {
        guard let (status, text) = await connections.getText("/metrics", timeout: 2), status == 200 else { return nil }
        let lag = PrometheusText.maxima(named: "auditpipe_consumer_lag_seconds", by: "group", in: text)
        return lag.isEmpty ? nil : lag
    }

    /// Dead letters written since the server started, if exported.
    private func deadLetters(_ connections: ServerConnections) async -> Int? {
        guard let (status, text) = await connections.getText("/metrics"), status == 200 else { return nil }
        // A counter appears with its first increment: absent from a scrape that answered, it is 0.
        return Int(PrometheusText.samples(named: "auditpipe_sink_dead_letters_total", in: text).reduce(0, +))
    }

    private func waitForServer(_ connections: ServerConnections) async -> Bool {
        let deadline = clock.now + .seconds(15)
        while clock.now < deadline {
            if let (status, _) = await connections.getText("/healthz", timeout: 2), status == 200 { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let (s, atto) = (clock.now - start).components
        return Double(s) + Double(atto) / 1e18
    }

    private func nowMilliseconds() -> Int64 {
        UnixTime.nowMilliseconds()
    }

    private func progressLine(_ text: String) {
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        } else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    private func endProgressLine(_ text: String?) {
        if let text { progressLine(text) }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// A line of the report on stdout (unless reports are off).
    private func print(_ text: String) {
        guard configuration.printReports else { return }
        Swift.print(text)
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// The state of a stream service that outlives each of its streams: pacing, numbering, and
/// whether the current stream has answered "unavailable".
final class StreamSession: Sendable {
    private struct State {
        var pacer: Pacer
        var generator: GRPCEventGenerator
        var sequence = 0
        var broken = false
        var finished = false
    }

    private let state: Mutex<State>

    init(pacer: Pacer, generator: GRPCEventGenerator) {
        state = Mutex(State(pacer: pacer, generator: generator))
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// A new stream is open.
    func open() { state.withLock { $0.broken = false } }

    func markBroken() { state.withLock { $0.broken = true } }

    @Sendable func isBroken() -> Bool { state.withLock { $0.broken } }

    @Sendable func decide(_ elapsed: Double) -> (PacerDecision, skipped: Int) {
        state.withLock { state in
            let decision = state.pacer.decide(at: elapsed)
            if case .finished = decision.0 { state.finished = true }
            return decision
        }
    }

    func generate(_ count: Int, nowMilliseconds: Int64) -> [PlannedEvent] {
        state.withLock { state in
            (0..<count).map { _ in
                state.sequence += 1
                return state.generator.next(sequence: state.sequence, nowMilliseconds: nowMilliseconds)
            }
        }
    }
}

extension Pacer {
    /// `next(at:)`, with the number of events it dropped as too far behind.
    mutating func decide(at elapsed: Double) -> (PacerDecision, skipped: Int) {
        let before = skipped
        let decision = next(at: elapsed)
        return (decision, skipped - before)
    }
}

extension AuditPipeClient {
    /// Runs `body` with an open Ingest stream. A broken stream answers every send with
    /// `.unavailable`, and those events are resent; returns the client's error when it gave up
    /// on a stream the server left unanswered (nil otherwise: a stream that broke is expected
    /// when the server is killed).
    func withStream(answerTimeout: Duration, _ body: @Sendable (IngestStream) async -> Void) async -> IngestStreamError? {
        do {
            try await withIngestStream(answerTimeout: answerTimeout) { stream in await body(stream) }
            return nil
        } catch let error as IngestStreamError {
            return error
        } catch {
            return nil
        }
    }
}
