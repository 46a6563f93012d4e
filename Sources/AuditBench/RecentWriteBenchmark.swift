import AuditEvents
import AuditPipeClient
import AuditPipeProto
import AuditRecent
import AuditSink
import AsyncHTTPClient
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1
import RedisClient
import Synchronization

/// `auditpipe-tools bench recent`, the write side, against a server that `RecentBenchmark` started:
///
/// - `recent_freshness_p99`: events sent at `rate` per second (open loop, two Ingest streams,
///   1,000 users in 20 tenants, ClickHouse sink running); every 50th goes to one of 8 probe users
///   (8 tenants, so several partitions), whose RecentEvents are read over gRPC every
///   `pollInterval`. An event's freshness is the end of the first read that returned it minus its
///   acknowledgement (0 when it was visible first).
/// - `redis_cpu_us_per_event`: then `cpuEvents` more events at the same rate without reads; Redis'
///   CPU time (utime + stime from /proc/PID/stat) from the first send until the recent-events sink
///   has written them all (its `auditpipe_recent_events_written_total`), per event. The peer:
///   this benchmark writes the same events, as the same number of batches (the sink's
///   `auditpipe_recent_batches_written_total`) paced over as long a window, each one pipeline of plain commands per user
///   (`ZADD` of all its events, `ZREMRANGEBYRANK`, `PEXPIRE`), under keys of its own.
struct RecentWriteBenchmark {
    var rate: Double
    var duration: Duration
    var cpuEvents: Int
    var pollInterval: Duration = .milliseconds(20)
    var redisPID: Int32?
    static let probeUsers = 8

    /// The load's event `index` of run `run`: every 50th to a probe user, the others to 1,000 users.
    static func event(_ index: Int, run: String, phase: String, now: Int64) -> AuditEvent {
        let tenant: String
        let actor: String
        if index % 50 == 0 {
            tenant = "bench-rw-\(run)-probe-\((index / 50) % probeUsers)"
            actor = "probe"
        } else {
            tenant = "bench-rw-\(run)-\(index % 20)"
            actor = "user-\((index &* 7919) % 1000)"
        }
        return AuditEvent(
            eventID: "\(run)-\(phase)-\(index)", tenantID: tenant, actorID: actor, eventType: index % 3 == 0 ? "auth" : "data_change",
            resource: "doc/\((index &* 104_729) % 100_000)", action: index % 3 == 0 ? "login" : "update",
            timestampMilliseconds: now + Int64(index / 5),
            metadata: ["ip": "10.\(index % 256).\((index / 256) % 256).\(index % 199)", "client": "bench"]
        )
    }

    func run(
        server: BenchServerProcess, service: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>, redis: RedisClient,
        keyPrefix: String, run: String
    ) async throws -> [BenchResult] {
        let client = try AuditPipeClient(configuration: AuditPipeClientConfiguration(host: server.grpcHost, port: server.grpcPort))
        let connections = Task { try await client.run() }
        defer { client.shutdown(); connections.cancel() }
        let freshness = try await measureFreshness(client: client, service: service, run: run)
        let cpu = try await measureRedisCPU(client: client, server: server, redis: redis, run: run)
        await deleteKeys(redis: redis, matching: "*bench-rw-\(run)-*")
        return [freshness, cpu]
    }

    // MARK: Freshness

    private func measureFreshness(client: AuditPipeClient, service: Auditpipe_V1_AuditService.Client<HTTP2ClientTransport.Posix>, run: String) async throws -> BenchResult {
        let clock = ContinuousClock()
        let log = FreshnessLog()
        let now = UnixTime.nowMilliseconds()
        let schedule = OpenLoopSchedule(rate: rate, durationSeconds: duration.seconds)
        let interval = pollInterval
        let probes = (0..<Self.probeUsers).map { "bench-rw-\(run)-probe-\($0)" }
        let poller = Task {
            while !Task.isCancelled {
                let started = clock.now
                for tenant in probes {
                    var request = Auditpipe_V1_RecentEventsRequest()
                    request.tenantID = tenant
                    request.actorID = "probe"
                    request.limit = 100
                    do {
                        let response: Auditpipe_V1_RecentEventsResponse = try await service.recentEvents(request)
                        log.seen(response.events.map(\.event.eventID), at: clock.now)
                    } catch {
                        log.readFailed()
                    }
                }
                if log.isDone { return }
                try? await Task.sleep(until: started + interval, clock: clock)
            }
        }
        let measurement = try await client.withIngestStream { first in
            try await client.withIngestStream { second in
                await LoadDriver.openLoop(label: "freshness", schedule: schedule, maxInFlight: 20_000) { index in
                    let event = Self.event(index, run: run, phase: "fresh", now: now)
                    let stream = index % 2 == 0 ? first : second
                    switch await stream.send(event) {
                    case .durable:
                        if index % 50 == 0 { log.acknowledged(event.eventID, at: clock.now) }
                        return .ok
                    case let other:
                        return .failure("\(other)")
                    }
                }
            }
        }
        let deadline = clock.now + .seconds(30)
        while !log.allSeen, clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        log.finish()
        _ = await poller.value
        let (latencies, unseen, probed) = log.latencies()
        guard let summary = LatencySummary(samples: latencies) else { throw BenchSetupError("no probe event became visible in RecentEvents; see the server log") }
        let achieved = Double(measurement.succeeded) / measurement.elapsedSeconds
        let p99 = LatencySummary.milliseconds(summary.p99Nanoseconds)
        let valid = unseen == 0 && measurement.failed == 0
        let notes = """
            \(measurement.succeeded) events acknowledged of \(measurement.sent + measurement.skipped) scheduled at \(BenchFormat.value(rate))/s for \
            \(BenchFormat.value(duration.seconds)) s (achieved \(BenchFormat.value(achieved))/s, \(measurement.failed) failed\
            \(measurement.firstError.map { ": " + $0 } ?? "")), ClickHouse sink running; \(probed) probe events (every 50th, \(Self.probeUsers) users in \
            \(Self.probeUsers) tenants) read by gRPC RecentEvents (limit 100) every \(BenchFormat.value(Double(pollInterval.nanoseconds) / 1e6)) ms \
            (\(log.failedReads) failed reads); freshness = end of the first read that returned the event minus its acknowledgement: p50 \
            \(BenchFormat.value(LatencySummary.milliseconds(summary.p50Nanoseconds))) ms, max \(BenchFormat.value(LatencySummary.milliseconds(summary.maxNanoseconds))) ms; \
            \(unseen) never seen
            """
        return BenchResult(
            benchmark: "recent", figure: "recent_freshness_p99", value: p99, unit: "ms",
            target: "< 500 ms at \(BenchFormat.value(rate)) events/s", met: valid && p99 < 500 && achieved >= 0.95 * rate,
            notes: valid ? notes : "NOT VALID: \(unseen) unseen, \(measurement.failed) failed; " + notes
        )
    }

    // MARK: Redis CPU

    private func measureRedisCPU(client: AuditPipeClient, server: BenchServerProcess, redis: RedisClient, run: String) async throws -> BenchResult {
        guard let redisPID, ProcessCPU.seconds(of: redisPID) != nil else {
            throw BenchSetupError("cannot read Redis' CPU time: no readable /proc/PID/stat for its pid file (--redis-pid-file)")
        }
        let now = UnixTime.nowMilliseconds()
        let writtenBefore = try await serverCounter(server, "auditpipe_recent_events_written_total")
        let batchesBefore = try await serverCounter(server, "auditpipe_recent_batches_written_total")
        let cpuBefore = ProcessCPU.seconds(of: redisPID) ?? 0
        let windowStart = ContinuousClock.now
        let schedule = OpenLoopSchedule(rate: rate, durationSeconds: Double(cpuEvents) / rate)
        let measurement = try await client.withIngestStream { first in
            try await client.withIngestStream { second in
                await LoadDriver.openLoop(label: "redis-cpu", schedule: schedule, maxInFlight: 20_000) { index in
                    let stream = index % 2 == 0 ? first : second
                    if case .durable = await stream.send(Self.event(index, run: run, phase: "cpu", now: now)) { return .ok }
                    return .failure("not acknowledged")
                }
            }
        }
        guard measurement.failed == 0, measurement.succeeded == schedule.total else {
            throw BenchSetupError("\(measurement.failed) of \(schedule.total) events were not acknowledged; the Redis CPU figure needs them all")
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var written = writtenBefore
        while written - writtenBefore < Double(schedule.total) {
            guard ContinuousClock.now < deadline else {
                throw BenchSetupError("the recent-events sink wrote \(Int(written - writtenBefore)) of \(schedule.total) events after 60 s; see \(server.logPath)")
            }
            try await Task.sleep(for: .milliseconds(100))
            written = try await serverCounter(server, "auditpipe_recent_events_written_total")
        }
        let oursCPU = (ProcessCPU.seconds(of: redisPID) ?? 0) - cpuBefore
        let window = ContinuousClock.now - windowStart
        let batches = max(1, Int(try await serverCounter(server, "auditpipe_recent_batches_written_total") - batchesBefore))

        // The peer: the same events, as many batches, one pipeline of plain commands each.
        var configuration = RecentEventsConfiguration()
        configuration.keyPrefix = "bench-peer:"
        let events = (0..<schedule.total).map { Self.event($0, run: run, phase: "cpu", now: now) }
        let batchSize = (events.count + batches - 1) / batches
        let pipelines = stride(from: 0, to: events.count, by: batchSize).map { start in
            RecentEventsStore.writeCommands(Array(events[start..<min(events.count, start + batchSize)]), configuration: configuration)
        }
        // Paced over as long a window as the sink's, so that both pay Redis' idle work and its
        // wake-ups alike.
        let peerBefore = ProcessCPU.seconds(of: redisPID) ?? 0
        let peerStart = ContinuousClock.now
        for (index, commands) in pipelines.enumerated() {
            try await Task.sleep(until: peerStart + window * (Double(index) / Double(pipelines.count)), clock: .continuous)
            for reply in try await redis.pipeline(commands) { _ = try reply.checked() }
        }
        try await Task.sleep(until: peerStart + window, clock: .continuous)
        let peerCPU = (ProcessCPU.seconds(of: redisPID) ?? 0) - peerBefore
        await deleteKeys(redis: redis, matching: "bench-peer:*bench-rw-\(run)-*")

        let ours = oursCPU * 1e6 / Double(events.count)
        let peer = peerCPU * 1e6 / Double(events.count)
        let notes = """
            \(events.count) events at \(BenchFormat.value(rate))/s (1,000 users in 20 tenants and 8 probe users), no reads; Redis utime + stime \
            (/proc/\(redisPID)/stat, 10 ms ticks) from the first send until the sink's auditpipe_recent_events_written_total counted them all: \
            \(BenchFormat.value(oursCPU)) s in \(batches) batches (\(BenchFormat.value(Double(events.count) / Double(batches))) events each); \
            peer: the benchmark writes the same events in \(pipelines.count) pipelines of \(batchSize) (ZADD of each user's events, ZREMRANGEBYRANK, \
            PEXPIRE per user), paced over the same \(BenchFormat.value(window.seconds)) s, \(BenchFormat.value(peerCPU)) s
            """
        return BenchResult(
            benchmark: "recent", figure: "redis_cpu_us_per_event", value: ours, unit: "us",
            peer: "same events, pipelined plain commands per user per batch", peerValue: peer,
            target: "<= 1.5x peer", met: peer > 0 ? ours <= 1.5 * peer : nil, notes: notes
        )
    }

    private func serverCounter(_ server: BenchServerProcess, _ name: String) async throws -> Double {
        var request = HTTPClientRequest(url: "http://\(server.httpAddress)/metrics")
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            guard rest.first == " " || rest.first == "{", let value = rest.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            total += value
        }
        return total
    }

    private func deleteKeys(redis: RedisClient, matching pattern: String) async {
        var cursor = "0"
        repeat {
            guard let reply = try? await redis.send(["SCAN", RedisArgument(cursor), "MATCH", RedisArgument(pattern), "COUNT", 1000]).checked(),
                let parts = reply.array, parts.count == 2, let next = parts[0].string
            else { return }
            cursor = next
            let keys = (parts[1].array ?? []).compactMap(\.string)
            if !keys.isEmpty { _ = try? await redis.send([RedisArgument("UNLINK")] + keys.map { RedisArgument($0) }) }
        } while cursor != "0"
    }
}

/// Probe events' acknowledgements and first sightings, shared by the load and the reader.
final class FreshnessLog: Sendable {
    private struct State {
        var acknowledged: [String: ContinuousClock.Instant] = [:]
        var seen: [String: ContinuousClock.Instant] = [:]
        var failedReads = 0
        var done = false
    }

    private let state = Mutex(State())

    func acknowledged(_ id: String, at instant: ContinuousClock.Instant) { state.withLock { $0.acknowledged[id] = instant } }

    func seen(_ ids: [String], at instant: ContinuousClock.Instant) {
        state.withLock { state in
            for id in ids where state.seen[id] == nil { state.seen[id] = instant }
        }
    }

    func readFailed() { state.withLock { $0.failedReads += 1 } }
    func finish() { state.withLock { $0.done = true } }
    var isDone: Bool { state.withLock { $0.done } }
    var failedReads: Int { state.withLock { $0.failedReads } }
    var allSeen: Bool { state.withLock { state in state.acknowledged.keys.allSatisfy { state.seen[$0] != nil } } }

    /// Freshness of each acknowledged probe event seen (0 when seen before its acknowledgement),
    /// the number never seen, and the number acknowledged.
    func latencies() -> (nanoseconds: [UInt64], unseen: Int, acknowledged: Int) {
        state.withLock { state in
            var values: [UInt64] = []
            var unseen = 0
            for (id, ack) in state.acknowledged {
                guard let seen = state.seen[id] else { unseen += 1; continue }
                values.append(seen > ack ? UInt64((seen - ack).nanoseconds) : 0)
            }
            return (values, unseen, state.acknowledged.count)
        }
    }
}
